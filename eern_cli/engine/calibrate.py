"""``--precision auto`` on a CPU: decided by timing the model's own work on this machine, not by CPU flags.

Flags cannot tell which precision is fastest. bf16 is about 2x faster than fp32 on AMD Zen 4/5 and several times
faster with AMX, yet on an Intel Xeon with AVX512-BF16 but no usable AMX it is ~1.6x *slower* (one 84-channel
3x3 conv on a 256x256 channels-last map: fp32 35 ms, bf16 56 ms, fp16 60 ms), because VDPBF16PS does no more
multiply-adds per cycle than two-port fp32 FMA and bf16 only adds conversions. So the first time a CPU/torch/
thread-count combination is seen, each candidate runs EERN's dominant step (two 84-channel 3x3 convs with a
ReLU between, on a channels-last strip) a few times, interleaved so that a machine that slows down mid-way does
not favour one candidate, and the fastest minimum wins. That costs ~0.5-1 s once; the result is cached in the
user's cache folder (``$EERN_CACHE_DIR``, else ``$XDG_CACHE_HOME/eern``, else ``~/.cache/eern``) under a key of
CPU model, flags, threads and torch version, so a changed machine or torch measures again.
``EERN_RECALIBRATE=1`` measures again regardless.

The same runs decide the feature maps' width: each precision is also timed with the 84 channels padded to 96
(``widen.py``), which oneDNN's AMX bf16 kernels run faster than 84 on an Intel Xeon although it is 31 % more
work, and which fp32 runs slower there; the faster width per precision is used.

Only precisions that keep the output within 50 dB PSNR of fp32 are candidates: bf16 (worst image of Set14
54.0 dB) and fp16 (61.1 dB) both qualify. A cache that cannot be read or written is never an error: the
measurement is then simply used for this process only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from eern_cli.images import atomic

# torch is imported inside the functions that measure: reading the cache (``cached_choice``) needs no torch,
# so that ``eern upscale`` can tell the precision of an up-to-date output without importing it.

CANDIDATES = ("fp32", "bf16", "fp16")
WIDTHS = (84, 96)  # EERN's own channel count, and that padded to a multiple of 32 (widen.py)
VERSION = 2  # bump when the measured step changes, so old cached figures are not compared with new ones
ROWS, COLUMNS = 48, 256  # a strip of the engine's default 256-px tile, with the model's 84 channels
ROUNDS = 4  # interleaved timed rounds per candidate, after one untimed warm-up each


@dataclass(frozen=True)
class Calibration:
    """Milliseconds per step for each candidate (``None``: it failed to run here) and the choice.

    ``ms`` is keyed by precision for 84 channels and by ``precision/96`` for the padded width."""

    key: str
    ms: dict[str, float | None]
    choice: str
    seconds: float  # what the measurement itself cost
    cached: bool = False

    def reason(self) -> str:
        figures = ", ".join(f"{p} {ms:.1f} ms" if ms is not None else f"{p} n/a" for p, ms in self.ms.items())
        source = "cached measurement" if self.cached else f"measured in {self.seconds:.2f} s"
        return f"fastest here ({figures} per conv step; {source})"

    def channels(self, precision: str) -> int:
        """The faster feature width for ``precision`` here (84 where the padded one was not faster or not measured)."""
        timed = {w: self.ms.get(label(precision, w)) for w in WIDTHS}
        valid = {w: ms for w, ms in timed.items() if ms is not None}
        return min(valid, key=lambda w: (valid[w], w)) if valid else WIDTHS[0]


def label(precision: str, width: int) -> str:
    """The key of ``Calibration.ms`` for ``precision`` at ``width`` channels."""
    return precision if width == WIDTHS[0] else f"{precision}/{width}"


def cache_dir() -> Path:
    if os.environ.get("EERN_CACHE_DIR"):
        return Path(os.environ["EERN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "eern"


def machine_key(threads: int | None) -> str:
    """What the measurement depends on; anything else (the day, the load) is noise the minimum absorbs.
    ``threads=None`` gives the key's prefix shared by every thread count."""
    from eern_cli.engine.choices import cpu_flags, cpu_name

    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:16]
    head = f"v{VERSION}|{cpu_name()}|flags:{flags}|threads:"
    return head if threads is None else f"{head}{threads}|torch:{_torch_version()}"


def _torch_version() -> str:
    """torch's version as its package metadata says (the same as ``torch.__version__``, without importing it)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        import torch

        return torch.__version__


def cached_choice(threads: int | None) -> str | None:
    """The cached choice for ``threads``, or None when only a measurement can tell. Reads the cache only: no
    torch, no measuring. ``threads=None`` (torch's default) is ``OMP_NUM_THREADS`` when set, as torch's own
    default is; otherwise any thread count's entry, when every cached one agrees."""
    if os.environ.get("EERN_RECALIBRATE", "") not in ("", "0"):
        return None
    entries = _read(cache_dir() / "calibration.json")
    if threads is None and os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"])
    if threads is not None:
        keys = [machine_key(threads)]
    else:
        head, tail = machine_key(None), f"|torch:{_torch_version()}"
        keys = [key for key in entries if key.startswith(head) and key.endswith(tail)]
    choices = {entries[key].get("choice") for key in keys if isinstance(entries.get(key), dict)}
    return choices.pop() if len(choices) == 1 and len(keys) > 0 and None not in choices else None


def cpu_precision() -> Calibration:
    """The calibrated choice for this process's thread count: from the cache, else measured (and cached)."""
    import torch

    return _cpu_precision(torch.get_num_threads(), os.environ.get("EERN_RECALIBRATE", "") not in ("", "0"))


@functools.lru_cache(maxsize=8)
def _cpu_precision(threads: int, redo: bool) -> Calibration:
    key = machine_key(threads)
    path = cache_dir() / "calibration.json"
    entries = _read(path)
    if not redo and isinstance(entries.get(key), dict):
        try:
            return Calibration(**{**entries[key], "key": key, "cached": True})
        except TypeError:
            pass  # an entry of another shape: measure again
    result = measure(key)
    entries[key] = {k: v for k, v in asdict(result).items() if k not in ("key", "cached")}
    _write(path, entries)
    return result


def measure(key: str = "", rounds: int = ROUNDS) -> Calibration:
    import torch

    start = time.perf_counter()
    torch.manual_seed(0)
    from eern_cli.engine.devices import DTYPES

    steps = {label(p, w): _step(DTYPES[p], w) for p in CANDIDATES for w in WIDTHS}
    best: dict[str, float | None] = {}
    for name, step in steps.items():  # untimed first call: oneDNN builds its kernels here
        try:
            step()
            best[name] = float("inf")
        except (RuntimeError, NotImplementedError):
            best[name] = None
    for _ in range(rounds):
        for name, step in steps.items():
            if best[name] is None:
                continue
            t0 = time.perf_counter()
            step()
            best[name] = min(best[name], (time.perf_counter() - t0) * 1e3)  # type: ignore[type-var]
    timed = {name: ms for name, ms in best.items() if ms is not None}
    choice = min(timed, key=lambda name: timed[name]).split("/")[0] if timed else "fp32"
    return Calibration(key, best, choice, time.perf_counter() - start)


def _step(dtype, channels: int):  # noqa: ANN001, ANN202 (a torch.dtype; torch is imported lazily)
    """Two 3x3 convs with a ReLU between, as in each of EERN's blocks, on a channels-last strip."""
    import torch
    import torch.nn.functional as F

    rows, cols = ROWS, COLUMNS
    x = torch.rand(1, channels, rows, cols).to(dtype=dtype, memory_format=torch.channels_last) * 255
    w1, w2 = (torch.randn(channels, channels, 3, 3).mul(0.02).to(dtype=dtype, memory_format=torch.channels_last)
              for _ in range(2))
    b = torch.zeros(channels, dtype=dtype)

    def step() -> None:
        with torch.inference_mode():
            F.conv2d(F.relu(F.conv2d(x, w1, b, padding=1)), w2, b, padding=1)

    return step


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, entries: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(entries, indent=1, sort_keys=True).encode()
        atomic.atomic_write(path, lambda f: f.write(data))
    except OSError:
        pass  # a read-only or full cache folder: this process still uses the measurement

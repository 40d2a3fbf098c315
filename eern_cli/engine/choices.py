"""The rules behind ``auto``, in a module that does not import torch.

``devices.py`` applies them to torch devices; the CLI also applies them before torch is imported, so that a
dry run or a re-run whose outputs are all up to date (which need no model) can tell what the settings will
be and start in a fraction of ``import torch``'s time.
"""

from __future__ import annotations

import functools
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from eern_cli.errors import UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Tile side (input pixels) per device kind: 256 keeps a tile's 84-channel maps in a CPU's L2/L3 cache;
# a GPU needs large tiles to fill its SMs and to amortise kernel launches.
DEFAULT_TILE = {"cpu": 256, "cuda": 1024, "mps": 512}

# With the default tile, images of at most this many input pixels run as one whole frame. Measured on a
# 2-core Xeon (README, Performance), each setting in its own process, bf16: the whole frame takes 0.85-0.90x
# the time of 256 px tiles from 384x384 to 600x600 (the tiles' halos and their copies into the full-size maps
# cost more than the smaller working set saves) and about the same at 768x768. The line is drawn at 512x512 by
# memory: up to there the whole frame's peak (710 MB) stays below the tiling's for a 1024x1024 image.
WHOLE_FRAME_PIXELS = {"cpu": 512 * 512, "cuda": 0, "mps": 0}

# Device nodes that a GPU torch build (CUDA, ROCm, WSL's CUDA) needs to see a GPU at all.
_GPU_NODES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


@dataclass(frozen=True)
class Choice:
    """A resolved setting and the reason it was chosen (``eern info`` prints both)."""

    value: str
    reason: str


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux only; elsewhere empty)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether bf16 instructions exist (shown by ``eern info``); not whether they are faster here."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def surely_cpu_only() -> bool:
    """True when no GPU can be there (no GPU device node on Linux), so ``auto`` is the CPU without asking
    torch; False means "ask torch" (it may still find none)."""
    if not sys.platform.startswith("linux"):
        return False  # macOS may have MPS; elsewhere, torch decides
    return not any(Path(node).exists() for node in _GPU_NODES)


def check_precision(precision: str | None) -> str:
    precision = (precision or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", hint=f"use one of {', '.join(PRECISIONS)}")
    return precision


def auto_precision_on_gpu(device_type: str) -> Choice:
    """``auto`` on CUDA and MPS; on a CPU it is measured (``calibrate.py``)."""
    if device_type == "cuda":
        return Choice("fp16", "CUDA: half precision, within 50 dB of fp32 and no overflow on Set14")
    return Choice("fp16", "MPS: half precision")


def whole_frame_pixels(tile: int | None, device: object) -> int:
    """Images of at most this many pixels run whole: with the default tile (None) on a CPU, else none by size."""
    return WHOLE_FRAME_PIXELS[getattr(device, "type", device)] if tile is None else 0


def resolve_tile(tile: int | None, device: object) -> Choice:
    """``None`` is the per-device default; 0 is the whole frame (the model's plain forward). ``device`` is a
    torch device or its type ("cpu", "cuda", "mps")."""
    kind = getattr(device, "type", device)
    if tile is None:
        whole = WHOLE_FRAME_PIXELS[kind]
        side = int(whole**0.5)
        reason = f"default for {kind}" + (f"; whole frame up to {side}x{side}" if whole else "")
        return Choice(str(DEFAULT_TILE[kind]), reason)
    if tile < 0:
        raise UsageError(f"tile size must be 0 (whole frame) or at least 16, not {tile}")
    if 0 < tile < 16:
        raise UsageError(f"tile size {tile} is too small", hint="use 0 (whole frame) or at least 16")
    return Choice(str(tile), "asked for")

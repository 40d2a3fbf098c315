"""Forward time per image, measured as the NTIRE Efficient-SR challenge does, with its variance shown.

* What is timed: one ``Upscaler.upscale_tensor`` call on an input already on the device in the working
  dtype, whose output stays on the device (no host transfer, no uint8 conversion): the challenge times
  ``model(x)`` the same way. Whole frame or exact tiling, as the variant says.
* How: on CUDA with CUDA events recorded on the device's stream around the call (synchronised before the
  start and on the end event), not a wall clock around asynchronous launches; on the CPU, whose ops are
  synchronous, with ``time.perf_counter_ns``.
* Cold and warm: the first call of each variant is reported apart ("first"); then ``warmup`` untimed calls;
  then ``repeat`` timed rounds. Each round runs every variant once, in an order rotated from round to round,
  so drifts of the machine (clock boost, thermal, other load) hit all variants alike.
* Memory: CUDA: ``max_memory_allocated``/``max_memory_reserved`` after ``reset_peak_memory_stats`` (the
  caching allocator's view, as the challenge reports; it includes the weights and inputs held at the time, not
  the CUDA context). CPU: the growth of the resident set over a timed call: the peak-RSS mark is reset
  through ``/proc/self/clear_refs`` (Linux >= 4.0) after ``malloc_trim`` hands freed heap back, so each
  variant is measured on its own, in process. It excludes what the process already holds (weights, the
  input, oneDNN's cached kernels and scratch), and is unavailable (``None``) where /proc is not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eern_cli.engine.regions import runs_whole, tile_regions
from eern_cli.errors import UsageError
from eern_cli.protocols import TensorUpscaler


@dataclass(frozen=True)
class Variant:
    precision: str  # fp32, bf16, fp16 (resolved, never "auto")
    tile: int  # input pixels per tile side; 0 = whole frame
    auto: bool = False  # the device's default tile (``tile`` is its side), with its whole-frame rule by size

    @property
    def label(self) -> str:
        if self.auto:
            return f"{self.precision} tile auto ({self.tile})"
        return f"{self.precision} " + ("whole" if self.tile == 0 else f"tile {self.tile}")

    @property
    def tile_option(self) -> int | None:
        """What ``Upscaler(tile=...)`` takes for this variant."""
        return None if self.auto else self.tile


REFERENCE = Variant("fp32", 0)


def tiles_for(height: int, width: int, tile: int, whole_up_to: int = 0) -> int:
    """How many tiles the upscaler runs (1 when it runs the frame whole: see ``regions.runs_whole``)."""
    if runs_whole(height, width, tile, whole_up_to):
        return 1
    return len(tile_regions(height, width, tile))


def synthetic_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A deterministic photo-like (1, 3, H, W) float image on 0..255: smooth shapes, edges and fine grain.

    Timing does not depend on content, but the PSNR between precisions does: random noise would be an
    unrealistically hard case, a flat image an easy one.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.empty((3, height, width))
    for c in range(3):
        f = rng.uniform(2, 9, size=4)
        image[c] = 128 + 60 * np.sin(f[0] * xx + f[1] * yy) * np.cos(f[2] * yy - f[3] * xx * xx)
    image[:, (xx * 7 + yy * 3) % 1 < 0.15] *= 0.55  # hard edges
    image += rng.normal(0, 6, size=image.shape)  # sensor grain
    return torch.from_numpy(np.clip(image, 0, 255).astype(np.float32)).unsqueeze(0)


@dataclass
class Measurement:
    variant: Variant
    height: int
    width: int
    tiles: int
    first_ms: float | None = None
    times_ms: list[float] = field(default_factory=list)
    memory: dict[str, int] = field(default_factory=dict)  # the peak over the timed calls
    psnr_vs_reference: float | None = None  # dB, outputs clamped to 0..255, whole output, float
    max_diff_levels: int | None = None  # largest difference of the uint8 outputs, in grey levels

    def add(self, ms: float, memory: dict[str, int]) -> None:
        self.times_ms.append(ms)
        for key, value in memory.items():
            self.memory[key] = max(self.memory.get(key, 0), value)


class CpuBackend:
    timer = "time.perf_counter_ns around each call (CPU ops are synchronous)"

    def __init__(self) -> None:
        self._status = Path("/proc/self/status")
        self._trim = _malloc_trim()
        self._base_kib = 0
        self.memory = "peak RSS growth over each timed call (peak-RSS mark reset per call)" if _can_reset() else None

    def time_call(self, fn: Callable[[], object]) -> float:
        start = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - start) / 1e6

    def reset_peak(self) -> None:
        if self.memory is None:
            return
        if self._trim is not None:
            self._trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        self._base_kib = self._read("VmRSS")

    def peak(self) -> dict[str, int]:
        if self.memory is None:
            return {}
        return {"peak_rss_growth_bytes": max(0, self._read("VmHWM") - self._base_kib) * 1024}

    def _read(self, key: str) -> int:
        match = re.search(rf"^{key}:\s+(\d+)\s+kB", self._status.read_text(), re.MULTILINE)
        return int(match[1]) if match else 0


class CudaBackend:
    timer = "CUDA events on the device's stream around each call, synchronised"
    memory = "torch.cuda max_memory_allocated / max_memory_reserved, reset before each timed call"

    def __init__(self, device: torch.device, cuda: Any = None) -> None:
        self.cuda = torch.cuda if cuda is None else cuda  # injectable, so that tests exercise it on a CPU
        self.device = device

    def time_call(self, fn: Callable[[], object]) -> float:
        stream = self.cuda.current_stream(self.device)
        start, end = self.cuda.Event(enable_timing=True), self.cuda.Event(enable_timing=True)
        self.cuda.synchronize(self.device)
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        return float(start.elapsed_time(end))

    def reset_peak(self) -> None:
        self.cuda.synchronize(self.device)
        self.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> dict[str, int]:
        return {
            "cuda_max_allocated_bytes": int(self.cuda.max_memory_allocated(self.device)),
            "cuda_max_reserved_bytes": int(self.cuda.max_memory_reserved(self.device)),
        }


def make_backend(device: torch.device) -> CpuBackend | CudaBackend:
    if device.type == "cuda":
        return CudaBackend(device)
    if device.type == "cpu":
        return CpuBackend()
    raise UsageError(f"benchmarking on {device.type} is not supported", hint="use {device=cpu} or cuda")


def _can_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return Path("/proc/self/status").is_file()
    except OSError:
        return False


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):
        return None


def _discard(_top: int, _left: int, _tile: torch.Tensor) -> None:
    """The timed calls' sink: the output stays where it was computed, as the challenge leaves it."""


def _compare(reference: torch.Tensor, output: torch.Tensor) -> tuple[float, int]:
    a, b = reference.clamp(0, 255).double(), output.clamp(0, 255).double()
    mse = float(((a - b) ** 2).mean())
    psnr = float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))
    return psnr, int((a.round() - b.round()).abs().max())


class SpeedBenchmark:
    """Runs the interleaved measurement; ``results`` fills as it goes, so an interrupted run keeps its data.

    ``runners``: one ``TensorUpscaler`` per variant (an ``Upscaler``, or anything with its tensor calls); the
    reference variant (fp32 whole frame) should come first so that the others can be compared with it.
    """

    def __init__(
        self, runners: dict[Variant, TensorUpscaler], sizes: list[tuple[int, int]], *,
        backend: CpuBackend | CudaBackend,
        repeat: int, warmup: int, on_step: Callable[[str], None] | None = None, seed: int = 0,
    ) -> None:
        if repeat < 1 or warmup < 0:
            raise UsageError("--repeat must be at least 1 and --warmup at least 0")
        self.runners, self.sizes, self.backend = runners, sizes, backend
        self.repeat, self.warmup, self.seed = repeat, warmup, seed
        self.on_step = on_step or (lambda _text: None)
        self.results: list[Measurement] = []

    @property
    def steps(self) -> int:
        return len(self.sizes) * len(self.runners) * (1 + max(self.warmup, 1) + self.repeat)

    def run(self) -> list[Measurement]:
        for height, width in self.sizes:
            self._one_size(height, width)
        return self.results

    def _one_size(self, height: int, width: int) -> None:
        image = synthetic_image(height, width, self.seed)
        inputs: dict[tuple[str, torch.dtype], torch.Tensor] = {}
        current: dict[Variant, Measurement] = {}
        reference: torch.Tensor | None = None
        where = f"{width}x{height}"
        for variant, runner in self.runners.items():
            key = (str(runner.device), runner.dtype)
            if key not in inputs:
                inputs[key] = image.to(runner.device, runner.dtype).contiguous(memory_format=torch.channels_last)
            x = inputs[key]
            m = current[variant] = Measurement(
                variant, height, width, tiles_for(height, width, variant.tile, runner.whole_up_to)
            )
            self.results.append(m)
            m.first_ms = self.backend.time_call(lambda: runner.stream_tensor(x, _discard))
            self.on_step(f"{where} {variant.label}: first call")
            for _ in range(max(self.warmup, 1) - 1):
                runner.stream_tensor(x, _discard)
                self.on_step(f"{where} {variant.label}: warm-up")
            output = runner.upscale_tensor(x)  # the last warm-up call keeps its output for the comparison
            reference = output if variant == REFERENCE else reference
            if reference is not None:
                m.psnr_vs_reference, m.max_diff_levels = _compare(reference, output)
            del output
            self.on_step(f"{where} {variant.label}: warm-up")
        order = list(self.runners.items())
        for r in range(self.repeat):
            shift = r % len(order)
            for variant, runner in order[shift:] + order[:shift]:
                key = (str(runner.device), runner.dtype)
                self.backend.reset_peak()
                ms = self.backend.time_call(lambda: runner.stream_tensor(inputs[key], _discard))
                current[variant].add(ms, self.backend.peak())
                self.on_step(f"{where} round {r + 1}/{self.repeat}")

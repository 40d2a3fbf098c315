"""Timing: interleaving, statistics, the CUDA-event path (on a fake torch.cuda), memory, fidelity."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
import torch

from eern_cli.bench import timing
from eern_cli.bench.report import speed_rows, summary
from eern_cli.engine.regions import tile_regions
from eern_cli.upscaler import Upscaler

DEVICE = os.environ.get("EERN_TEST_DEVICE", "cpu")


class FakeRunner:
    """An upscaler stand-in that records its calls and returns a constant image plus ``offset``."""

    def __init__(self, name: str, calls: list[str], offset: float = 0.0, sleep: float = 0.0) -> None:
        self.name, self.calls, self.offset, self.sleep = name, calls, offset, sleep
        self.device, self.dtype, self.whole_up_to = torch.device("cpu"), torch.float32, 0

    def upscale_tensor(self, image: torch.Tensor, *, progress=None) -> torch.Tensor:  # noqa: ANN001
        self.calls.append(self.name)
        time.sleep(self.sleep)
        return torch.full((1, 3, 4 * image.shape[-2], 4 * image.shape[-1]), 100.0 + self.offset)

    def stream_tensor(self, image: torch.Tensor, sink, *, progress=None) -> None:  # noqa: ANN001
        sink(0, 0, self.upscale_tensor(image))


def test_rounds_are_interleaved_and_rotated() -> None:
    calls: list[str] = []
    runners = {
        timing.REFERENCE: FakeRunner("ref", calls),
        timing.Variant("bf16", 0): FakeRunner("bf16", calls, offset=1.0),
        timing.Variant("bf16", 64): FakeRunner("tiled", calls, offset=0.0),
    }
    bench = timing.SpeedBenchmark(runners, [(16, 24)], backend=timing.CpuBackend(), repeat=3, warmup=2)
    steps: list[str] = []
    bench.on_step = steps.append
    bench.run()
    assert len(steps) == bench.steps == 3 * (1 + 2 + 3)
    # first call + 2 warm-ups per variant, in order; then rounds in rotated order
    assert calls[:9] == ["ref"] * 3 + ["bf16"] * 3 + ["tiled"] * 3
    assert calls[9:] == ["ref", "bf16", "tiled", "bf16", "tiled", "ref", "tiled", "ref", "bf16"]
    ref, bf16, tiled = bench.results
    assert [len(m.times_ms) for m in bench.results] == [3, 3, 3]
    assert ref.psnr_vs_reference == math.inf and ref.max_diff_levels == 0
    assert bf16.psnr_vs_reference == pytest.approx(20 * math.log10(255)) and bf16.max_diff_levels == 1
    assert tiled.psnr_vs_reference == math.inf


def test_summary_and_rows() -> None:
    stats = summary([10.0, 12.0, 11.0, 30.0])
    assert stats["median_ms"] == 11.5 and stats["min_ms"] == 10.0 and stats["max_ms"] == 30.0
    assert stats["iqr_ms"] == pytest.approx(np.percentile([10, 12, 11, 30], 75) - np.percentile([10, 12, 11, 30], 25))
    assert summary([]) == {}
    ref = timing.Measurement(timing.REFERENCE, 256, 256, 1, first_ms=50.0, times_ms=[20.0, 20.0])
    fast = timing.Measurement(timing.Variant("bf16", 128), 256, 256, 4, first_ms=30.0, times_ms=[10.0])
    unfinished = timing.Measurement(timing.Variant("fp16", 0), 256, 256, 1)
    rows = speed_rows([ref, fast, unfinished], macs=lambda h, w: 41_212_605_000)
    assert [r["variant"] for r in rows] == ["fp32 whole", "bf16 tile 128"]
    assert rows[1]["speedup_vs_fp32_whole"] == pytest.approx(2.0)
    assert rows[1]["output_mp_per_s"] == pytest.approx(16 * 256 * 256 / 1e6 / 0.010)
    assert rows[0]["gmac_per_s"] == pytest.approx(41.212605 / 0.020)
    assert rows[1]["input"] == "256x256" and rows[1]["tiles"] == 4 and rows[1]["std_ms"] == 0.0


def test_tiles_and_synthetic_image() -> None:
    assert timing.tiles_for(256, 256, 0) == 1
    assert timing.tiles_for(256, 256, 256) == 1
    assert timing.tiles_for(480, 640, 256) == len(tile_regions(480, 640, 256)) > 1
    a, b = timing.synthetic_image(20, 30), timing.synthetic_image(20, 30)
    assert a.shape == (1, 3, 20, 30) and torch.equal(a, b)
    assert 0 <= float(a.min()) and float(a.max()) <= 255 and float(a.std()) > 20
    assert timing.Variant("fp32", 0).label == "fp32 whole" and timing.Variant("bf16", 96).label == "bf16 tile 96"


class FakeEvent:
    log: list[str] = []

    def __init__(self, enable_timing: bool = False) -> None:
        assert enable_timing
        self.t: float | None = None

    def record(self, stream: object = None) -> None:
        assert stream == "stream"
        FakeEvent.log.append("record")
        self.t = time.perf_counter()

    def synchronize(self) -> None:
        FakeEvent.log.append("event-sync")

    def elapsed_time(self, end: FakeEvent) -> float:
        assert self.t is not None and end.t is not None
        return (end.t - self.t) * 1e3


class FakeCuda:
    """Just enough of torch.cuda for CudaBackend: events, synchronize, peak-memory statistics."""

    Event = FakeEvent

    def __init__(self) -> None:
        self.peak = 0
        self.resets = 0

    def current_stream(self, device: torch.device) -> str:
        return "stream"

    def synchronize(self, device: torch.device) -> None:
        FakeEvent.log.append("sync")

    def reset_peak_memory_stats(self, device: torch.device) -> None:
        self.resets += 1
        self.peak = 0

    def max_memory_allocated(self, device: torch.device) -> int:
        self.peak += 1000
        return self.peak

    def max_memory_reserved(self, device: torch.device) -> int:
        return 2 * self.peak


def test_cuda_backend_times_with_events_and_resets_peaks() -> None:
    """The CUDA path (events, synchronisation, peak stats), run on CPU tensors through a fake torch.cuda."""
    FakeEvent.log = []
    cuda = FakeCuda()
    backend = timing.CudaBackend(torch.device("cuda"), cuda=cuda)
    ms = backend.time_call(lambda: time.sleep(0.02))
    assert 15 <= ms <= 500
    assert FakeEvent.log == ["sync", "record", "record", "event-sync"]
    runners = {timing.REFERENCE: Upscaler(device="cpu", precision="fp32", tile=0)}
    bench = timing.SpeedBenchmark(runners, [(16, 16)], backend=backend, repeat=2, warmup=0)
    bench.run()
    (m,) = bench.results
    assert len(m.times_ms) == 2 and cuda.resets == 2
    assert m.memory == {"cuda_max_allocated_bytes": 1000, "cuda_max_reserved_bytes": 2000}


def test_cpu_backend_measures_each_calls_peak() -> None:
    backend = timing.CpuBackend()
    if backend.memory is None:
        pytest.skip("peak-RSS reset needs Linux /proc")
    backend.reset_peak()
    backend.time_call(lambda: np.ones(64 * 2**20 // 8).sum())  # touches 64 MiB, then frees it
    big = backend.peak()["peak_rss_growth_bytes"]
    backend.reset_peak()
    backend.time_call(lambda: None)
    small = backend.peak()["peak_rss_growth_bytes"]
    assert big >= 48 * 2**20 and small < 16 * 2**20


def test_make_backend() -> None:
    assert isinstance(timing.make_backend(torch.device("cpu")), timing.CpuBackend)
    assert isinstance(timing.make_backend(torch.device("cuda")), timing.CudaBackend)  # builds without a GPU


def _against_fp32_whole(variant: timing.Variant, size: tuple[int, int]) -> list[timing.Measurement]:
    """One timed round of the fp32 whole-frame reference and ``variant``, on the test device."""
    runners = {
        timing.REFERENCE: Upscaler(device=DEVICE, precision="fp32", tile=0),
        variant: Upscaler(device=DEVICE, precision=variant.precision, tile=variant.tile),
    }
    backend = timing.make_backend(torch.device(DEVICE))
    return timing.SpeedBenchmark(runners, [size], backend=backend, repeat=1, warmup=0).run()


def test_real_variants_on_the_test_device() -> None:
    ref, bf16 = _against_fp32_whole(timing.Variant("bf16", 0), (24, 20))
    assert ref.first_ms > 0 and len(ref.times_ms) == 1 and ref.tiles == 1
    assert ref.psnr_vs_reference == math.inf
    assert 35 < bf16.psnr_vs_reference < 80 and bf16.max_diff_levels >= 1


def test_exact_tiling_is_reported_identical_to_whole_frame() -> None:
    """The PSNR-vs-fp32 column is how a tiling bug shows: the exact engine must read as (near) identical."""
    _, tiled = _against_fp32_whole(timing.Variant("fp32", 32), (48, 40))
    assert tiled.tiles == 4
    assert tiled.psnr_vs_reference > 80 and tiled.max_diff_levels <= 1

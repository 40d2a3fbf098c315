"""Running out of memory: a run is retried in smaller tiles, then with the maps in host memory, before it fails.

Also what the host has free, so that ``Upscaler.check_memory`` can refuse a run that cannot fit before it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from eern_cli.engine.regions import runs_whole
from eern_cli.engine.tiled import run_exact_tiled
from eern_cli.errors import InsufficientMemoryError
from eern_cli.protocols import Progress, TileSink

if TYPE_CHECKING:
    from eern_cli.upscaler import Upscaler

MIN_RETRY_TILE = 32


def run_with_retries(upscaler: Upscaler, x: torch.Tensor, sink: TileSink, progress: Progress | None) -> None:
    """``x`` (1, 3, H, W, on the device in the working dtype) through the model with the upscaler's tile; on an
    out-of-memory error again in the configured tiles (if it ran whole for its size), then in tiles of half the
    side down to ``MIN_RETRY_TILE``, then (on a GPU) with the maps in host memory."""
    height, width = x.shape[-2:]
    tile, scratch, whole_up_to = upscaler.tile, upscaler.scratch, upscaler.whole_up_to
    while True:
        try:
            if runs_whole(height, width, tile, whole_up_to):
                sink(0, 0, upscaler.forward_whole(x))
                if progress:
                    progress(1, 1)
            else:
                run_exact_tiled(upscaler.model, x, tile, sink, scratch=scratch, progress=progress)
            return
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            if upscaler.device.type == "cuda":
                torch.cuda.empty_cache()
            ran_whole_by_size = whole_up_to and not runs_whole(height, width, tile)
            whole_up_to = 0  # retries are tiled by their tile size alone
            if ran_whole_by_size:
                continue  # in the configured tiles first
            if tile == 0 or tile > MIN_RETRY_TILE:
                tile = max(MIN_RETRY_TILE, min(tile or max(height, width), max(height, width)) // 2)
            elif scratch is None and upscaler.device.type != "cpu":
                scratch = "host"
            else:
                raise InsufficientMemoryError(
                    f"out of memory on {upscaler.device} for a {width}x{height} image, even in "
                    f"{MIN_RETRY_TILE} px tiles",
                    hint="use {scratch=DIR} (a memory-mapped file), {precision=bf16}, or a smaller image",
                    size=(width, height), device=str(upscaler.device),
                ) from exc


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)  # the CPU allocator raises a plain RuntimeError
    return "can't allocate memory" in text or "DefaultCPUAllocator" in text


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where unknown, and then nothing is refused up front."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None

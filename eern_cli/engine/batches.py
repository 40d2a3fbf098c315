"""Small images of one shape through one forward: ``Upscaler.upscale_arrays`` and ``Upscaler.batch_size``.

For a small image most of a forward's time is a fixed cost per call, so same-shape images go through the model
together, as one (N, 3, H, W) batch (120x80 images on a 2-core Xeon in bf16: 34 ms each in batches of 4-16,
41 ms one by one). Only where an image comes out of a batch exactly as it comes out alone, so that a result
never depends on the images beside it: on the CPU in bf16 or fp16, where every convolution goes to oneDNN
whatever the batch size (tests/test_upscaler.py checks it). In fp32 PyTorch runs a single image's small
convolutions (ESA's 1/6-scale maps) with its own kernels and a batch's with oneDNN, 1 level apart; on a GPU
cuDNN may choose other kernels for another batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from eern_cli.engine import SCALE
from eern_cli.engine.choices import resolve_tile
from eern_cli.engine.model import MIN_SIDE
from eern_cli.engine.retries import is_out_of_memory
from eern_cli.errors import InputImageError
from eern_cli.protocols import Progress

if TYPE_CHECKING:
    from eern_cli.upscaler import Upscaler


def batch_size(upscaler: Upscaler, height: int, width: int) -> int:
    """How many H x W images run through one forward (1: one by one). A batch holds at most one tile's worth of
    input pixels (the device's default tile when tiling is off): no more memory than a tile needs."""
    height, width = max(height, MIN_SIDE), max(width, MIN_SIDE)
    if upscaler.device.type != "cpu" or upscaler.dtype == torch.float32 or not upscaler.runs_whole(height, width):
        return 1
    side = upscaler.tile or int(resolve_tile(None, upscaler.device).value)
    return max(1, side * side // (height * width))


def upscale_arrays(
    upscaler: Upscaler, arrays: Sequence[np.ndarray], progress: Progress | None = None
) -> list[np.ndarray]:
    """Each array exactly as ``upscaler.upscale_array`` would give it, ``batch_size(H, W)`` at a time."""
    arrays = list(arrays)
    for array in arrays[1:]:
        if array.shape != arrays[0].shape or array.dtype != arrays[0].dtype:
            raise InputImageError(
                f"upscale_arrays takes arrays of one shape and dtype, got {arrays[0].shape} {arrays[0].dtype} "
                f"and {array.shape} {array.dtype}",
                hint="group the arrays by shape and dtype, or call upscale_array on each",
            )
    if not arrays:
        return []
    size = batch_size(upscaler, arrays[0].shape[0], arrays[0].shape[1])
    results: list[np.ndarray] = []
    for start in range(0, len(arrays), size):
        chunk = arrays[start : start + size]
        results.extend(_one_forward(upscaler, chunk) if len(chunk) > 1 else [upscaler.upscale_array(chunk[0])])
        if progress:
            progress(len(results), len(arrays))
    return results


@torch.inference_mode()
def _one_forward(upscaler: Upscaler, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Same-shape whole-frame arrays through one forward: the steps of ``stream_tensor`` on an (N, 3, H, W)
    batch. Out of memory, each runs alone (with the upscaler's retries in tiles)."""
    inputs = [upscaler._array_in(array) for array in arrays]  # noqa: SLF001 (the upscaler's own helper)
    x = torch.stack([pixels for pixels, _, _ in inputs]).contiguous(memory_format=torch.channels_last)
    height, width = x.shape[-2:]
    pad_bottom, pad_right = max(MIN_SIDE - height, 0), max(MIN_SIDE - width, 0)
    if pad_bottom or pad_right:
        x = F.pad(x.float(), (0, pad_right, 0, pad_bottom), mode="replicate").to(upscaler.dtype)
    try:
        y = upscaler.forward_whole(x)
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        return [upscaler.upscale_array(array) for array in arrays]
    for index, (_, _, store) in enumerate(inputs):
        store(0, 0, y[index : index + 1, :, : SCALE * height, : SCALE * width])
    return [result for _, result, _ in inputs]

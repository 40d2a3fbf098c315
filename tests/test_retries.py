"""Out of memory (``engine/retries.py``): retried in smaller tiles, never a wrong or missing output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_images import random_image

from eern_cli import Upscaler


def test_out_of_memory_retries_with_smaller_tiles(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    """A CUDA OOM, forced at the device boundary (any conv over more than 40 x 40 px fails to allocate)."""
    image = random_image((64, 64, 3), seed=3)
    expected = Upscaler(device=device, precision="fp32", tile=0).upscale(image)
    conv_forward = torch.nn.Conv2d._conv_forward
    failures = []

    def allocating(self, x, weight, bias):
        if x.shape[-2] * x.shape[-1] > 40 * 40:
            failures.append(tuple(x.shape[-2:]))
            raise torch.OutOfMemoryError("CUDA out of memory (forced by the test)")
        return conv_forward(self, x, weight, bias)

    monkeypatch.setattr(torch.nn.Conv2d, "_conv_forward", allocating)
    out = Upscaler(device=device, precision="fp32", tile=0).upscale(image)
    assert failures, "the forced failure never happened"
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_the_default_cpu_tile_runs_a_larger_image_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """260x300 is more than one 256 px tile but at most 512x512 pixels: whole (``choices.WHOLE_FRAME_PIXELS``);
    an explicit tile still cuts it; a forced out-of-memory in the whole frame retries in the 256 px tiles first."""
    image = random_image((260, 300, 3), seed=4)
    default, tiled = Upscaler(device="cpu", precision="fp32"), Upscaler(device="cpu", precision="fp32", tile=256)
    assert (default.tile, default.whole_up_to, tiled.whole_up_to) == (256, 512 * 512, 0)
    wholes: list[tuple[int, int]] = []
    real = default.forward_whole
    monkeypatch.setattr(default, "forward_whole", lambda x: wholes.append(tuple(x.shape[-2:])) or real(x))
    whole = default.upscale(image)
    assert wholes == [(260, 300)]
    assert np.abs(whole.astype(int) - tiled.upscale(image).astype(int)).max() <= 1  # fp32: the exact tiling

    def out_of_memory(x: torch.Tensor) -> torch.Tensor:
        wholes.append(tuple(x.shape[-2:]))
        raise torch.OutOfMemoryError("out of memory (forced by the test)")

    monkeypatch.setattr(default, "forward_whole", out_of_memory)
    progress: list[tuple[int, int]] = []
    again = default.upscale(image, progress=lambda done, total: progress.append((done, total)))
    assert wholes[1:] == [(260, 300)] and progress[-1][1] > 1  # one whole try, then tiles
    assert np.abs(again.astype(int) - whole.astype(int)).max() <= 1

"""Same-shape small images through one forward (``engine/batches.py``): bit-identical to one by one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_images import random_image

from eern_cli import InputImageError, Upscaler


@pytest.fixture(scope="module")
def batching(device: str) -> Upscaler:
    """bf16, where the CPU runs same-shape images as one batch (``Upscaler.batch_size``)."""
    if device != "cpu":
        pytest.skip("batches run on the CPU only (Upscaler.batch_size)")
    return Upscaler(device=device, precision="bf16")


def forward_batch_sizes(upscaler: Upscaler, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of every forward ``upscaler`` runs from now on (a spy that calls the real one)."""
    sizes: list[int] = []
    real = upscaler.forward_whole

    def spy(x: torch.Tensor) -> torch.Tensor:
        sizes.append(x.shape[0])
        return real(x)

    monkeypatch.setattr(upscaler, "forward_whole", spy)
    return sizes


@pytest.mark.parametrize(("shape", "dtype"), [
    ((20, 24, 3), np.uint8), ((24, 20), np.uint8), ((20, 24, 1), np.uint8), ((14, 9, 3), np.uint8),
    ((1, 1, 3), np.uint8), ((20, 24, 3), np.uint16), ((16, 18, 3), np.float32),
])
def test_arrays_in_one_batch_equal_one_by_one(batching: Upscaler, shape: tuple[int, ...], dtype,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Tolerance: identical (0 levels), so that a result never depends on the images beside it."""
    arrays = [random_image(shape, dtype, seed=i) for i in range(5)]
    sizes = forward_batch_sizes(batching, monkeypatch)
    batched = batching.upscale_arrays(arrays)
    assert sizes == [5]
    for array, out in zip(arrays, batched, strict=True):
        single = batching.upscale_array(array)
        assert out.dtype == single.dtype and out.shape == single.shape == (4 * shape[0], 4 * shape[1]) + shape[2:]
        assert np.array_equal(out, single)


def test_batches_hold_at_most_one_tile_of_pixels(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if device != "cpu":
        pytest.skip("batches run on the CPU only (Upscaler.batch_size)")
    up = Upscaler(device=device, precision="bf16", tile=32)
    assert up.batch_size(15, 15) == 4 and up.batch_size(8, 8) == 4  # padded to ESA's 15 px minimum
    assert up.batch_size(40, 20) == 1  # tiled: one by one
    arrays = [random_image((15, 15, 3), seed=i) for i in range(10)]
    sizes = forward_batch_sizes(up, monkeypatch)
    progress: list[tuple[int, int]] = []
    out = up.upscale_arrays(arrays, progress=lambda done, total: progress.append((done, total)))
    assert sizes == [4, 4, 2] and progress == [(4, 10), (8, 10), (10, 10)]
    assert all(np.array_equal(o, up.upscale_array(a)) for o, a in zip(out, arrays, strict=True))


def test_batch_size_follows_the_precision(batching: Upscaler, device: str) -> None:
    assert batching.tile == 256 and batching.batch_size(80, 120) == 256 * 256 // (80 * 120)
    # fp32: PyTorch runs a single image's small convolutions with other kernels than a batch's (1 level apart)
    assert Upscaler(device=device, precision="fp32").batch_size(80, 120) == 1


def test_batches_take_arrays_of_one_kind(batching: Upscaler) -> None:
    assert batching.upscale_arrays([]) == []
    with pytest.raises(InputImageError, match="one shape and dtype"):
        batching.upscale_arrays([random_image((20, 24, 3)), random_image((24, 20, 3))])
    with pytest.raises(InputImageError, match="one shape and dtype"):
        batching.upscale_arrays([random_image((20, 24, 3)), random_image((20, 24, 3), np.uint16)])
    with pytest.raises(InputImageError, match="shape"):
        batching.upscale_arrays([np.zeros((16, 16, 4), np.uint8)] * 2)

"""numpy arrays into the tensor contract and back (``engine/arrays.py``), with an exact stand-in for the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eern_cli import InputImageError
from eern_cli.engine.arrays import LUMA, array_in, full_scale


def through_nearest_x4(array: np.ndarray, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, np.ndarray]:
    """``array`` in, a nearest-neighbour x4 of its pixels stored back as the model's output: (pixels, result)."""
    pixels, result, store = array_in(array, torch.device("cpu"), dtype)
    store(0, 0, F.interpolate(pixels.float()[None], scale_factor=4, mode="nearest"))
    return pixels, result


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_arrays_come_back_exactly(dtype) -> None:
    array = np.random.default_rng(0).integers(0, np.iinfo(dtype).max + 1, (5, 7, 3), dtype=dtype)
    pixels, result = through_nearest_x4(array)
    assert pixels.shape == (3, 5, 7) and float(pixels.max()) <= 255.0  # the contract's 0..255 scale
    assert result.dtype == dtype and np.array_equal(result, array.repeat(4, 0).repeat(4, 1))


def test_float_arrays_are_0_to_1_and_clamped() -> None:
    array = np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32)
    pixels, result, store = array_in(array, torch.device("cpu"), torch.float32)
    assert torch.allclose(pixels[:, 0, 0], torch.tensor([0.0, 127.5, 255.0]))
    store(0, 0, torch.tensor([-9.0, 127.5, 300.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4).clone())
    assert np.allclose(result[0, 0], [0.0, 0.5, 1.0])


@pytest.mark.parametrize("shape", [(6, 4), (6, 4, 1)])
def test_grey_goes_in_as_three_channels_and_comes_back_as_luma(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    pixels, result, store = array_in(array, torch.device("cpu"), torch.bfloat16)
    assert pixels.shape == (3, 6, 4) and torch.equal(pixels[0], pixels[2])
    rgb = torch.tensor([10.0, 200.0, 50.0]).view(1, 3, 1, 1).expand(1, 3, 24, 16).clone()
    store(0, 0, rgb)
    assert result.shape == (24, 16, *shape[2:]) and (result == round(10 * LUMA[0] + 200 * LUMA[1] + 50 * LUMA[2])).all()


@pytest.mark.parametrize("array", [np.zeros((4, 4, 4), np.uint8), np.zeros((4,), np.uint8), np.zeros((4, 4), np.int32)])
def test_refuses_layouts_and_dtypes_it_cannot_read(array: np.ndarray) -> None:
    with pytest.raises(InputImageError):
        full_scale(array)

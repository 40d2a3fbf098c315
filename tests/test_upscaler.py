"""The library API: every size, dtype and layout in, the same kind out, one instance shared by threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers_images import random_image
from PIL import Image

from eern_cli import InputImageError, Upscaler


@pytest.fixture(scope="module")
def upscaler(device: str) -> Upscaler:
    return Upscaler(device=device, precision="fp32", tile=32)


@pytest.mark.parametrize("size", [(1, 1), (1, 30), (14, 14), (15, 15), (16, 50), (33, 17)])
def test_every_size_down_to_one_pixel(upscaler: Upscaler, size: tuple[int, int]) -> None:
    out = upscaler.upscale(random_image((*size, 3)))
    assert out.shape == (4 * size[0], 4 * size[1], 3)
    assert out.dtype == np.uint8


def test_small_images_are_padded_not_distorted(upscaler: Upscaler) -> None:
    # A flat image stays flat however small: padding replicates the edge.
    out = upscaler.upscale(np.full((3, 5, 3), 200, dtype=np.uint8))
    assert out.shape == (12, 20, 3)
    assert np.abs(out.astype(int) - 200).max() <= 6


def test_tiled_and_whole_frame_agree_through_the_api(device: str) -> None:
    image = random_image((70, 90, 3), seed=1)
    whole = Upscaler(device=device, precision="fp32", tile=0).upscale(image)
    tiled = Upscaler(device=device, precision="fp32", tile=32).upscale(image)
    # At most one grey level apart (rounding of values that differ by float error).
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_sixteen_bit_is_processed_at_full_precision(upscaler: Upscaler) -> None:
    # A smooth ramp, so that nothing clips at 0 or 65535 (both multiples of 257).
    ramp = np.linspace(10_000, 50_000, 20 * 24 * 3).reshape(20, 24, 3)
    image = (ramp + random_image((20, 24, 3), np.float32) * 2000).astype(np.uint16)
    out = upscaler.upscale(image)
    assert out.dtype == np.uint16 and out.shape == (80, 96, 3)
    # Values that an 8-bit pipeline could not produce (not multiples of 257).
    assert (out % 257 != 0).mean() > 0.9
    as_8bit = upscaler.upscale((image / 257).round().astype(np.uint8)).astype(float) * 257
    # Tolerance: the 8-bit input's quantisation, ~2 levels of 255 on average.
    assert np.abs(out.astype(float) - as_8bit).mean() < 2 * 257


def test_float_arrays_are_zero_to_one(upscaler: Upscaler) -> None:
    image = random_image((20, 20, 3), np.float32)
    out = upscaler.upscale(image)
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
    as_8bit = upscaler.upscale((image * 255).round().astype(np.uint8)) / 255.0
    # The 8-bit input's rounding (half a level), amplified by the sharpening of noise: 4 levels at most.
    assert np.abs(out - as_8bit).max() <= 4 / 255


@pytest.mark.parametrize("shape", [(20, 24), (20, 24, 1)])
def test_grayscale_in_grayscale_out(upscaler: Upscaler, shape: tuple[int, ...]) -> None:
    out = upscaler.upscale(random_image(shape))
    assert out.shape == (80, 96) + shape[2:]


def test_pil_images_keep_their_mode(upscaler: Upscaler) -> None:
    for mode in ("RGB", "L"):
        image = Image.new(mode, (18, 22), "gray")
        out = upscaler.upscale(image)
        assert isinstance(out, Image.Image) and out.mode == mode and out.size == (72, 88)


def test_unsupported_inputs_get_our_error(upscaler: Upscaler) -> None:
    with pytest.raises(InputImageError, match="mode RGBA"):
        upscaler.upscale(Image.new("RGBA", (16, 16)))
    with pytest.raises(InputImageError, match="shape"):
        upscaler.upscale(np.zeros((16, 16, 4), dtype=np.uint8))
    with pytest.raises(InputImageError, match="dtype"):
        upscaler.upscale(np.zeros((16, 16, 3), dtype=np.int32))
    with pytest.raises(InputImageError):
        upscaler.upscale("photo.png")
    with pytest.raises(InputImageError, match="shape"):
        upscaler.upscale_tensor(torch.zeros(2, 3, 16, 16))


def test_tensor_contract_returns_unclamped_float(upscaler: Upscaler) -> None:
    out = upscaler.upscale_tensor(torch.full((3, 16, 16), 255.0))
    assert out.shape == (1, 3, 64, 64) and out.dtype == torch.float32


def test_streaming_gives_the_same_tiles_as_the_tensor_call(upscaler: Upscaler) -> None:
    """``upscale_tensor`` always returns a tensor; ``stream_tensor`` hands over tiles and returns nothing.
    Tolerance: identical (0 grey levels), as both run the same tiles."""
    image = torch.from_numpy(random_image((40, 70, 3), seed=5)).permute(2, 0, 1).float()
    whole = upscaler.upscale_tensor(image)
    streamed = torch.zeros_like(whole)
    tiles = []

    def sink(top: int, left: int, tile: torch.Tensor) -> None:
        tiles.append((top, left))
        streamed[..., top : top + tile.shape[-2], left : left + tile.shape[-1]] = tile.float().cpu()

    assert upscaler.stream_tensor(image.unsqueeze(0), sink) is None
    assert len(tiles) > 1 and torch.equal(streamed, whole)


def test_settings_are_plain_values_with_their_reasons(device: str) -> None:
    up = Upscaler(device=device, precision="fp32", tile=48)
    assert (up.precision, up.tile) == ("fp32", 48)
    assert (up.reasons["precision"], up.reasons["tile"]) == ("asked for", "asked for")
    assert up.channels in (84, 96) and up.model.head.out_channels == up.channels and up.reasons["channels"]
    auto = Upscaler(device=device)
    assert auto.precision in ("fp32", "bf16", "fp16") and isinstance(auto.tile, int) and auto.tile > 0
    assert set(auto.reasons) == {"precision", "tile", "channels"} and all(auto.reasons.values())


def test_one_instance_serves_several_threads(upscaler: Upscaler) -> None:
    images = [random_image((30 + 5 * i, 40, 3), seed=i) for i in range(4)]
    expected = [upscaler.upscale(image) for image in images]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = upscaler.upscale(images[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, image in enumerate(expected):
        assert np.array_equal(results[i], image)

"""The exact tiled engine gives the whole-frame output, whatever the tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from eern_cli.engine.model import EERN
from eern_cli.engine.regions import tile_regions
from eern_cli.engine.tiled import run_exact_tiled
from eern_cli.weights.loading import load_model


@pytest.fixture(scope="module")
def model(device: str) -> EERN:
    net, _ = load_model()
    return net.to(device).to(memory_format=torch.channels_last)


def crop(shared_data, name: str, height: int, width: int, top: int = 0, left: int = 0) -> torch.Tensor:
    pixels = np.asarray(Image.open(shared_data / "Set14" / "HR" / f"{name}.png").convert("RGB"))
    pixels = pixels[top : top + height, left : left + width]
    assert pixels.shape[:2] == (height, width)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float()


def tiled(model: EERN, image: torch.Tensor, tile: int, **kwargs) -> torch.Tensor:
    out = torch.full((1, 3, 4 * image.shape[-2], 4 * image.shape[-1]), float("nan"))

    def sink(top: int, left: int, t: torch.Tensor) -> None:
        out[..., top : top + t.shape[-2], left : left + t.shape[-1]] = t.float().cpu()

    with torch.inference_mode():
        run_exact_tiled(model, image.to(next(model.parameters()).device), tile, sink, **kwargs)
    return out


def whole(model: EERN, image: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(image.to(next(model.parameters()).device)).float().cpu()


def assert_same_image(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal within float rounding: 0.01 of a grey level before rounding (0..255 units), at most 1 level
    after rounding to uint8, and at least 60 dB."""
    assert not torch.isnan(a).any(), "some output pixels were never written"
    diff = (a - b).abs()
    qa, qb = a.clamp(0, 255).round(), b.clamp(0, 255).round()
    mse = float(((qa - qb) ** 2).mean())
    worst = float(diff.max())
    assert worst <= 0.01, f"max difference {worst:.4g} grey levels; histogram {np.histogram(diff.numpy(), 5)}"
    assert float((qa - qb).abs().max()) <= 1
    assert mse == 0 or 10 * np.log10(255**2 / mse) >= 60


def test_tiled_equals_whole_frame_on_512_crop(shared_data, model) -> None:
    image = crop(shared_data, "baboon", 480, 500)
    expected = whole(model, image)
    # 128: square tiles; 256 and 300: full-width strips of the same area, 300 with an uneven last strip.
    for tile in (128, 256, 300):
        assert_same_image(tiled(model, image, tile), expected)


def test_tiled_equals_whole_frame_on_odd_sizes_and_ragged_tiles(shared_data, model) -> None:
    # Odd height and width; with 16 px tiles the last row and column of tiles are 1 px wide, too small
    # for ESA's stride-2 conv, and with 40 px tiles 1 px high.
    image = crop(shared_data, "barbara", 81, 97, top=100, left=200)
    expected = whole(model, image)
    for tile in (16, 40):
        assert_same_image(tiled(model, image, tile), expected)


def test_tiled_in_host_memory_and_memory_mapped_scratch_match(shared_data, model, tmp_path) -> None:
    image = crop(shared_data, "lenna", 96, 120)
    expected = whole(model, image)
    assert_same_image(tiled(model, image, 32, scratch="host"), expected)
    assert_same_image(tiled(model, image, 32, scratch=tmp_path), expected)
    assert list(tmp_path.iterdir()) == []  # scratch files are gone


def test_progress_counts_every_tile_of_every_stage(model) -> None:
    image = torch.rand(1, 3, 40, 40) * 255
    seen = []
    tiled(model, image, 16, progress=lambda done, total: seen.append((done, total)))
    regions = len(tile_regions(40, 40, 16))
    assert seen[-1] == (regions * 5, regions * 5)
    assert [d for d, _ in seen] == list(range(1, regions * 5 + 1))


def test_bf16_tiled_stays_within_50_db_of_fp32(shared_data, model) -> None:
    if next(model.parameters()).device.type == "cpu" and not torch.backends.mkldnn.is_available():
        pytest.skip("no bf16 kernels")
    image = crop(shared_data, "comic", 128, 128)
    reference = whole(model, image).clamp(0, 255).round()
    half = EERN().to(torch.bfloat16)
    half.load_state_dict(model.state_dict())
    half = half.to(next(model.parameters()).device).to(memory_format=torch.channels_last)
    out = tiled(half, image.to(torch.bfloat16), 48).clamp(0, 255).round()
    mse = float(((out - reference) ** 2).mean())
    assert 10 * np.log10(255**2 / mse) >= 50

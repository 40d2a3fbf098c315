"""Padding EERN's 84 channels to 96 gives the same model: zero channels stay zero through every layer."""

from __future__ import annotations

import pytest
import torch

from eern_cli.engine.tiled import run_exact_tiled
from eern_cli.engine.widen import widened
from eern_cli.weights.loading import load_model


@pytest.fixture(scope="module")
def official():
    return load_model()[0].eval()


def test_the_padded_model_computes_the_same_output(official, device: str) -> None:
    model = official.to(device)
    wide = widened(model, 96)
    assert wide.head.out_channels == 96 and wide.recon_trunk[0].ESA.conv1.out_channels == 21
    torch.manual_seed(0)
    x = (torch.rand(1, 3, 41, 53, device=device) * 255).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        want, got = model(x), wide(x)
    assert (got - want).abs().max().item() <= 0.01  # 0..255 units: fp32 sums in another order


def test_the_padded_model_tiles_exactly(official, device: str) -> None:
    wide = widened(official.to(device), 96)
    torch.manual_seed(1)
    x = (torch.rand(1, 3, 47, 38, device=device) * 255).contiguous(memory_format=torch.channels_last)
    out = torch.empty(1, 3, 4 * 47, 4 * 38, device=device)

    def sink(top: int, left: int, tile: torch.Tensor) -> None:
        out[..., top : top + tile.shape[-2], left : left + tile.shape[-1]] = tile

    with torch.inference_mode():
        run_exact_tiled(wide, x, 16, sink)
        want = official.to(device)(x)
    assert (out - want).abs().max().item() <= 0.01


def test_widening_to_its_own_width_is_the_model_and_narrowing_is_refused(official) -> None:
    assert widened(official, 84) is official
    with pytest.raises(ValueError):
        widened(official, 80)
    with pytest.raises(ValueError):
        widened(official, 90)

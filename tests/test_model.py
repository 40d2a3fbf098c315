"""The model reproduces the published EERN: architecture, checkpoint, and quality on Set5/Set14."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eern_cli.bench.flops import count
from eern_cli.bench.metrics import psnr
from eern_cli.bench.quality import find_pairs, load_pair
from eern_cli.engine.model import EERN, MIN_SIDE, count_parameters
from eern_cli.upscaler import Upscaler
from eern_cli.weights.loading import load_model

# Published figures: Y channel (BT.601), 4 px border, uint8 output, HR modcropped.
REFERENCE_Y_PSNR = {"Set5": 32.01, "Set14": 28.57}


def test_official_checkpoint_loads_strict_with_published_size() -> None:
    model, _ = load_model()
    assert count_parameters(model) == 657_432
    assert set(model.state_dict()) == set(EERN().state_dict())


def test_multiply_adds_match_the_challenge_count() -> None:
    assert round(count(EERN(), (1, 3, 256, 256)).gmacs, 2) == 41.21


def test_output_is_x4_rgb_on_the_input_scale() -> None:
    model, _ = load_model()
    x = torch.full((1, 3, 16, 20), 128.0)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (1, 3, 64, 80)
    # A flat grey stays grey: the model works on 0..255, not 0..1.
    assert abs(float(y.mean()) - 128.0) < 3.0


def test_raw_model_needs_fifteen_pixels_which_is_why_inference_pads() -> None:
    model = EERN().eval()
    with torch.inference_mode():
        model(torch.zeros(1, 3, MIN_SIDE, MIN_SIDE))
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 3, MIN_SIDE - 1, MIN_SIDE - 1))


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_whole_frame_fp32_reproduces_published_psnr(shared_data, dataset: str, device: str) -> None:
    upscaler = Upscaler(device=device, precision="fp32", tile=0)
    scores = []
    for pair in find_pairs(shared_data / dataset):
        lr, hr = load_pair(pair)  # HR mod-cropped to 4x the LR size
        sr = upscaler.upscale(lr)
        scores.append(psnr(sr, hr, border=4, y=True))
    # Tolerance: 0.01 dB of the published mean.
    assert abs(np.mean(scores) - REFERENCE_Y_PSNR[dataset]) <= 0.01

"""ESA's gate over one region equals the whole-image gate over that region."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eern_cli.engine.gate import PendingGate
from eern_cli.engine.model import ESA
from eern_cli.engine.regions import Region


def test_resize_over_a_region_samples_the_whole_image_grid() -> None:
    torch.manual_seed(0)
    esa = ESA().eval()
    height, width = 97, 130
    small = torch.randn(1, 21, (height - 3) // 2 + 1, (width - 3) // 2 + 1)
    gate = PendingGate(esa, small, torch.zeros(1, 21, height, width), height, width)
    with torch.inference_mode():
        expected = F.interpolate(esa.conv3(ESA.pooled(small)), size=(height, width), mode="bilinear", align_corners=False)
        for region in (Region(0, 97, 0, 130), Region(10, 41, 64, 130), Region(96, 97, 3, 4)):
            assert torch.allclose(gate.resized(region), region.of(expected), atol=1e-5)  # 0..255-scale maps


def test_apply_gates_features_like_the_model() -> None:
    torch.manual_seed(1)
    esa = ESA().eval()
    x = torch.randn(1, 84, 40, 52) * 20
    with torch.inference_mode():
        s = esa.conv1(x)
        gate = PendingGate(esa, esa.conv2(s), s, 40, 52)
        region = Region(8, 30, 0, 52)
        got = gate.apply(region.of(x), region)
        assert torch.allclose(got, region.of(esa(x)), atol=1e-4)  # grey levels: features are ~0..255

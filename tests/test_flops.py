"""MAC and parameter counting: EERN's published 41.21 G / 657,432, and hand-checked small layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eern_cli.bench import flops
from eern_cli.engine.model import EERN


def test_eern_matches_the_challenge_figures() -> None:
    count = flops.count(EERN())
    assert count.params == 657_432
    assert round(count.gmacs, 2) == 41.21
    assert flops.format_count(count.macs) == "41.21 G"
    assert round(count.macs_per_input_pixel / 1e3, 1) == 628.9  # the reference notes' 628.9 k MAC per LR pixel
    resize = count.by_layer["interpolate(bilinear)"]
    assert resize == 4 * 4 * 21 * 256 * 256  # four ESA resizes to 21 x 256 x 256, 4 per output element
    assert round((count.macs - resize) / 1e9, 2) == 41.19  # the convolutions alone


def test_counting_leaves_the_model_alone() -> None:
    model = EERN()
    before = model.head.weight.clone()
    flops.count(model, (1, 3, 64, 48))
    assert model.head.weight.device.type == "cpu" and torch.equal(model.head.weight, before)
    assert not model.head._forward_hooks


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b(self.a(x))
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        return self.fc(y.mean(dim=(2, 3)))


def test_hand_counted_layers() -> None:
    count = flops.count(_Small(), (2, 3, 10, 10))
    assert count.by_layer["a"] == 2 * 9 * 3 * 8 * 10 * 10
    assert count.by_layer["b"] == 2 * 9 * (8 // 4) * 8 * 5 * 5
    assert count.by_layer["fc"] == 2 * 8 * 5
    assert count.by_layer["interpolate(nearest)"] == 2 * 8 * 10 * 10
    assert count.macs == sum(count.by_layer.values())
    assert count.params == sum(p.numel() for p in _Small().parameters())
    assert count.as_dict()["input_shape"] == [2, 3, 10, 10]


def test_format_count() -> None:
    assert flops.format_count(4.121e10) == "41.21 G"
    assert flops.format_count(628_854, "MAC") == "628.85 kMAC"
    assert flops.format_count(12) == "12"

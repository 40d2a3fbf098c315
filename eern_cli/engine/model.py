"""EERN, the Efficient Enhanced Residual Network (NTIRE 2024 Efficient SR, team 25 "Lasagna").

A faithful re-implementation of ``models/team25_EERN.py`` in Amazingren/NTIRE2024_ESR (commit 6404fa48):
the official checkpoint loads into it with ``strict=True``. The layer names are the checkpoint's keys, so
they must not change. Loading, verification and tiling live beside this module, not in it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eern_cli.engine import SCALE

FEATURES = 84
BLOCKS = 4
# ESA's stride-2 3x3 conv followed by a 7x7 max-pool with stride 3 needs this many pixels per side.
MIN_SIDE = 15


class ESA(nn.Module):
    """Enhanced Spatial Attention: a gate computed on a 1/6-scale map and resized to the input's size.

    The resize depends on the size of the *whole* input, which is why naive tiling changes the result.
    """

    def __init__(self, n_feats: int = FEATURES) -> None:
        super().__init__()
        f = n_feats // 4
        self.conv1 = nn.Conv2d(n_feats, f, kernel_size=1)
        self.conv2 = nn.Conv2d(f, f, kernel_size=3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(f, n_feats, kernel_size=1)

    def small_map(self, s: torch.Tensor) -> torch.Tensor:
        """From ``s = conv1(x)`` to the pooled, convolved low-resolution map (before the resize)."""
        return self.conv3(self.pooled(self.conv2(s)))

    @staticmethod
    def pooled(y: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(y, kernel_size=7, stride=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv1(x)
        small = self.small_map(s)
        up = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(up + s))


class ResidualBlockESA(nn.Module):
    """conv3x3, ReLU, conv3x3, ESA. Despite the upstream name there is no residual add inside the block."""

    def __init__(self, n_feats: int = FEATURES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(n_feats, n_feats, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(n_feats, n_feats, kernel_size=3, padding=1)
        self.ESA = ESA(n_feats)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The block's convolutions, before the ESA gate."""
        return self.conv2(F.relu(self.conv1(x), inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ESA(self.features(x))


class EERN(nn.Module):
    """x4 super-resolution; tensors in and out follow the tensor contract in ``eern_cli.upscaler``.

    ``forward`` is the whole-frame reference: the tiled engine (``eern_cli.engine.tiled``) reproduces it.
    """

    scale = SCALE

    def __init__(self, *, n_feats: int = FEATURES, n_blocks: int = BLOCKS, scale: int = SCALE) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, n_feats, kernel_size=3, padding=1)
        self.recon_trunk = nn.Sequential(*(ResidualBlockESA(n_feats) for _ in range(n_blocks)))
        self.finetune = nn.Conv2d(n_feats, n_feats, kernel_size=3, padding=1)
        self.tail = nn.Conv2d(n_feats, 3 * scale * scale, kernel_size=3, padding=1)
        self.upsample = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        out = self.finetune(self.recon_trunk(head)) + head
        return self.upsample(self.tail(out))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""ESA's gate for the exact tiling: the global low-resolution map, resized over one region at a time."""

from __future__ import annotations

import torch

from eern_cli.engine import kernels
from eern_cli.engine.model import ESA
from eern_cli.engine.regions import Region


class ResizeAxis:
    """PyTorch's bilinear resize (align_corners=False) along one axis, as sparse source indices and weights."""

    def __init__(self, src: int, dst: int) -> None:
        scale = torch.tensor(src, dtype=torch.float32) / torch.tensor(dst, dtype=torch.float32)
        pos = ((torch.arange(dst, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_(min=0.0)
        self.lo = pos.to(torch.int64)
        self.hi = torch.where(self.lo < src - 1, self.lo + 1, self.lo)
        self.frac = pos - self.lo.to(torch.float32)

    def matrix(self, start: int, stop: int) -> tuple[int, torch.Tensor]:
        """(first source index, dense weights (stop - start, band)) for destination samples [start, stop)."""
        lo, hi, frac = self.lo[start:stop], self.hi[start:stop], self.frac[start:stop]
        first = int(lo[0])
        band = int(hi[-1]) - first + 1
        weights = torch.zeros((stop - start, band), dtype=torch.float32)
        rows = torch.arange(stop - start)
        weights.index_put_((rows, lo - first), 1 - frac, accumulate=True)
        weights.index_put_((rows, hi - first), frac, accumulate=True)
        return first, weights


class PendingGate:
    """ESA's gate for one block, applied when a region of the block's output is read.

    ``small`` is the block's stride-2 map over the whole image and ``branch_map`` its ``conv1`` branch at full
    resolution (kept by the engine rather than recomputed: its 1x1 conv costs more than a copy).
    """

    def __init__(self, esa: ESA, small: torch.Tensor, branch_map: torch.Tensor, height: int, width: int) -> None:
        self.esa = esa
        self.branch_map = branch_map
        # Max-pooling commutes with widening the dtype, and CPU kernels pool fp32 faster than bf16.
        pooled = ESA.pooled(small.float()).to(small.dtype)
        self.map = esa.conv3(pooled).float()[0].contiguous()  # (C, h, w), fp32 for the resize
        self.rows = ResizeAxis(self.map.shape[-2], height)
        self.cols = ResizeAxis(self.map.shape[-1], width)

    def resized(self, region: Region) -> torch.Tensor:
        """The small map resized to the whole image, over ``region`` only: (1, C, h, w) fp32, channels-last."""
        top, rows = self.rows.matrix(region.top, region.bottom)
        left, cols = self.cols.matrix(region.left, region.right)
        band = self.map[:, top : top + rows.shape[1], left : left + cols.shape[1]]
        device = band.device
        across = band @ cols.to(device).T  # (C, band rows, w)
        channels, band_rows, w = across.shape
        up = rows.to(device) @ across.permute(1, 2, 0).reshape(band_rows, w * channels)  # (h, w * C)
        return up.view(1, region.bottom - region.top, w, channels).permute(0, 3, 1, 2)

    def apply(self, features: torch.Tensor, region: Region) -> torch.Tensor:
        """``features`` (the block's output over ``region``) times the gate: a new tensor."""
        s = region.of(self.branch_map).to(features.device, non_blocking=True)
        gate = self.resized(region).add_(s).to(features.dtype)
        return kernels.conv(gate, self.esa.conv4, (0, 0), "sigmoid").mul_(features)

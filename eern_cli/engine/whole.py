"""EERN's forward on whole frames, with the fused kernels: what ``Upscaler`` runs when one tile covers the image.

It computes ``EERN.forward`` (the reference, kept plain in ``model.py``) layer for layer; only the elementwise
ops are folded into the convolutions where the CPU backend can (``kernels.py``) and done in place elsewhere, so a
batch of small images pays for fewer passes over its maps.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from eern_cli.engine import kernels
from eern_cli.engine.gate import ResizeAxis
from eern_cli.engine.model import EERN, ESA


def forward_whole(model: EERN, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` for (N, 3, H, W) ``x`` in the model's dtype, H and W at least 15; channels-last is fastest."""
    same = (1, 1)
    head = kernels.conv(x, model.head, same)
    features = head
    for block in model.recon_trunk:
        inner = kernels.conv(features, block.conv1, same, "relu")
        features = _gated(block.ESA, kernels.conv(inner, block.conv2, same))
    out = kernels.conv_add_(head, features, model.finetune, same)
    return model.upsample(kernels.conv(out, model.tail, same))


def _gated(esa: ESA, x: torch.Tensor) -> torch.Tensor:
    """``esa(x)``, overwriting ``x`` with the result."""
    s = kernels.conv(x, esa.conv1, (0, 0))
    s.add_(_resized(esa.small_map(s), s.shape[-2], s.shape[-1]))
    return x.mul_(kernels.conv(s, esa.conv4, (0, 0), "sigmoid"))


def _resized(small: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.interpolate(small, (height, width), mode="bilinear", align_corners=False)``.

    In bf16 on a CPU as two matrix products instead (columns in fp32, then rows in bf16, which oneDNN runs on the
    CPU's bf16 units): about twice as fast as torch's bilinear kernel on a 512x512 frame, the same values up to
    bf16's rounding of the weights (the sum with ESA's branch is rounded to bf16 anyway).
    """
    if small.device.type != "cpu" or small.dtype != torch.bfloat16:
        return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    batch, channels, rows, cols = small.shape
    across, down = _resize_matrices(rows, cols, height, width)
    wide = (small.float() @ across).permute(0, 2, 3, 1).reshape(batch, rows, width * channels)
    up = down @ wide.to(torch.bfloat16)  # (N, height, width * C)
    return up.view(batch, height, width, channels).permute(0, 3, 1, 2)


@functools.lru_cache(maxsize=16)
def _resize_matrices(rows: int, cols: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(columns: (cols, width) fp32, rows: (height, rows) bf16): the same for every block of a forward and every
    forward of a shape, so built once (read only, so threads may share them)."""
    _, across = ResizeAxis(cols, width).matrix(0, width)
    _, down = ResizeAxis(rows, height).matrix(0, height)
    return across.T.contiguous(), down.to(torch.bfloat16)

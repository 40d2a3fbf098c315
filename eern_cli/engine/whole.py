"""EERN's forward on whole frames, with the fused kernels: what ``Upscaler`` runs when one tile covers the image.

It computes ``EERN.forward`` (the reference, kept plain in ``model.py``) layer for layer; only the elementwise
ops are folded into the convolutions where the CPU backend can (``kernels.py``) and done in place elsewhere, so a
batch of small images pays for fewer passes over its maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eern_cli.engine import kernels
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
    small = esa.small_map(s)
    s.add_(F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False))
    return x.mul_(kernels.conv(s, esa.conv4, (0, 0), "sigmoid"))

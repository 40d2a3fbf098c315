"""EERN with its feature maps padded to more channels: the same function, in a shape some CPUs run faster.

oneDNN's kernels work on channel blocks (16 for AVX-512 fp32, 32 for AMX bf16, 48 or 96 output channels per
register block); 84 channels leave a ragged tail in every block. On an Intel Xeon with AMX one 96-channel 3x3 conv
measured ~15 % faster than the 84-channel one it contains (256x256 bf16: 14.5 vs 17.5 ms, same run), although it
does 31 % more multiply-adds; in fp32 on the same machine it was slower. So whether to widen is measured per
machine and precision (``calibrate.py``), never assumed.

The extra channels carry zeros end to end: their weights and biases are zero, so ReLU keeps them at 0, ESA's gate
multiplies them (zero) by sigmoid(0) = 0.5, and the convolutions that read them add zero terms. The output equals the
84-channel model's up to the order of floating-point sums.
"""

from __future__ import annotations

import torch
from torch import nn

from eern_cli.engine.model import EERN


def widened(model: EERN, channels: int) -> EERN:
    """A copy of ``model`` with ``channels`` feature channels, zero-padded; ESA's inner maps keep their channels
    (its stride-2 conv measured ~3x slower with 24 channels than with 21).

    ``channels`` equal to the model's own gives the model itself.
    """
    features = model.head.out_channels
    if channels == features:
        return model
    if channels < features or channels % 4:
        raise ValueError(f"cannot widen {features} channels to {channels}")
    param = model.head.weight
    wide = EERN(n_feats=channels, n_blocks=len(model.recon_trunk), scale=model.scale)
    for block in wide.recon_trunk:
        inner = model.recon_trunk[0].ESA.conv1.out_channels
        block.ESA.conv1 = nn.Conv2d(channels, inner, kernel_size=1)
        block.ESA.conv2 = nn.Conv2d(inner, inner, kernel_size=3, stride=2, padding=0)
        block.ESA.conv3 = nn.Conv2d(inner, inner, kernel_size=3, padding=1)
        block.ESA.conv4 = nn.Conv2d(inner, channels, kernel_size=1)
    wide = wide.to(param.device, param.dtype)
    narrow_layers = dict(model.named_modules())
    with torch.no_grad():
        for name, layer in wide.named_modules():
            if isinstance(layer, nn.Conv2d):
                _pad_into(layer, narrow_layers[name])
    return wide.to(memory_format=torch.channels_last).eval()


def _pad_into(wide: nn.Conv2d, narrow: nn.Conv2d) -> None:
    out_channels, in_channels = narrow.weight.shape[:2]
    wide.weight.zero_()
    wide.weight[:out_channels, :in_channels].copy_(narrow.weight)
    if wide.bias is not None:
        wide.bias.zero_()
        wide.bias[:out_channels].copy_(narrow.bias)

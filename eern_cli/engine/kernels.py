"""Convolutions with the elementwise op that follows them fused in, where the CPU backend can.

On a CPU most of EERN's time outside its 3x3 convolutions is elementwise passes over full-resolution maps: the
ReLU after each block's first conv, ESA's sigmoid, the head's residual add. oneDNN (torch's CPU convolution
backend) can apply those as post-ops while the conv's output is still in cache; torch exposes that through
``torch.ops.mkldnn._convolution_pointwise``, which is what ``torch.compile`` itself emits for these patterns on a
CPU. Everywhere else (CUDA, MPS, a torch without oneDNN, a dtype or shape oneDNN refuses) the same functions run
the plain ops, so callers need not care. Both paths compute the same values: oneDNN applies the post-op to the
fp32 accumulator before rounding to the output dtype, which for bf16 is one rounding fewer than the plain ops.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

_FUSED_DTYPES = (torch.float32, torch.bfloat16)


@functools.cache
def _mkldnn_ops() -> object | None:
    """torch's fused conv ops, or None where this torch build has none."""
    if not torch.backends.mkldnn.is_available():
        return None
    ops = torch.ops.mkldnn
    try:
        ops._convolution_pointwise.default  # noqa: B018 (an attribute lookup that raises when missing)
        ops._convolution_pointwise_.binary  # noqa: B018
    except (AttributeError, RuntimeError):
        return None
    return ops


def fusable(x: torch.Tensor) -> bool:
    """Whether the fused CPU path applies to ``x``."""
    return x.device.type == "cpu" and x.dtype in _FUSED_DTYPES and _mkldnn_ops() is not None


def conv(x: torch.Tensor, layer: nn.Conv2d, padding: tuple[int, int], activation: str = "none") -> torch.Tensor:
    """``activation(layer(x))`` with ``padding`` instead of the layer's own; ``activation`` is none, relu or sigmoid."""
    if fusable(x):
        return _mkldnn_ops()._convolution_pointwise(  # type: ignore[union-attr]
            x, layer.weight, layer.bias, list(padding), list(layer.stride), list(layer.dilation), layer.groups,
            activation, [], "",
        )
    y = F.conv2d(x, layer.weight, layer.bias, stride=layer.stride, padding=padding)
    if activation == "relu":
        return y.relu_()
    if activation == "sigmoid":
        return y.sigmoid_()
    return y


def conv_add_(total: torch.Tensor, x: torch.Tensor, layer: nn.Conv2d, padding: tuple[int, int]) -> torch.Tensor:
    """``total += layer(x)``, in place; ``total`` must have the conv output's shape (no broadcasting)."""
    if fusable(x) and total.dtype == x.dtype and total.is_contiguous(memory_format=torch.channels_last):
        return _mkldnn_ops()._convolution_pointwise_.binary(  # type: ignore[union-attr]
            total, x, layer.weight, layer.bias, list(padding), list(layer.stride), list(layer.dilation),
            layer.groups, "add", None, None, [], None,
        )
    return total.add_(F.conv2d(x, layer.weight, layer.bias, stride=layer.stride, padding=padding))

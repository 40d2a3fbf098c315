"""The fused conv kernels: the same values as the plain ops on every path (fused oneDNN on a CPU, plain elsewhere)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from eern_cli.engine import kernels

# 0..255 units on activations of up to ~300: fp32 differs only in the order of sums; bf16's fused post-op rounds
# once instead of twice, so the two paths may differ by one bf16 step (2^-8 relative: ~1 level at 255).
TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 2.0, torch.float16: 0.25}


def _plain(x: torch.Tensor, layer: nn.Conv2d, padding: tuple[int, int], activation: str) -> torch.Tensor:
    y = F.conv2d(x.float(), layer.weight.float(), layer.bias.float(), stride=layer.stride, padding=padding)
    return {"none": y, "relu": y.relu(), "sigmoid": y.sigmoid() * 255}[activation]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("activation", ["none", "relu", "sigmoid"])
@pytest.mark.parametrize("padding", [(1, 1), (0, 1), (1, 0)])
def test_conv_matches_the_plain_ops(device: str, dtype: torch.dtype, activation: str, padding: tuple[int, int]) -> None:
    torch.manual_seed(0)
    layer = nn.Conv2d(12, 20, 3).to(device, dtype)
    x = (torch.rand(1, 12, 19, 23, device=device) * 255).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        got = kernels.conv(x, layer, padding, activation).float()
        if activation == "sigmoid":
            got = got * 255  # compare the gate on the 0..255 scale
        want = _plain(x, layer, padding, activation)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= TOLERANCE[dtype] * (1 if activation == "sigmoid" else 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conv_add_adds_in_place(device: str, dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    layer = nn.Conv2d(8, 8, 3).to(device, dtype)
    x = (torch.rand(1, 8, 17, 16, device=device) * 255).to(dtype).contiguous(memory_format=torch.channels_last)
    total = (torch.rand(1, 8, 17, 16, device=device) * 255).to(dtype).contiguous(memory_format=torch.channels_last)
    want = total.float() + _plain(x, layer, (1, 1), "none")
    with torch.inference_mode():
        got = kernels.conv_add_(total, x, layer, (1, 1))
    assert got.data_ptr() == total.data_ptr()
    assert (got.float() - want).abs().max().item() <= 2 * TOLERANCE[dtype]


def test_the_fused_path_is_taken_on_a_cpu_with_onednn() -> None:
    x = torch.zeros(1, 4, 8, 8).contiguous(memory_format=torch.channels_last)
    assert kernels.fusable(x) == torch.backends.mkldnn.is_available()
    assert not kernels.fusable(x.half())  # fp16 runs the plain ops

"""The whole-frame forward with fused kernels computes ``EERN.forward``, in each precision and for batches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eern_cli.engine.devices import DTYPES
from eern_cli.engine.whole import forward_whole
from eern_cli.weights.loading import load_model

# 0..255 units. fp32: the order of sums only. bf16/fp16: the fused path rounds at other points than the plain
# forward (one rounding fewer per fused op), measured here at most 4 levels on noise images in bf16.
TOLERANCE = {"fp32": 0.01, "bf16": 6.0, "fp16": 1.0}


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_forward_whole_is_the_model(device: str, precision: str) -> None:
    dtype = DTYPES[precision]
    model = load_model()[0].eval().to(device, dtype).to(memory_format=torch.channels_last)
    torch.manual_seed(0)
    x = (torch.rand(2, 3, 23, 31, device=device) * 255).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        want = model(x.clone()).float()
        got = forward_whole(model, x.clone()).float()
        single = forward_whole(model, x[1:].clone()).float()
    assert got.shape == (2, 3, 92, 124)
    assert (got - want).abs().max().item() <= TOLERANCE[precision]
    assert (got[1:] - single).abs().max().item() <= TOLERANCE[precision]  # a batch is its images one by one


@pytest.mark.parametrize("size", [(23, 31), (512, 384)])
def test_the_bf16_resize_is_torchs_bilinear(size: tuple[int, int]) -> None:
    """ESA's resize as two matrix products (bf16 on a CPU) against ``F.interpolate``: the same up to bf16's
    rounding. Map values up to ~40 (ESA's, measured on Set14, stay within +-30); tolerance in those units."""
    from eern_cli.engine.whole import _resized

    torch.manual_seed(1)
    small = (torch.randn(2, 21, (size[0] - 3) // 6, (size[1] - 3) // 6) * 10).clamp(-40, 40).to(torch.bfloat16)
    small = small.contiguous(memory_format=torch.channels_last)
    want = F.interpolate(small.float(), size=size, mode="bilinear", align_corners=False)
    got = _resized(small, *size)
    assert got.shape == want.shape and got.dtype == torch.bfloat16
    assert (got.float() - want).abs().max().item() <= 0.25  # bf16 steps are 0.125-0.25 at 16-40

"""The whole-frame forward with fused kernels computes ``EERN.forward``, in each precision and for batches."""

from __future__ import annotations

import pytest
import torch

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

"""Parameters and multiply-accumulates (MACs), counted from the model itself with forward hooks.

The NTIRE Efficient-SR challenges report "FLOPs" from fvcore, which counts one multiply-add as one FLOP; the
figure for EERN on a 1x3x256x256 input is 41.21 G. We count the same thing without fvcore: every
``nn.Conv2d`` costs ``k_h * k_w * (C_in / groups) * C_out * H_out * W_out`` MACs per image (bias adds are not
counted, as in fvcore), every ``nn.Linear`` ``in * out`` per row, and, as fvcore does, every resize by
``F.interpolate`` 4 per output element when bilinear and 1 when nearest (for EERN, ESA's four bilinear
resizes: 0.022 G of the 41.21 G; the convolutions alone are 41.19 G). Everything else (ReLU, pooling,
sigmoid, element-wise products, pixel shuffle) counts nothing, as in fvcore.

The forward runs on a CPU copy of the model whose convolutions return zeros of their output's shape
without computing them; the few cheap element-wise layers still run. For 256x256 that took 0.9 s on the
2-core Xeon here (most of it allocating the zeroed maps), where the ``meta`` device, which computes nothing,
took 1.7-2.8 s in a fresh process: its first use imports ~800 more modules (sympy, dynamo).
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from eern_cli.engine.model import count_parameters

CHALLENGE_INPUT = (1, 3, 256, 256)


@dataclass(frozen=True)
class Count:
    """MACs of one forward on ``input_shape`` and the model's parameters; ``by_layer`` is MACs per module name."""

    input_shape: tuple[int, ...]
    macs: int
    params: int
    by_layer: dict[str, int] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def macs_per_input_pixel(self) -> float:
        height, width = self.input_shape[-2:]
        return self.macs / (self.input_shape[0] * height * width)

    def as_dict(self) -> dict[str, object]:
        return {
            "input_shape": list(self.input_shape),
            "macs": self.macs,
            "gmacs": round(self.gmacs, 4),
            "macs_per_input_pixel": round(self.macs_per_input_pixel, 1),
            "params": self.params,
            "convention": "one multiply-add = one FLOP, as fvcore in the NTIRE ESR challenge: Conv2d, Linear, resizes",
        }




def _conv_shape_only(module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """Zeros of the shape ``module(x)`` would have (PyTorch's output-size formula), without the arithmetic."""
    sizes = []
    for axis, size in enumerate(x.shape[-2:]):
        kernel, stride, dilation = module.kernel_size[axis], module.stride[axis], module.dilation[axis]
        if module.padding == "same":
            sizes.append(size)
            continue
        pad = 0 if module.padding == "valid" else module.padding[axis]
        sizes.append((size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1)
    return x.new_zeros((*x.shape[:-3], module.out_channels, *sizes))


def _conv_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    k_h, k_w = module.kernel_size
    n, c_out, h_out, w_out = output.shape
    return n * k_h * k_w * (module.in_channels // module.groups) * c_out * h_out * w_out


def _linear_macs(module: nn.Linear, output: torch.Tensor) -> int:
    return output.numel() // module.out_features * module.in_features * module.out_features


# fvcore's per-output-element cost of aten::upsample_* (``elementwise_flop_counter(0, n)``).
RESIZE_MACS = {"nearest": 1, "bilinear": 4}


class _ResizeCounter(TorchFunctionMode):
    """Counts ``F.interpolate`` calls, which are functions, not modules, so hooks cannot see them."""

    def __init__(self, per_layer: dict[str, int]) -> None:
        super().__init__()
        self.per_layer = per_layer

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (torch's protocol)
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func is F.interpolate:
            mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
            if mode in RESIZE_MACS:
                self.per_layer[f"interpolate({mode})"] += RESIZE_MACS[mode] * result.numel()
        return result


def count(model: nn.Module, input_shape: tuple[int, ...] = CHALLENGE_INPUT) -> Count:
    """Count MACs of ``model`` on an input of ``input_shape`` (N, C, H, W) and its parameters.

    The model is copied to the meta device, so its own weights, device and dtype are left untouched.
    Modules called several times (or reused) are counted at every call, as a profiler would.
    """
    params = count_parameters(model)
    shapes_only = copy.deepcopy(model).to("cpu", torch.float32)
    per_layer: dict[str, int] = defaultdict(int)
    handles = []
    for name, module in shapes_only.named_modules():
        if isinstance(module, nn.Conv2d):
            counter = _conv_macs
            module.forward = functools.partial(_conv_shape_only, module)
        elif isinstance(module, nn.Linear):
            counter = _linear_macs
        else:
            continue

        def hook(mod: nn.Module, _inputs: object, output: torch.Tensor, name: str = name, counter=counter) -> None:
            per_layer[name] += counter(mod, output)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad(), _ResizeCounter(per_layer):
            shapes_only(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return Count(tuple(input_shape), sum(per_layer.values()), params, dict(per_layer))


def format_count(value: float, unit: str = "") -> str:
    """4.121e10 -> '41.21 G' (SI prefixes, two decimals), as the challenge tables print them."""
    for threshold, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}".rstrip()

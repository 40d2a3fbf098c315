"""Which device, precision and tile size to use, and why.

``auto`` picks the fastest precision that keeps the output within 50 dB PSNR of fp32 (measured on Set14,
see the README's performance section). On a CPU that is measured, once per machine, by
``eern_cli.engine.calibrate`` (CPU flags cannot tell: bf16 is much faster than fp32 with AMX or on AMD Zen 4/5,
slower on an Intel CPU with AVX512-BF16 alone). On CUDA and MPS it is fp16 (its 10-bit mantissa is more
accurate than bf16's 7 bits, and EERN's activations stay far below fp16's 65504 limit).
"""

from __future__ import annotations

import torch

from eern_cli.engine.choices import (  # noqa: F401  (the torch-free rules, re-exported)
    DEFAULT_TILE,
    PRECISIONS,
    Choice,
    auto_precision_on_gpu,
    check_precision,
    cpu_flags,
    cpu_has_native_bf16,
    cpu_name,
    resolve_tile,
    whole_frame_pixels,
)
from eern_cli.engine.model import FEATURES
from eern_cli.errors import DeviceError, UsageError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when present, then MPS, then CPU; an explicit device that is missing is an error."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                "CUDA was asked for but this torch build or machine has none",
                hint="use {device=cpu}, or install a CUDA build of torch",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"there is no GPU {device.index} (this machine has {torch.cuda.device_count()})",
                hint="pick an index from 'eern info'",
            )
    elif device.type == "mps" and not mps_available():
        raise DeviceError("MPS was asked for but is not available", hint="use {device=cpu}")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device '{name}'", hint="use auto, cpu, cuda, cuda:N or mps")
    return device


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_precision(precision: str, device: torch.device) -> Choice:
    precision = check_precision(precision)
    if precision != "auto":
        if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise DeviceError("this GPU has no bf16 support", hint="use {precision=fp16} or fp32")
        return Choice(precision, "asked for")
    if device.type != "cpu":
        return auto_precision_on_gpu(device.type)
    from eern_cli.engine.calibrate import cpu_precision

    calibration = cpu_precision()
    return Choice(calibration.choice, calibration.reason())


def resolve_channels(precision: str, device: torch.device) -> Choice:
    """How many channels the feature maps get: the model's 84, or that zero-padded to 96 where this CPU measured the
    padded convs faster in ``precision`` (``widen.py``). GPUs keep 84 (not measured there)."""
    if device.type != "cpu":
        return Choice(str(FEATURES), "the model's own (padding is measured on CPUs only)")
    from eern_cli.engine.calibrate import WIDTHS, cpu_precision, label

    calibration = cpu_precision()
    channels = calibration.channels(precision)
    timed = {w: calibration.ms.get(label(precision, w)) for w in WIDTHS}
    figures = ", ".join(f"{w} ch {ms:.1f} ms" for w, ms in timed.items() if ms is not None)
    return Choice(str(channels), f"faster here in {precision} ({figures} per conv step)")

"""Which device, precision and tile size to use, and why.

``auto`` picks the fastest precision that keeps the output within 50 dB PSNR of fp32 (measured on Set14,
see the README's performance section). On a CPU that is measured, once per machine, by
``eern_cli.engine.calibrate`` (CPU flags cannot tell: bf16 is much faster than fp32 with AMX or on AMD Zen 4/5,
slower on an Intel CPU with AVX512-BF16 alone). On CUDA and MPS it is fp16 (its 10-bit mantissa is more
accurate than bf16's 7 bits, and EERN's activations stay far below fp16's 65504 limit).
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from eern_cli.errors import DeviceError, UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# Tile side (input pixels) per device kind: 256 keeps a tile's 84-channel maps in a CPU's L2/L3 cache;
# a GPU needs large tiles to fill its SMs and to amortise kernel launches.
DEFAULT_TILE = {"cpu": 256, "cuda": 1024, "mps": 512}


@dataclass(frozen=True)
class Choice:
    """A resolved setting and the reason it was chosen (``eern info`` prints both)."""

    value: str
    reason: str


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


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux only; elsewhere empty)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether bf16 instructions exist (shown by ``eern info``); not whether they are faster here."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_precision(precision: str, device: torch.device) -> Choice:
    precision = (precision or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", hint=f"use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise DeviceError("this GPU has no bf16 support", hint="use {precision=fp16} or fp32")
        return Choice(precision, "asked for")
    if device.type == "cuda":
        return Choice("fp16", "CUDA: half precision, within 50 dB of fp32 and no overflow on Set14")
    if device.type == "mps":
        return Choice("fp16", "MPS: half precision")
    from eern_cli.engine.calibrate import cpu_precision

    calibration = cpu_precision()
    return Choice(calibration.choice, calibration.reason())


def resolve_tile(tile: int | None, device: torch.device) -> Choice:
    """``None`` is the per-device default; 0 is the whole frame (the model's plain forward)."""
    if tile is None:
        return Choice(str(DEFAULT_TILE[device.type]), f"default for {device.type}")
    if tile < 0:
        raise UsageError(f"tile size must be 0 (whole frame) or at least 16, not {tile}")
    if 0 < tile < 16:
        raise UsageError(f"tile size {tile} is too small", hint="use 0 (whole frame) or at least 16")
    return Choice(str(tile), "asked for")

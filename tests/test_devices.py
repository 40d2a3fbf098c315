"""Device, precision and tile resolution, with the reasons ``eern info`` shows."""

from __future__ import annotations

import pytest
import torch

from eern_cli.engine.devices import (
    resolve_device,
    resolve_precision,
    resolve_tile,
)
from eern_cli.engine.calibrate import cpu_precision
from eern_cli.errors import DeviceError, UsageError


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_where_there_is_none_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="CUDA"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["tpu", "gpu0", "cuda:x"])
def test_unknown_devices_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError):
        resolve_device(name)


def test_auto_precision_is_the_measured_one() -> None:
    cpu = resolve_precision("auto", torch.device("cpu"))
    assert cpu.value == cpu_precision().choice
    assert "ms" in cpu.reason
    assert resolve_precision("auto", torch.device("cuda")).value == "fp16"
    assert resolve_precision("FP32", torch.device("cpu")).value == "fp32"
    with pytest.raises(UsageError):
        resolve_precision("int8", torch.device("cpu"))


def test_tile_sizes() -> None:
    assert resolve_tile(None, torch.device("cpu")).value == "256"
    assert resolve_tile(None, torch.device("cuda")).value == "1024"
    assert resolve_tile(0, torch.device("cpu")).value == "0"
    for bad in (-1, 8):
        with pytest.raises(UsageError):
            resolve_tile(bad, torch.device("cpu"))

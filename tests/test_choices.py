"""The torch-free rules behind ``auto``: precision names, tile sizes, and when a machine surely has no GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eern_cli.engine import choices
from eern_cli.errors import UsageError


def test_precision_names() -> None:
    assert choices.check_precision(" FP32 ") == "fp32" and choices.check_precision(None) == "auto"
    with pytest.raises(UsageError, match="fp8"):
        choices.check_precision("fp8")
    assert choices.auto_precision_on_gpu("cuda").value == choices.auto_precision_on_gpu("mps").value == "fp16"


def test_tiles_take_a_device_or_its_type() -> None:
    assert choices.resolve_tile(None, "cpu").value == "256" and choices.resolve_tile(0, "cuda").value == "0"
    for bad in (-1, 3):
        with pytest.raises(UsageError):
            choices.resolve_tile(bad, "cpu")


def test_the_default_cpu_tile_runs_images_up_to_512x512_whole() -> None:
    assert choices.whole_frame_pixels(None, "cpu") == 512 * 512
    assert "whole frame up to 512x512" in choices.resolve_tile(None, "cpu").reason
    # An explicit tile is the user's memory bound: no whole frames by size; nor on a GPU (its tile is 1024).
    assert choices.whole_frame_pixels(256, "cpu") == choices.whole_frame_pixels(None, "cuda") == 0


def test_surely_cpu_only_never_contradicts_torch() -> None:
    import torch

    if choices.surely_cpu_only():
        assert not torch.cuda.is_available()
        assert not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def test_the_rules_load_without_torch() -> None:
    code = "import sys, eern_cli.engine.choices, eern_cli.engine.calibrate; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

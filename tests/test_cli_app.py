"""The command line as a user meets it: fast help, one-line errors, tracebacks only on request."""

from __future__ import annotations

import os
import subprocess
import sys

from eern_cli import __version__


def eern(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eern_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_commands_without_importing_torch() -> None:
    result = eern("--help")
    assert result.returncode == 0
    for command in ("upscale", "benchmark", "info"):
        assert command in result.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; import eern_cli.cli.app; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


def test_version() -> None:
    result = eern("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"eern {__version__}"


def test_a_user_error_is_one_line_on_stderr_without_traceback(tmp_path) -> None:
    bad = tmp_path / "not-weights.pt"
    bad.write_bytes(b"this is not a checkpoint")
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (16, 16)).save(image)
    result = eern("upscale", str(image), "--weights", str(bad), "--device", "cpu")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "not-weights.pt" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "in_x4.png").exists()


def test_debug_shows_the_traceback(tmp_path) -> None:
    bad = tmp_path / "not-weights.pt"
    bad.write_bytes(b"garbage")
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (16, 16)).save(image)
    result = eern("upscale", str(image), "--weights", str(bad), "--device", "cpu", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_cuda_where_there_is_none_names_the_fix(tmp_path) -> None:
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (16, 16)).save(image)
    result = eern("upscale", str(image), "--device", "cuda")
    assert result.returncode != 0
    assert "CUDA" in result.stderr and "--device cpu" in result.stderr
    assert "Traceback" not in result.stderr

"""The command line as a user meets it: fast help, one-line errors, tracebacks only on request."""

from __future__ import annotations

import os
import re
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


def test_every_command_s_help_shows_switches_without_a_type_and_a_natural_usage_line() -> None:
    for command in ([], ["upscale"], ["info"], ["benchmark"], ["export"]):
        result = eern(*command, "--help", env={"COLUMNS": "120"})
        assert result.returncode == 0 and "<bool>" not in result.stdout, command
    usage = eern("upscale", "--help").stdout
    assert "eern upscale [OPTIONS] INPUT..." in usage and "{INPUT" not in usage


def test_shared_options_have_one_spelling_short_form_and_help_everywhere() -> None:
    from eern_cli.cli import options

    pages = {command: eern(command, "--help", env={"COLUMNS": "200"}).stdout for command in ("upscale", "benchmark")}
    for page in pages.values():
        for flag, short in (("--device", "-d"), ("--precision", "-p"), ("--tile", "-t"), ("--weights", "-w")):
            line = next(line for line in page.splitlines() if flag in line)
            assert short in line, (flag, line)
        assert options.DEVICE_HELP.split(",")[0] in page and "mps" in page
    for command in ("info", "export"):
        page = eern(command, "--help", env={"COLUMNS": "200"}).stdout
        assert re.search(r"--weights +-w +PATH", page) and "hf://OWNER/REPO/FILE[@REV]" in page
    for short in ("-s", "-r"):  # upscale's scale and recursive, nothing else in benchmark
        assert f" {short} " not in pages["benchmark"]


def test_eern_alone_shows_the_help() -> None:
    result = eern()
    assert result.returncode == 0 and "upscale" in result.stdout and result.stderr == ""


def test_a_missing_argument_is_one_line_not_the_help() -> None:
    for command, name in (("upscale", "INPUT"), ("export", "OUT")):
        result = eern(command)
        assert result.returncode == 2 and result.stdout == "", command
        assert result.stderr == f"eern: error: missing argument '{name}'. See 'eern {command} --help'\n"


def test_unknown_command_is_one_line() -> None:
    result = eern("upscal")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("eern: error: no such command 'upscal'") and "'eern --help'" in result.stderr

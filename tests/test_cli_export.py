"""``eern export``: a real export through the installed command, its check in dB, and its one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from eern_cli.cli.app import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_onnx_half_unit_range_is_written_and_checked(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    out = tmp_path / "eern-x4-fp16.onnx"
    done = subprocess.run([sys.executable, "-m", "eern_cli", "export", str(out), "--range", "1", "--half"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "[torch.onnx]" not in done.stdout
    assert re.search(r"wrote .*eern-x4-fp16\.onnx \(1\.\d+ MB\)", done.stdout)  # fp16: about half of 2.8 MB
    assert "input NCHW RGB fp16 on 0..1" in done.stdout
    figures = re.findall(r"1x3x(\d+)x(\d+): ([\d.]+) dB", done.stdout)
    assert [(h, w) for h, w, _ in figures] == [("37", "53"), ("96", "160")]
    assert all(50 < float(db) < 120 for _, _, db in figures)  # fp16: close, but not fp32-exact


def test_ncnn_into_a_models_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pnnx")
    pytest.importorskip("ncnn")
    code, out, err = run(capsys, "export", str(tmp_path / "models"), "--format", "ncnn")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["eern-x4.bin", "eern-x4.param"]
    assert "ncnn vs eern fp32 whole frame" in out and "note" not in err
    assert all(float(db) > 100 for db in re.findall(r"([\d.]+) dB", out))
    code, _, err = run(capsys, "export", str(tmp_path / "models" / "eern-x4.param"))
    assert code == 2 and "exists" in err and "--overwrite" in err


@pytest.mark.parametrize(("args", "message"), [
    (["x.onnx", "--range", "7"], "--range must be 255 or 1"),
    (["x.onnx", "--format", "ncnn"], "does not match"),
    (["x.tflite"], "cannot tell the format"),
    (["models/eern-x2.param"], "reads a x2 model"),
    (["x.onnx/y.onnx"], "is not a folder"),
])
def test_usage_errors_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "x.onnx").write_bytes(b"")
    code, out, err = run(capsys, "export", *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("eern: error:")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["models", "x.onnx"]


def test_missing_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pnnx", None)  # what Python does for a package that is not installed
    code, _, err = run(capsys, "export", str(tmp_path / "models" / "eern-x4.param"))
    assert code == 2
    assert err.strip() == ("eern: error: eern export --format ncnn needs the optional package 'pnnx'. "
                           "Install it with: pip install 'eern[export]'")
    assert not (tmp_path / "models").exists()

"""``eern info``: the facts, the --json form, a bad --weights, and no torch import at CLI start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eern_cli.cli.app import main
from eern_cli.cli.info import collect
from eern_cli.weights.checkpoints import OFFICIAL

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_info_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info")
    assert code == 0
    for text in ("657,432", "41.21 G multiply-adds for 1x3x256x256", OFFICIAL.sha256[:40], "MIT", "hub cache", "cpu"):
        assert text in out
    assert "native bf16" in out and "auto picks here" in out


def test_info_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    code, out, _ = run(capsys, "info", "--json")
    assert code == 0
    facts = json.loads(out)
    assert facts["model"]["parameters"] == 657_432
    assert round(facts["model"]["flops"]["gmacs"], 2) == 41.21
    assert facts["model"]["tiling_scratch_bytes_per_input_pixel"] == {"fp32": 420, "bf16": 210, "fp16": 210}
    assert facts["weights"]["sha256"] == OFFICIAL.sha256 and facts["weights"]["license"] == "MIT"
    assert facts["weights"]["source"] == "bundled" and facts["weights"]["checkpoint"] == "official"
    assert facts["hub_cache"] == str(tmp_path / "hub") and facts["schema"] == "eern.info/1"
    assert facts["machine"]["devices"][0]["type"] == "cpu"
    assert facts["machine"]["auto"]["precision"]["value"] in ("fp32", "bf16", "fp16")
    assert facts["software"]["torch"]


def test_info_with_missing_weights_still_shows_the_machine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    code, out, _ = run(capsys, "info", "--weights", str(missing))
    assert code == 1
    assert "checkpoint not found" in out and "657,432" in out
    facts = collect(str(missing))
    assert "error" in facts["weights"] and facts["model"]["parameters"] == 657_432


def test_paths_and_hashes_are_never_wrapped(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrow terminal used to fold the sha256 and the paths: they must stay whole, to be copied."""
    monkeypatch.setenv("COLUMNS", "40")
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(deep))
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert OFFICIAL.sha256 in out and str(deep) in out
    assert any(line.split()[-1] == OFFICIAL.sha256 for line in out.splitlines())


def test_cli_modules_do_not_import_torch() -> None:
    code = "import sys, eern_cli.cli.info, eern_cli.cli.benchmark; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

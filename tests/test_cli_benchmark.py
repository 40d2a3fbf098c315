"""``eern benchmark`` end to end on tiny inputs: tables, --json, reports (JSON/CSV) and plot, sweeps, datasets,
errors, Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
import torch
from helpers_images import save, smooth
from PIL import Image
from test_timing import FakeCuda

from eern_cli.bench import timing
from eern_cli.cli.app import main
from eern_cli.cli.benchmark import parse_size
from eern_cli.errors import UsageError

DEVICE = os.environ.get("EERN_TEST_DEVICE", "cpu")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FAST = ["--device", DEVICE, "--repeat", "1", "--warmup", "0"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_parse_size() -> None:
    assert parse_size("256") == (256, 256)
    assert parse_size("640x480") == (480, 640)
    assert parse_size(" 32 X 16 ") == (16, 32)
    for bad in ("0", "x", "12x", "-5", "3x0"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_sweep_with_all_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [*FAST, "--size", "24", "--size", "40x32", "-p", "fp32,bf16", "-t", "0", "-t", "16"]
    files = ["--report", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.csv"),
             "--plot", str(tmp_path / "p.png")]
    code, out, _ = run(capsys, "benchmark", *args, *files)
    assert code == 0
    assert "input 24x24 -> output 96x96" in out and "input 40x32 -> output 160x128" in out
    assert "bf16 tile 16" in out and "torch " + torch.__version__ in out
    report = json.loads((tmp_path / "r.json").read_text())
    rows = report["speed"]
    assert [r["variant"] for r in rows[:4]] == ["fp32 whole", "fp32 tile 16", "bf16 whole", "bf16 tile 16"]
    assert len(rows) == 8 and all(r["n"] == 1 and r["median_ms"] > 0 for r in rows)
    assert rows[0]["speedup_vs_fp32_whole"] == 1.0 and rows[0]["psnr_vs_fp32_db"] is None
    assert rows[1]["tiles"] == 4 and rows[0]["gmac_per_s"] > 0
    assert rows[1]["psnr_vs_fp32_db"] is None or rows[1]["psnr_vs_fp32_db"] > 80  # exact tiling (None: identical)
    assert 35 < rows[2]["psnr_vs_fp32_db"] < 80
    assert report["schema"] == "eern.benchmark/1" and "Infinity" not in (tmp_path / "r.json").read_text()
    assert report["software"]["torch"] == torch.__version__ and report["settings"]["repeat"] == 1
    assert report["settings"]["variants"] == ["fp32 whole", "fp32 tile 16", "bf16 whole", "bf16 tile 16"]
    assert report["weights"]["license"] == "MIT" and report["interrupted"] is False
    table = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(table) == 8 and table[0]["section"] == "speed" and table[0]["torch"] == torch.__version__
    with Image.open(tmp_path / "p.png") as plot:
        assert plot.size == (960, 580)


def test_json_is_the_report_alone_on_stdout_with_info_s_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "benchmark", *FAST, "--size", "20", "-p", "fp32", "-t", "0", "--json")
    assert code == 0
    report = json.loads(out)
    assert [r["variant"] for r in report["speed"]] == ["fp32 whole"]
    assert "input 20x20" in err
    code, info_out, _ = run(capsys, "info", "--json")
    info = json.loads(info_out)
    for key in ("software", "machine", "weights", "model"):  # the same things, described with the same keys
        assert set(report[key]) == set(info[key]), key
    assert report["model"] == info["model"] and report["weights"] == info["weights"]


def test_tile_sweep_plot_and_whole_tile_aliases(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "t.png"
    code, _, _ = run(capsys, "benchmark", *FAST, "--size", "32", "-p", "fp32", "-t", "whole,16,auto",
                     "--plot", str(plot))
    assert code == 0 and plot.stat().st_size > 1000


def test_cuda_memory_columns_via_a_fake_cuda(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA timing/memory path of the command, driven on the CPU through a stand-in torch.cuda."""
    monkeypatch.setattr(timing, "make_backend", lambda device: timing.CudaBackend(device, cuda=FakeCuda()))
    code, out, _ = run(capsys, "benchmark", "--device", "cpu", "--repeat", "2", "--warmup", "0", "--size", "16",
                       "-p", "fp32")
    assert code == 0
    assert "0/0" in out and "allocated/reserved" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "benchmark", "--device", "cuda", "--size", "16")
    assert code == 1 and out == ""
    assert err.startswith("eern: error: CUDA was asked for") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["--size", "0"], ["-t", "8"], ["-p", "fp64"], ["--per-image"], ["--report", "r.txt"], ["-d", "tpu"],
     ["-s", "16"], ["-r", "2"], ["--json", "-"], ["--device"],
     ["--tta"]],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = run(capsys, "benchmark", "--size", "16", *args)
    assert code == 2 and err.startswith("eern: error:") and len(err.strip().splitlines()) == 1, err


def test_missing_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "benchmark", "--dataset", str(tmp_path / "none"))
    assert code == 1 and "dataset folder not found" in err


@pytest.mark.skipif(not (DATA / "Set5" / "HR").is_dir(), reason="Set5 not present in ../shared/data")
def test_dataset_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for sub in ("HR", "LR_bicubic_x4"):
        (tmp_path / sub).mkdir()
        for name in ("bird.png", "butterfly.png"):
            (tmp_path / sub / name).symlink_to(DATA / "Set5" / sub / name)
    code, out, _ = run(
        capsys, "benchmark", "--device", DEVICE, "--dataset", str(tmp_path), "-p", "fp32", "-t", "0", "--per-image",
        "--report", str(tmp_path / "q.json"),
    )
    assert code == 0
    assert "bicubic" in out and "per image" in out and "butterfly" in out and "speed" not in out.split("quality")[0]
    quality = json.loads((tmp_path / "q.json").read_text())["quality"]
    means = {m["method"]: m for m in quality["mean"]}
    assert set(means) == {"fp32 whole", "bicubic"} and means["fp32 whole"]["images"] == 2
    assert means["fp32 whole"]["psnr_y"] == pytest.approx((34.6891 + 28.3702) / 2, abs=0.01)
    assert len(quality["per_image"]) == 4 and quality["conventions"]["border"].startswith("4 px")


def test_dataset_with_tta_adds_an_ensemble_row(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    hr = smooth(48, 40, seed=4)
    save(tmp_path / "HR" / "a.png", hr)
    save(tmp_path / "LR_bicubic_x4" / "a.png", Image.fromarray(hr).resize((12, 10), Image.Resampling.BICUBIC))
    code, _, _ = run(capsys, "benchmark", "--device", DEVICE, "--dataset", str(tmp_path), "-p", "fp32", "-t", "0",
                     "--tta", "--report", str(tmp_path / "q.json"))
    assert code == 0
    means = {m["method"]: m for m in json.loads((tmp_path / "q.json").read_text())["quality"]["mean"]}
    assert set(means) == {"fp32 whole", "fp32 whole tta", "bicubic"}
    assert means["fp32 whole tta"]["psnr_y"] != means["fp32 whole"]["psnr_y"]


def test_ctrl_c_reports_what_was_measured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = timing.SpeedBenchmark._one_size

    def interrupted(self: timing.SpeedBenchmark, height: int, width: int) -> None:
        if height == 32:
            raise KeyboardInterrupt
        original(self, height, width)

    monkeypatch.setattr(timing.SpeedBenchmark, "_one_size", interrupted)
    out_file = tmp_path / "partial.json"
    args = [*FAST, "--size", "16", "--size", "32", "-p", "fp32", "-t", "0", "--report", str(out_file)]
    code, out, err = run(capsys, "benchmark", *args)
    assert code == 130
    assert "interrupted" in err and "input 16x16" in out and "input 32x32" not in out
    report = json.loads(out_file.read_text())
    assert report["interrupted"] is True and [r["input"] for r in report["speed"]] == ["16x16"]

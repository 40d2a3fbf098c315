"""Dataset evaluation: pairing, modcrop, grey images, and per-image PSNR/SSIM against measured references."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eern_cli.bench import quality
from eern_cli.errors import InputImageError, InputNotFoundError, UsageError
from eern_cli.upscaler import Upscaler

DEVICE = os.environ.get("EERN_TEST_DEVICE", "cpu")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "Set5" / "HR").is_dir(), reason="Set5/Set14 not present in ../shared/data")

# Measured with Upscaler(device="cpu", precision="fp32", tile=0) and these conventions (Y rounded as MATLAB's
# rgb2ycbcr; Set5 mean Y 32.01, Set14 28.57). Bicubic is Pillow's.
REFERENCE = {
    ("bird", "fp32 whole"): (32.5427, 0.9230, 34.6891, 0.9413),
    ("bird", "bicubic"): (28.2105, 0.8484, 30.1710, 0.8728),
    ("comic", "fp32 whole"): (21.9351, 0.7034, 23.4303, 0.7204),
    ("comic", "bicubic"): (20.2055, 0.5665, 21.6897, 0.5833),
    ("bridge", "fp32 whole"): (24.1737, 0.6218, 25.4934, 0.6427),
    ("bridge", "bicubic"): (23.1434, 0.5402, 24.4614, 0.5660),
}


def _png(path: Path, size: tuple[int, int], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 128).save(path)


def test_pairs_from_a_dataset_folder_with_div2k_names(tmp_path: Path) -> None:
    _png(tmp_path / "HR" / "0801.png", (64, 48))
    _png(tmp_path / "HR" / "0802.png", (64, 48))
    _png(tmp_path / "LR_bicubic" / "X4" / "0801x4.png", (16, 12))
    _png(tmp_path / "LR_bicubic" / "X4" / "0802x4.png", (16, 12))
    pairs = quality.find_pairs(tmp_path)
    assert [p.name for p in pairs] == ["0801", "0802"]
    assert pairs[0].lr.name == "0801x4.png"


def test_pairs_from_explicit_folders_and_errors(tmp_path: Path) -> None:
    _png(tmp_path / "hr" / "a.png", (64, 48))
    _png(tmp_path / "hr" / "b.png", (64, 48))
    _png(tmp_path / "lr" / "a.png", (16, 12))
    with pytest.raises(UsageError, match="1 HR images have no LR partner.*b"):
        quality.find_pairs(hr=tmp_path / "hr", lr=tmp_path / "lr")
    _png(tmp_path / "only" / "HR" / "a.png", (64, 48))
    with pytest.raises(UsageError, match="no LR folder"):
        quality.find_pairs(tmp_path / "only")
    with pytest.raises(UsageError, match="no HR folder"):
        quality.find_pairs(tmp_path / "hr")
    with pytest.raises(InputNotFoundError):
        quality.find_pairs(tmp_path / "missing")
    with pytest.raises(UsageError, match="--hr DIR and --lr DIR"):
        quality.find_pairs(hr=tmp_path / "hr")


def test_hr_that_is_not_4x_the_lr_is_refused(tmp_path: Path) -> None:
    _png(tmp_path / "HR" / "a.png", (64, 48))
    _png(tmp_path / "LR_bicubic_x4" / "a.png", (20, 12))
    (pair,) = quality.find_pairs(tmp_path)
    with pytest.raises(InputImageError, match="not 4x"):
        quality.load_pair(pair)


@needs_data
def test_modcrop_and_grey_images() -> None:
    pairs = {p.name: p for p in quality.find_pairs(DATA / "Set14")}
    assert len(pairs) == 14
    lr, hr = quality.load_pair(pairs["comic"])  # HR 250x361, not a multiple of 4
    assert lr.shape == (90, 62, 3) and hr.shape == (360, 248, 3)
    lr, hr = quality.load_pair(pairs["bridge"])  # a single-channel PNG
    assert lr.shape[2] == 3 and np.array_equal(lr[..., 0], lr[..., 2])
    assert quality.bicubic(lr).shape == hr.shape


@needs_data
def test_per_image_values_match_the_measured_references() -> None:
    pairs = [p for p in quality.find_pairs(DATA / "Set5") if p.name == "bird"]
    pairs += [p for p in quality.find_pairs(DATA / "Set14") if p.name in ("comic", "bridge")]
    bench = quality.QualityBenchmark({"fp32 whole": Upscaler(device=DEVICE, precision="fp32", tile=0)}, pairs)
    steps: list[str] = []
    bench.on_step = steps.append
    rows = bench.run()
    assert len(rows) == len(steps) == bench.steps == 6
    for row in rows:
        expected = REFERENCE[(row["image"], row["method"])]
        got = tuple(row[k] for k in quality.METRICS)
        assert got[0] == pytest.approx(expected[0], abs=0.01) and got[2] == pytest.approx(expected[2], abs=0.01)
        assert got[1] == pytest.approx(expected[1], abs=1e-3) and got[3] == pytest.approx(expected[3], abs=1e-3)
    means = {m["method"]: m for m in quality.means(rows)}
    assert means["fp32 whole"]["images"] == 3
    expected_mean = np.mean([REFERENCE[(n, "fp32 whole")][2] for n in ("bird", "comic", "bridge")])
    assert means["fp32 whole"]["psnr_y"] == pytest.approx(expected_mean, abs=0.01)
    assert means["fp32 whole"]["psnr_y"] > means["bicubic"]["psnr_y"]

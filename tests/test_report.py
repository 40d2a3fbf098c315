"""Benchmark reports: JSON with a schema and numbers only (null for non-finite), CSV, atomic files, the plot."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from PIL import Image

from eern_cli.bench import report as reports
from eern_cli.bench.timing import REFERENCE, Measurement, Variant

IDENTICAL = math.inf  # the PSNR of an output identical to the reference


def _measurements() -> list[Measurement]:
    ref = Measurement(REFERENCE, 16, 16, tiles=1, first_ms=9.0, times_ms=[4.0, 6.0, 5.0],
                      psnr_vs_reference=IDENTICAL, max_diff_levels=0)
    tiled = Measurement(Variant("bf16", 16), 16, 16, tiles=1, first_ms=5.0, times_ms=[2.0, 3.0, 2.5],
                        psnr_vs_reference=55.0, max_diff_levels=1)
    return [ref, tiled]


def _report() -> dict:
    return {"schema": reports.SCHEMA, "software": {"torch": "2.x"}, "settings": {"device_name": "cpu: test"},
            "speed": reports.speed_rows(_measurements()), "quality": None, "interrupted": False}


def test_speed_rows_statistics_and_speed_up() -> None:
    ref, tiled = reports.speed_rows(_measurements())
    assert ref["median_ms"] == 5.0 and ref["min_ms"] == 4.0 and ref["iqr_ms"] == pytest.approx(1.0)
    assert ref["speedup_vs_fp32_whole"] == 1.0 and tiled["speedup_vs_fp32_whole"] == 2.0
    assert tiled["output_mp_per_s"] == pytest.approx(16 * 16 * 16 / 1e6 / 2.5e-3)


def test_json_has_numbers_only_and_null_for_infinity() -> None:
    text = reports.to_json(_report())
    assert "Infinity" not in text and "NaN" not in text and '"inf"' not in text
    rows = json.loads(text)["speed"]
    assert rows[0]["psnr_vs_fp32_db"] is None and rows[1]["psnr_vs_fp32_db"] == 55.0
    assert json.loads(text)["schema"] == "eern.benchmark/1"


def test_write_picks_the_format_from_the_extension_and_leaves_no_temporary(tmp_path: Path) -> None:
    reports.write(_report(), tmp_path / "r.json")
    reports.write(_report(), tmp_path / "r.CSV")
    assert json.loads((tmp_path / "r.json").read_text())["speed"][1]["variant"] == "bf16 tile 16"
    table = list(csv.DictReader(io.StringIO((tmp_path / "r.CSV").read_text())))
    assert [row["section"] for row in table] == ["speed", "speed"]
    assert table[0]["psnr_vs_fp32_db"] == "" and table[1]["psnr_vs_fp32_db"] == "55.0"
    assert table[0]["torch"] == "2.x" and table[0]["device"] == "cpu: test"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.CSV", "r.json"]


def test_plot(tmp_path: Path) -> None:
    reports.write_plot(reports.speed_rows(_measurements()), tmp_path / "p.png", title="test")
    with Image.open(tmp_path / "p.png") as plot:
        assert plot.size == (960, 580)
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]

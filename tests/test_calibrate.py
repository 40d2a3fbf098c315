"""``--precision auto`` on a CPU: measured once, cached per machine key, and never a failure when the cache is bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eern_cli.engine import calibrate


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EERN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EERN_RECALIBRATE", raising=False)
    calibrate._cpu_precision.cache_clear()  # a new process, as far as the in-memory cache goes
    yield tmp_path / "cache" / "calibration.json"
    calibrate._cpu_precision.cache_clear()


def _fresh() -> calibrate.Calibration:
    calibrate._cpu_precision.cache_clear()
    return calibrate.cpu_precision()


def test_measurement_picks_the_fastest_candidate() -> None:
    result = calibrate.measure("k", rounds=2)
    assert set(result.ms) == {p if w == 84 else f"{p}/{w}" for p in calibrate.CANDIDATES for w in calibrate.WIDTHS}
    timed = {p: ms for p, ms in result.ms.items() if ms is not None}
    assert timed["fp32"] > 0 and timed["fp32/96"] > 0  # fp32 always runs, at either width
    assert result.choice == min(timed, key=timed.get).split("/")[0]
    assert result.seconds < 10  # the budget is ~1 s; a loaded 2-core machine may take a few
    for precision in calibrate.CANDIDATES:
        narrow, wide = timed.get(precision), timed.get(f"{precision}/96")
        if narrow is not None and wide is not None:
            assert result.channels(precision) == (96 if wide < narrow else 84)


def test_the_width_is_the_faster_one_and_84_when_unmeasured() -> None:
    measured = calibrate.Calibration("k", {"fp32": 2.0, "fp32/96": 3.0, "bf16": 2.0, "bf16/96": 1.5, "fp16": None,
                                           "fp16/96": 1.0}, "bf16", 0.1)
    assert (measured.channels("fp32"), measured.channels("bf16"), measured.channels("fp16")) == (84, 96, 96)
    old = calibrate.Calibration("k", {"fp32": 2.0, "bf16": 1.0}, "bf16", 0.1)  # no width measured
    assert (old.channels("bf16"), old.channels("fp16")) == (84, 84)


def test_first_use_measures_and_caches_then_hits(cache: Path) -> None:
    first = _fresh()
    assert not first.cached and cache.is_file()
    key = calibrate.machine_key(torch.get_num_threads())
    assert json.loads(cache.read_text())[key]["choice"] == first.choice
    second = _fresh()
    assert second.cached
    assert (second.choice, second.ms) == (first.choice, first.ms)
    assert "cached" in second.reason() and first.choice in calibrate.CANDIDATES


def test_a_stale_key_measures_again_and_keeps_other_machines(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    other = {"ms": {"fp32": 1.0}, "choice": "fp32", "seconds": 0.1}
    cache.write_text(json.dumps({"v1|another CPU|threads:64|torch:9.9": other}))
    result = _fresh()
    assert not result.cached
    entries = json.loads(cache.read_text())
    assert entries["v1|another CPU|threads:64|torch:9.9"] == other
    assert calibrate.machine_key(torch.get_num_threads()) in entries


def test_the_key_holds_what_the_speed_depends_on() -> None:
    key = calibrate.machine_key(3)
    assert "threads:3" in key and f"torch:{torch.__version__}" in key and key.startswith(f"v{calibrate.VERSION}|")
    assert calibrate.machine_key(3) != calibrate.machine_key(4)


@pytest.mark.parametrize("content", [b"\x00\xff not json", b"[1, 2]", b'{"KEY": {"unexpected": 1}}'])
def test_a_corrupt_cache_is_measured_over(cache: Path, content: bytes) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content.replace(b"KEY", calibrate.machine_key(torch.get_num_threads()).encode()))
    result = _fresh()
    assert not result.cached and result.choice in calibrate.CANDIDATES
    assert json.loads(cache.read_text())[calibrate.machine_key(torch.get_num_threads())]["choice"] == result.choice


def test_an_unwritable_cache_folder_falls_back_to_this_process(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")  # unwritable even for root
    monkeypatch.setenv("EERN_CACHE_DIR", str(blocker / "eern"))
    first = _fresh()
    assert not first.cached and blocker.read_text().startswith("a file")
    assert calibrate.cpu_precision() is first  # measured once for this process all the same
    calibrate._cpu_precision.cache_clear()


def test_recalibrate_measures_even_with_a_valid_cache(cache: Path, monkeypatch) -> None:
    _fresh()
    monkeypatch.setenv("EERN_RECALIBRATE", "1")
    assert not _fresh().cached


def test_the_cached_choice_is_read_without_torch_or_measuring(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads = torch.get_num_threads()
    assert calibrate.cached_choice(threads) is None  # nothing measured yet: only a measurement can tell
    result = _fresh()
    assert calibrate.cached_choice(threads) == result.choice and calibrate.cached_choice(threads + 1) is None
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads + 1))
    assert calibrate.cached_choice(None) is None  # torch would run with another thread count
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert calibrate.cached_choice(None) == result.choice  # the only entry
    monkeypatch.setenv("EERN_RECALIBRATE", "1")
    assert calibrate.cached_choice(threads) is None

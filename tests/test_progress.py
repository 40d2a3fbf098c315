"""How ``eern upscale`` renders batch events: lines in input order with their [i/N], data on the data stream,
the --json file list, standard streams named in words."""

from __future__ import annotations

import io

import pytest

from eern_cli.cli.progress import Reporter, shown


def _done(index: int, name: str) -> dict:
    return {"event": "file_done", "index": index, "input": name, "output": f"out/{name}", "width": 8, "height": 8,
            "seconds": 0.5, "notes": []}


def _failed(index: int, name: str) -> dict:
    return {"event": "file_failed", "index": index, "input": name, "output": f"out/{name}",
            "error": f"cannot read '{name}'", "hint": "check the file"}


def _reporter(**kw) -> tuple[Reporter, io.StringIO]:
    data = io.StringIO()
    options = {"quiet": False, "events": False, "dry_run": False, "plan_to_data": False, **kw}
    return Reporter(stream=data, **options), data


def test_a_file_finished_early_waits_for_the_files_before_it(capsys: pytest.CaptureFixture[str]) -> None:
    report, _ = _reporter()
    with report.live(3):
        report(_failed(2, "b.png"))  # known at decode time, before a.png is written
        assert capsys.readouterr().err == ""
        report(_done(1, "a.png"))
        report(_done(3, "c.png"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[1/3] a.png -> out/a.png (8x8, 0.5 s)")
    assert lines[1] == "[2/3] eern: error: cannot read 'b.png'. Check the file"
    assert lines[2].startswith("[3/3] c.png")
    assert [f["status"] for f in report.files] == ["written", "failed", "written"]


def test_an_interrupted_batch_still_prints_what_finished_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    report, _ = _reporter()
    with pytest.raises(KeyboardInterrupt), report.live(4):
        report(_done(3, "c.png"))
        report(_done(2, "b.png"))  # 1 never finishes
        raise KeyboardInterrupt
    assert [line[:5] for line in capsys.readouterr().err.splitlines()] == ["[2/4]", "[3/4]"]


def test_dry_run_list_is_data_unless_json_takes_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    plan = {"event": "plan", "index": 1, "input": "a.png", "output": "a_x4.png", "action": "write",
            "notes": ["could not be read: empty (0 bytes)"]}
    report, data = _reporter(dry_run=True, plan_to_data=True)
    with report.live(1):
        report(plan)
    assert data.getvalue() == "write    a.png -> a_x4.png (could not be read: empty (0 bytes))\n"
    report, data = _reporter(dry_run=True, plan_to_data=False)
    with report.live(1):
        report(plan)
    assert data.getvalue() == "" and "[1/1] would write a.png -> a_x4.png" in capsys.readouterr().err
    assert report.files == [{"index": 1, "input": "a.png", "output": "a_x4.png", "status": "planned",
                             "action": "write", "notes": ["could not be read: empty (0 bytes)"]}]


def test_quiet_keeps_errors_and_events_go_to_the_stream(capsys: pytest.CaptureFixture[str]) -> None:
    report, data = _reporter(quiet=True, events=True)
    with report.live(2):
        report(_done(1, "a.png"))
        report(_failed(2, "b.png"))
    err = capsys.readouterr().err
    assert "a.png" not in err and "[2/2] eern: error:" in err
    assert [line.count('"event"') for line in data.getvalue().splitlines()] == [1, 1]


def test_standard_streams_are_named_in_words() -> None:
    assert shown("-") == "standard input" and shown("-", output=True) == "standard output"
    assert shown("a/b.png") == "a/b.png"

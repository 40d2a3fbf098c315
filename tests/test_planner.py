"""From inputs to jobs (``batch/planner.py``): names, folders, patterns, refusals, and what is passed over."""

from __future__ import annotations

import os

import pytest
from helpers_images import FAST, run_eern, save, smooth

from eern_cli.batch.planner import EERN_OUTPUT, NOT_AN_IMAGE, OUTPUT_NAME, SUBFOLDER, PassedOver, plan
from eern_cli.errors import InputNotFoundError, OutputError, UsageError
from eern_cli.images import provenance
from eern_cli.images.decode import Frame
from eern_cli.images.encode import EncodeOptions, Metadata, encode


def test_plan_default_names_next_to_input(tmp_path):
    a = save(tmp_path / "a.png", smooth())
    (job,) = plan([str(a)]).jobs
    assert job.output == tmp_path / "a_x4.png" and job.format == "png"
    (job,) = plan([str(a)], scale=2).jobs
    assert job.output == tmp_path / "a_x2.png"
    (job,) = plan([str(a)], fmt="jpg").jobs
    assert job.output == tmp_path / "a_x4.jpg"


def test_plan_folder_mirrors_tree_keeps_stems_and_notes_non_images(tmp_path):
    src = tmp_path / "in"
    save(src / "a.png", smooth())
    save(src / "sub" / "b.JPG", smooth(), "JPEG")
    (src / "readme.txt").write_text("hi")
    (src / "._a.png").write_bytes(b"resource fork")
    (src / ".a.png.eern-1-0123abcd.tmp").write_bytes(b"temp")
    flat = plan([str(src)], output=str(tmp_path / "out"))
    assert [j.output for j in flat.jobs] == [tmp_path / "out" / "a.png"]
    assert flat.passed_over == [PassedOver(str(src / "sub"), SUBFOLDER), PassedOver(str(src / "readme.txt"),
                                                                                    NOT_AN_IMAGE)]
    deep = plan([str(src)], output=str(tmp_path / "out"), recursive=True)
    assert [j.output for j in deep.jobs] == [tmp_path / "out" / "a.png", tmp_path / "out" / "sub" / "b.JPG"]


def test_plan_skips_own_outputs_next_to_inputs(tmp_path):
    save(tmp_path / "a.png", smooth())
    save(tmp_path / "a_x4.png", smooth(96, 80))
    save(tmp_path / "b_x4.png", smooth())  # no b.* beside it: a real input
    planned = plan([str(tmp_path)])
    assert [j.input.name for j in planned.jobs] == ["a.png", "b_x4.png"]
    assert planned.passed_over == [PassedOver(str(tmp_path / "a_x4.png"), OUTPUT_NAME)]


def test_plan_glob_pattern(tmp_path):
    for name in ("x1.png", "x2.png", "y.png"):
        save(tmp_path / "d" / name, smooth())
    jobs = plan([str(tmp_path / "d" / "x*.png")], output=str(tmp_path / "o")).jobs
    assert [j.output.name for j in jobs] == ["x1.png", "x2.png"]
    with pytest.raises(UsageError, match="no file matches"):
        plan([str(tmp_path / "d" / "z*.png")])


def test_plan_refusals(tmp_path):
    a = save(tmp_path / "a.png", smooth())
    b = save(tmp_path / "b.png", smooth())
    (missing,) = plan([str(tmp_path / "nope.png")]).jobs
    assert isinstance(missing.error, InputNotFoundError) and "nope.png" in str(missing.error)
    with pytest.raises(UsageError, match="names one file"):
        plan([str(a), str(b)], output=str(tmp_path / "one.png"))
    with pytest.raises(UsageError, match="cannot tell the output format"):
        plan([str(a)], output=str(tmp_path / "out.xyz"))
    with pytest.raises(UsageError, match="agree"):
        plan([str(a)], output=str(tmp_path / "out.jpg"), fmt="png")
    (same,) = plan([str(a)], output=str(a)).jobs
    assert isinstance(same.error, OutputError) and "overwrite the input" in str(same.error)
    (same,) = plan([str(a)], suffix="").jobs
    assert isinstance(same.error, OutputError)
    save(tmp_path / "a.jpg", smooth(), "JPEG")
    jobs = plan([str(tmp_path / "a.png"), str(tmp_path / "a.jpg")], fmt="webp").jobs
    assert jobs[0].error is None and "both be written" in str(jobs[1].error)


def test_output_that_resolves_to_the_input_is_refused(tmp_path):
    a = save(tmp_path / "a.png", smooth())
    os.symlink(a, tmp_path / "a_x4.png")
    (job,) = plan([str(a)]).jobs
    assert isinstance(job.error, OutputError) and "overwrite the input" in str(job.error)


def _eern_output(path, fmt: str):
    """A file as eern writes it: the format's own way of carrying the provenance record."""
    record = provenance.make(weights_sha256="w", scale=4.0, tile=0, precision="fp32", device="cpu", alpha="model",
                             input_sha256="i", settings={})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        encode(f, [Frame(smooth())], Metadata(None, None, None, None, record), EncodeOptions(format=fmt))
    return path


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff", "gif"])
def test_eern_outputs_are_never_found_by_folders_or_patterns(tmp_path, fmt):
    """After 'eern upscale tree/' wrote tree/a_x4.*, 'tree/ -o out/' and 'tree/*' took it as an input again (bug)."""
    save(tmp_path / "tree" / "a.png", smooth())
    made = _eern_output(tmp_path / "tree" / f"a_x4.{fmt}", fmt)
    skipped = [PassedOver(str(made), EERN_OUTPUT)]
    for args in ([str(tmp_path / "tree")], [str(tmp_path / "tree" / "*")]):
        planned = plan(args, output=str(tmp_path / "out"))
        assert [j.input.name for j in planned.jobs] == ["a.png"]
        assert planned.passed_over == skipped
    assert plan([str(tmp_path / "tree")]).passed_over == skipped  # beside its source, too
    (named,) = plan([str(made)], output=str(tmp_path / "out")).jobs  # named explicitly: taken
    assert named.input == made and named.error is None


def test_subfolders_are_reported_without_recursive(tmp_path):
    save(tmp_path / "top" / "a.png", smooth())
    save(tmp_path / "top" / "sub" / "b.png", smooth())
    save(tmp_path / "top" / ".hidden" / "c.png", smooth())
    planned = plan([str(tmp_path / "top")], output=str(tmp_path / "out"))
    assert planned.passed_over == [PassedOver(str(tmp_path / "top" / "sub"), SUBFOLDER)]
    assert plan([str(tmp_path / "top")], recursive=True).passed_over == []


def test_what_is_passed_over_reaches_the_user(tmp_path):
    save(tmp_path / "tree" / "a.png", smooth())
    _eern_output(tmp_path / "tree" / "a_x4.png", "png")
    save(tmp_path / "tree" / "sub" / "b.png", smooth())
    result = run_eern(str(tmp_path / "tree"), "-o", str(tmp_path / "out"), "--dry-run", *FAST)
    assert result.returncode == 0, result.stderr.decode()
    err = result.stderr.decode()
    assert f"{tmp_path / 'tree' / 'a_x4.png'} ({EERN_OUTPUT})" in err
    assert f"{tmp_path / 'tree' / 'sub'} ({SUBFOLDER})" in err
    assert "a_x4.png" not in result.stdout.decode()  # not planned


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_looking_for_provenance_never_opens_a_fifo(tmp_path):
    """Reading a FIFO's header would block for ever: it is planned like any file, and fails when it is read."""
    save(tmp_path / "d" / "a.png", smooth())
    os.mkfifo(tmp_path / "d" / "pipe.png")
    planned = plan([str(tmp_path / "d")], output=str(tmp_path / "out"))
    assert [j.input.name for j in planned.jobs] == ["a.png", "pipe.png"]

"""Whether an existing output may be skipped (``batch/resume.py``), from the record inside it."""

from __future__ import annotations

import os

import pytest
from helpers_images import RECORD, encode_to_bytes, save, smooth

from eern_cli.batch.planner import plan
from eern_cli.batch.resume import verdict
from eern_cli.errors import OutputError
from eern_cli.images.decode import Frame


@pytest.fixture
def job(tmp_path):
    save(tmp_path / "a.png", smooth())
    (planned,) = plan([str(tmp_path / "a.png")]).jobs
    return planned


def test_no_output_yet_is_written(job):
    assert verdict(job, RECORD.input_sha256, RECORD.settings, overwrite=False) is None


def test_same_input_and_settings_is_up_to_date(job):
    job.output.write_bytes(encode_to_bytes([Frame(smooth())], "png"))
    assert verdict(job, RECORD.input_sha256, RECORD.settings, overwrite=False) == "up to date"
    assert verdict(job, RECORD.input_sha256, RECORD.settings, overwrite=True) is None


def test_another_input_or_other_settings_is_redone(job):
    job.output.write_bytes(encode_to_bytes([Frame(smooth())], "png"))
    assert verdict(job, "ef" * 32, RECORD.settings, overwrite=False) is None
    assert verdict(job, RECORD.input_sha256, "0" * 16, overwrite=False) is None


def test_a_cut_output_is_redone(job):
    data = encode_to_bytes([Frame(smooth())], "png")
    job.output.write_bytes(data[:-12])  # the IEND chunk is gone
    assert verdict(job, RECORD.input_sha256, RECORD.settings, overwrite=False) is None


def test_a_file_eern_did_not_make_is_left_alone(job):
    save(job.output, smooth(96, 80))
    reason = verdict(job, RECORD.input_sha256, RECORD.settings, overwrite=False)
    assert reason is not None and "not made by eern" in reason
    assert verdict(job, RECORD.input_sha256, RECORD.settings, overwrite=True) is None


def test_the_input_itself_or_a_folder_is_refused(job, tmp_path):
    os.link(job.input, job.output)  # a hard link: only this write-time check can tell
    with pytest.raises(OutputError, match="input itself"):
        verdict(job, "x", "y", overwrite=True)
    os.unlink(job.output)
    job.output.mkdir()
    with pytest.raises(OutputError, match="folder"):
        verdict(job, "x", "y", overwrite=False)

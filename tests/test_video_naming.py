"""Where video outputs go, and videos found in folders by extension as images are (no PyAV needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eern_cli.batch.planner import plan
from eern_cli.errors import UsageError
from eern_cli.video import is_video
from eern_cli.video.naming import VIDEO, video_output


def test_a_video_keeps_its_container_beside_the_input_or_in_a_folder(tmp_path):
    clip = tmp_path / "clip.MOV"
    assert video_output(clip, Path("clip.MOV"), None, None, "_x4") == tmp_path / "clip_x4.MOV"
    assert video_output(clip, Path("sub/clip.MOV"), None, tmp_path / "out", "") == tmp_path / "out/sub/clip.MOV"
    assert video_output(clip, Path("clip.MOV"), str(tmp_path / "big.mkv"), None, "_x4") == tmp_path / "big.mkv"


def test_impossible_video_outputs_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not a video container"):
        video_output(tmp_path / "clip.mp4", Path("clip.mp4"), str(tmp_path / "frame.png"), None, "_x4")
    with pytest.raises(UsageError, match="standard output"):
        video_output(tmp_path / "clip.mp4", Path("clip.mp4"), "-", None, "_x4")


def test_folders_yield_videos_and_images_and_skip_work_folders(tmp_path):
    for name in ("a.mp4", "b.png", "c.webm", "notes.txt", ".hidden.mkv"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".a_x4.mp4.eern-video").mkdir()
    (tmp_path / ".a_x4.mp4.eern-video" / "chunk-000000.nut").write_bytes(b"x")
    planned = plan([str(tmp_path)], output=str(tmp_path / "out"), recursive=True)
    assert [(j.input.name, j.output.name, j.format) for j in planned.jobs] == [
        ("a.mp4", "a.mp4", VIDEO), ("b.png", "b.png", "png"), ("c.webm", "c.webm", VIDEO)]
    assert [p.input for p in planned.passed_over] == [str(tmp_path / "notes.txt")]
    assert is_video("x.MKV") and not is_video("x.png")

"""The work folder of a video: chunk sizes, finished segments, and a fresh start when input or settings change."""

from __future__ import annotations

from fractions import Fraction

from eern_cli.video.chunks import Manifest, WorkFolder, chunk_frames, work_folder


def test_chunk_frames_is_seconds_times_rate_at_least_one():
    assert chunk_frames(Fraction(30000, 1001), 5) == 150
    assert chunk_frames(Fraction(25), 2) == 50
    assert chunk_frames(Fraction(12), 0.01) == 1


def test_work_folder_is_hidden_beside_the_output(tmp_path):
    assert work_folder(tmp_path / "clip_x4.mp4") == tmp_path / ".clip_x4.mp4.eern-video"


def test_finished_chunks_are_the_consecutive_segments_from_the_first(tmp_path):
    work = WorkFolder(tmp_path / "out.mkv", Manifest("a" * 64, "digest", 6))
    assert work.open() == 0
    for chunk in (0, 1, 3):
        work.segment(chunk).write_bytes(b"segment")
    (work.path / ".chunk-000002.nut.eern-999999-0123abcd.tmp").write_bytes(b"half")  # a killed run's
    assert WorkFolder(tmp_path / "out.mkv", Manifest("a" * 64, "digest", 6)).open() == 2
    assert not list(work.path.glob("*.tmp"))  # temporaries of dead runs are swept
    assert work.segments(2) == [work.segment(0), work.segment(1)]


def test_another_input_or_other_settings_start_afresh(tmp_path):
    first = WorkFolder(tmp_path / "out.mkv", Manifest("a" * 64, "digest", 6))
    first.open()
    first.segment(0).write_bytes(b"segment")
    for manifest in (Manifest("b" * 64, "digest", 6), Manifest("a" * 64, "other", 6), Manifest("a" * 64, "digest", 7)):
        again = WorkFolder(tmp_path / "out.mkv", manifest)
        assert again.open() == 0
        assert not again.segment(0).exists()
        again.segment(0).write_bytes(b"segment")
    again.remove()
    assert not again.path.exists()

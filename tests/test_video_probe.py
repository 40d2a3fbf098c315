"""Probing and decoding videos: what is read, and every kind of bad input refused with one clear error."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from helpers_video import add_silence, av, frame_image, make_video

from eern_cli.errors import InputVideoError
from eern_cli.video import probe


def test_probe_reads_size_rate_frames_and_streams_to_copy(tmp_path):
    path = make_video(tmp_path / "clip.mp4", frames=12, fps=12)
    info = probe.probe(path, "clip.mp4")
    assert (info.width, info.height, info.rate, info.declared_frames, info.bits) == (48, 32, Fraction(12), 12, 8)
    assert info.copied == [1]  # the audio stream
    decoded = list(probe.frames(info))
    assert [index for index, *_ in decoded] == list(range(12))
    assert [pts for _, pts, _, _ in decoded] == sorted(pts for _, pts, _, _ in decoded)
    assert all(rgb.shape == (32, 48, 3) and rgb.dtype == np.uint8 for *_, rgb in decoded)


def test_frames_skips_conversion_of_finished_frames(tmp_path):
    info = probe.probe(make_video(tmp_path / "clip.mkv", frames=6, audio=False), "clip.mkv")
    rgbs = [rgb for *_, rgb in probe.frames(info, skip=4)]
    assert rgbs[:4] == [None] * 4 and all(r is not None for r in rgbs[4:])


def test_lossless_rgb_source_decodes_exactly(tmp_path):
    path = make_video(tmp_path / "clip.mkv", frames=3, codec="ffv1", pix_fmt="bgr0", audio=False)
    info = probe.probe(path, "clip.mkv")
    for index, _, _, rgb in probe.frames(info):
        np.testing.assert_array_equal(rgb, frame_image(index, 48, 32))  # tolerance 0 grey levels


def test_colour_matrix_and_range_of_the_source_are_honoured(tmp_path):
    """A BT.709 full-range source decodes with BT.709 full range (not FFmpeg's BT.601 limited default)."""
    tags = {"colorspace": 1, "color_range": 2, "color_primaries": 1, "color_trc": 1}
    path = make_video(tmp_path / "hd.mkv", frames=2, codec="libx264", pix_fmt="yuv444p", audio=False, colour=tags,
                      options={"qp": "0"})
    info = probe.probe(path, "hd.mkv")
    assert (info.colour.matrix, info.colour.range) == (1, 2)
    rgb = next(probe.frames(info))[3]
    # lossless yuv444p at 8 bits: the round trip is within 3 grey levels with the right matrix, far off with BT.601.
    assert np.abs(rgb.astype(int) - frame_image(0, 48, 32)).max() <= 3
    with av.open(str(path)) as c:
        wrong = next(c.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=5, src_color_range=1)
    assert np.abs(wrong.astype(int) - frame_image(0, 48, 32)).max() > 10


def test_deep_sources_decode_to_16_bits(tmp_path):
    path = make_video(tmp_path / "deep.mkv", frames=2, pix_fmt="yuv420p10le", audio=False)
    info = probe.probe(path, "deep.mkv")
    assert info.bits == 16
    assert next(probe.frames(info))[3].dtype == np.uint16


def test_variable_frame_rate_time_stamps_come_through(tmp_path):
    stamps = [0, 1, 3, 4, 8, 9]
    path = make_video(tmp_path / "vfr.mkv", frames=6, pts=stamps, time_base=Fraction(1, 10), audio=False)
    info = probe.probe(path, "vfr.mkv")
    times = [float(pts * info.time_base) for _, pts, _, _ in probe.frames(info)]
    assert times == pytest.approx([s / 10 for s in stamps], abs=1e-3)


@pytest.mark.parametrize("kind", ["random bytes", "empty", "cut before its index", "text"])
def test_unreadable_files_are_refused(tmp_path, kind):
    good = make_video(tmp_path / "good.mp4", frames=6).read_bytes()
    data = {"random bytes": np.random.default_rng(1).bytes(5000), "empty": b"",
            "cut before its index": good[: len(good) // 2], "text": b"not a video at all\n" * 50}[kind]
    path = tmp_path / "bad.mp4"
    path.write_bytes(data)
    with pytest.raises(InputVideoError, match="bad.mp4"):
        info = probe.probe(path, "bad.mp4")
        list(probe.frames(info))


def test_a_truncated_matroska_is_refused_when_decoding_stops_early(tmp_path):
    good = make_video(tmp_path / "good.mkv", frames=24, audio=False).read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(InputVideoError, match="cut.mkv"):
        list(probe.frames(probe.probe(path, "cut.mkv")))


def test_no_video_stream_and_zero_frames_are_refused(tmp_path):
    audio_only = tmp_path / "sound.mkv"
    with av.open(str(audio_only), "w") as out:
        add_silence(out)
    with pytest.raises(InputVideoError, match="no video stream"):
        probe.probe(audio_only, "sound.mkv")
    empty = tmp_path / "empty.mkv"  # a video stream without a single frame, beside an audio stream
    with av.open(str(empty), "w") as out:
        stream = out.add_stream("ffv1", rate=12)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "bgr0"
        add_silence(out)
    with pytest.raises(InputVideoError, match="'empty.mkv' has no frames"):
        probe.probe(empty, "empty.mkv")

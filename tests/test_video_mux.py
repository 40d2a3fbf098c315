"""The final mux of chunk segments: frames and time stamps kept exactly (variable frame rate included), B-frame
segments joined into one valid stream, audio copied packet for packet."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from helpers_video import audio_packets, av, frame_image, make_video, video_frames, video_stamps

from eern_cli.errors import OutputError
from eern_cli.video import encode, probe
from eern_cli.video.encode import VideoOptions
from eern_cli.video.mux import check_streams, mux


def _segments(tmp_path, info, encoding, pts, per_chunk):
    paths, start = [], 0
    while start < len(pts):
        frames = [(pts[i], frame_image(i, 48, 32)) for i in range(start, min(start + per_chunk, len(pts)))]
        path = tmp_path / f"chunk-{len(paths):06d}.nut"
        assert encode.write_segment(path, frames, info, encoding, (48, 32)) == len(frames)
        paths.append(path)
        start += per_chunk
    return paths


def test_lossless_segments_mux_to_exact_frames_time_stamps_and_audio(tmp_path):
    """Variable frame rate, two chunks, FFV1: every frame and time stamp back exactly, audio packet for packet."""
    stamps = [0, 1, 3, 4, 8, 9, 10, 14]
    src = make_video(tmp_path / "vfr.mkv", frames=8, pts=stamps, time_base=Fraction(1, 10), fps=10)
    info = probe.probe(src, "vfr.mkv")
    pts = [p for _, p, _, _ in probe.frames(info)]
    durations = [d for _, _, d, _ in probe.frames(info)]
    encoding = encode.resolve(VideoOptions(codec="ffv1"), ".mkv", info, (48, 32))
    segments = _segments(tmp_path, info, encoding, pts, per_chunk=3)
    out = tmp_path / "out.mkv"
    mux(out, segments, pts, durations, info, {"eern": "{}"})
    for index, rgb in enumerate(video_frames(out)):
        np.testing.assert_array_equal(rgb, frame_image(index, 48, 32))  # tolerance: 0 grey levels
    times, duration, *_ = video_stamps(out)
    src_times, src_duration, *_ = video_stamps(src)
    assert times == pytest.approx(src_times, abs=1e-3) and duration == pytest.approx(src_duration, abs=1e-3)
    assert audio_packets(out) == audio_packets(src)


def test_b_frame_segments_concatenate_with_valid_decoding_times(tmp_path):
    """H.264 with B-frames in chunks of 5 frames: one continuous, decodable stream in MP4 with the source's times."""
    src = make_video(tmp_path / "clip.mp4", frames=12)
    info = probe.probe(src, "clip.mp4")
    pts = [p for _, p, _, _ in probe.frames(info)]
    durations = [d for _, _, d, _ in probe.frames(info)]
    encoding = encode.resolve(VideoOptions(), ".mp4", info, (48, 32))
    out = tmp_path / "out.mp4"
    segments = _segments(tmp_path, info, encoding, pts, per_chunk=5)
    mux(out, segments, pts, durations, info, {})
    frames = video_frames(out)
    assert len(frames) == 12
    segment_frames = []
    for path in segments:
        with av.open(str(path)) as segment:
            segment_frames += [f.to_ndarray(format="rgb24") for f in segment.decode(video=0)]
    with av.open(str(out)) as muxed:
        muxed_frames = [f.to_ndarray(format="rgb24") for f in muxed.decode(video=0)]
    for mine, theirs in zip(muxed_frames, segment_frames, strict=True):  # the mux copies: 0 grey levels
        np.testing.assert_array_equal(mine, theirs)
    (times, duration, *_), (src_times, src_duration, *_) = video_stamps(out), video_stamps(src)
    assert times == pytest.approx(src_times, abs=1e-3) and duration == pytest.approx(src_duration, abs=1e-3)
    assert audio_packets(out) == audio_packets(src)


def test_a_container_that_cannot_hold_the_streams_is_refused_before_any_work(tmp_path):
    src = make_video(tmp_path / "clip.mp4", frames=2)  # AAC audio
    info = probe.probe(src, "clip.mp4")
    h264 = encode.resolve(VideoOptions(), ".mkv", info, (192, 128))
    with pytest.raises(OutputError, match="'.webm'"):
        check_streams(tmp_path / "out.webm", info, h264, (192, 128))  # WebM takes VP8/VP9/AV1 video only
    vp9 = encode.resolve(VideoOptions(), ".webm", info, (192, 128))
    with pytest.raises(OutputError, match=r"the audio stream \(aac\)"):
        check_streams(tmp_path / "out.webm", info, vp9, (192, 128))  # ... and Opus/Vorbis audio
    check_streams(tmp_path / "out.mkv", info, h264, (192, 128))  # Matroska takes both

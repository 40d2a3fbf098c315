"""Encoding videos: the codec per container, and flags refused up front."""

from __future__ import annotations

import pytest
from helpers_video import make_video

from eern_cli.errors import OutputError, UsageError
from eern_cli.video import encode, probe
from eern_cli.video.encode import VideoOptions


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = make_video(tmp_path_factory.mktemp("src") / "clip.mp4", frames=12, fps=12)
    return probe.probe(path, "clip.mp4")


@pytest.mark.parametrize(("ext", "encoder", "pix_fmt"), [
    (".mp4", "libx264", "yuv420p"), (".mov", "libx264", "yuv420p"), (".mkv", "libx264", "yuv420p"),
    (".webm", "libvpx-vp9", "yuv420p"), (".avi", "ffv1", "bgr0")])
def test_each_container_gets_its_encoder(source, ext, encoder, pix_fmt):
    chosen = encode.resolve(VideoOptions(), ext, source, (192, 128))
    assert (chosen.encoder, chosen.pix_fmt) == (encoder, pix_fmt)


def test_flags_choose_codec_quality_and_pixel_format(source):
    chosen = encode.resolve(VideoOptions(codec="h265", crf=30, pix_fmt="yuv444p"), ".mkv", source, (192, 128))
    assert (chosen.encoder, chosen.pix_fmt, chosen.options["crf"]) == ("libx265", "yuv444p", "30")
    assert encode.resolve(VideoOptions(codec="ffv1"), ".mkv", source, (192, 128)).pix_fmt == "bgr0"
    deep = probe.VideoInfo(**{**source.__dict__, "bits": 16})
    assert encode.resolve(VideoOptions(), ".mp4", deep, (192, 128)).pix_fmt == "yuv420p10le"
    assert encode.resolve(VideoOptions(codec="ffv1"), ".mkv", deep, (192, 128)).pix_fmt == "gbrp16le"


@pytest.mark.parametrize(("options", "message"), [
    (VideoOptions(crf=99), "--crf must be 0-63"), (VideoOptions(chunk_seconds=0), "--chunk-seconds"),
    (VideoOptions(codec="nosuchcodec"), "no 'nosuchcodec' video encoder"),
    (VideoOptions(pix_fmt="nosuchformat"), "unknown pixel format")])
def test_impossible_flags_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        encode.check_options(options)


def test_impossible_combinations_are_refused_before_any_work(source):
    with pytest.raises(UsageError, match="cannot encode --pix-fmt"):
        encode.resolve(VideoOptions(codec="h264", pix_fmt="bgr0"), ".mkv", source, (192, 128))
    with pytest.raises(UsageError, match="needs even sizes"):
        encode.resolve(VideoOptions(), ".mp4", source, (191, 128))
    with pytest.raises(OutputError, match="no nosuch encoder for '.mp4' outputs"):
        encode.resolve(VideoOptions(codec="nosuch"), ".mp4", source, (192, 128))

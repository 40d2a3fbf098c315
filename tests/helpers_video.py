"""Tiny videos made in the tests with PyAV (48x32, a second or two, with an audio track), and ways to read
them back: frames as decoded RGB, time stamps, audio samples."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

AUDIO_RATE = 8000


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """A moving smooth pattern: changes every frame, realistic enough for the model and the codecs."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [0.5 + 0.4 * np.sin(x / 5 + index * 0.3), 0.5 + 0.4 * np.cos(y / 4 - index * 0.2),
              0.5 + 0.4 * np.sin((x + y) / 7 + index * 0.1)]
    return np.round(np.clip(np.stack(planes, -1), 0, 1) * 255).astype(np.uint8)


def make_video(path: Path, *, width: int = 48, height: int = 32, frames: int = 12, fps: int = 12,
               codec: str = "libx264", pix_fmt: str = "yuv420p", audio: bool = True, pts: list[int] | None = None,
               time_base: Fraction | None = None, colour: dict | None = None, options: dict | None = None) -> Path:
    """A video file at ``path`` (container from its extension): ``frames`` frames, with a sine audio track.

    ``pts`` (in ``time_base``) gives variable frame rate; ``colour`` sets the stream's colour tags.
    """
    path = Path(path)
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.options = options or {}
        if time_base is not None:
            video.time_base = video.codec_context.time_base = time_base
        for key, value in (colour or {}).items():
            setattr(video.codec_context, key, value)
        sound = None
        if audio:
            sound = out.add_stream("aac" if path.suffix in (".mp4", ".mov") else "flac", rate=AUDIO_RATE)
            sound.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
            frame = frame.reformat(format=pix_fmt, **({"dst_colorspace": 1, "dst_color_range": 2} if colour else {}))
            frame.pts = i if pts is None else pts[i]
            if time_base is not None:
                frame.time_base = time_base
            for key, value in (colour or {}).items():
                setattr(frame, key, value)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = (np.sin(np.arange(int(AUDIO_RATE * frames / fps)) * 0.05) * 8000).astype(np.int16)
            fmt = sound.codec_context.codec.audio_formats[0].name
            for start in range(0, len(samples), 1024):
                part = samples[start:start + 1024][None]
                data = part.astype(np.float32) / 32768 if fmt == "fltp" else part
                chunk = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
                chunk.sample_rate, chunk.pts = AUDIO_RATE, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


def add_silence(container, codec: str = "flac", rate: int = AUDIO_RATE) -> None:
    """An audio stream with one frame of silence in an open output ``container`` (audio-only files)."""
    stream = container.add_stream(codec, rate=rate)
    stream.layout = "mono"
    fmt = stream.codec_context.codec.audio_formats[0].name
    samples = 960 if codec == "libopus" else 1024
    frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32 if fmt.startswith("flt") else np.int16),
                                       format=fmt, layout="mono")
    frame.sample_rate, frame.pts = rate, 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` as RGB (planar RGB formats exactly; YUV with the stream's own tags)."""
    from eern_cli.video import probe

    info = probe.probe(path, str(path))
    return [rgb for _, _, _, rgb in probe.frames(info)]


def video_stamps(path: Path) -> tuple[list[float], float, int, int]:
    """(frame times in seconds, container duration in seconds, width, height) of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * stream.time_base) for f in container.decode(stream)]
        return times, container.duration / 1e6, stream.codec_context.width, stream.codec_context.height


def audio_samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray().ravel() for f in container.decode(container.streams.audio[0])])


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

"""Open a video, refuse what cannot be upscaled, and decode its frames to RGB arrays for the model.

A video is refused with one ``InputVideoError`` naming it when it is not a container FFmpeg can read (corrupt,
or cut before its index), has no video stream, uses a codec this FFmpeg cannot decode, has no frame, has a
corrupt frame, or ends before the frame count or duration its container declares (truncated). The first frame
is decoded while probing, so a bad file fails before any model work and before anything is written.

Frames become RGB with the source's own colour matrix and range (FFmpeg's default for untagged video,
BT.601 limited range, otherwise), 8-bit, or 16-bit when the source has more than 8 bits per sample, and are
turned upright when the stream carries a rotation (as images are, by their EXIF orientation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from eern_cli.errors import InputVideoError
from eern_cli.video import require_av

# FFmpeg's AVColorSpace (what streams are tagged with) -> swscale's matrix (what the conversion takes).
SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_UNSPECIFIED_MATRIX, _UNSPECIFIED_RANGE = 5, 1  # what FFmpeg assumes for untagged video: BT.601, limited
RGB_MATRIX = 0  # AVCOL_SPC_RGB: planar RGB formats carry no matrix
# A video that stops this many frame durations (and at least half a second) before its declared end is cut.
_TRUNCATION_FRAMES = 2


@dataclass
class Colour:
    """A stream's colour tags, as FFmpeg numbers them (2 = unspecified)."""

    matrix: int = 2
    range: int = 0
    primaries: int = 2
    transfer: int = 2

    def decode_args(self) -> dict:
        return {"src_colorspace": SWS_MATRIX.get(self.matrix, _UNSPECIFIED_MATRIX),
                "src_color_range": self.range or _UNSPECIFIED_RANGE}


@dataclass
class VideoInfo:
    name: str  # as shown to the user
    path: Path
    container: str  # FFmpeg's demuxer name
    codec: str
    width: int  # upright (after rotation)
    height: int
    rate: Fraction  # average frames per second
    time_base: Fraction
    declared_frames: int  # 0: the container does not say
    declared_end: float | None  # seconds: where the video stream (or the whole file) says it ends
    bits: int  # 8 or 16: the RGB depth the frames are decoded to
    pix_fmt: str
    rotation: int  # quarter turns applied to make frames upright (np.rot90's k)
    colour: Colour
    copied: list[int] = field(default_factory=list)  # indexes of the audio and subtitle streams to copy

    @property
    def frame_seconds(self) -> float:
        return float(1 / self.rate) if self.rate else 0.04


def probe(path: str | Path, name: str) -> VideoInfo:
    """What ``path`` holds; raises ``InputVideoError`` for anything eern cannot upscale."""
    av = require_av()
    path = Path(path)
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise _unreadable(name, exc) from exc
    with container:
        if not container.streams.video:
            raise InputVideoError(f"'{name}' has no video stream", path=name,
                                  hint="eern upscales the pictures of a video; audio-only files have none")
        stream = container.streams.video[0]
        if stream.codec_context is None or not stream.codec_context.is_decoder:
            raise InputVideoError(f"'{name}' uses a video codec this FFmpeg cannot decode", path=name,
                                  hint="convert it first, e.g. to H.264 with ffmpeg")
        first = next(_decoded(container, stream, name), None)
        if first is None:
            raise InputVideoError(f"'{name}' has no frames", path=name, hint="the file holds no picture to upscale")
        bits = 16 if max(c.bits for c in first.format.components) > 8 else 8
        turns = round(getattr(first, "rotation", 0) / 90) % 4
        width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        colour = Colour(int(first.colorspace), int(first.color_range), int(first.color_primaries),
                        int(first.color_trc))
        copied = [s.index for s in container.streams if s.type in ("audio", "subtitle")]
        return VideoInfo(name, path, container.format.name, stream.codec_context.name, width, height, Fraction(rate),
                         Fraction(stream.time_base), int(stream.frames or 0), _declared_end(container, stream),
                         bits, first.format.name, turns, colour, copied)


def frames(info: VideoInfo, *, skip: int = 0) -> Iterator[tuple[int, int, int, np.ndarray | None]]:
    """``(index, pts, duration, rgb)`` for every frame; ``rgb`` is None for the first ``skip`` (done) frames.

    Raises ``InputVideoError`` when a frame is corrupt or the video ends before its declared end.
    """
    av = require_av()
    try:
        container = av.open(str(info.path), metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise _unreadable(info.name, exc) from exc
    with container:
        stream = container.streams.video[0]
        count, last_pts = 0, None
        for frame in _decoded(container, stream, info.name):
            pts = frame.pts if frame.pts is not None else (last_pts + 1 if last_pts is not None else 0)
            yield count, pts, frame.duration or 0, (to_rgb(frame, info) if count >= skip else None)
            count, last_pts = count + 1, pts
        _check_complete(info, count, last_pts)


def to_rgb(frame, info: VideoInfo) -> np.ndarray:
    """An upright H x W x 3 RGB array (uint8, or uint16 for sources deeper than 8 bits)."""
    # One swscale thread: its threaded conversion is not bit-reproducible, and a resumed run must see the
    # very frames a clean run sees.
    rgb = frame.to_ndarray(format="rgb48le" if info.bits == 16 else "rgb24", interpolation="BICUBIC", threads=1,
                           **info.colour.decode_args())
    return np.ascontiguousarray(np.rot90(rgb, info.rotation)) if info.rotation else rgb


def _decoded(container, stream, name: str):
    av = require_av()
    stream.thread_type = "AUTO"
    try:
        for frame in container.decode(stream):
            if frame.is_corrupt:
                raise InputVideoError(f"'{name}' has a corrupt frame at {float(frame.time or 0):.3f} s", path=name,
                                      hint="the file is damaged; re-encode or re-download it")
            yield frame
    except av.error.FFmpegError as exc:
        raise _unreadable(name, exc) from exc


def _declared_end(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return container.duration / 1_000_000 + (container.start_time or 0) / 1_000_000
    return None


def _check_complete(info: VideoInfo, count: int, last_pts: int | None) -> None:
    if info.declared_frames and count < info.declared_frames:
        raise InputVideoError(f"'{info.name}' is truncated: {count} of {info.declared_frames} frames decode",
                              path=info.name, hint="the file was cut short; re-encode or re-download it")
    if info.declared_end is not None and last_pts is not None:
        end = float(last_pts * info.time_base) + info.frame_seconds
        if info.declared_end - end > max(0.5, _TRUNCATION_FRAMES * info.frame_seconds):
            raise InputVideoError(f"'{info.name}' is truncated: its video stops at {end:.2f} s of "
                                  f"{info.declared_end:.2f} s", path=info.name,
                                  hint="the file was cut short; re-encode or re-download it")


def _unreadable(name: str, exc: Exception) -> InputVideoError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return InputVideoError(f"'{name}' is not a video eern can read ({reason})", path=name,
                           hint="the file is corrupt, truncated or not a video")

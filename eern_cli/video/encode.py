"""Encoding: which codec for which container, and a chunk written as one finished segment.

Each chunk is encoded on its own into a NUT segment that starts with a key frame; the same encoder settings on
the same frames give the same packets, so a chunk encoded after a resume equals the one a clean run makes
(``mux`` then puts the segments together).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eern_cli.errors import OutputError, UsageError
from eern_cli.images import atomic
from eern_cli.video import require_av
from eern_cli.video.probe import RGB_MATRIX, SWS_MATRIX, VideoInfo

# Output extension -> (FFmpeg muxer, preferred encoder). FFV1 is FFmpeg's own lossless codec: always there.
CONTAINERS = {".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"), ".mov": ("mov", "libx264"),
              ".mkv": ("matroska", "libx264"), ".webm": ("webm", "libvpx-vp9"), ".avi": ("avi", "ffv1")}
CODECS = {"h264": "libx264", "h265": "libx265", "hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1",
          "ffv1": "ffv1"}
LOSSLESS = "ffv1"
CRF_DEFAULT = {"libx264": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 28}
_ENCODER_OPTIONS = {"libx264": {"preset": "medium"}, "libvpx-vp9": {"row-mt": "1", "b": "0"},
                    "libsvtav1": {"preset": "8"}}
SEGMENT_FORMAT = "nut"


@dataclass(frozen=True)
class VideoOptions:
    """What the user asked for (None: the container's default); ``chunk_seconds`` sets the resume grain."""

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None
    chunk_seconds: float = 5.0

    def output_settings(self, extension: str) -> dict:
        """The settings that change an output's bytes (for its provenance and the resume check)."""
        return {"container": extension.lower(), "codec": self.codec, "crf": self.crf, "pix_fmt": self.pix_fmt,
                "chunk_seconds": self.chunk_seconds}


@dataclass(frozen=True)
class Encoding:
    """The resolved encoder for one output: FFmpeg encoder name, pixel format, options, colour tags."""

    encoder: str
    pix_fmt: str
    options: dict
    matrix: int
    range: int


def check_options(options: VideoOptions) -> None:
    """Refuse impossible flags before any work (exit 2); needs PyAV only when a codec flag is given."""
    if options.crf is not None and not 0 <= options.crf <= 63:
        raise UsageError(f"--crf must be 0-63, not {options.crf}")
    if options.chunk_seconds <= 0:
        raise UsageError(f"--chunk-seconds must be more than 0, not {options.chunk_seconds:g}")
    if options.codec is None and options.pix_fmt is None:
        return
    av = require_av("--codec and --pix-fmt")  # MissingExtraError: exit 2
    encoder = CODECS.get(options.codec, options.codec) if options.codec else None
    if encoder is not None and not _has_encoder(av, encoder):
        raise UsageError(f"this FFmpeg has no '{options.codec}' video encoder",
                         hint=f"use one of {', '.join(c for c in CODECS if _has_encoder(av, CODECS[c]))}")
    if options.pix_fmt is not None:
        try:
            av.VideoFormat(options.pix_fmt)
        except (ValueError, av.error.FFmpegError):
            raise UsageError(f"unknown pixel format '{options.pix_fmt}'", hint="e.g. yuv420p, yuv444p, gbrp") from None


def resolve(options: VideoOptions, extension: str, info: VideoInfo, size: tuple[int, int]) -> Encoding:
    """The encoder for an output named ``*extension`` of ``info`` upscaled to ``size``."""
    av = require_av()
    _, preferred = CONTAINERS[extension.lower()]
    encoder = CODECS.get(options.codec, options.codec) if options.codec else preferred
    if not _has_encoder(av, encoder):
        if options.codec or extension.lower() not in (".mkv", ".avi"):
            raise OutputError(f"this FFmpeg has no {encoder} encoder for '{extension}' outputs",
                              hint="write an .mkv (-o NAME.mkv), which falls back to lossless FFV1")
        encoder = LOSSLESS
    supported = [f.name for f in av.codec.Codec(encoder, "w").video_formats or ()]
    pix_fmt = options.pix_fmt or _default_pix_fmt(encoder, info, supported)
    if supported and pix_fmt not in supported:
        raise UsageError(f"{encoder} cannot encode --pix-fmt {pix_fmt}", hint=f"use one of {', '.join(supported)}")
    fmt = av.VideoFormat(pix_fmt)
    odd_width = size[0] % 2 and fmt.name.startswith(("yuv420", "yuv422", "nv"))
    if odd_width or (size[1] % 2 and fmt.name.startswith("yuv420")):
        raise UsageError(f"{pix_fmt} needs even sizes but the output is {size[0]}x{size[1]}",
                         hint="use --pix-fmt yuv444p or a --scale that gives an even size")
    encoder_options = dict(_ENCODER_OPTIONS.get(encoder, {}))
    if encoder in CRF_DEFAULT:
        encoder_options["crf"] = str(options.crf if options.crf is not None else CRF_DEFAULT[encoder])
    rgb = fmt.is_rgb
    # untagged sources were decoded as BT.601 (SMPTE 170M): the output says so
    matrix = RGB_MATRIX if rgb else (info.colour.matrix if info.colour.matrix in SWS_MATRIX else 6)
    colour_range = 2 if rgb else (info.colour.range or 1)
    return Encoding(encoder, pix_fmt, encoder_options, matrix, colour_range)


def write_segment(path: Path, frames: Iterable[tuple[int, np.ndarray]], info: VideoInfo, encoding: Encoding,
                  size: tuple[int, int], cancel: threading.Event | None = None) -> int:
    """Encode ``(pts, rgb)`` frames into the segment ``path`` (atomically); returns how many were written."""
    av = require_av()
    count = 0
    with atomic.atomic_open(path, cancel=cancel) as f:
        with av.open(f, "w", format=SEGMENT_FORMAT) as out:
            stream = out.add_stream(encoding.encoder, rate=info.rate)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], encoding.pix_fmt
            stream.time_base = info.time_base
            stream.codec_context.time_base = info.time_base
            stream.options = encoding.options
            ctx = stream.codec_context
            # One encoder thread: x264's threaded output was seen to change from run to run under load, and a
            # resumed chunk must be the very chunk a clean run makes. The encoder overlaps the model anyway.
            ctx.thread_count = 1
            ctx.colorspace, ctx.color_range = encoding.matrix, encoding.range
            ctx.color_primaries, ctx.color_trc = info.colour.primaries, info.colour.transfer
            rgb_format = "rgb48le" if info.bits == 16 else "rgb24"
            for pts, rgb in frames:
                if cancel is not None and cancel.is_set():
                    raise atomic.Cancelled("interrupted")
                frame = av.VideoFrame.from_ndarray(rgb, format=rgb_format)
                frame = frame.reformat(format=encoding.pix_fmt, threads=1, **_encode_args(encoding))  # 1: deterministic
                frame.pts, frame.time_base = pts, info.time_base
                frame.colorspace, frame.color_range = encoding.matrix, encoding.range
                out.mux(stream.encode(frame))
                count += 1
            out.mux(stream.encode(None))
    return count


def _encode_args(encoding: Encoding) -> dict:
    if encoding.matrix == RGB_MATRIX:
        return {}
    return {"dst_colorspace": SWS_MATRIX[encoding.matrix],
            "dst_color_range": encoding.range, "interpolation": "BICUBIC"}


def _default_pix_fmt(encoder: str, info: VideoInfo, supported: list[str]) -> str:
    if encoder == LOSSLESS:  # RGB in, RGB stored: the output is exactly the model's
        return "gbrp16le" if info.bits == 16 and "gbrp16le" in supported else "bgr0"
    deep = [f for f in ("yuv420p10le", "yuv420p12le") if f in supported]
    return deep[0] if info.bits == 16 and deep else "yuv420p"


def _has_encoder(av, name: str) -> bool:
    try:
        return av.codec.Codec(name, "w").type == "video"
    except (ValueError, av.error.FFmpegError):
        return False

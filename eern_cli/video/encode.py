"""Encoding: which codec for which container, a chunk written as one finished segment, and the final mux.

Each chunk is encoded on its own into a NUT segment (NUT keeps the source's exact time base, so every frame
keeps its time stamp, variable frame rate included) that starts with a key frame; the same encoder settings
on the same frames give the same packets, so a chunk encoded after a resume equals the one a clean run makes.
The final mux copies the segments' video packets and every audio and subtitle packet of the input, untouched
and interleaved by time, into the output container, with the provenance record in its metadata.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eern_cli.errors import MissingExtraError, OutputError, UsageError
from eern_cli.images import atomic
from eern_cli.video import require_av
from eern_cli.video.probe import RGB_MATRIX, VideoInfo

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
    try:
        av = require_av("--codec and --pix-fmt")
    except MissingExtraError as exc:  # a flag that needs the extra: a usage error (exit 2)
        raise UsageError(exc.message, hint=exc.hint) from None
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
    if (fmt.name.startswith(("yuv420", "yuv422", "nv")) and size[0] % 2) or (fmt.name.startswith("yuv420") and size[1] % 2):
        raise UsageError(f"{pix_fmt} needs even sizes but the output is {size[0]}x{size[1]}",
                         hint="use --pix-fmt yuv444p or a --scale that gives an even size")
    options_ = dict(_ENCODER_OPTIONS.get(encoder, {}))
    if encoder in CRF_DEFAULT:
        options_["crf"] = str(options.crf if options.crf is not None else CRF_DEFAULT[encoder])
    rgb = fmt.is_rgb
    matrix = RGB_MATRIX if rgb else (info.colour.matrix if info.colour.matrix in (1, 4, 5, 6, 7, 9, 10) else 6)
    colour_range = 2 if rgb else (info.colour.range or 1)
    return Encoding(encoder, pix_fmt, options_, matrix, colour_range)


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


def mux(output: Path, segments: list[Path], pts: list[int], durations: list[int], info: VideoInfo,
        metadata: dict[str, str], cancel: threading.Event | None = None) -> None:
    """Write ``output`` (atomically) from the finished segments and the input's audio and subtitle streams.

    ``pts`` and ``durations`` are the source frames', in decoding order; the video packets get them back exactly.
    """
    av = require_av()
    muxer, _ = CONTAINERS[output.suffix.lower()]
    # bitexact: no random segment id or date, so the same segments always make the same file
    options = {"fflags": "+bitexact", **({"movflags": "+use_metadata_tags"} if muxer in ("mp4", "mov") else {})}
    with atomic.atomic_open(output, cancel=cancel) as f, av.open(str(info.path)) as source:
        first = av.open(str(segments[0]))
        with first, av.open(f, "w", format=muxer, options=options) as out:
            out.metadata.update(metadata)
            video = out.add_stream_from_template(first.streams.video[0])
            video.time_base = info.time_base
            copies = {}
            for index in info.copied:
                try:
                    copies[index] = out.add_stream_from_template(source.streams[index])
                except (ValueError, av.error.FFmpegError) as exc:
                    raise _cannot_copy(output, source.streams[index], exc) from exc
            try:
                out.start_encoding()
            except (ValueError, av.error.FFmpegError) as exc:
                raise _cannot_copy(output, None, exc) from exc
            stamps = _Stamps(av, segments, pts, durations, info)
            packets = heapq.merge(stamps.packets(video), _copied_packets(source, copies), key=lambda item: item[0])
            for _, packet in packets:
                if cancel is not None and cancel.is_set():
                    raise atomic.Cancelled("interrupted")
                out.mux(packet)


class _Stamps:
    """The segments' video packets with the source's time stamps, as one continuous encode would have them.

    A segment container may shift time stamps (to keep them non-negative) and leaves decoding times of the
    first packets unknown, so neither is trusted: within a segment the k-th smallest packet time is the
    k-th frame time of its chunk, and the decoding time of packet i (counted over the whole video) is the
    (i - delay)-th frame time, ``delay`` being the encoder's reordering depth (B-frames).
    """

    def __init__(self, av, segments: list[Path], pts: list[int], durations: list[int], info: VideoInfo) -> None:
        self.av, self.segments, self.info = av, segments, info
        self.sorted = sorted(pts)
        self.chunks, self.delay, start = [], 0, 0
        for path in segments:
            order = self._order(path)
            chunk = sorted(pts[start:start + len(order)])
            if len(order) != len(chunk):
                raise OutputError(f"the work segment '{path.name}' does not hold its chunk's frames", path=path,
                                  hint="remove the hidden .eern-video folder beside the output and re-run")
            ranks = {value: rank for rank, value in enumerate(sorted(order))}
            self.delay = max([self.delay] + [i - ranks[value] for i, value in enumerate(order)])
            self.chunks.append(chunk)
            start += len(order)
        self.step = max(1, round(1 / (info.rate * info.time_base)))
        following = self.sorted[1:] + [None]
        own = dict(zip(pts, durations))
        self.durations = {value: own[value] or (after - value if after is not None else self.step)
                          for value, after in zip(self.sorted, following)}

    def _order(self, path: Path) -> list[int]:
        with self.av.open(str(path)) as segment:
            return [p.pts for p in segment.demux(segment.streams.video[0]) if p.size]

    def packets(self, stream) -> Iterator[tuple[float, object]]:
        index = 0
        for path, chunk in zip(self.segments, self.chunks):
            with self.av.open(str(path)) as segment:
                packets = [p for p in segment.demux(segment.streams.video[0]) if p.size]
                ranks = {value: rank for rank, value in enumerate(sorted(p.pts for p in packets))}
                for packet in packets:
                    back = index - self.delay
                    packet.pts = chunk[ranks[packet.pts]]
                    packet.duration = self.durations[packet.pts]
                    packet.dts = self.sorted[back] if back >= 0 else self.sorted[0] + back * self.step
                    packet.time_base = self.info.time_base
                    packet.stream = stream
                    index += 1
                    yield _time(packet), packet


def _copied_packets(source, copies: dict) -> Iterator[tuple[float, object]]:
    if not copies:
        return
    for packet in source.demux(*[source.streams[i] for i in copies]):
        if packet.size == 0:
            continue
        packet.stream = copies[packet.stream_index]
        yield _time(packet), packet


def _time(packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float((stamp or 0) * packet.time_base)


def _encode_args(encoding: Encoding) -> dict:
    if encoding.matrix == RGB_MATRIX:
        return {}
    return {"dst_colorspace": {6: 5, 10: 9}.get(encoding.matrix, encoding.matrix),
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


def _cannot_copy(output: Path, stream, exc: Exception) -> OutputError:
    what = f"the {stream.type} stream ({stream.codec_context.name})" if stream is not None else "a stream"
    return OutputError(f"{what} of the input cannot be copied into '{output.suffix}' ({exc})", path=output,
                       hint="choose another container with -o, e.g. NAME.mkv, which takes most streams")

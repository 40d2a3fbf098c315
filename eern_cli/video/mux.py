"""The final mux: the finished chunk segments and every audio and subtitle stream of the input, into the output.

Video packets are copied from the segments and audio/subtitle packets from the input, untouched, interleaved
by time, into the output container (atomically), with the provenance record in the container's metadata.
"""

from __future__ import annotations

import heapq
import io
import threading
from collections.abc import Iterator
from pathlib import Path

from eern_cli.errors import OutputError
from eern_cli.images import atomic
from eern_cli.video import require_av
from eern_cli.video.encode import CONTAINERS, Encoding
from eern_cli.video.probe import VideoInfo


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
            # check_streams has made sure, before the model ran, that the container takes every stream
            copies = {index: out.add_stream_from_template(source.streams[index]) for index in info.copied}
            out.start_encoding()
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


def check_streams(output: Path, info: VideoInfo, encoding: Encoding, size: tuple[int, int]) -> None:
    """Refuse, before any model work, an output container that cannot hold the encoder or a copied stream."""
    av = require_av()
    muxer, _ = CONTAINERS[output.suffix.lower()]
    errors = (ValueError, av.error.FFmpegError)
    with av.open(str(info.path)) as source, av.open(io.BytesIO(), "w", format=muxer) as out:
        try:
            video = out.add_stream(encoding.encoder, rate=info.rate)
            video.width, video.height, video.pix_fmt = size[0], size[1], encoding.pix_fmt
        except errors as exc:
            raise OutputError(f"'{output.suffix}' cannot hold {encoding.encoder} video ({exc})", path=output,
                              hint="choose another --codec, or another container with -o, e.g. NAME.mkv") from exc
        for index in info.copied:
            try:
                out.add_stream_from_template(source.streams[index])
            except errors as exc:
                raise _cannot_copy(output, source.streams[index], exc) from exc
        try:
            out.start_encoding()
        except errors as exc:
            raise _cannot_copy(output, None, exc) from exc


def _time(packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float((stamp or 0) * packet.time_base)


def _time(packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float((stamp or 0) * packet.time_base)


def _cannot_copy(output: Path, stream, exc: Exception) -> OutputError:
    what = f"the {stream.type} stream ({stream.codec_context.name})" if stream is not None else "a stream"
    return OutputError(f"{what} of the input cannot be copied into '{output.suffix}' ({exc})", path=output,
                       hint="choose another container with -o, e.g. NAME.mkv, which takes most streams")

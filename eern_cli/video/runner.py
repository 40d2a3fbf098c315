"""Upscale one video: decoding, the model and encoding overlapped, chunk by chunk, resumable.

A decoder thread turns frames into RGB arrays ahead of the model; the calling thread runs the model (torch
uses its own threads inside); an encoder thread writes each chunk as a finished segment in the work folder
behind it. Bounded queues between them keep memory at a few frames. When every chunk is finished the segments
and the input's audio and subtitle streams are muxed into the output (atomically) and the work folder is
removed. Events (``file_start`` ..., ``chunk`` after every finished chunk) are emitted from the calling thread.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from eern_cli.batch.frames import upscale_frame
from eern_cli.batch.resample import target_size
from eern_cli.errors import InputVideoError, OutputError
from eern_cli.images import provenance
from eern_cli.images.decode import Frame
from eern_cli.video import encode, mux, probe, require_av
from eern_cli.video.chunks import Manifest, WorkFolder, chunk_frames
from eern_cli.weights.checkpoints import sha256_file

METADATA_KEY = "eern"
_QUEUE_FRAMES = 3  # frames waiting on each side of the model
_END = object()


@dataclass
class Outcome:
    """What happened: ``skipped`` (``reason``), ``plan`` (``reason`` is the action) or ``done`` (``event``)."""

    kind: str
    reason: str = ""
    event: dict | None = None
    model_seconds: float = 0.0


def read_record(path: str | Path) -> provenance.Provenance | None:
    """The provenance record in a video's container metadata, or None."""
    av = require_av()
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            text = {key.lower(): value for key, value in container.metadata.items()}.get(METADATA_KEY)
    except (OSError, ValueError, av.error.FFmpegError):
        return None
    return provenance.Provenance.from_json(text) if text else None


def settings(upscaler, options, extension: str) -> dict:
    return {"kind": "video", "weights": upscaler.weights.sha256, "scale": options.scale,
            "precision": upscaler.precision, **options.video.output_settings(extension)}


def upscale_video(job, upscaler, options, emit, base: dict) -> Outcome:
    """Upscale ``job.input`` to ``job.output``; raises ``EernError`` for a bad input or a failed write."""
    output: Path = job.output
    sha = sha256_file(job.input)
    digest = provenance.settings_digest(settings(upscaler, options, output.suffix))
    reason = _verdict(job, sha, digest, options.overwrite)
    if reason:
        return Outcome("skipped", reason)
    if options.dry_run:
        return Outcome("plan", "replace" if output.exists() else "write")
    info = probe.probe(job.input, job.source)
    size = target_size(info.width, info.height, options.scale)
    encoding = encode.resolve(options.video, output.suffix, info, size)
    mux.check_streams(output, info, encoding, size)
    per_chunk = chunk_frames(info.rate, options.video.chunk_seconds)
    estimate = info.declared_frames or (round(info.declared_end * float(info.rate)) if info.declared_end else 0)
    emit({"event": "file_start", **base, "width": info.width, "height": info.height, "frames": estimate or None,
          "notes": [], "codec": encoding.encoder, "pix_fmt": encoding.pix_fmt, "fps": float(info.rate)})
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder '{output.parent}'", path=output) from exc
    work = WorkFolder(output, Manifest(sha, digest, per_chunk))
    started = time.perf_counter()
    try:
        pipeline = _Pipeline(job, info, upscaler, options, encoding, size, work, per_chunk, estimate, emit, base)
        frames = pipeline.run()
        record = provenance.make(weights_sha256=upscaler.weights.sha256, scale=options.scale, tile=upscaler.tile,
                                 precision=upscaler.precision, device=str(upscaler.device), alpha="none",
                                 input_sha256=sha, settings=settings(upscaler, options, output.suffix))
        segments = work.segments(math.ceil(frames / per_chunk))
        mux.mux(output, segments, pipeline.pts, pipeline.durations, info, {METADATA_KEY: record.to_json()})
    except InputVideoError:
        work.remove()  # a bad input: nothing of it is worth keeping
        raise
    work.remove()
    event = {**base, "width": size[0], "height": size[1], "frames": frames, "notes": pipeline.notes,
             "model_seconds": round(pipeline.model_seconds, 3), "seconds": round(time.perf_counter() - started, 3)}
    return Outcome("done", event=event, model_seconds=pipeline.model_seconds)


def _verdict(job, sha: str, digest: str, overwrite: bool) -> str | None:
    output: Path = job.output
    if not output.exists():
        return None
    if output.is_dir():
        raise OutputError(f"cannot write '{output}': it is a folder", path=output, hint="choose another -o or --suffix")
    if overwrite:
        return None
    record = read_record(output)
    if record is None:
        return "exists (not made by eern); --overwrite replaces it"
    if record.input_sha256 == sha and record.settings == digest:
        WorkFolder(output, Manifest(sha, digest, 0)).remove()  # left by a run killed after its rename
        return "up to date"
    return None


class _Pipeline:
    def __init__(self, job, info, upscaler, options, encoding, size, work, per_chunk, estimate, emit, base) -> None:
        self.job, self.info, self.up, self.opts = job, info, upscaler, options
        self.encoding, self.size, self.work, self.per_chunk = encoding, size, work, per_chunk
        self.estimate, self.emit, self.base = estimate, emit, base
        self.abort = threading.Event()
        self.decoded: queue.Queue = queue.Queue(_QUEUE_FRAMES)
        self.upscaled: queue.Queue = queue.Queue(_QUEUE_FRAMES)
        self.finished: queue.Queue = queue.Queue()
        self.errors: list[BaseException] = []
        self.model_seconds, self.frames_done, self.notes = 0.0, 0, []
        self.pts: list[int] = []  # every frame's time stamp and duration (0: unknown), in decoding order
        self.durations: list[int] = []

    def run(self) -> int:
        """Every chunk finished in the work folder; returns the number of frames in the video."""
        first_chunk = self.work.open()
        skip = first_chunk * self.per_chunk
        if first_chunk:
            self.notes.append(f"resumed after {first_chunk} finished chunk{'s' * (first_chunk != 1)}")
        self.frames_done = skip
        self.started, self.resumed_at = time.perf_counter(), skip
        decoder = threading.Thread(target=self._guard, args=(self._decode, skip), name="eern-video-decode")
        encoder = threading.Thread(target=self._guard, args=(self._encode,), name="eern-video-encode")
        decoder.start()
        encoder.start()
        count = 0
        try:
            while True:
                item = self._get(self.decoded)
                if item is _END:
                    break
                index, pts, duration, rgb = item
                count = index + 1
                self.pts.append(pts)
                self.durations.append(duration)
                if rgb is None:
                    continue
                start = time.perf_counter()
                out = upscale_frame(self.up, Frame(rgb), scale=self.opts.scale).color
                self.model_seconds += time.perf_counter() - start
                self._put(self.upscaled, (index, pts, out))
                self._report()
            self._put(self.upscaled, _END)
            while encoder.is_alive():
                encoder.join(0.1)
                self._report()
            self._raise()
        except BaseException:
            self.abort.set()
            raise
        finally:
            decoder.join()
            encoder.join()
        self._report()
        return count

    # ------------------------------------------------------------------------------------------ threads
    def _guard(self, work, *args) -> None:
        try:
            work(*args)
        except BaseException as exc:  # handed to the calling thread, which raises it
            self.errors.append(exc)
            self.abort.set()

    def _decode(self, skip: int) -> None:
        for item in probe.frames(self.info, skip=skip):
            if not self._put(self.decoded, item):
                return
        self._put(self.decoded, _END)

    def _encode(self) -> None:
        pending = [self._get(self.upscaled)]

        def chunk(number: int):
            while pending[0] is not _END and pending[0][0] < (number + 1) * self.per_chunk:
                _, pts, out = pending[0]
                yield pts, out
                pending[0] = self._get(self.upscaled)

        while pending[0] is not _END:
            number = pending[0][0] // self.per_chunk
            count = encode.write_segment(self.work.segment(number), chunk(number), self.info, self.encoding,
                                         self.size, cancel=self.abort)
            self.finished.put((number, count))

    # ------------------------------------------------------------------------------------------ plumbing
    def _put(self, q: queue.Queue, item) -> bool:
        while not self.abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.abort.is_set():
                    self._raise()
                    raise _Aborted
                if threading.current_thread() is threading.main_thread():
                    self._report()

    def _raise(self) -> None:
        for exc in self.errors:
            if not isinstance(exc, _Aborted):
                raise exc

    def _report(self) -> None:
        """A ``chunk`` event for every chunk the encoder finished since the last call."""
        while True:
            try:
                number, count = self.finished.get_nowait()
            except queue.Empty:
                return
            self.frames_done = number * self.per_chunk + count
            elapsed = time.perf_counter() - self.started
            fps = (self.frames_done - self.resumed_at) / elapsed if elapsed > 0 else 0.0
            total = max(self.estimate, self.frames_done) if self.estimate else None
            eta = (total - self.frames_done) / fps if total and fps > 0 else None
            chunks = math.ceil(total / self.per_chunk) if total else None
            self.emit({"event": "chunk", **self.base, "chunk": number + 1, "chunks": chunks,
                       "frames_done": self.frames_done, "frames": total, "fps": round(fps, 3),
                       "eta_seconds": None if eta is None else round(eta, 1)})


class _Aborted(Exception):
    """A worker stops because the run was aborted elsewhere."""


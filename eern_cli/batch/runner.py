"""Run planned jobs: decode and encode in worker threads around the model, one bad file never stops the rest.

The main thread runs the model, one image at a time (torch uses its own threads inside), or small images of
one shape several at a time, as one batch (``batch/groups.py``). Decoding (read, hash, resume check, decode)
runs ahead in a small pool; encoding (and the atomic write) runs behind in another, so for a batch the model
rarely waits for I/O. All events are emitted from the main thread, as plain dicts:
``on_event({"event": "file_done", ...})`` (the CLI renders them as a progress bar, text lines or JSON lines).

Resume: an output that exists is skipped when its provenance says it was made from the same input bytes with
the same settings; made by eern from something else, it is redone; not made by eern (or BMP, which cannot
carry provenance), it is left alone unless ``overwrite``. Ctrl-C stops cleanly: writes in progress are
abandoned and their temporary files removed, finished outputs stay, and the summary says how far it got.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eern_cli import __version__
from eern_cli.batch.frames import upscale_frame
from eern_cli.batch.groups import Groups
from eern_cli.batch.planner import Job
from eern_cli.batch.resample import is_plain, target_size
from eern_cli.batch.resume import verdict
from eern_cli.errors import EernError, as_argument, render_hint
from eern_cli.images import atomic, formats, provenance
from eern_cli.images.decode import (
    DEFAULT_MAX_PIXELS,
    Decoded,
    Frame,
    read_file,
    read_image,
    readable_notes,
)
from eern_cli.images.encode import (
    EncodeOptions,
    Metadata,
    check_output,
    encode,
)
from eern_cli.protocols import BatchUpscaler
from eern_cli.video.encode import VideoOptions
from eern_cli.video.naming import VIDEO

Event = Callable[[dict], None]
# Upscaled results waiting for their encoder, beyond the first: bounds memory when outputs are huge.
MAX_PENDING_BYTES = 1 << 30


@dataclass(frozen=True)
class RunOptions:
    scale: float = 4.0
    alpha: str = "model"
    tta: bool = False  # the x8 self-ensemble (eern_cli.ensemble): 8x the time
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    dry_run: bool = False
    workers: int = 2  # decode threads and encode threads (each)
    debug: bool = False  # re-raise unexpected errors (a bug of ours) instead of failing the file
    # Remove temporaries of dead runs first. Off in cluster workers: pids of other nodes look dead here, so the
    # driver sweeps once, before any worker writes.
    sweep_temps: bool = True
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    # How a failure's hint writes a setting: as an argument (``scale=2``), or, from the CLI, as its flag.
    setting: Callable[[str, str | None], str] = as_argument
    video: VideoOptions = field(default_factory=VideoOptions)


@dataclass
class Summary:
    total: int = 0
    done: int = 0
    planned: int = 0  # --dry-run: would be written
    skipped: int = 0
    failed: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    model_seconds: float = 0.0
    decode_seconds: float = 0.0
    encode_seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class _Skip:
    reason: str


@dataclass
class _Plan:
    action: str  # write or replace
    notes: list[str]


@dataclass
class _Ready:
    """A decoded image, announced, waiting for the model."""

    job: Job
    base: dict
    decoded: Decoded
    sha: str
    fmt: str
    out_size: tuple[int, int]


@dataclass
class _Pending:
    """An output being encoded and written by a worker."""

    job: Job
    future: Future
    event: dict
    started: float
    nbytes: int


def run(jobs: list[Job], upscaler: BatchUpscaler, options: RunOptions, on_event: Event | None = None, *,
        stdin=None, stdout=None) -> Summary:
    """Process ``jobs`` with ``upscaler`` (an ``Upscaler``); never raises for a single file's problem.

    ``options.max_pixels`` is the decompression-bomb guard; Pillow's own, process-wide one also refuses
    images above 179 Mpx unless ``eern_cli.images.decode.configure_pillow()`` was called (the CLI does)."""
    if options.tta:
        from eern_cli.ensemble import SelfEnsemble

        upscaler = SelfEnsemble(upscaler)
    emit = on_event or (lambda e: None)
    stdin = stdin if stdin is not None else getattr(sys.stdin, "buffer", sys.stdin)
    stdout = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
    state = _Batch(jobs, upscaler, options, emit, stdin, stdout)
    return state.run()


class _Batch:
    def __init__(self, jobs: list[Job], upscaler: BatchUpscaler, options: RunOptions, emit: Event, stdin,
                 stdout) -> None:
        self.jobs, self.up, self.opts, self.emit = jobs, upscaler, options, emit
        self.stdin, self.stdout = stdin, stdout
        self.summary = Summary(total=len(jobs))
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.encodes: deque[_Pending] = deque()
        self.overlap: bool | None = None  # decided when the model first runs (torch is imported by then)

    # ------------------------------------------------------------------------------------------ settings
    def settings(self, fmt: str) -> dict:
        encode = EncodeOptions(**{**asdict(self.opts.encode), "format": fmt})
        # "tta" only when on: outputs made before the flag existed keep their digest and stay up to date.
        return {"weights": self.up.weights.sha256, "scale": self.opts.scale, "precision": self.up.precision,
                "alpha": self.opts.alpha, **({"tta": True} if self.opts.tta else {}), **encode.output_settings()}

    # ------------------------------------------------------------------------------------------ workers
    def decode(self, job: Job):
        start = time.perf_counter()
        try:
            data = self.stdin.read() if job.input is None else read_file(job.input, job.source)
            sha = hashlib.sha256(data).hexdigest()
            fmt = job.format
            if self.opts.dry_run or job.output is not None:
                reason = verdict(job, sha, provenance.settings_digest(self.settings(fmt)), self.opts.overwrite)
                if reason:
                    return _Skip(reason)
                if self.opts.dry_run:
                    action = "replace" if job.output is not None and job.output.exists() else "write"
                    return _Plan(action, readable_notes(data))
            decoded = read_image(data, job.source, max_pixels=self.opts.max_pixels)
            return decoded, sha
        finally:
            with self.lock:
                self.summary.decode_seconds += time.perf_counter() - start

    def write(self, job: Job, frames, meta: Metadata, enc: EncodeOptions) -> list[str]:
        start = time.perf_counter()
        try:
            if job.output is None:
                buffer = io.BytesIO()
                notes = encode(buffer, frames, meta, enc)
                self.stdout.write(buffer.getvalue())
                self.stdout.flush()
                return notes
            try:
                job.output.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise atomic.output_error(exc, job.output) from exc
            with atomic.atomic_open(job.output, cancel=self.cancel) as f:
                return encode(f, frames, meta, enc)
        finally:
            with self.lock:
                self.summary.encode_seconds += time.perf_counter() - start

    # ------------------------------------------------------------------------------------------ main loop
    def run(self) -> Summary:
        started = time.perf_counter()
        self.emit({"event": "start", "total": len(self.jobs), "version": __version__, "device": str(self.up.device),
                   "precision": self.up.precision, "tile": self.up.tile, "scale": self.opts.scale,
                   "weights_sha256": self.up.weights.sha256, "dry_run": self.opts.dry_run})
        if self.opts.sweep_temps and not self.opts.dry_run:
            sweep_output_temps(self.jobs)
        workers = max(1, self.opts.workers)
        decoder = ThreadPoolExecutor(workers, thread_name_prefix="eern-decode")
        encoder = ThreadPoolExecutor(workers, thread_name_prefix="eern-encode")
        ahead: deque[tuple[Job, Future | None]] = deque()
        queue = deque(j for j in self.jobs)

        def fill() -> None:
            while queue and len(ahead) < workers + 1:
                job = queue.popleft()
                skip = job.error or job.format == VIDEO  # a video decodes as it goes, in its own pipeline
                ahead.append((job, None if skip else decoder.submit(self.decode, job)))

        waiting: Groups[_Ready] = Groups()
        try:
            while queue or ahead:
                fill()
                job, future = ahead.popleft()
                if job.format == VIDEO and not job.error:
                    self.model_all(waiting.flush(), encoder, workers)  # a video takes long: what waits goes first
                ready = self.prepare(job, future)
                key = None if ready is None else self.group_key(ready.decoded)
                if ready is None:
                    groups = []
                elif key is None:
                    groups = [[ready], *waiting.seen()]
                else:
                    groups = waiting.add(key[:2], ready, key[2])
                self.model_all(groups, encoder, workers)
                self.drain(block=False)
            self.model_all(waiting.flush(), encoder, workers)
            self.drain(block=True)
        except KeyboardInterrupt:
            self.interrupt(ahead)
        finally:
            decoder.shutdown(wait=False, cancel_futures=True)
            encoder.shutdown(wait=True, cancel_futures=True)
            self.summary.seconds = time.perf_counter() - started
        self.emit({"event": "summary", **self.summary.to_dict()})
        return self.summary

    def prepare(self, job: Job, future: Future | None) -> _Ready | None:
        """A decoded image ready for the model; None when the job is done with here (a video, run in its own
        pipeline, or skipped, planned or failed, and reported)."""
        base = {"index": job.index, "input": job.source, "output": _shown(job.output)}
        try:
            if job.error:
                raise job.error
            if job.format == VIDEO:
                self.video(job, base)
                return None
            result = future.result()
            if isinstance(result, _Skip):
                self.summary.skipped += 1
                self.emit({"event": "file_skipped", **base, "reason": result.reason})
                return None
            if isinstance(result, _Plan):
                self.summary.planned += 1
                self.emit({"event": "plan", **base, "action": result.action, "notes": result.notes})
                return None
            decoded, sha = result
            read_as = formats.from_pil(decoded.format)
            fmt = job.format if job.format != "same" else read_as.name if read_as and read_as.writable else "png"
            out_size = target_size(*decoded.size, self.opts.scale)
            check_output(fmt, out_size, len(decoded.frames), job.source)
            return _Ready(job, base, decoded, sha, fmt, out_size)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.fail(job, exc)
            return None

    # ------------------------------------------------------------------------------------------ small images
    def group_key(self, decoded: Decoded) -> tuple | None:
        """(shape, dtype, how many) for an image that can share one forward with others of its shape and dtype
        (``Upscaler.upscale_arrays``): one opaque frame, upscaled x4 exactly, small enough that the upscaler
        batches it. None for every other image."""
        batch_size = getattr(self.up, "batch_size", None)
        frame = decoded.frames[0]
        if self.opts.tta or batch_size is None or len(decoded.frames) != 1 or frame.alpha is not None \
                or not is_plain(*decoded.size, self.opts.scale):
            return None
        size = batch_size(*frame.color.shape[:2])
        return (frame.color.shape, frame.color.dtype, size) if size > 1 else None

    def model_all(self, groups: list[list[_Ready]], encoder: ThreadPoolExecutor, workers: int) -> None:
        for group in groups:
            self.model(group, encoder, workers)

    def model(self, group: list[_Ready], encoder: ThreadPoolExecutor, workers: int) -> None:
        """Upscale ``group`` (one image, or several that share one forward) and queue each for encoding."""
        if self.overlap is None:
            self.overlap = self.overlaps()
        if not self.overlap:
            self.drain(block=True)  # the encoders' turn is over before the model's begins
        for ready in group:
            decoded = ready.decoded
            self.emit({"event": "file_start", **ready.base, "total": self.summary.total, "width": decoded.size[0],
                       "height": decoded.size[1], "frames": len(decoded.frames), "notes": decoded.notes})
        start = time.perf_counter()
        colors = self.batched(group) if len(group) > 1 else None
        if colors is not None:
            seconds = time.perf_counter() - start
            self.summary.model_seconds += seconds
            for ready, color in zip(group, colors, strict=True):
                self.emit({"event": "tile", "index": ready.job.index, "run": 1, "runs": 1, "done": 1, "tiles": 1})
                frames = [Frame(color, None, ready.decoded.frames[0].duration)]
                self.queue_encode(ready, frames, seconds / len(group), start, encoder, workers)
            return
        for ready in group:
            try:
                start = time.perf_counter()
                frames = [self.upscale(ready.job, frame) for frame in ready.decoded.frames]
                seconds = time.perf_counter() - start
                self.summary.model_seconds += seconds
                self.queue_encode(ready, frames, seconds, start, encoder, workers)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                self.fail(ready.job, exc)

    def overlaps(self) -> bool:
        """Whether encoding runs beside the model, or in turns with it (between its calls).

        In turns when the model runs on the CPU with a torch thread on every core: an encoder thread then takes
        a core from one of torch's threads, and the others wait for it at every step, so the model slows down
        by much more than the encoder's share (2-core Xeon, 120x80 images: see benchmarks/batch_overhead.py).
        Beside it on a GPU, or when torch leaves cores free (``--threads``)."""
        if getattr(self.up.device, "type", self.up.device) != "cpu":
            return True
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return torch.get_num_threads() < cores

    def batched(self, group: list[_Ready]) -> list | None:
        """The colour planes of ``group`` upscaled in one call; None when that failed: each file then runs
        again on its own, so that a failure is that file's alone."""
        try:
            return self.up.upscale_arrays([ready.decoded.frames[0].color for ready in group])
        except KeyboardInterrupt:
            raise
        except Exception:
            return None

    def queue_encode(self, ready: _Ready, frames: list[Frame], model_seconds: float, started: float,
                     encoder: ThreadPoolExecutor, workers: int) -> None:
        meta = self.metadata(ready.decoded, ready.sha, ready.fmt)
        enc = EncodeOptions(**{**asdict(self.opts.encode), "format": ready.fmt})
        nbytes = sum(f.color.nbytes + (0 if f.alpha is None else f.alpha.nbytes) for f in frames)
        while len(self.encodes) >= workers or (
                self.encodes and sum(p.nbytes for p in self.encodes) + nbytes > MAX_PENDING_BYTES):
            self.drain(block=True, one=True)  # back-pressure: bounded memory for results waiting to be written
        event = {**ready.base, "width": ready.out_size[0], "height": ready.out_size[1], "notes": ready.decoded.notes,
                 "model_seconds": round(model_seconds, 3)}
        future = encoder.submit(self.write, ready.job, frames, meta, enc)
        self.encodes.append(_Pending(ready.job, future, event, started, nbytes))

    def video(self, job: Job, base: dict) -> None:
        from eern_cli.video.runner import upscale_video

        outcome = upscale_video(job, self.up, self.opts, self.emit, base)
        self.summary.model_seconds += outcome.model_seconds
        if outcome.kind == "skipped":
            self.summary.skipped += 1
            self.emit({"event": "file_skipped", **base, "reason": outcome.reason})
        else:
            self.summary.done += 1
            self.emit({"event": "plan", **base, "action": outcome.reason} if outcome.kind == "plan"
                      else {"event": "file_done", **outcome.event})

    def upscale(self, job: Job, frame):
        def tick(run: int, runs: int, done: int, total: int) -> None:
            self.emit({"event": "tile", "index": job.index, "run": run + 1, "runs": runs, "done": done,
                       "tiles": total})
            self.drain(block=False)

        return upscale_frame(self.up, frame, scale=self.opts.scale, alpha_mode=self.opts.alpha, progress=tick)

    def metadata(self, decoded: Decoded, sha: str, fmt: str) -> Metadata:
        scale = self.opts.scale
        record = provenance.make(weights_sha256=self.up.weights.sha256, scale=scale, tile=self.up.tile,
                                 precision=self.up.precision, device=str(self.up.device), alpha=self.opts.alpha,
                                 input_sha256=sha, settings=self.settings(fmt), tta=self.opts.tta)
        dpi = None if decoded.dpi is None else (decoded.dpi[0] * scale, decoded.dpi[1] * scale)
        return Metadata(icc=decoded.icc, dpi=dpi, exif=decoded.exif, loop=decoded.loop, provenance=record)

    def drain(self, *, block: bool, one: bool = False) -> None:
        while self.encodes and (block or self.encodes[0].future.done()):
            pending = self.encodes.popleft()
            try:
                notes = pending.future.result()
                self.summary.done += 1
                event = pending.event
                self.emit({"event": "file_done", **event, "seconds": round(time.perf_counter() - pending.started, 3),
                           "notes": list(dict.fromkeys(event["notes"] + notes))})
            except atomic.Cancelled:
                pass
            except Exception as exc:
                self.fail(pending.job, exc)
            if one:
                return

    def fail(self, job: Job, exc: BaseException) -> None:
        record_failure(self.summary, self.emit, job, exc, self.opts.setting)
        if self.opts.debug and not isinstance(exc, EernError):
            raise exc

    def interrupt(self, ahead) -> None:
        """Ctrl-C: abandon pending work, let finished writes count, remove the temporary files of the rest."""
        self.cancel.set()
        self.summary.interrupted = True
        for _, future in ahead:
            if future is not None:
                future.cancel()
        while self.encodes:
            try:
                self.drain(block=True, one=True)
            except KeyboardInterrupt:
                continue


def record_failure(summary: Summary, emit: Event, job: Job, exc: BaseException,
                   setting: Callable[[str, str | None], str] = as_argument) -> None:
    """Count ``job`` as failed with ``exc`` and emit its ``file_failed`` event (a local or a cluster run)."""
    if isinstance(exc, EernError):
        message, hint = exc.message, exc.hint_template
    elif isinstance(exc, MemoryError):
        message, hint = f"out of memory upscaling '{job.source}'", "use a smaller {tile} or {scale}"
    else:
        message, hint = f"{type(exc).__name__}: {exc}", "re-run with {debug=True} and report it if it persists"
    hint = render_hint(hint, setting)
    summary.failed += 1
    summary.failures.append({"input": job.source, "error": message, "hint": hint})
    emit({"event": "file_failed", "index": job.index, "input": job.source, "output": _shown(job.output),
          "error": message, "hint": hint})


def sweep_output_temps(jobs: list[Job]) -> None:
    """Remove the temporaries that crashed or killed runs left in the output folders of ``jobs``."""
    for folder in {job.output.parent for job in jobs if job.output is not None and not job.error}:
        atomic.sweep_stale_temps(folder)


def _shown(path: Path | None) -> str:
    return "-" if path is None else str(path)

"""How ``eern upscale`` shows its events: a rich progress bar on a terminal, one plain line per file otherwise,
JSON lines with ``--events``; data (dry-run lists, JSON) on stdout, everything else on stderr."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("", style="progress.data.speed")
        unit = task.fields.get("unit", "img")
        text = f"{speed:.2f} {unit}/s" if speed >= 1 else f"{1 / speed:.1f} s/{unit}"
        return Text(text, style="progress.data.speed")


class Reporter:
    """A callable that receives batch events (dicts) and renders them."""

    def __init__(self, *, quiet: bool, events: bool, stream: TextIO, dry_run: bool) -> None:
        self.quiet, self.events, self.stream, self.dry_run = quiet, events, stream, dry_run
        self.console = Console(stderr=True, highlight=False)
        events_on_stderr = events and stream is sys.stderr
        self.fancy = self.console.is_terminal and not quiet and not events_on_stderr and not dry_run
        self.progress: Progress | None = None
        self.task = self.tiles = None

    # ----------------------------------------------------------------------------------------- events
    def __call__(self, event: dict) -> None:
        if self.events:
            self.stream.write(json.dumps(event) + "\n")
            self.stream.flush()
        handler = getattr(self, "_on_" + event["event"], None)
        if handler is not None:
            handler(event)

    def _line(self, text: str, *, error: bool = False) -> None:
        if self.quiet and not error:
            return
        if self.events and self.stream is sys.stderr and not error:
            return  # the JSON stream owns stderr
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def _on_ignored(self, e: dict) -> None:
        self._line(f"note: ignoring {e['input']} ({e['reason']})")

    def _on_plan(self, e: dict) -> None:
        if not self.events:
            print(f"{e['action']:<8} {e['input']} -> {e['output']}", file=self.stream, flush=True)

    def _on_file_start(self, e: dict) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=escape(_short(e["input"])))
            self.progress.reset(self.tiles, total=None, visible=False)

    def _on_tile(self, e: dict) -> None:
        if self.progress is not None and e["tiles"] > 1:
            label = f"tiles (pass {e['run']}/{e['runs']})" if e["runs"] > 1 else "tiles"
            self.progress.update(self.tiles, total=e["tiles"], completed=e["done"], visible=True, description=label)

    def _on_chunk(self, e: dict) -> None:
        """A finished chunk of a video: frames done, frames per second and the time left."""
        if self.progress is not None:
            self.progress.update(self.tiles, total=e["frames"], completed=e["frames_done"], visible=True,
                                 description=f"frames (chunk {e['chunk']}/{e['chunks'] or '?'})")
            return
        of = f"/{e['frames']}" if e["frames"] else ""
        eta = f", ETA {e['eta_seconds']:.0f} s" if e["eta_seconds"] is not None else ""
        self._line(f"  {e['input']}: chunk {e['chunk']}, {e['frames_done']}{of} frames, {e['fps']:.2f} fps{eta}")

    def _on_file_done(self, e: dict) -> None:
        notes = f"; {'; '.join(e['notes'])}" if e.get("notes") else ""
        self._line(f"[{e['index']}/{self.total}] {e['input']} -> {e['output']} ({e['width']}x{e['height']}, "
                   f"{e.get('seconds', 0):.1f} s{notes})")
        self._advance()

    def _on_file_skipped(self, e: dict) -> None:
        if self.dry_run and not self.events:
            print(f"{'skip':<8} {e['input']} -> {e['output']} ({e['reason']})", file=self.stream, flush=True)
        else:
            self._line(f"[{e['index']}/{self.total}] skipped {e['input']}: {e['reason']}")
        self._advance()

    def _on_file_failed(self, e: dict) -> None:
        hint = f". {e['hint']}" if e.get("hint") else ""
        if not (self.events and self.stream is sys.stderr):
            where = "" if e["input"] in e["error"] else f"{e['input']}: "
            self._line(f"eern: error: {where}{e['error']}{hint}", error=True)
        self._advance()

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
            self.progress.update(self.tiles, visible=False)

    # ----------------------------------------------------------------------------------------- lifetime
    total = 0

    @contextmanager
    def live(self, total: int):
        self.total = total
        if not self.fancy:
            yield
            return
        columns = (SpinnerColumn(), TextColumn("{task.description}", justify="left"), BarColumn(),
                   MofNCompleteColumn(), _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            self.progress = progress
            self.task = progress.add_task("starting", total=total)
            self.tiles = progress.add_task("tiles", total=None, visible=False, unit="tile")
            try:
                yield
            finally:
                progress.update(self.tiles, visible=False)
                progress.update(self.task, description="upscaled")
                self.progress = None

    def finish(self, summary, *, single: bool) -> None:
        """The closing lines: counts, time, and every failure with its reason."""
        if self.events and self.stream is sys.stderr:
            return
        s = summary
        if s.interrupted:
            self._line(f"Interrupted: {s.done} of {s.total} done, {s.failed} failed; re-run the same command to "
                       "continue.", error=True)
        elif self.dry_run:
            if not single:
                self._line(f"Dry run: {s.done} would be written, {s.skipped} skipped, {s.failed} failed")
        elif not (single and s.failed):
            images = f"{s.total} image{'s' * (s.total != 1)}"
            self._line(f"Done: {s.done} upscaled, {s.skipped} skipped, {s.failed} failed ({images} in "
                       f"{s.seconds:.1f} s; model {s.model_seconds:.1f} s, decode {s.decode_seconds:.1f} s, "
                       f"encode {s.encode_seconds:.1f} s)")
        if s.failures and not single:
            self._line("Failed:", error=True)
            for failure in s.failures:
                hint = f". {failure['hint']}" if failure.get("hint") else ""
                where = "" if failure["input"] in failure["error"] else f"{failure['input']}: "
                self._line(f"  {where}{failure['error']}{hint}", error=True)


def _short(path: str, width: int = 40) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]

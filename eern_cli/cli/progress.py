"""How ``eern upscale`` shows its events: a rich progress bar on a terminal, one plain line per file otherwise,
JSON lines with ``--events``; data (dry-run lists, JSON) on stdout, everything else on stderr.

The batch finishes files out of order (a file that fails to decode is known before an earlier file's
output is written), so each file's line is held until the lines of every earlier file are out: the lines
always come in input order, each with its ``[i/N]``.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, TextIO

from eern_cli.errors import sentence

# The events that end a file: exactly one per input.
FINAL = {"file_done": "written", "file_skipped": "skipped", "file_failed": "failed", "plan": "planned"}


def shown(path: str, *, output: bool = False) -> str:
    """A path as a person reads it: ``-`` is the standard stream."""
    if path == "-":
        return "standard output" if output else "standard input"
    return path


class Reporter:
    """A callable that receives batch events (dicts), renders them and remembers each file's outcome."""

    def __init__(self, *, quiet: bool, events: bool, stream: TextIO, dry_run: bool, plan_to_data: bool) -> None:
        self.quiet, self.events, self.stream, self.dry_run = quiet, events, stream, dry_run
        self.plan_to_data = plan_to_data  # the dry-run list is the data on stdout (not with --json/--events)
        self.events_on_stderr = events and stream is sys.stderr
        self.fancy = not quiet and not self.events_on_stderr and not dry_run and sys.stderr.isatty()
        self.progress: Any = None
        self.task = self.tiles = None
        self.total = 0
        self.files: list[dict] = []  # one entry per finished file, in input order (the --json "files")
        self._held: dict[int, tuple[dict, list[tuple[str, bool, bool]]]] = {}
        self._next = 1

    # ----------------------------------------------------------------------------------------- events
    def __call__(self, event: dict) -> None:
        if self.events:
            self.stream.write(json.dumps(event) + "\n")
            self.stream.flush()
        kind = event["event"]
        if kind in FINAL:
            self._hold(event)
        elif kind == "ignored":
            self._line(f"note: ignoring {event['input']} ({event['reason']})")
        elif kind == "file_start" and self.progress is not None:
            self.progress.update(self.task, description=_short(shown(event["input"])))
            self.progress.reset(self.tiles, total=None, visible=False)
        elif kind == "tile" and self.progress is not None and event["tiles"] > 1:
            label = f"tiles (pass {event['run']}/{event['runs']})" if event["runs"] > 1 else "tiles"
            self.progress.update(self.tiles, total=event["tiles"], completed=event["done"], visible=True,
                                 description=label)

    def _hold(self, event: dict) -> None:
        self._held[event["index"]] = (event, self._render(event))
        while self._next in self._held:
            self._release(self._next)
            self._next += 1

    def _release(self, index: int) -> None:
        event, lines = self._held.pop(index)
        self.files.append(_outcome(event))
        for text, error, data in lines:
            if data:
                print(text, file=self.stream, flush=True)
            else:
                self._line(text, error=error)
        if self.progress is not None:
            self.progress.advance(self.task)
            self.progress.update(self.tiles, visible=False)

    def _render(self, e: dict) -> list[tuple[str, bool, bool]]:
        """The lines for one finished file: (text, is an error, goes to the data stream)."""
        head = f"[{e['index']}/{self.total}]"
        source, target = shown(e["input"]), shown(e["output"], output=True)
        kind = e["event"]
        if kind == "file_failed":
            where = "" if e["input"] in e["error"] else f"{source}: "
            hint = f". {sentence(e['hint'])}" if e.get("hint") else ""
            return [(f"{head} eern: error: {where}{e['error']}{hint}", True, False)]
        if kind == "file_done":
            notes = f"; {'; '.join(e['notes'])}" if e.get("notes") else ""
            return [(f"{head} {source} -> {target} ({e['width']}x{e['height']}, {e.get('seconds', 0):.1f} s{notes})",
                     False, False)]
        if kind == "file_skipped":
            if self.plan_to_data:
                return [(f"{'skip':<8} {source} -> {target} ({e['reason']})", False, True)]
            return [(f"{head} skipped {source}: {e['reason']}", False, False)]
        notes = f" ({'; '.join(e['notes'])})" if e.get("notes") else ""
        if self.plan_to_data:
            return [(f"{e['action']:<8} {source} -> {target}{notes}", False, True)]
        return [(f"{head} would {e['action']} {source} -> {target}{notes}", False, False)]

    def _line(self, text: str, *, error: bool = False) -> None:
        if self.quiet and not error:
            return
        if self.events_on_stderr and not error:
            return  # the JSON stream owns stderr
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        self._line(f"note: {text}")

    # ----------------------------------------------------------------------------------------- lifetime
    @contextmanager
    def live(self, total: int):
        self.total = total
        try:
            if not self.fancy:
                yield
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (SpinnerColumn(), TextColumn("{task.description}", justify="left", markup=False), BarColumn(),
                       MofNCompleteColumn(), _rate_column(), TimeElapsedColumn(), TextColumn("ETA"),
                       TimeRemainingColumn())
            with Progress(*columns, console=Console(stderr=True, highlight=False), transient=False) as progress:
                self.progress = progress
                self.task = progress.add_task("starting", total=total)
                self.tiles = progress.add_task("tiles", total=None, visible=False, unit="tile")
                try:
                    yield
                finally:
                    progress.update(self.tiles, visible=False)
                    progress.update(self.task, description="upscaled")
                    self.progress = None
        finally:
            for index in sorted(self._held):  # interrupted: what finished, still in order
                self._release(index)

    def finish(self, summary, *, single: bool) -> None:
        """The closing lines: counts, time, and every failure with its reason."""
        if self.events_on_stderr:
            return
        s = summary
        if s.interrupted:
            self._line(f"Interrupted: {s.done} of {s.total} done, {s.failed} failed; re-run the same command to "
                       "continue.", error=True)
        elif self.dry_run:
            if not single:
                self._line(f"Dry run: {s.planned} would be written, {s.skipped} skipped, {s.failed} failed")
        elif not (single and s.failed):
            images = f"{s.total} image{'s' * (s.total != 1)}"
            self._line(f"Done: {s.done} upscaled, {s.skipped} skipped, {s.failed} failed ({images} in "
                       f"{s.seconds:.1f} s; model {s.model_seconds:.1f} s, decode {s.decode_seconds:.1f} s, "
                       f"encode {s.encode_seconds:.1f} s)")
        if s.failures and not single:
            self._line("Failed:", error=True)
            for failure in s.failures:
                hint = f". {sentence(failure['hint'])}" if failure.get("hint") else ""
                where = "" if failure["input"] in failure["error"] else f"{shown(failure['input'])}: "
                self._line(f"  {where}{failure['error']}{hint}", error=True)


def _outcome(e: dict) -> dict:
    """One file's entry in ``--json``'s ``files``."""
    entry = {"index": e["index"], "input": e["input"], "output": e["output"], "status": FINAL[e["event"]]}
    for key in ("action", "reason", "error", "hint", "width", "height", "seconds", "notes"):
        if key in e:
            entry[key] = e[key]
    return entry


def _rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            if not speed:
                return Text("", style="progress.data.speed")
            unit = task.fields.get("unit", "img")
            text = f"{speed:.2f} {unit}/s" if speed >= 1 else f"{1 / speed:.1f} s/{unit}"
            return Text(text, style="progress.data.speed")

    return RateColumn()


def _short(path: str, width: int = 40) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]

"""The Ray actor: one ``Upscaler``, and the local batch runner for the jobs the driver sends it.

Each job is read, decoded, checked for resume, upscaled, encoded and written atomically here, on the worker's
node, by ``eern_cli.batch.runner`` (the code of a local run), so images never pass through the driver or
Ray's object store: only job descriptions go out and events come back. This module does not import Ray; the
driver wraps the class with ``ray.remote``.
"""

from __future__ import annotations

import io
import os
import socket
import warnings
from dataclasses import replace

from eern_cli.batch import runner
from eern_cli.batch.planner import Job
from eern_cli.errors import ClusterError, EernError

# Events that only make sense inside one worker's run: the driver emits its own start and summary, and
# per-tile progress would arrive all at once, after the file.
_LOCAL_EVENTS = ("start", "summary", "tile")


class UpscaleWorker:
    """Holds the model for the actor's lifetime; ``run`` processes a few jobs with it."""

    def __init__(self, model: dict, options: runner.RunOptions, threads: int | None, cwd: str) -> None:
        import torch

        from eern_cli.engine.allocator import keep_freed_memory
        from eern_cli.images.decode import configure_pillow
        from eern_cli.upscaler import Upscaler

        self.error: EernError | None = None
        try:  # the jobs' relative paths are the driver's: the shared filesystem is mounted alike everywhere
            os.chdir(cwd)
        except OSError:
            self.error = ClusterError(f"the driver's working folder '{cwd}' is not on {socket.gethostname()}",
                                      hint="run eern from a folder on the filesystem that every node shares")
            return
        if threads:
            torch.set_num_threads(threads)
        warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")  # as the CLI: eern reports what matters
        self.options = replace(options, sweep_temps=False)  # the driver swept; other nodes' pids look dead here
        try:
            self.upscaler = Upscaler(**model)
        except EernError as exc:  # bad weights or device: returned by describe() and raised by the driver
            self.error = exc
            return
        # This process is eern's, as the CLI's is: the same process-wide settings (see eern_cli/cli/upscale.py).
        configure_pillow()
        if self.upscaler.device.type == "cpu":
            keep_freed_memory()

    def describe(self) -> dict:
        """Ready: what this worker runs with (or the error that stopped it from loading the model)."""
        import torch

        if self.error is not None:
            return {"error": self.error}
        up = self.upscaler
        return {"pid": os.getpid(), "host": socket.gethostname(), "device": str(up.device),
                "precision": up.precision, "tile": up.tile, "weights_sha256": up.weights.sha256,
                "threads": torch.get_num_threads()}

    def run(self, jobs: list[Job]) -> tuple[list[dict], runner.Summary]:
        """The runner's events for ``jobs`` (file started, done, failed, skipped) and its summary."""
        events: list[dict] = []
        summary = runner.run(jobs, self.upscaler, self.options, events.append, stdin=io.BytesIO(),
                             stdout=io.BytesIO())
        return [e for e in events if e["event"] not in _LOCAL_EVENTS], summary

"""The hidden work folder beside a video output: finished chunk segments, and what they were made from.

``.NAME.eern-video/`` holds ``manifest.json`` (the input's sha256, the settings digest and the frames per
chunk) and one ``chunk-NNNNNN.nut`` per finished chunk. Segments are written atomically, so a segment that
exists is complete; a run killed mid-chunk loses only that chunk. A re-run with the same input and settings
continues after the last finished chunk; anything else (another input, other settings) starts afresh. The
folder is removed once the output is in place.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from eern_cli.images import atomic

_SEGMENT = re.compile(r"^chunk-(\d{6})\.nut$")


@dataclass(frozen=True)
class Manifest:
    input_sha256: str
    settings: str
    chunk_frames: int


def chunk_frames(rate: Fraction, seconds: float) -> int:
    """Frames per chunk: ``seconds`` of video at ``rate``, at least one."""
    return max(1, math.ceil(float(rate) * seconds - 1e-9))


def work_folder(output: Path) -> Path:
    return output.with_name(f".{output.name}.eern-video")


class WorkFolder:
    def __init__(self, output: Path, manifest: Manifest) -> None:
        self.path = work_folder(output)
        self.manifest = manifest

    def open(self) -> int:
        """Prepare the folder; returns how many chunks are already finished (0 when starting afresh)."""
        if self._read_manifest() != self.manifest:
            self.remove()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if not (self.path / "manifest.json").exists():
                atomic.atomic_write(self.path / "manifest.json",
                                    lambda f: f.write(json.dumps(asdict(self.manifest)).encode()))
        except OSError as exc:
            raise atomic.output_error(exc, self.path) from exc
        atomic.sweep_stale_temps(self.path)
        return self.finished()

    def finished(self) -> int:
        """The number of consecutive finished chunks from the first."""
        try:
            names = {int(m.group(1)) for m in map(_SEGMENT.match, os.listdir(self.path)) if m}
        except OSError:
            return 0
        count = 0
        while count in names:
            count += 1
        return count

    def segment(self, chunk: int) -> Path:
        return self.path / f"chunk-{chunk:06d}.nut"

    def segments(self, count: int) -> list[Path]:
        return [self.segment(c) for c in range(count)]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _read_manifest(self) -> Manifest | None:
        try:
            data = json.loads((self.path / "manifest.json").read_text())
            return Manifest(**data)
        except (OSError, ValueError, TypeError):
            return None

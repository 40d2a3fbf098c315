"""Where a video's output goes: the same container as the input unless ``-o NAME.EXT`` chooses another.

``--format`` is for images; a video keeps its container (``clip.mp4`` -> ``clip_x4.mp4``, or into ``-o DIR``
with the same stem), and standard output cannot take a video (it is written in chunks, then muxed).
"""

from __future__ import annotations

from pathlib import Path

from eern_cli.errors import UsageError
from eern_cli.video import EXTENSIONS

VIDEO = "video"  # the planner's format for a video job


def video_output(path: Path, rel: Path, output: str | None, out_dir: Path | None, suffix: str) -> Path:
    """The output path of the video ``path`` (``rel``: its place under a folder input)."""
    if output == "-":
        raise UsageError(f"a video cannot be written to standard output ('{path}')",
                         hint="give an output file or folder with -o")
    if output is not None and out_dir is None:  # -o FILE
        target = Path(output)
        if target.suffix.lower() not in EXTENSIONS:
            raise UsageError(f"-o {output} is not a video container for '{path}'",
                             hint=f"use one of {', '.join(sorted(EXTENSIONS))}")
        return target
    folder = path.parent if out_dir is None else out_dir / rel.parent
    return folder / f"{rel.stem}{suffix}{path.suffix}"

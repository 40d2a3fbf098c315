"""Video: ``eern upscale clip.mp4`` decodes with PyAV (the optional extra ``eern[video]``), upscales every frame
with the same engine as images, encodes in chunks kept in a hidden work folder (so a killed run resumes), and
muxes the finished chunks with every audio and subtitle stream copied untouched.

Modules: ``probe`` (open, refuse bad inputs, decode to RGB), ``encode`` (codec choice, chunk segments, the final
mux), ``chunks`` (the work folder and what is finished), ``runner`` (decode, model and encode overlapped).
This module imports nothing heavy: the planner asks it which files are videos.
"""

from __future__ import annotations

import os

from eern_cli.errors import MissingExtraError

EXTENSIONS = frozenset({".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi"})


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is taken for a video (by its extension, as images are)."""
    return os.path.splitext(os.fspath(path))[1].lower() in EXTENSIONS


def require_av(what: str = "upscaling videos"):
    """The ``av`` module, or a one-line ``MissingExtraError`` saying what to install."""
    try:
        import av
    except ImportError as exc:
        raise MissingExtraError(f"{what} needs PyAV, which is not installed", extra="video", package="av") from exc
    return av

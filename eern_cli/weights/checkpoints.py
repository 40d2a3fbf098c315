"""The checkpoints eern knows, as data.

A checkpoint is identified by the sha256 of its bytes, not by its name or where it came from: the pin is what
lets eern refuse a tampered or truncated file *before* handing it to an unpickler, and what lets it tell a user
that an arbitrary ``--weights`` file is in fact the official one (and under which licence).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

_CHUNK = 1 << 20


@dataclass(frozen=True)
class HubLocation:
    """Where a known checkpoint is published on the Hugging Face Hub, pinned to a commit so it cannot move."""

    repo_id: str
    revision: str


@dataclass(frozen=True)
class KnownCheckpoint:
    """One pinned checkpoint: enough to verify it, credit it and say where the canonical copy lives."""

    name: str
    filename: str
    sha256: str
    size: int
    license: str
    source: str
    revision: str
    hub: HubLocation | None = None


OFFICIAL = KnownCheckpoint(
    name="official",
    filename="team25_EERN.pt",
    sha256="1416752a88a819beea4b2a179631e892c32a5dfc68ff6a5c1c12d2312af449c8",
    size=2_648_546,
    license="MIT",
    source=(
        "https://github.com/Amazingren/NTIRE2024_ESR/raw/"
        "6404fa48dde4a4adbf241a51debdc661aef20449/model_zoo/team25_EERN.pt"
    ),
    revision="6404fa48dde4a4adbf241a51debdc661aef20449",
    hub=None,  # not published on the Hub yet
)

KNOWN: tuple[KnownCheckpoint, ...] = (OFFICIAL,)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed so a large file does not have to fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def by_sha256(sha256: str, known: Iterable[KnownCheckpoint] = KNOWN) -> KnownCheckpoint | None:
    """The known checkpoint with these bytes, whatever the file is called (case-insensitive hex)."""
    wanted = sha256.strip().lower()
    return next((c for c in known if c.sha256 == wanted), None)


def for_hub(
    repo_id: str, filename: str, revision: str | None, known: Iterable[KnownCheckpoint] = KNOWN
) -> KnownCheckpoint | None:
    """The checkpoint pinned for this hub file, if any.

    An unpinned request (``revision=None``, the default branch) matches too: the caller then downloads the
    pinned commit rather than whatever the branch points to today. An explicit other revision does not match,
    since that file may legitimately differ.
    """
    for c in known:
        if c.hub is None or c.hub.repo_id != repo_id or c.filename != filename:
            continue
        if revision is None or revision == c.hub.revision:
            return c
    return None

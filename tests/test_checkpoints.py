"""The pins in eern_cli.weights.checkpoints describe the file actually shipped, and the lookups find it."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from eern_cli.weights import checkpoints
from eern_cli.weights.checkpoints import KNOWN, OFFICIAL, HubLocation, KnownCheckpoint

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "weights" / OFFICIAL.filename


def test_official_record_matches_the_shipped_file() -> None:
    data = SHIPPED.read_bytes()
    assert len(data) == OFFICIAL.size == 2_648_546
    assert hashlib.sha256(data).hexdigest() == OFFICIAL.sha256
    assert checkpoints.sha256_file(SHIPPED) == OFFICIAL.sha256


def test_official_record_provenance() -> None:
    assert OFFICIAL.license == "MIT"
    assert len(OFFICIAL.revision) == 40
    assert OFFICIAL.revision in OFFICIAL.source
    assert OFFICIAL.source.endswith("/model_zoo/team25_EERN.pt")
    assert OFFICIAL.hub is None
    assert OFFICIAL in KNOWN


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        OFFICIAL.sha256 = "0" * 64  # type: ignore[misc]


def test_lookup_by_sha256() -> None:
    assert checkpoints.by_sha256(OFFICIAL.sha256) is OFFICIAL
    assert checkpoints.by_sha256(OFFICIAL.sha256.upper()) is OFFICIAL
    assert checkpoints.by_sha256("0" * 64) is None


def test_lookup_for_hub() -> None:
    assert checkpoints.for_hub("any/repo", OFFICIAL.filename, None) is None  # not published yet
    commit = "a" * 40
    published = dataclasses.replace(OFFICIAL, hub=HubLocation("eern/eern-x4", commit))
    known: tuple[KnownCheckpoint, ...] = (published,)
    assert checkpoints.for_hub("eern/eern-x4", OFFICIAL.filename, None, known) is published
    assert checkpoints.for_hub("eern/eern-x4", OFFICIAL.filename, commit, known) is published
    assert checkpoints.for_hub("eern/eern-x4", OFFICIAL.filename, "b" * 40, known) is None
    assert checkpoints.for_hub("eern/eern-x4", "other.pt", None, known) is None
    assert checkpoints.for_hub("someone/else", OFFICIAL.filename, None, known) is None

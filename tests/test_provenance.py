"""The record of what made an output (``images/provenance.py``): in every format that has room, read back
from the header alone, and never mistaken for someone else's metadata."""

from __future__ import annotations

import io

import pytest
from helpers_images import RECORD, encode_to_bytes, smooth
from PIL import Image

from eern_cli.images import provenance
from eern_cli.images.decode import Frame


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff", "gif"])
def test_every_format_with_room_carries_the_record(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(encode_to_bytes([Frame(smooth())], fmt))
    assert provenance.read(path) == RECORD


def test_bmp_and_foreign_files_have_none(tmp_path):
    bmp = tmp_path / "out.bmp"
    bmp.write_bytes(encode_to_bytes([Frame(smooth())], "bmp"))
    assert provenance.read(bmp) is None
    plain = tmp_path / "plain.png"
    Image.fromarray(smooth()).save(plain)
    assert provenance.read(plain) is None
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert provenance.read(tmp_path / "junk.png") is None
    assert provenance.read(tmp_path / "missing.png") is None


def test_json_that_is_not_ours_is_no_record():
    assert provenance.Provenance.from_json(RECORD.to_json()) == RECORD
    assert provenance.Provenance.from_json('{"tool": "other", "version": "1"}') is None
    assert provenance.Provenance.from_json("[1, 2]") is None
    assert provenance.Provenance.from_json("{not json") is None
    assert provenance.from_xmp(b"<x:xmpmeta>no eern here</x:xmpmeta>") is None
    assert provenance.from_xmp(provenance.xmp_packet(RECORD)) == RECORD


def test_the_digest_follows_every_setting_and_only_them():
    a = provenance.settings_digest({"scale": 4.0, "format": "png"})
    assert a == provenance.settings_digest({"format": "png", "scale": 4.0})  # key order does not matter
    assert a != provenance.settings_digest({"scale": 2.0, "format": "png"})


def test_looks_complete_catches_files_cut_short(tmp_path):
    for fmt in ("png", "jpg", "webp", "gif"):
        data = encode_to_bytes([Frame(smooth())], fmt)
        whole, cut = tmp_path / f"whole.{fmt}", tmp_path / f"cut.{fmt}"
        whole.write_bytes(data)
        cut.write_bytes(data[: len(data) - 20])
        assert provenance.looks_complete(whole) and not provenance.looks_complete(cut), fmt
    assert not provenance.looks_complete(tmp_path / "missing.png")
    assert Image.open(io.BytesIO(encode_to_bytes([Frame(smooth())], "png"))).info[provenance.PNG_KEY]

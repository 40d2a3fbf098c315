"""The format table: one row per format, read by the planner, decoder, encoder and CLI alike."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from helpers_images import FAST, run_eern, save, smooth
from PIL import Image

from eern_cli.errors import MissingExtraError
from eern_cli.images import formats, plugins
from eern_cli.images.decode import Frame, read_image
from eern_cli.images.encode import EncodeOptions, Metadata, encode


def test_every_row_is_consistent() -> None:
    names = [f.name for f in formats.TABLE]
    assert len(names) == len(set(names))
    extensions = [e for f in formats.TABLE for e in f.extensions]
    assert len(extensions) == len(set(extensions)) and all(e == e.lower() and e.startswith(".") for e in extensions)
    assert formats.output_names() == ("png", "jpg", "webp", "tiff", "bmp", "gif", "heic", "avif")
    assert formats.get("JPEG") is formats.get("jpg") and formats.get("tif").name == "tiff"
    assert formats.from_extension(".JFIF").name == "jpg" and formats.from_extension(".txt") is None
    assert formats.from_pil("GIF").name == "gif" and formats.from_pil("PCX") is None
    assert formats.readable_labels() == "PNG, JPEG, WebP, TIFF, BMP, GIF, HEIC and AVIF"
    assert formats.pil_names() == ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")  # plugin formats: by content


@pytest.mark.parametrize("row", formats.TABLE, ids=lambda r: r.name)
def test_every_writable_format_round_trips(row: formats.ImageFormat) -> None:
    """Each row's claims hold: what it writes, Pillow reads back as that format, at that size and bit depth."""
    if row.plugin and not plugins.installed(row.pil):
        pytest.skip(f"{row.label} needs eern[{row.extra}]")
    alpha = np.zeros((8, 10), np.uint8)
    alpha[:, 5:] = 255  # on or off: GIF's transparency is one palette entry
    rgba = np.dstack([smooth(10, 8), alpha])
    buf = io.BytesIO()
    encode(buf, [Frame(rgba[..., :3], rgba[..., 3])], Metadata(None, (72.0, 72.0), None, None, None),
           EncodeOptions(format=row.name))
    decoded = read_image(buf.getvalue(), f"x{row.extensions[0]}")
    assert formats.from_pil(decoded.format) is row
    assert decoded.size == (10, 8)
    assert decoded.has_alpha == row.alpha
    assert (decoded.dpi is not None) == row.dpi


@pytest.fixture
def without_heif_plugin(monkeypatch):
    """pillow-heif as if not installed (its import fails), for this test only."""
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    plugins.load.cache_clear()
    yield
    plugins.load.cache_clear()


def test_a_plugin_row_that_is_not_installed_says_what_to_install(without_heif_plugin) -> None:
    with pytest.raises(MissingExtraError) as info:
        formats.load_plugin(formats.get("heic"))
    assert isinstance(info.value, ImportError) and info.value.extra == "formats"
    assert "pip install 'eern[formats]'" in str(info.value)


def test_a_file_of_a_plugin_format_says_what_to_install(without_heif_plugin) -> None:
    """A plugin format's extension is scanned for, and reading it without the extra says what to install."""
    assert ".heic" in formats.input_extensions() and "heic" in formats.output_names()
    with pytest.raises(MissingExtraError) as info:
        read_image(b"\0\0\0\x18ftypheic", "photo.heic")
    assert info.value.path == "photo.heic" and "eern[formats]" in str(info.value)


def test_gif_is_a_full_output_format(tmp_path) -> None:
    """``-f gif`` was refused by the CLI while ``-o x.gif`` worked (bug: four copies of the table)."""
    src = save(tmp_path / "a.png", smooth(12, 10))
    result = run_eern(str(src), "-f", "gif", *FAST)
    assert result.returncode == 0, result.stderr.decode()
    with Image.open(tmp_path / "a_x4.gif") as out:
        assert out.format == "GIF" and out.size == (48, 40)

"""eern's PNG writer (``images/png_writer.py``): every sample and chunk read back by Pillow, at every setting."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from helpers_images import SRGB, smooth
from PIL import Image

from eern_cli.images.png_writer import paeth_filtered, write_png

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def written(array: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    write_png(buf, array, **options)
    return buf.getvalue()


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("level", [None, 0, 1, 9])
def test_8_bit_pngs_read_back_exactly(channels: int, level: int | None) -> None:
    # Noise as well as smooth ramps: every Paeth branch and wrap-around of the filtered bytes is taken.
    rng = np.random.default_rng(channels)
    noise = rng.integers(0, 256, (70, 45, channels), np.uint8)
    array = np.concatenate([smooth(45, 70, channels=channels).reshape(70, 45, channels), noise])
    array = array[..., 0] if channels == 1 else array
    image = Image.open(io.BytesIO(written(array, compress_level=level)))
    assert image.mode == MODES[channels] and np.array_equal(np.array(image), array)


def test_16_bit_grey_reads_back_exactly() -> None:
    array = smooth(33, 20, channels=1, dtype=np.uint16).reshape(20, 33) | 1
    image = Image.open(io.BytesIO(written(array)))
    assert image.mode == "I;16" and np.array_equal(np.array(image), array)


def test_metadata_chunks_are_read_by_pillow() -> None:
    exif = Image.Exif()
    exif[0x010F] = "eern test camera"
    data = written(smooth(16, 16), icc=SRGB, dpi=(300, 300), exif=exif.tobytes(), texts={"eern": '{"a": "é"}'})
    image = Image.open(io.BytesIO(data))
    assert image.info["icc_profile"] == SRGB and image.info["eern"] == '{"a": "é"}'
    assert [round(d) for d in image.info["dpi"]] == [300, 300] and image.getexif()[0x010F] == "eern test camera"


@pytest.mark.parametrize("name", ["baby", "bird", "butterfly", "head", "woman"])
def test_the_default_compresses_photos_x4_as_well_as_zlib_level_6(shared_data: Path, name: str) -> None:
    """An x4 enlargement (bicubic here, eern's own in the README's table) of each Set5 image: the fast default
    is within 5 % of level 6's size (measured 0.96-1.04x). Synthetic, perfectly smooth gradients are its weak case
    (the run-length strategy finds no runs in them); photos are what it is for."""
    small = Image.open(shared_data / "Set5" / "LR_bicubic_x4" / f"{name}.png").convert("RGB")
    array = np.array(small.resize((4 * small.width, 4 * small.height), Image.BICUBIC))
    default, level6 = len(written(array)), len(written(array, compress_level=6))
    assert default <= 1.05 * level6


def test_paeth_filter_matches_the_png_definition() -> None:
    rng = np.random.default_rng(0)
    rows, prev, bpp = rng.integers(0, 256, (5, 12), np.uint8), rng.integers(0, 256, 12, np.uint8), 3
    got = np.frombuffer(paeth_filtered(rows, prev, bpp), np.uint8).reshape(5, 13)
    assert (got[:, 0] == 4).all()
    for r in range(5):
        above = prev if r == 0 else rows[r - 1]
        for i in range(12):
            a = int(rows[r, i - bpp]) if i >= bpp else 0
            b = int(above[i])
            c = int(above[i - bpp]) if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            assert got[r, 1 + i] == (int(rows[r, i]) - predictor) % 256


def test_refuses_samples_a_png_cannot_hold() -> None:
    with pytest.raises(TypeError, match="float32"):
        written(np.zeros((4, 4, 3), np.float32))

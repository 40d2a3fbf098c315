"""16-bit PNG and TIFF (``images/bit16.py``, ``images/png_writer.py``): every bit read, and written back through
the encoder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers_images import RECORD, SRGB, encode_to_bytes, smooth
from PIL import Image

from eern_cli.images import bit16, png_writer, provenance
from eern_cli.images.decode import Frame, read_image


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_keeps_every_bit(channels):
    full = smooth(channels=channels, dtype=np.uint16) if channels != 2 else np.dstack(
        [smooth(channels=1, dtype=np.uint16), smooth(channels=1, dtype=np.uint16, seed=3)])
    full = full | 1  # odd values: the low byte matters
    buf = io.BytesIO()
    png_writer.write_png(buf, full)
    d = read_image(buf.getvalue(), "deep.png")
    assert d.bits == 16
    frame = d.frames[0]
    got = frame.color if frame.alpha is None else np.dstack([frame.color, frame.alpha])
    assert np.array_equal(got.reshape(full.shape), full)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_tiff_keeps_every_bit(channels):
    full = smooth(channels=channels, dtype=np.uint16) | 1
    buf = io.BytesIO()
    bit16.write_tiff16(buf, [full])
    d = read_image(buf.getvalue(), "deep.tif")
    frame = d.frames[0]
    got = frame.color if frame.alpha is None else np.dstack([frame.color, frame.alpha])
    assert d.bits == 16 and np.array_equal(got.reshape(full.shape), full)


@pytest.mark.parametrize("fmt,channels", [("png", 3), ("png", 4), ("png", 2), ("png", 1), ("tiff", 3), ("tiff", 1)])
def test_16_bit_outputs_round_trip(fmt, channels):
    color = smooth(channels=1 if channels <= 2 else 3, dtype=np.uint16) | 1
    alpha = smooth(channels=1, dtype=np.uint16, seed=5) if channels in (2, 4) else None
    data = encode_to_bytes([Frame(color, alpha)], fmt, icc=SRGB)
    d = read_image(data, "out." + fmt)
    assert d.bits == 16 and np.array_equal(d.frames[0].color, color)
    if alpha is not None:
        assert np.array_equal(d.frames[0].alpha, alpha)
    assert d.icc == SRGB
    assert provenance.from_image(Image.open(io.BytesIO(data))) == RECORD

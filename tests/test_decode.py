"""Decoding every image kind (``images/decode.py``): modes, orientation, metadata, limits and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers_images import SRGB, disk_rgba, encode_to_bytes, encoded, exif_with_thumbnail, smooth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from eern_cli.errors import InputImageError
from eern_cli.images.decode import configure_pillow, read_image

# ----------------------------------------------------------------------------------------------- modes


def test_rgb_and_grey_keep_their_kind():
    rgb = smooth()
    d = read_image(encoded(rgb), "a.png")
    assert d.format == "PNG" and not d.grey and d.bits == 8 and not d.has_alpha
    assert np.array_equal(d.frames[0].color, rgb)
    grey = smooth(channels=1)
    d = read_image(encoded(grey), "g.png")
    assert d.grey and np.array_equal(d.frames[0].color, grey)


def test_bilevel_becomes_grey():
    im = Image.fromarray(smooth(channels=1)).convert("1")
    d = read_image(encoded(im), "b.png")
    assert d.grey and set(np.unique(d.frames[0].color)) <= {0, 255}


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_split_off(mode):
    rgba = disk_rgba()
    im = Image.fromarray(rgba, "RGBA").convert(mode)
    d = read_image(encoded(im), "t.png")
    frame = d.frames[0]
    assert frame.alpha is not None and np.array_equal(frame.alpha, rgba[..., 3])
    assert frame.color.ndim == (3 if mode == "RGBA" else 2)


def test_opaque_alpha_is_dropped():
    rgba = np.dstack([smooth(), np.full((20, 24), 255, np.uint8)])
    assert read_image(encoded(rgba), "o.png").frames[0].alpha is None


def test_palette_with_and_without_transparency():
    rgb = smooth()
    p = Image.fromarray(rgb).quantize(16)
    d = read_image(encoded(p), "p.png")
    assert d.frames[0].color.shape == (20, 24, 3) and d.frames[0].alpha is None
    assert np.array_equal(d.frames[0].color, np.asarray(p.convert("RGB")))
    assert any("palette" in n for n in d.notes)
    p.info["transparency"] = 0
    d = read_image(encoded(p, transparency=0), "pt.png")
    assert d.frames[0].alpha is not None and (d.frames[0].alpha == 0).any()


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.fromarray(smooth()).convert("CMYK")
    d = read_image(encoded(cmyk, "JPEG", quality=95), "c.jpg")
    assert d.frames[0].color.shape == (20, 24, 3)
    assert np.abs(d.frames[0].color.astype(int) - smooth().astype(int)).mean() < 12
    assert any("CMYK" in n for n in d.notes) and d.icc is None


def test_float_images_are_refused_clearly():
    im = Image.fromarray(np.zeros((8, 8), np.float32), "F")
    with pytest.raises(InputImageError, match="f.tif.*mode F"):
        read_image(encoded(im, "TIFF"), "f.tif")


# ----------------------------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(orientation):
    rgb = smooth(24, 20)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(rgb, "PNG", exif=exif)
    d = read_image(data, "o.png")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert np.array_equal(d.frames[0].color, expected)
    kept = Image.Exif()
    kept.load(d.exif)
    assert kept[0x0112] == 1


def test_exif_thumbnail_dropped_and_tags_kept():
    thumb = encoded(smooth(8, 6), "JPEG", comment=b"THUMBMARK")
    data = encoded(smooth(), "JPEG", exif=exif_with_thumbnail(6, thumb))
    d = read_image(data, "cam.jpg")
    assert d.size == (20, 24) and b"THUMBMARK" not in d.exif
    out = encode_to_bytes(d.frames, "jpg", exif=d.exif)
    exif = Image.open(io.BytesIO(out)).getexif()
    assert exif[0x0112] == 1 and exif[0x010F] == "TestCam" and b"THUMBMARK" not in out


def test_icc_and_dpi_are_read():
    d = read_image(encoded(smooth(), "PNG", icc_profile=SRGB, dpi=(300, 300)), "p.png")
    assert d.icc == SRGB and d.dpi == pytest.approx((300, 300), abs=0.1)


def test_no_dpi_in_means_none_out():
    """A JPEG with EXIF but no resolution was read as 72 DPI (Pillow's guess) and written as 288 (bug)."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    assert read_image(encoded(smooth(), "JPEG", exif=exif.tobytes()), "e.jpg").dpi is None
    assert read_image(encoded(smooth(), "JPEG"), "j.jpg").dpi is None
    assert read_image(encoded(smooth(), "PNG"), "p.png").dpi is None
    exif[0x011A], exif[0x011B], exif[0x0128] = 240.0, 240.0, 2  # a resolution in the EXIF counts
    assert read_image(encoded(smooth(), "JPEG", exif=exif.tobytes()), "r.jpg").dpi == pytest.approx((240, 240))
    assert read_image(encoded(smooth(), "JPEG", dpi=(300, 300)), "d.jpg").dpi == pytest.approx((300, 300))


def test_multi_frame_input_is_read_frame_by_frame():
    ims = [Image.fromarray(smooth(seed=i)) for i in range(3)]
    buf = io.BytesIO()
    ims[0].save(buf, "GIF", save_all=True, append_images=ims[1:], duration=50, loop=0)
    d = read_image(buf.getvalue(), "a.gif")
    assert len(d.frames) == 3 and d.loop == 0 and d.frames[1].duration == 50


# ----------------------------------------------------------------------------------------------- bad input


def test_bomb_guard_names_file_and_limit():
    with pytest.raises(InputImageError, match=r"big\.png.*100x100.*limit of 0\.0 Mpx.*max_pixels=N"):
        read_image(encoded(np.zeros((100, 100), np.uint8)), "big.png", max_pixels=64 * 64)


def test_pillow_global_limit_does_not_block_a_raised_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    configure_pillow()
    assert Image.MAX_IMAGE_PIXELS is None
    assert read_image(encoded(smooth()), "a.png", max_pixels=10**6).size == (24, 20)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_name_the_file(fmt):
    data = encoded(smooth(64, 64), fmt)
    with pytest.raises(InputImageError, match="cut.img"):
        read_image(data[: len(data) // 2], "cut.img")


def test_not_an_image_and_empty():
    with pytest.raises(InputImageError, match="notes.png.*not an image"):
        read_image(b"hello, this is text", "notes.png")
    with pytest.raises(InputImageError, match="empty"):
        read_image(b"", "zero.png")


_PNG = encoded(smooth(16, 16))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400),
                 st.tuples(st.integers(0, len(_PNG) - 1), st.binary(min_size=1, max_size=8)).map(
                     lambda t: _PNG[: t[0]] + t[1] + _PNG[t[0] + len(t[1]):])))
def test_fuzz_only_decodes_or_raises_input_image_error(data):
    try:
        decoded = read_image(data, "fuzz.png", max_pixels=10**6)
    except InputImageError:
        return
    assert decoded.frames and decoded.frames[0].color.dtype in (np.uint8, np.uint16)

"""Decoding every image kind (imageio, bit16) and encoding outputs with their metadata (encode, provenance)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers_images import disk_rgba, encoded, exif_with_thumbnail, smooth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps

from eern_cli.errors import InputImageError, OutputError
from eern_cli.images import bit16, provenance
from eern_cli.images.decode import Frame, configure_pillow, read_image
from eern_cli.images.encode import EncodeOptions, Metadata, check_output, encode

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
RECORD = provenance.make(weights_sha256="ab" * 32, scale=4.0, tile=256, precision="fp32", device="cpu",
                         alpha="model", input_sha256="cd" * 32, settings={"format": "png"})


def _meta(**kw) -> Metadata:
    return Metadata(**{"icc": None, "dpi": None, "exif": None, "loop": None, "provenance": RECORD, **kw})


def _write(frames, fmt: str, **meta) -> bytes:
    buf = io.BytesIO()
    encode(buf, frames, _meta(**meta), EncodeOptions(format=fmt))
    return buf.getvalue()


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


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_keeps_every_bit(channels):
    full = smooth(channels=channels, dtype=np.uint16) if channels != 2 else np.dstack(
        [smooth(channels=1, dtype=np.uint16), smooth(channels=1, dtype=np.uint16, seed=3)])
    full = full | 1  # odd values: the low byte matters
    buf = io.BytesIO()
    bit16.write_png16(buf, full)
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
    out = _write(d.frames, "jpg", exif=d.exif)
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


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff"])
def test_outputs_carry_icc_dpi_and_provenance(fmt):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    data = _write([Frame(smooth())], fmt, icc=SRGB, dpi=(288.0, 288.0), exif=exif.tobytes())
    im = Image.open(io.BytesIO(data))
    assert im.info.get("icc_profile") == SRGB
    assert provenance.from_image(im) == RECORD
    if fmt != "webp":  # WebP has no resolution field
        assert im.info["dpi"] == pytest.approx((288, 288), abs=0.1)
    assert im.getexif().get(0x010F) == "TestCam"


def test_bmp_and_gif_outputs():
    Image.open(io.BytesIO(_write([Frame(smooth())], "bmp"))).load()
    gif = Image.open(io.BytesIO(_write([Frame(smooth())], "gif")))
    assert provenance.from_image(gif) == RECORD


@pytest.mark.parametrize("fmt,channels", [("png", 3), ("png", 4), ("png", 2), ("png", 1), ("tiff", 3), ("tiff", 1)])
def test_16_bit_outputs_round_trip(fmt, channels):
    color = smooth(channels=1 if channels <= 2 else 3, dtype=np.uint16) | 1
    alpha = smooth(channels=1, dtype=np.uint16, seed=5) if channels in (2, 4) else None
    data = _write([Frame(color, alpha)], fmt, icc=SRGB)
    d = read_image(data, "out." + fmt)
    assert d.bits == 16 and np.array_equal(d.frames[0].color, color)
    if alpha is not None:
        assert np.array_equal(d.frames[0].alpha, alpha)
    assert d.icc == SRGB
    assert provenance.from_image(Image.open(io.BytesIO(data))) == RECORD


def test_16_bit_to_8_bit_formats_is_noted():
    buf = io.BytesIO()
    notes = encode(buf, [Frame(smooth(dtype=np.uint16))], _meta(), EncodeOptions(format="jpg"))
    assert any("8-bit" in n for n in notes)


def test_jpeg_flattens_alpha_onto_white():
    rgba = disk_rgba()
    buf = io.BytesIO()
    notes = encode(buf, [Frame(rgba[..., :3], rgba[..., 3])], _meta(), EncodeOptions(format="jpg", quality=95))
    out = np.asarray(Image.open(buf))
    assert out[0, 0].min() > 240 and any("white" in n for n in notes)


def test_lossy_controls_change_the_file():
    frame = [Frame(smooth(64, 64))]

    def size(**kw):
        buf = io.BytesIO()
        encode(buf, frame, _meta(), EncodeOptions(**kw))
        return len(buf.getvalue()), buf.getvalue()

    assert size(format="jpg", quality=30)[0] < size(format="jpg", quality=95)[0]
    assert size(format="jpg", subsampling="4:2:0")[0] < size(format="jpg", subsampling="4:4:4")[0]
    _, lossless = size(format="webp", lossless=True)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(lossless)).convert("RGB")), frame[0].color)
    assert size(format="png", compress_level=0)[0] > size(format="png", compress_level=9)[0]


@pytest.mark.parametrize("fmt", ["gif", "webp", "tiff", "png"])
def test_multi_frame_round_trip(fmt):
    frames = [Frame(smooth(seed=i), None, 80.0) for i in range(3)]
    d = read_image(_write(frames, fmt), "anim." + fmt)
    assert len(d.frames) == 3 and d.size == (24, 20)


def test_multi_frame_input_is_read_frame_by_frame():
    ims = [Image.fromarray(smooth(seed=i)) for i in range(3)]
    buf = io.BytesIO()
    ims[0].save(buf, "GIF", save_all=True, append_images=ims[1:], duration=50, loop=0)
    d = read_image(buf.getvalue(), "a.gif")
    assert len(d.frames) == 3 and d.loop == 0 and d.frames[1].duration == 50


def test_check_output_refuses_what_a_format_cannot_hold():
    with pytest.raises(OutputError, match="frames"):
        check_output("jpg", (96, 80), 3, "anim.gif")
    with pytest.raises(OutputError, match="16383"):
        check_output("webp", (20000, 100), 1, "wide.png")
    check_output("png", (20000, 100), 3, "ok.png")


# ----------------------------------------------------------------------------------------------- bad input


def test_bomb_guard_names_file_and_limit():
    with pytest.raises(InputImageError, match=r"big\.png.*100x100.*limit of 0\.0 Mpx.*--max-pixels"):
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

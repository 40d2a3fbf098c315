"""What EXIF an output carries (``images/exif.py``): upright, no thumbnail, new size, TIFF's descriptive tags."""

from __future__ import annotations

from helpers_images import exif_with_thumbnail
from PIL import Image

from eern_cli.images import exif as exif_tags


def _exif(**tags) -> Image.Exif:
    data = Image.Exif()
    for tag, value in tags.items():
        data[int(tag[1:])] = value
    return data


def test_output_exif_is_upright_without_thumbnail():
    raw = exif_with_thumbnail(6, b"THUMBMARK")
    data = Image.Exif()
    data.load(raw)
    assert exif_tags.orientation(data) == 6
    out = exif_tags.for_output(data, "JPEG")
    assert b"THUMBMARK" not in out
    back = Image.Exif()
    back.load(out)
    assert back[exif_tags.ORIENTATION] == 1 and back[0x010F] == "TestCam"


def test_a_tiff_keeps_only_its_descriptive_tags():
    data = _exif(t271="Cam", t305="scanner 2", t256=640, t259=5)  # Make, Software, ImageWidth, Compression
    back = Image.Exif()
    back.load(exif_tags.for_output(data, "TIFF"))
    assert back[271] == "Cam" and back[305] == "scanner 2" and 256 not in back and 259 not in back
    assert exif_tags.for_output(_exif(t256=640), "TIFF") is None
    assert exif_tags.for_output(Image.Exif(), "JPEG") is None


def test_pixel_dimensions_follow_the_new_size():
    data = Image.Exif()
    data[exif_tags.EXIF_IFD] = {exif_tags.PIXEL_X: 20, exif_tags.PIXEL_Y: 10}
    back = Image.Exif()
    back.load(exif_tags.resized(data.tobytes(), 80, 40))
    assert back.get_ifd(exif_tags.EXIF_IFD)[exif_tags.PIXEL_X] == 80
    assert exif_tags.resized(None, 80, 40) is None
    assert exif_tags.resized(b"garbage", 80, 40) == b"garbage"  # malformed: passed on, never fatal


def test_tiff_tags_are_the_descriptive_strings():
    assert exif_tags.tiff_tags(_exif(t271="Cam", t306="2024:01:01 00:00:00", t256=640).tobytes()) == {
        271: "Cam", 306: "2024:01:01 00:00:00"}
    assert exif_tags.tiff_tags(None) == {}

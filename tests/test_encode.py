"""Writing frames (``images/encode.py``): metadata carried over, bit depth, alpha, lossy controls, frames."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers_images import RECORD, SRGB, disk_rgba, encode_to_bytes, encode_metadata, smooth
from PIL import Image

from eern_cli.errors import OutputError
from eern_cli.images import provenance
from eern_cli.images.decode import Frame, read_image
from eern_cli.images.encode import EncodeOptions, check_output, encode


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff"])
def test_outputs_carry_icc_dpi_and_provenance(fmt):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    data = encode_to_bytes([Frame(smooth())], fmt, icc=SRGB, dpi=(288.0, 288.0), exif=exif.tobytes())
    im = Image.open(io.BytesIO(data))
    assert im.info.get("icc_profile") == SRGB
    assert provenance.from_image(im) == RECORD
    if fmt != "webp":  # WebP has no resolution field
        assert im.info["dpi"] == pytest.approx((288, 288), abs=0.1)
    assert im.getexif().get(0x010F) == "TestCam"


def test_bmp_and_gif_outputs():
    Image.open(io.BytesIO(encode_to_bytes([Frame(smooth())], "bmp"))).load()
    gif = Image.open(io.BytesIO(encode_to_bytes([Frame(smooth())], "gif")))
    assert provenance.from_image(gif) == RECORD


def test_16_bit_to_8_bit_formats_is_noted():
    buf = io.BytesIO()
    notes = encode(buf, [Frame(smooth(dtype=np.uint16))], encode_metadata(), EncodeOptions(format="jpg"))
    assert any("8-bit" in n for n in notes)


def test_jpeg_flattens_alpha_onto_white():
    rgba = disk_rgba()
    buf = io.BytesIO()
    frame = Frame(rgba[..., :3], rgba[..., 3])
    notes = encode(buf, [frame], encode_metadata(), EncodeOptions(format="jpg", quality=95))
    out = np.asarray(Image.open(buf))
    assert out[0, 0].min() > 240 and any("white" in n for n in notes)


def test_lossy_controls_change_the_file():
    frame = [Frame(smooth(64, 64))]

    def size(**kw):
        buf = io.BytesIO()
        encode(buf, frame, encode_metadata(), EncodeOptions(**kw))
        return len(buf.getvalue()), buf.getvalue()

    assert size(format="jpg", quality=30)[0] < size(format="jpg", quality=95)[0]
    assert size(format="jpg", subsampling="4:2:0")[0] < size(format="jpg", subsampling="4:4:4")[0]
    _, lossless = size(format="webp", lossless=True)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(lossless)).convert("RGB")), frame[0].color)
    assert size(format="png", compress_level=0)[0] > size(format="png", compress_level=9)[0]


@pytest.mark.parametrize("fmt", ["gif", "webp", "tiff", "png"])
def test_multi_frame_round_trip(fmt):
    frames = [Frame(smooth(seed=i), None, 80.0) for i in range(3)]
    d = read_image(encode_to_bytes(frames, fmt), "anim." + fmt)
    assert len(d.frames) == 3 and d.size == (24, 20)


def test_check_output_refuses_what_a_format_cannot_hold():
    with pytest.raises(OutputError, match="frames"):
        check_output("jpg", (96, 80), 3, "anim.gif")
    with pytest.raises(OutputError, match="16383"):
        check_output("webp", (20000, 100), 1, "wide.png")
    check_output("png", (20000, 100), 3, "ok.png")

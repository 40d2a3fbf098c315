"""HEIC and AVIF in and out (``eern[formats]``): round trips through ``eern upscale`` that keep the orientation
(upright), the ICC profile (byte for byte) and the bit depth (10-bit HEIC, 8-bit AVIF); and, in subprocesses
that block the plugins' import, what a user without the extra sees. Pixel tolerances are in 8-bit grey levels."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers_images import cli_env, save, smooth, upscale_here
from PIL import Image, ImageCms

from eern_cli.images import plugins, png_writer, provenance

pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC needs eern[formats]")
if not plugins.installed(plugins.AVIF):
    pytest.skip("this Pillow has no AVIF plugin (eern[formats])", allow_module_level=True)

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ROTATED = 6  # EXIF orientation 6, as a phone held upright writes: stored pixels turned 90 degrees


@pytest.fixture(scope="module")
def reference():
    from eern_cli.upscaler import Upscaler

    return Upscaler(device="cpu", precision="fp32")


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112], exif[271] = ROTATED, "Apple"
    return exif.tobytes()


def read_heif(path) -> tuple[np.ndarray, dict]:
    heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
    return np.asarray(heif), heif.info


def test_sniff_tells_heic_from_avif(tmp_path) -> None:
    plugins.load(plugins.AVIF)
    png, avif = tmp_path / "a.png", tmp_path / "a.avif"
    save(png, smooth())
    save(avif, smooth(), "AVIF")
    heic = tmp_path / "a.heic"
    with open(heic, "wb") as f:
        plugins.save_deep(f, smooth(dtype=np.uint16), quality=90, params={})
    assert [plugins.sniff(p.read_bytes()) for p in (png, avif, heic)] == [None, plugins.AVIF, plugins.HEIF]


def test_10_bit_heic_round_trip(tmp_path, capsys, reference) -> None:
    deep = smooth(24, 20, dtype=np.uint16)  # stored 24 wide, 20 high; upright it is 20 wide, 24 high
    source = tmp_path / "photo.heic"
    with open(source, "wb") as f:
        plugins.save_deep(f, deep, quality=100, params={"exif": exif_rotated(), "icc_profile": ICC})
    code, err = upscale_here(capsys, str(source), "--tile", "0")
    assert code == 0, err
    pixels, info = read_heif(tmp_path / "photo_x4.heic")
    assert info["bit_depth"] == 10 and pixels.dtype == np.uint16
    assert info["icc_profile"] == ICC
    exif = Image.Exif()
    exif.load(info["exif"])
    assert exif.get(0x0112, 1) == 1 and exif[271] == "Apple"
    assert pixels.shape == (4 * 24, 4 * 20, 3)  # upright: the input's rotation applied once, not twice
    # 10 bits, not 8 scaled up: the low byte varies (an 8-bit image stored at 16 bits has it equal to the high byte).
    assert np.mean((pixels & 0xFF) != (pixels >> 8)) > 0.5
    # The pixels: eern's 16-bit result for the decoded input, through lossy 10-bit HEVC (within 3 levels on average).
    decoded_input, _ = read_heif(source)
    expected = reference.upscale_array(decoded_input.astype(np.uint16) | (decoded_input >> 10))
    assert np.abs(pixels.astype(float) - expected.astype(float)).mean() / 257 < 3
    assert provenance.read(tmp_path / "photo_x4.heic").input_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert "up to date" in upscale_here(capsys, str(source))[1]


def test_avif_round_trip_and_heic_quality(tmp_path, capsys, reference) -> None:
    plugins.load(plugins.AVIF)
    rgb = smooth(24, 20, seed=5)
    source = save(tmp_path / "pic.avif", rgb, "AVIF", quality=100, exif=exif_rotated(), icc_profile=ICC)
    code, err = upscale_here(capsys, str(source), "-q", "95")
    assert code == 0 and "turned upright (EXIF orientation 6)" in err, err
    with Image.open(tmp_path / "pic_x4.avif") as out:
        assert out.format == "AVIF" and out.mode == "RGB" and out.size == (4 * 20, 4 * 24)  # 8 bits, upright
        assert out.info["icc_profile"] == ICC and out.getexif().get(0x0112, 1) == 1
        pixels = np.asarray(out)
    with Image.open(source) as im:
        upright = np.rot90(np.asarray(im), -1)  # orientation 6
    assert np.abs(pixels.astype(float) - reference.upscale_array(np.ascontiguousarray(upright))).mean() < 3
    sizes = {}
    for quality in ("30", "95"):
        code, err = upscale_here(capsys, str(source), "-f", "heic", "-q", quality, "-o", str(tmp_path / f"q{quality}.heic"))
        assert code == 0, err
        sizes[quality] = (tmp_path / f"q{quality}.heic").stat().st_size
    assert sizes["30"] < sizes["95"]
    assert read_heif(tmp_path / "q95.heic")[1]["bit_depth"] == 8  # 8-bit in, 8-bit out


def test_16_bit_to_avif_is_8_bit_with_a_note(tmp_path, capsys) -> None:
    source = tmp_path / "deep.png"
    with open(source, "wb") as f:
        png_writer.write_png(f, smooth(dtype=np.uint16))
    code, err = upscale_here(capsys, str(source), "-f", "avif")
    assert code == 0 and "16-bit result written as 8-bit (AVIF holds 8 bits here)" in err


def test_folders_take_heic_and_avif(tmp_path, capsys) -> None:
    plugins.load(plugins.AVIF)
    save(tmp_path / "in" / "b.avif", smooth(), "AVIF")
    with open(tmp_path / "in" / "a.heic", "wb") as f:
        plugins.save_deep(f, smooth(dtype=np.uint16), quality=90, params={})
    code, err = upscale_here(capsys, str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-f", "png")
    assert code == 0 and "2 upscaled" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def fresh_eern(tmp_path, *args: str, block: bool) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``eern ARGS`` in a fresh interpreter (where, with ``block``, the plugins cannot be imported): the process,
    and which plugin modules it had imported by the end."""
    code = textwrap.dedent(f"""
        import json, sys
        PLUGINS = ("pillow_heif", "pillow_avif", "PIL._avif")
        if {block}:
            sys.modules.update(dict.fromkeys(PLUGINS))  # as if eern[formats] were not installed
        from eern_cli.cli.app import main
        try:
            main(sys.argv[1:])
        finally:
            print(json.dumps([name for name in PLUGINS if sys.modules.get(name) is not None]))
    """)
    result = subprocess.run([sys.executable, "-c", code, "upscale", "--device", "cpu", "--precision", "fp32", *args],
                            capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=120)
    return result, json.loads(result.stdout.splitlines()[-1])


def test_without_the_extra(tmp_path, reference) -> None:
    folder = tmp_path / "in"
    save(folder / "c.png", smooth())
    plugins.load(plugins.AVIF)
    save(folder / "b.avif", smooth(), "AVIF")
    with open(folder / "a.heic", "wb") as f:
        plugins.save_deep(f, smooth(dtype=np.uint16), quality=90, params={})
    # In a folder: reported as needing the extra, not as "not an image"; the others are done.
    result, loaded = fresh_eern(tmp_path, "in", "-o", "out", block=True)
    assert result.returncode == 0, result.stderr
    assert "a.heic (needs eern[formats]" in result.stderr and "b.avif (needs eern[formats]" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["c.png"]
    assert loaded == []
    # Named explicitly: that file fails with one line naming the extra.
    result, _ = fresh_eern(tmp_path, "in/a.heic", "-o", "a.png", block=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "HEIC images need the optional package 'pillow-heif'" in result.stderr
    assert "pip install 'eern[formats]'" in result.stderr
    # A flag that needs it: exit 2 before any work.
    result, _ = fresh_eern(tmp_path, "in/c.png", "-f", "avif", block=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "AVIF images need the optional package" in result.stderr and "eern[formats]" in result.stderr
    assert not (folder / "c_x4.avif").exists()


def test_plugins_are_imported_only_when_met(tmp_path) -> None:
    save(tmp_path / "c.png", smooth())
    result, loaded = fresh_eern(tmp_path, "c.png", block=False)
    assert result.returncode == 0, result.stderr
    assert "pillow_heif" not in loaded

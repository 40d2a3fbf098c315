"""EXIF, read once and written back: which tags eern keeps, changes or drops on the way from input to output.

The pixels are turned upright when they are read, so the output's Orientation is 1; the thumbnail (IFD1) would
show the old image, so it is dropped; the pixel dimensions follow the new size. A TIFF input's first IFD
describes its own pixel layout as well, so only its descriptive tags are kept, and a TIFF output holds them as
its own tags (Pillow's TIFF writer cannot embed an EXIF sub-IFD, so exposure data is not carried into TIFF).
Malformed EXIF is dropped, never fatal.
"""

from __future__ import annotations

from PIL import Image

ORIENTATION, EXIF_IFD, PIXEL_X, PIXEL_Y, X_RESOLUTION, SOFTWARE = 0x0112, 0x8769, 0xA002, 0xA003, 0x011A, 0x0131
# ImageDescription, Make, Model, DateTime, Artist, Copyright: what a photo's IFD0 says about it.
DESCRIPTIVE = (270, 271, 272, 306, 315, 33432)


def orientation(exif: Image.Exif) -> int:
    return int(exif.get(ORIENTATION, 1) or 1)


def for_output(exif: Image.Exif, fmt: str | None) -> bytes | None:
    """The input's EXIF as outputs carry it: Orientation 1, no thumbnail, only descriptive tags of a TIFF."""
    if not len(exif):
        return None
    if fmt == "TIFF":
        kept = Image.Exif()
        for tag in (*DESCRIPTIVE, SOFTWARE):
            if tag in exif:
                kept[tag] = exif[tag]
        sub = exif.get_ifd(EXIF_IFD)
        if sub:
            kept[EXIF_IFD] = dict(sub)
        exif = kept
        if not len(exif):
            return None
    exif[ORIENTATION] = 1
    try:
        return exif.tobytes()  # IFD0 and its sub-IFDs; the thumbnail's IFD1 is not written
    except Exception:
        return None


def resized(exif: bytes | None, width: int, height: int) -> bytes | None:
    """``exif`` with the new pixel dimensions, where it states any."""
    if not exif:
        return None
    try:
        data = Image.Exif()
        data.load(exif)
        sub = data.get_ifd(EXIF_IFD)
        if PIXEL_X in sub or PIXEL_Y in sub:
            sub[PIXEL_X], sub[PIXEL_Y] = width, height
        return data.tobytes()
    except Exception:
        return exif


def tiff_tags(exif: bytes | None) -> dict[int, str]:
    """The descriptive tags of ``exif``, as a TIFF output's own tags."""
    tags: dict[int, str] = {}
    if not exif:
        return tags
    try:
        data = Image.Exif()
        data.load(exif)
        for tag in DESCRIPTIVE:
            if isinstance(data.get(tag), str):
                tags[tag] = data[tag]
    except Exception:
        pass
    return tags

"""16-bit colour images, which Pillow reads and writes only as 8-bit.

Pillow opens a 16-bit RGB(A) PNG or TIFF as 8-bit RGB(A): its unpacker keeps the high byte of each sample
(``PngImagePlugin._MODES``: ``(16, 2): ("RGB", "RGB;16B")``). Its decoder still inflates and un-filters all the
bytes, so ``read_high_precision`` decodes the same data twice, once unpacking the high bytes and once, with the
byte order swapped, the low bytes, and joins them: the full 16 bits at C speed, no extra dependency.
Grey+alpha 16-bit PNGs (4 bytes a pixel) are unpacked as 8-bit "RGBA", i.e. every byte.

Pillow cannot write 16-bit colour either: ``write_tiff16`` is a small writer of our own (baseline strips, Adobe
deflate) with ICC, DPI, EXIF and text metadata; 16-bit PNGs are written by ``png_writer.py``.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
from PIL import Image

# rawmode Pillow would use -> (rawmode that yields the other byte, channels, byte order of the data)
_SWAP = {
    "RGB;16B": ("RGB;16L", 3, ">"), "RGB;16L": ("RGB;16B", 3, "<"),
    "RGBA;16B": ("RGBA;16L", 4, ">"), "RGBA;16L": ("RGBA;16B", 4, "<"),
    "RGBX;16B": ("RGBX;16L", 3, ">"), "RGBX;16L": ("RGBX;16B", 3, "<"),
}
# libtiff hands Pillow native-order samples
_NATIVE = "L" if sys.byteorder == "little" else "B"
_OTHER = "B" if _NATIVE == "L" else "L"
_SWAP.update({f"{m};16N": (f"{m};16{_OTHER}", n, "=") for m, n in (("RGB", 3), ("RGBA", 4), ("RGBX", 3))})
_LA16 = "LA;16B"


def high_precision_rawmode(im: Image.Image) -> str | None:
    """The rawmode of a not-yet-loaded 16-bit colour PNG/TIFF frame that Pillow would cut to 8 bits, else None."""
    tile = getattr(im, "tile", None)
    if not tile or len(tile) != 1:
        return None
    args = tile[0].args
    raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else None)
    return raw if raw in _SWAP or raw == _LA16 else None


def _with_rawmode(im: Image.Image, rawmode: str) -> np.ndarray:
    tile = im.tile[0]
    args = tile.args
    args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    im.tile = [tile._replace(args=args)]
    im.load()
    return np.asarray(im)


def read_high_precision(opener, rawmode: str) -> np.ndarray:
    """Decode a 16-bit colour frame to uint16 H x W x C (C = 2, 3 or 4). ``opener()`` returns a fresh,
    positioned, unloaded image each call (the data is decoded twice)."""
    if rawmode == _LA16:
        quad = _with_rawmode(opener(), "RGBA").astype(np.uint16)  # bytes L_hi, L_lo, A_hi, A_lo
        return np.stack([quad[..., 0] << 8 | quad[..., 1], quad[..., 2] << 8 | quad[..., 3]], axis=-1)
    other, channels, order = _SWAP[rawmode]
    first = _with_rawmode(opener(), rawmode)[..., :channels].astype(np.uint16)  # Pillow keeps the high byte
    second = _with_rawmode(opener(), other)[..., :channels].astype(np.uint16)
    return first << 8 | second


# --------------------------------------------------------------------------------------------- TIFF writer

_SHORT, _LONG, _RATIONAL, _ASCII, _BYTE, _UNDEFINED = 3, 4, 5, 2, 1, 7
_STRIP_BYTES = 1 << 18


def _rational(value: float) -> tuple[int, int]:
    return int(round(value * 1000)), 1000


def write_tiff16(
    fp: BinaryIO,
    pages: Sequence[np.ndarray],
    *,
    icc: bytes | None = None,
    dpi: Sequence[float] | None = None,
    software: str | None = None,
    xmp: bytes | None = None,
    compress_level: int = 6,
) -> None:
    """Write uint16 pages (H x W x C, C = 1..4, last channel alpha when C is 2 or 4) as a little-endian,
    Adobe-deflate TIFF, one IFD per page. Sequential writes only (works on pipes)."""
    fp.write(b"II*\0" + struct.pack("<I", 8))
    offset = 8
    for index, page in enumerate(pages):
        if page.ndim == 2:
            page = page[..., None]
        height, width, channels = page.shape
        row_bytes = width * channels * 2
        rows_per_strip = max(1, _STRIP_BYTES // row_bytes)
        data = np.ascontiguousarray(page.astype("<u2")).view(np.uint8).reshape(height, row_bytes)
        strips = [zlib.compress(data[t : t + rows_per_strip].tobytes(), compress_level)
                  for t in range(0, height, rows_per_strip)]
        tags: list[tuple[int, int, list | bytes]] = [
            (256, _LONG, [width]), (257, _LONG, [height]), (258, _SHORT, [16] * channels),
            (259, _SHORT, [8]), (262, _SHORT, [2 if channels >= 3 else 1]),
            (273, _LONG, [0] * len(strips)), (277, _SHORT, [channels]), (278, _LONG, [rows_per_strip]),
            (279, _LONG, [len(s) for s in strips]), (284, _SHORT, [1]), (339, _SHORT, [1] * channels),
        ]
        if dpi:
            tags += [(282, _RATIONAL, [_rational(dpi[0])]), (283, _RATIONAL, [_rational(dpi[1])]), (296, _SHORT, [2])]
        if software:
            tags.append((305, _ASCII, software.encode("ascii", "replace") + b"\0"))
        if channels in (2, 4):
            tags.append((338, _SHORT, [2]))  # unassociated alpha
        if xmp:
            tags.append((700, _BYTE, xmp))
        if icc:
            tags.append((34675, _UNDEFINED, icc))
        tags.sort(key=lambda t: t[0])
        ifd_size = 2 + 12 * len(tags) + 4
        extra_at = offset + ifd_size
        entries, extra = [], b""
        strip_at = None
        for tag, kind, value in tags:
            if tag == 273:
                strip_at = len(entries)
            payload = _pack(kind, value)
            count = len(value) if isinstance(value, (bytes, list)) else 1
            if len(payload) <= 4:
                entries.append([tag, kind, count, payload.ljust(4, b"\0")])
            else:
                if len(extra) % 2:
                    extra += b"\0"
                entries.append([tag, kind, count, struct.pack("<I", extra_at + len(extra))])
                extra += payload
        if len(extra) % 2:
            extra += b"\0"
        data_at = extra_at + len(extra)
        starts, pos = [], data_at
        for s in strips:
            starts.append(pos)
            pos += len(s)
        payload = _pack(_LONG, starts)
        if len(payload) <= 4:
            entries[strip_at][3] = payload
        else:
            at = struct.unpack("<I", entries[strip_at][3])[0] - extra_at
            extra = extra[:at] + payload + extra[at + len(payload) :]
        next_ifd = pos if index + 1 < len(pages) else 0
        if next_ifd % 2:
            next_ifd += 1
        ifd = struct.pack("<H", len(entries)) + b"".join(
            struct.pack("<HHI", t, k, c) + v for t, k, c, v in entries) + struct.pack("<I", next_ifd)
        fp.write(ifd + extra)
        for s in strips:
            fp.write(s)
        if pos % 2 and next_ifd:
            fp.write(b"\0")
        offset = next_ifd


def _pack(kind: int, value) -> bytes:
    if isinstance(value, bytes):
        return value
    if kind == _SHORT:
        return struct.pack(f"<{len(value)}H", *value)
    if kind == _LONG:
        return struct.pack(f"<{len(value)}I", *value)
    if kind == _RATIONAL:
        return b"".join(struct.pack("<II", *v) for v in value)
    raise ValueError(kind)

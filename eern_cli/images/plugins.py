"""HEIC/HEIF and AVIF: the formats Pillow reads and writes only through a plugin (the extra ``eern[formats]``).

* HEIC/HEIF (phone photos) through ``pillow-heif``. libheif turns the pixels upright by the file's own
  rotation and mirror boxes, and pillow-heif then sets the EXIF orientation to 1, so they are never turned
  twice. Pillow's opener cuts 10-bit colour to 8 bits: ``read_deep`` decodes it at full depth (as 16-bit,
  the path 16-bit PNG and TIFF take), and ``save_deep`` writes 16-bit results as 10-bit HEIC.
* AVIF through Pillow's own plugin where it was built with libavif (Pillow's wheels from 11.3 on), otherwise
  ``pillow-avif-plugin``. Both read and write 8 bits; the EXIF orientation is applied as for JPEG.

Their rows in ``formats.TABLE`` name the extensions and limits. Nothing optional is imported until such a file
or ``--format`` is met: a file's kind is told from its ``ftyp`` box (``sniff``), and folders are scanned by
extension with ``installed``, which finds the plugin without importing it. A missing plugin is a
``MissingExtraError`` naming the extra to install.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import BinaryIO

import numpy as np

from eern_cli.errors import MissingExtraError

HEIF, AVIF = "HEIF", "AVIF"  # Pillow's format names
EXTRA = "formats"
_LABELS = {HEIF: "HEIC", AVIF: "AVIF"}  # as formats.TABLE writes them
PACKAGES = {HEIF: "pillow-heif", AVIF: "pillow-avif-plugin"}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def sniff(data: bytes) -> str | None:
    """HEIF or AVIF from the ISO-BMFF ``ftyp`` box's brands (AVIF first: AVIF files list mif1 too), else None."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    end = min(int.from_bytes(data[:4], "big"), len(data), 256)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return AVIF
    return HEIF if brands & _HEIF_BRANDS else None


def _avif_module() -> str | None:
    """The module that gives Pillow AVIF here: its own ``PIL._avif``, or pillow-avif-plugin's; None if neither."""
    return next((name for name in ("PIL._avif", "pillow_avif") if _found(name)), None)


def installed(kind: str) -> bool:
    """Whether ``kind``'s plugin is installed, found without importing it."""
    return _avif_module() is not None if kind == AVIF else _found("pillow_heif")


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails to import; a module blocked in sys.modules
        return False


@functools.cache
def load(kind: str) -> str:
    """Register ``kind``'s plugin with Pillow (once); ``MissingExtraError`` saying what to install if absent.

    Returns Pillow's format name, for ``Image.open(..., formats=...)`` and ``Image.save(format=...)``.
    """
    if kind == AVIF:
        module = _avif_module()
        if module is not None:
            importlib.import_module(module)  # pillow_avif registers itself on import; PIL's own is built in
            return AVIF
    else:
        try:
            importlib.import_module("pillow_heif").register_heif_opener()
            return HEIF
        except ImportError:
            pass
    raise MissingExtraError(f"{_LABELS[kind]} images need the optional package '{PACKAGES[kind]}'", extra=EXTRA,
                            package=PACKAGES[kind])


def read_deep(data: bytes, index: int) -> np.ndarray:
    """Image ``index`` of a HEIF file of more than 8 bits, upright, as uint16 H x W x C at full 16-bit scale."""
    import pillow_heif

    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=False)
    image = heif[index]
    pixels = np.asarray(image)
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1).astype(np.uint16)
    # libheif puts an N-bit sample in the top N bits; repeating its top bits below makes N-bit white 65535.
    return pixels | (pixels >> image.info["bit_depth"])


def save_deep(fp: BinaryIO, pixels: np.ndarray, *, quality: int, params: dict) -> None:
    """Write uint16 H x W x C (C = 1 to 4) pixels as a 10-bit HEIC; ``params`` as for ``Image.save``."""
    import pillow_heif

    if pixels.shape[2] == 2:  # HEIC has no grey + alpha: RGBA, as Pillow's opener gives for it
        pixels = pixels[..., [0, 0, 0, 1]]
    modes = {1: "I;16", 3: "RGB;16", 4: "RGBA;16"}
    height, width, channels = pixels.shape
    heif = pillow_heif.from_bytes(modes[channels], (width, height), np.ascontiguousarray(pixels).tobytes())
    heif.save(fp, quality=quality, **params)  # pillow-heif writes 16-bit data at 10 bits, as phones do

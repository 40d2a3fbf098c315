"""The image formats eern reads and writes: one table, one row per format.

Every place that names formats (the planner's extensions and output names, the decoder's Pillow formats, the
encoder's limits, the CLI's ``--format`` choices and messages) reads this table, so they cannot disagree. A
format that needs an optional Pillow plugin (HEIC or AVIF from ``eern[formats]``) is one more row with
``plugin`` (the package that provides it) and ``extra`` (what to ``pip install``); ``plugins`` registers it,
and nothing optional is imported until such a format is used (``load_plugin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from eern_cli.errors import MissingExtraError
from eern_cli.images import plugins

UNLIMITED = 2**31 - 1


@dataclass(frozen=True)
class ImageFormat:
    name: str  # what --format takes and what provenance records: png, jpg, ...
    pil: str  # Pillow's name for it
    label: str  # how messages write it
    extensions: tuple[str, ...]  # lower case; the first is what a new output file gets
    max_side: int = UNLIMITED  # pixels per side the format can hold
    frames: bool = False  # holds several frames or pages
    animated: bool = False  # frames carry durations and a loop count
    alpha: bool = True  # holds transparency (JPEG does not: flattened onto white)
    grey_alpha: bool = False  # holds grey + alpha as such (others get RGBA)
    dpi: bool = False  # records a resolution
    writable: bool = True
    plugin: str | None = None  # the package whose Pillow plugin reads and writes it (registered by ``plugins``)
    extra: str | None = None  # the pip extra that provides ``plugin``


TABLE: tuple[ImageFormat, ...] = (
    ImageFormat("png", "PNG", "PNG", (".png",), frames=True, animated=True, grey_alpha=True, dpi=True),
    ImageFormat("jpg", "JPEG", "JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), max_side=65500, alpha=False, dpi=True),
    ImageFormat("webp", "WEBP", "WebP", (".webp",), max_side=16383, frames=True, animated=True),
    ImageFormat("tiff", "TIFF", "TIFF", (".tif", ".tiff"), frames=True, grey_alpha=True, dpi=True),
    # Pillow writes RGBA as a 32-bit BI_RGB bitmap, whose fourth byte readers ignore: no real transparency.
    ImageFormat("bmp", "BMP", "BMP", (".bmp", ".dib"), alpha=False, dpi=True),
    # Transparency is on or off per pixel (one palette entry); colours are quantised to 256.
    ImageFormat("gif", "GIF", "GIF", (".gif",), max_side=65535, frames=True, animated=True),
    # 10-bit when the result is 16-bit (``plugins.save_deep``).
    ImageFormat("heic", plugins.HEIF, "HEIC", (".heic", ".heif", ".hif"), plugin=plugins.PACKAGES[plugins.HEIF],
                extra=plugins.EXTRA),
    # libavif reads back at most 32768 px per side (measured: 32769 is written but cannot be opened).
    ImageFormat("avif", plugins.AVIF, "AVIF", (".avif",), max_side=32768, plugin=plugins.PACKAGES[plugins.AVIF],
                extra=plugins.EXTRA),
)
ALIASES = {"jpeg": "jpg", "tif": "tiff", "heif": "heic"}


def get(name: str) -> ImageFormat:
    """The row for an output format name (``jpeg`` and ``tif`` accepted); ``KeyError`` if there is none."""
    key = ALIASES.get(name.lower(), name.lower())
    row = next((f for f in TABLE if f.name == key), None)
    if row is None:
        raise KeyError(name)
    return row


def output_names() -> tuple[str, ...]:
    """What ``--format`` accepts besides ``same``, in the table's order."""
    return tuple(f.name for f in TABLE if f.writable)


def from_extension(suffix: str) -> ImageFormat | None:
    """The format a file name's extension (``.JPG``) stands for, or ``None``."""
    suffix = suffix.lower()
    return next((f for f in TABLE if suffix in f.extensions), None)


def from_pil(pil_name: str | None) -> ImageFormat | None:
    """The row for a format as Pillow names a decoded image (``JPEG``), or ``None``."""
    return next((f for f in TABLE if f.pil == pil_name), None)


def input_extensions() -> frozenset[str]:
    """The extensions a folder or pattern takes as images."""
    return frozenset(e for f in TABLE for e in f.extensions)


def pil_names() -> tuple[str, ...]:
    """The Pillow formats the decoder lets ``Image.open`` try (no other of Pillow's many readers). Plugin
    formats are not among them: the decoder tells those by content and opens them as such (``plugins.sniff``)."""
    return tuple(f.pil for f in TABLE if f.plugin is None)


def readable_labels() -> str:
    """'PNG, JPEG, ... and GIF', for messages."""
    labels = [f.label for f in TABLE]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def extensions_text() -> str:
    """'.png .jpg .jpeg ...', for messages about what folders are scanned for."""
    return " ".join(e for f in TABLE for e in f.extensions)


def load_plugin_for(file_name: str) -> None:
    """Before reading ``file_name``: register the plugin its extension's format needs (``MissingExtraError`` if
    that is not installed); no other plugin is imported."""
    row = from_extension(PurePath(file_name).suffix)
    if row is not None:
        load_plugin(row, path=file_name)


def load_plugin(fmt: ImageFormat, *, path: str | None = None) -> None:
    """Register ``fmt``'s Pillow plugin, if it has one; ``MissingExtraError`` saying what to install if absent."""
    if fmt.plugin is None:
        return
    try:
        plugins.load(fmt.pil)
    except MissingExtraError as exc:
        raise MissingExtraError(exc.message, extra=exc.extra, package=exc.package, path=path) from None

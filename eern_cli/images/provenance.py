"""What made an output, written into the output itself, and read back to decide whether a re-run may skip it.

The record is a small JSON object: tool and version, the weights' sha256, scale, tile, precision, device, alpha
mode, whether the x8 self-ensemble (``--tta``) made it, the input file's sha256 and a digest of every setting
that changes the output's pixels or its lossy encoding. It travels as a PNG text chunk (``eern``) plus XMP in
PNG, JPEG, WebP and TIFF, and as the comment of a GIF; BMP has no place for metadata. Tile size is recorded
but not part of the digest (tiling is exact), nor are the device or the PNG compression level (lossless).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path

from PIL import Image

from eern_cli import __version__
from eern_cli.images import plugins

PNG_KEY = "eern"
XMP_NS = "urn:eern:provenance:1"
_XMP_ATTR = re.compile(rb'eern:provenance="([^"]*)"')


@dataclass(frozen=True)
class Provenance:
    tool: str
    version: str
    weights_sha256: str
    scale: float
    tile: int
    precision: str
    device: str
    alpha: str
    input_sha256: str
    settings: str
    tta: bool = False  # the x8 self-ensemble; records written before it existed lack it

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Provenance | None:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("tool") != "eern":
                return None
            fields = cls.__dataclass_fields__.values()
            return cls(**{f.name: data[f.name] for f in fields if f.name in data or f.default is MISSING})
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def software(self) -> str:
        return f"eern {self.version}"


def settings_digest(settings: dict) -> str:
    """A short, stable digest of the settings that change an output (weights, scale, precision, format ...)."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def make(*, weights_sha256: str, scale: float, tile: int, precision: str, device: str, alpha: str,
         input_sha256: str, settings: dict, tta: bool = False) -> Provenance:
    return Provenance("eern", __version__, weights_sha256, scale, tile, precision, device, alpha, input_sha256,
                      settings_digest(settings), tta)


def xmp_packet(record: Provenance) -> bytes:
    value = html.escape(record.to_json(), quote=True)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:eern="{XMP_NS}" '
        f'xmp:CreatorTool="{html.escape(record.software)}" eern:provenance="{value}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def from_xmp(xmp: bytes | str | None) -> Provenance | None:
    if not xmp:
        return None
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    match = _XMP_ATTR.search(xmp)
    return Provenance.from_json(html.unescape(match.group(1).decode("utf-8", "replace"))) if match else None


def from_image(im: Image.Image) -> Provenance | None:
    """The record in an opened (not necessarily loaded) image, or None."""
    info = im.info
    if PNG_KEY in info:
        return Provenance.from_json(info[PNG_KEY])
    for key in ("xmp", "XML:com.adobe.xmp"):
        record = from_xmp(info.get(key))
        if record:
            return record
    tags = getattr(im, "tag_v2", None)
    if tags is not None and 700 in tags:
        return from_xmp(tags[700])
    comment = info.get("comment")
    if comment:
        return Provenance.from_json(comment)
    return None


def read(path: str | os.PathLike[str]) -> Provenance | None:
    """The record of an image file (header only; no pixels are decoded), or None if it has none or is unreadable."""
    try:
        with open(path, "rb") as f:
            kind = plugins.sniff(f.read(256))
        with Image.open(path, formats=(plugins.load(kind),) if kind else None) as im:
            return from_image(im)
    except Exception:  # any unreadable file (a HEIC without its plugin too) simply has no provenance
        return None


def looks_complete(path: str | os.PathLike[str]) -> bool:
    """A cheap structural check that a file was written to its end (PNG IEND, JPEG EOI, RIFF size, GIF trailer).

    eern's own writes are atomic, so this only catches files cut short by something else.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            f.seek(max(0, size - 12))
            tail = f.read(12)
    except OSError:
        return False
    if head.startswith(b"\x89PNG"):
        return tail.endswith(b"IEND\xaeB`\x82")
    if head.startswith(b"\xff\xd8"):
        return tail.rstrip(b"\0").endswith(b"\xff\xd9")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return int.from_bytes(head[4:8], "little") + 8 <= size
    if head.startswith(b"GIF8"):
        return tail.endswith(b";")
    return size > 0

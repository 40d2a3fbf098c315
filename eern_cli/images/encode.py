"""Encode upscaled frames into an output file, with the input's metadata and eern's provenance.

PNG and TIFF keep 16 bits (single-frame PNGs, 8- or 16-bit, go through ``png_writer``, 16-bit TIFFs through
``bit16``), HEIC keeps 10 of them (``plugins.save_deep``); JPEG, WebP, BMP, GIF and AVIF are 8-bit, so 16-bit
results are rounded to 8 bits there (with a note). HEIC and AVIF need their plugin (``plugins``), loaded only
when such an output is written. JPEG has no transparency: alpha is flattened onto white. Multi-frame results go to
formats that hold frames (PNG as APNG, WebP, TIFF, GIF); JPEG, BMP, HEIC and AVIF refuse them before any work is
done (``check_output``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

from eern_cli.errors import OutputError, UsageError
from eern_cli.images import bit16, formats, plugins
from eern_cli.images import exif as exif_tags
from eern_cli.images.decode import Frame
from eern_cli.images.png_writer import write_png
from eern_cli.images.provenance import PNG_KEY, Provenance, xmp_packet

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
DEFAULT_QUALITY = {"jpg": 92, "webp": 90, "heic": 90, "avif": 90}


@dataclass(frozen=True)
class EncodeOptions:
    format: str = "png"
    quality: int | None = None  # JPEG / WebP; None for the format's default
    subsampling: str = "4:2:0"  # JPEG chroma subsampling
    lossless: bool = False  # WebP
    compress_level: int | None = None  # PNG: None = png_writer's fast default, else zlib's level 0..9

    def output_settings(self) -> dict:
        """The options that change what an output holds (part of the provenance digest)."""
        if self.format == "jpg":
            return {"format": "jpg", "quality": self.effective_quality, "subsampling": self.subsampling}
        if self.format == "webp":
            return {"format": "webp", "lossless": self.lossless,
                    "quality": None if self.lossless else self.effective_quality}
        if self.format in ("heic", "avif"):
            return {"format": self.format, "quality": self.effective_quality}
        return {"format": self.format}

    @property
    def effective_quality(self) -> int | None:
        return self.quality if self.quality is not None else DEFAULT_QUALITY.get(self.format)


def check_output(fmt: str, size: tuple[int, int], frames: int, name: str) -> None:
    """Refuse, before any inference, an output the format cannot hold."""
    width, height = size
    row = formats.get(fmt)
    if max(width, height) > row.max_side:
        big = [f.name for f in formats.TABLE if f.writable and f.max_side >= max(width, height)]
        raise OutputError(f"the output of '{name}' would be {width}x{height}, above {row.label}'s limit of "
                          f"{row.max_side} px per side", path=name,
                          hint=f"use {{format={' or '.join(big)}}}, or a smaller {{scale}}")
    if frames > 1 and not row.frames:
        keep = [f.name for f in formats.TABLE if f.writable and f.frames]
        raise OutputError(f"'{name}' has {frames} frames and {row.label} holds one", path=name,
                          hint=f"use {{format={', '.join(keep)}}} to keep every frame")


@dataclass
class Metadata:
    icc: bytes | None
    dpi: tuple[float, float] | None
    exif: bytes | None
    loop: int | None
    provenance: Provenance | None


def encode(fp: BinaryIO, frames: Sequence[Frame], meta: Metadata, opts: EncodeOptions) -> list[str]:
    """Write ``frames`` to ``fp`` in ``opts.format``; returns notes about anything that had to change."""
    fmt, notes = opts.format, []
    row = formats.get(fmt)
    formats.load_plugin(row)
    width, height = frames[0].size
    exif = exif_tags.resized(meta.exif, width, height)
    xmp = xmp_packet(meta.provenance) if meta.provenance else None
    sixteen = frames[0].color.dtype == np.uint16
    if sixteen and fmt == "heic":
        params = {k: v for k, v in (("exif", exif), ("xmp", xmp), ("icc_profile", meta.icc)) if v}
        plugins.save_deep(fp, _stack(frames[0]), quality=opts.effective_quality, params=params)
        return notes
    if sixteen and fmt == "tiff":
        pages = [_stack(f) for f in frames]
        bit16.write_tiff16(fp, pages, icc=meta.icc, dpi=meta.dpi, xmp=xmp, compress_level=6,
                           software=meta.provenance.software if meta.provenance else "eern")
        return notes
    if fmt == "png" and len(frames) == 1:  # eern's own writer: 16-bit colour, and faster than Pillow's
        texts = {PNG_KEY: meta.provenance.to_json()} if meta.provenance else {}
        if xmp:
            texts["XML:com.adobe.xmp"] = xmp.decode()
        write_png(fp, _stack(frames[0]), compress_level=opts.compress_level, icc=meta.icc,
                  dpi=meta.dpi if row.dpi else None, exif=exif, texts=texts)
        return notes
    images = [_to_pil(f, row, notes) for f in frames]
    params: dict = {}
    if meta.icc:
        params["icc_profile"] = meta.icc
    if meta.dpi and row.dpi:
        params["dpi"] = meta.dpi
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if meta.provenance:
            info.add_text(PNG_KEY, meta.provenance.to_json())
            info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        # Animated PNGs stay with Pillow (eern's writer writes one frame), at level 4 unless asked otherwise.
        params.update(pnginfo=info, compress_level=4 if opts.compress_level is None else opts.compress_level)
        if exif:
            params["exif"] = exif
    elif fmt == "jpg":
        params.update(quality=opts.effective_quality, subsampling=SUBSAMPLING[opts.subsampling])
        params.update({k: v for k, v in (("exif", exif), ("xmp", xmp)) if v})
    elif fmt == "webp":
        params.update(quality=opts.effective_quality if not opts.lossless else 100, lossless=opts.lossless, method=4)
        params.update({k: v for k, v in (("exif", exif), ("xmp", xmp)) if v})
    elif fmt in ("heic", "avif"):
        params.update(quality=opts.effective_quality)
        params.update({k: v for k, v in (("exif", exif), ("xmp", xmp)) if v})
    elif fmt == "tiff":
        tiffinfo: dict = exif_tags.tiff_tags(meta.exif)
        if xmp:
            tiffinfo[700] = xmp
            tiffinfo[305] = meta.provenance.software
        params.update(compression="tiff_adobe_deflate", tiffinfo=tiffinfo)
    elif fmt == "gif" and meta.provenance:
        params["comment"] = meta.provenance.to_json()
    if len(images) > 1:
        durations = [f.duration if f.duration is not None else 100 for f in frames]
        params.update(save_all=True, append_images=images[1:])
        if row.animated:
            params.update(duration=durations, loop=meta.loop if meta.loop is not None else 0)
    try:
        images[0].save(fp, format=row.pil, **params)
    except (ValueError, TypeError) as exc:  # Pillow's refusal of an option/mode combination
        raise UsageError(f"cannot write {row.label}: {exc}") from exc
    return notes


def _stack(frame: Frame) -> np.ndarray:
    color = frame.color if frame.color.ndim == 3 else frame.color[..., None]
    return color if frame.alpha is None else np.concatenate([color, frame.alpha[..., None]], axis=-1)


def _to8(a: np.ndarray) -> np.ndarray:
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _to_pil(frame: Frame, row: formats.ImageFormat, notes: list[str]) -> Image.Image:
    color, alpha = frame.color, frame.alpha
    if color.dtype == np.uint16:
        color, alpha = _to8(color), None if alpha is None else _to8(alpha)
        _add(notes, f"16-bit result written as 8-bit ({row.label} holds 8 bits here)")
    if alpha is not None and not row.alpha:
        a = alpha.astype(np.float32)[..., None] / 255.0 if color.ndim == 3 else alpha.astype(np.float32) / 255.0
        color = np.clip(color * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        alpha = None
        _add(notes, f"transparency flattened onto white ({row.label} has no alpha)")
    if alpha is None:
        return Image.fromarray(color, "L" if color.ndim == 2 else "RGB")
    if color.ndim == 2:
        image = Image.fromarray(np.stack([color, alpha], axis=-1), "LA")
        return image if row.grey_alpha else image.convert("RGBA")
    return Image.fromarray(np.concatenate([color, alpha[..., None]], axis=-1), "RGBA")


def _add(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)

"""Decode an input image into pixels plus everything the output should carry over.

Every image kind becomes one or more ``Frame``s of numpy arrays the model can take: grey (H x W) or RGB
(H x W x 3), uint8 or uint16, with an optional separate alpha plane, already turned upright by its EXIF
orientation. Palette images become RGB (RGBA if transparent); CMYK is converted to RGB through its embedded ICC
profile when it has one; 16-bit PNG and TIFF keep all 16 bits (see ``bit16``). ICC profile, DPI and EXIF
(Orientation reset to 1, no thumbnail) are kept for the output. Only the formats of ``formats.TABLE`` are
opened; HEIC/HEIF and AVIF through their plugins (``plugins``; 10-bit HEIC at full depth). Anything that cannot
be read raises one ``InputImageError`` naming the file (``MissingExtraError`` for a missing plugin).
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from eern_cli.errors import InputImageError, InputNotFoundError, MissingExtraError
from eern_cli.images import bit16, formats, plugins
from eern_cli.images import exif as exif_tags

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default: ~0.25 GB as 8-bit RGB


@dataclass
class Frame:
    color: np.ndarray  # H x W (grey) or H x W x 3, uint8 or uint16
    alpha: np.ndarray | None = None  # H x W, same dtype as color
    duration: float | None = None  # milliseconds, animations only

    @property
    def size(self) -> tuple[int, int]:
        return self.color.shape[1], self.color.shape[0]


@dataclass
class Decoded:
    name: str
    format: str
    frames: list[Frame]
    icc: bytes | None = None
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None
    loop: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    @property
    def grey(self) -> bool:
        return self.frames[0].color.ndim == 2

    @property
    def bits(self) -> int:
        return 16 if self.frames[0].color.dtype == np.uint16 else 8

    @property
    def has_alpha(self) -> bool:
        return any(f.alpha is not None for f in self.frames)


def configure_pillow() -> None:
    """Let eern's own pixel limit (``max_pixels``) be the decompression-bomb guard, instead of Pillow's global one,
    so that raising ``--max-pixels`` works and eern can re-open its own large outputs. Process-wide, so the
    library never calls it: the CLI does, once per command, and a program that embeds the batch runner may."""
    Image.MAX_IMAGE_PIXELS = None
    ImageFile.LOAD_TRUNCATED_IMAGES = False


# The largest input file read: far above any image within the default pixel limit (89 Mpx of 16-bit RGBA,
# uncompressed, is 716 MB), far below what would exhaust memory.
MAX_FILE_BYTES = 2 << 30


def read_file(path: str | os.PathLike[str], name: str) -> bytes:
    """The bytes of an input file; ``InputImageError``/``InputNotFoundError`` naming it if it cannot be read."""
    try:
        info = os.stat(path)
        mode = info.st_mode
        if stat.S_ISREG(mode) and info.st_size > MAX_FILE_BYTES:
            raise InputImageError(f"'{name}' is {info.st_size / 2**30:.1f} GiB, larger than any image eern reads "
                                  f"({MAX_FILE_BYTES >> 30} GiB)", path=name)
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            # A FIFO would block for ever, a device (/dev/zero) never end: read regular files only.
            raise InputImageError(f"'{name}' is not a regular file (a pipe, socket or device)", path=name,
                                  hint="copy the image to a file first, or pipe it in with '-'")
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"input not found: '{name}'", path=name) from exc
    except IsADirectoryError as exc:
        raise InputImageError(f"'{name}' is a folder", path=name) from exc
    except PermissionError as exc:
        raise InputImageError(f"permission denied reading '{name}'", path=name,
                              hint="check the file's permissions") from exc
    except OSError as exc:
        raise InputImageError(f"cannot read '{name}': {exc.strerror or exc}", path=name) from exc


def read_image(data: bytes, name: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode ``data`` (the bytes of the file called ``name``); raise ``InputImageError`` naming it on any problem."""
    try:
        return _read(data, name, max_pixels)
    except (InputImageError, MissingExtraError):
        raise
    except Image.DecompressionBombError as exc:
        raise InputImageError(f"'{name}' is too large to open safely ({exc})", path=name,
                              hint="raise the limit ({max_pixels=N}) if you trust it") from exc
    except UnidentifiedImageError as exc:
        raise InputImageError(f"'{name}' is not an image eern can read", path=name,
                              hint=f"eern reads {formats.readable_labels()}") from exc
    except MemoryError as exc:
        raise InputImageError(f"not enough memory to decode '{name}'", path=name) from exc
    except Exception as exc:  # Pillow's decoders raise OSError, ValueError, SyntaxError, struct.error ...
        reason = str(exc) or type(exc).__name__
        kind = "truncated" if "truncated" in reason.lower() else "corrupt or unsupported"
        raise InputImageError(f"cannot read '{name}': {kind} ({reason})", path=name,
                              hint="check the file; it may be incomplete or damaged") from exc


def readable_notes(data: bytes) -> list[str]:
    """For a dry run: no note when the file's header reads as an image, else one saying it could not be read.

    Only the header is read (a dry run stays fast), so a file damaged further on is found by the real run.
    """
    try:
        if not data:
            return ["could not be read: empty (0 bytes)"]
        _open(data).close()
    except UnidentifiedImageError:
        return ["could not be read: not an image eern can read (PNG, JPEG, WebP, TIFF, BMP, GIF)"]
    except Exception as exc:  # Pillow's header parsers raise OSError, ValueError, SyntaxError, struct.error ...
        return [f"could not be read: corrupt or unsupported ({str(exc) or type(exc).__name__})"]
    return []


def _open(data: bytes, frame: int = 0) -> Image.Image:
    kind = plugins.sniff(data)  # HEIF or AVIF: told by content, whatever the name
    im = Image.open(io.BytesIO(data), formats=(plugins.load(kind),) if kind else formats.pil_names())
    if frame:
        im.seek(frame)
    return im


def _read(data: bytes, name: str, max_pixels: int | None) -> Decoded:
    if not data:
        raise InputImageError(f"'{name}' is empty (0 bytes)", path=name)
    formats.load_plugin_for(name)
    im = _open(data)
    if im.format == "GIF" and not data.endswith(b";"):
        # Pillow decodes a cut GIF "successfully" with the frames it got: a half download, not an image.
        raise InputImageError(f"'{name}' is truncated (the GIF ends without its trailer)", path=name,
                              hint="download or copy it again")
    count = getattr(im, "n_frames", 1) or 1
    _check_pixels(name, im.size, count, max_pixels)
    first_raw = bit16.high_precision_rawmode(im)  # before getexif(), which may load the pixels at 8 bits
    info = dict(im.info)
    exif = im.getexif()
    decoded = Decoded(name=name, format=im.format or "?", frames=[], icc=info.get("icc_profile") or None,
                      dpi=_dpi(info, exif, im.format), loop=info.get("loop"))
    orientation = exif_tags.orientation(exif)
    decoded.exif = exif_tags.for_output(exif, im.format)
    for index in range(count):
        frame_im = im if index == 0 else _open(data, index)
        _check_pixels(name, frame_im.size, count, max_pixels)  # any frame or page may declare its own size
        raw = first_raw if index == 0 else bit16.high_precision_rawmode(frame_im)
        color, alpha = _arrays(frame_im, data, index, decoded, raw)
        color, alpha = _orient(color, orientation), None if alpha is None else _orient(alpha, orientation)
        decoded.frames.append(Frame(color, alpha, frame_im.info.get("duration") if count > 1 else None))
    # libheif turns HEIC pixels upright itself, and pillow-heif resets the EXIF orientation it had.
    turned = orientation if orientation != 1 else int(info.get("original_orientation") or 1)
    if turned != 1:
        decoded.notes.append(f"turned upright (EXIF orientation {turned})")
    return decoded


def _check_pixels(name: str, size: tuple[int, int], count: int, max_pixels: int | None) -> None:
    width, height = size
    if max_pixels and width * height * count > max_pixels:
        frames = f" x {count} frames" if count > 1 else ""
        raise InputImageError(
            f"'{name}' is {width}x{height}{frames} = {width * height * count / 1e6:.1f} Mpx, above the limit of "
            f"{max_pixels / 1e6:.1f} Mpx (a guard against decompression bombs)",
            path=name, hint="raise it with {max_pixels=N} if you trust the file")


def _dpi(info: dict, exif: Image.Exif, fmt: str | None) -> tuple[float, float] | None:
    """The resolution the file states, or None: no DPI in, none out.

    Pillow's JPEG reader reports 72 DPI for a file whose EXIF lacks a resolution (and JFIF's unit 0 is only an
    aspect ratio), which eern would then have multiplied into a made-up 288 DPI."""
    if fmt == "JPEG" and info.get("jfif_unit") not in (1, 2) and exif_tags.X_RESOLUTION not in exif:
        return None
    try:
        x, y = float(info["dpi"][0]), float(info["dpi"][1])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an H x W (x C) array, as ``ImageOps.exif_transpose`` does to an image."""
    ops = {
        2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1), 6: lambda x: np.rot90(x, -1), 7: lambda x: x.swapaxes(0, 1)[::-1, ::-1],
        8: lambda x: np.rot90(x, 1),
    }
    op = ops.get(orientation)
    return a if op is None else np.ascontiguousarray(op(a))


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """H x W x C -> (grey or RGB, alpha or None); an alpha that is opaque everywhere is dropped."""
    channels = a.shape[2]
    color = a[..., 0] if channels in (1, 2) else a[..., :3]
    alpha = a[..., -1] if channels in (2, 4) else None
    if alpha is not None and alpha.min() == np.iinfo(alpha.dtype).max:
        alpha = None
    return np.ascontiguousarray(color), None if alpha is None else np.ascontiguousarray(alpha)


def _arrays(im: Image.Image, data: bytes, index: int, decoded: Decoded,
            raw: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    if im.format == plugins.HEIF and (im.info.get("bit_depth") or 8) > 8:
        return _split(plugins.read_deep(data, index))
    if raw:
        full = bit16.read_high_precision(lambda: _open(data, index), raw)
        return _split(full)
    im.load()
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L")), None
    if mode == "L":
        return np.asarray(im), None
    if mode in ("LA", "La"):
        return _split(np.asarray(im.convert("LA")))
    if mode in ("P", "PA"):
        rgba = "transparency" in im.info or mode == "PA" or (im.palette is not None and im.palette.mode == "RGBA")
        _note(decoded, "palette image converted to RGB" + ("A" if rgba else ""))
        return _split(np.asarray(im.convert("RGBA" if rgba else "RGB")))
    if mode in ("RGB", "RGBA", "RGBX", "RGBa"):
        target = "RGBA" if mode in ("RGBA", "RGBa") else "RGB"
        return _split(np.asarray(im if mode == target else im.convert(target)))
    if mode == "CMYK":
        return _split(np.asarray(_cmyk_to_rgb(im, decoded)))
    if mode == "YCbCr":
        return np.asarray(im.convert("RGB")), None
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), None
    if mode == "I":
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise InputImageError(f"'{decoded.name}' has 32-bit integer pixels outside 0..65535", path=decoded.name,
                                  hint="convert it to 8- or 16-bit first")
        return a.astype(np.uint16), None
    raise InputImageError(f"'{decoded.name}' has pixel mode {mode}, which eern does not upscale", path=decoded.name,
                          hint="convert it to RGB, grey or 16-bit first (floating-point images are not supported)")


def _cmyk_to_rgb(im: Image.Image, decoded: Decoded) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            decoded.icc = None  # the pixels are sRGB now
            _note(decoded, "CMYK converted to sRGB with its embedded ICC profile")
            return rgb
        except Exception:
            pass
    decoded.icc = None
    _note(decoded, "CMYK converted to RGB without a colour profile (approximate colours)")
    return im.convert("RGB")


def _note(decoded: Decoded, text: str) -> None:
    if text not in decoded.notes:
        decoded.notes.append(text)

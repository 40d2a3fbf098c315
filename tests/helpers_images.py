"""Small images made in the tests, and ways to run ``eern`` on them (shared by the upscale test modules)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from eern_cli.images import provenance
from eern_cli.images.decode import Frame
from eern_cli.images.encode import EncodeOptions, Metadata, encode

REPO = Path(__file__).resolve().parent.parent
FAST = ["--device", "cpu", "--precision", "fp32"]
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
RECORD = provenance.make(weights_sha256="ab" * 32, scale=4.0, tile=256, precision="fp32", device="cpu",
                         alpha="model", input_sha256="cd" * 32, settings={"format": "png"})


def smooth(width: int = 24, height: int = 20, channels: int = 3, *, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """A smooth random image (gradients plus blobs): realistic enough for the model, tiny enough to be fast."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for _ in range(channels):
        a, b, c = rng.random(3)
        planes.append(0.5 + 0.25 * np.sin(x / (3 + 5 * a) + 6 * b) + 0.25 * np.cos(y / (3 + 5 * c)))
    out = np.clip(np.stack(planes, axis=-1), 0, 1)
    full = 65535 if dtype == np.uint16 else 255
    out = np.round(out * full).astype(dtype)
    return out[..., 0] if channels == 1 else out


def save(path: Path, image: Image.Image | np.ndarray, fmt: str | None = None, **params) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, format=fmt, **params)
    return path


def encoded(image: Image.Image | np.ndarray, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def disk_rgba(size: int = 24, *, background=(0, 0, 0)) -> np.ndarray:
    """An opaque white disk (with a soft edge) on a fully transparent background whose colour is ``background``."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(x - size / 2 + 0.5, y - size / 2 + 0.5)
    alpha = np.clip((size * 0.35 - r) * 255 / 2, 0, 255).astype(np.uint8)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = np.where(alpha[..., None] > 0, 255, np.array(background, np.uint8))
    rgba[..., 3] = alpha
    return rgba


def exif_with_thumbnail(orientation: int, thumbnail: bytes) -> bytes:
    """Raw EXIF (``Exif\\0\\0`` + TIFF) with IFD0 {Orientation, Make} and an IFD1 pointing at ``thumbnail``."""
    make = b"TestCam\0"
    ifd0_at = 8
    ifd0 = 2 + 2 * 12 + 4
    make_at = ifd0_at + ifd0
    ifd1_at = make_at + len(make)
    ifd1 = 2 + 2 * 12 + 4
    thumb_at = ifd1_at + ifd1
    out = b"II*\0" + struct.pack("<I", ifd0_at)
    out += struct.pack("<H", 2)
    out += struct.pack("<HHII", 0x010F, 2, len(make), make_at)
    out += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    out += struct.pack("<I", ifd1_at) + make
    out += struct.pack("<H", 2)
    out += struct.pack("<HHII", 0x0201, 4, 1, thumb_at)
    out += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
    out += struct.pack("<I", 0) + thumbnail
    return b"Exif\0\0" + out


def png_text_chunk(data: bytes, key: str, value: str) -> bytes:
    """``data`` (a PNG) with one more tEXt chunk right after IHDR."""
    body = key.encode() + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return data[:33] + chunk + data[33:]


def cli_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("EERN_DEBUG", None)
    # One torch thread: tiny images gain nothing from more, and on a busy CI machine OpenMP threads that
    # spin-wait for each other make every op ~100x slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def eern_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "eern_cli", "upscale", *args]


def run_eern(*args: str, timeout: float = 120, input: bytes | None = None, env: dict | None = None,
             **kw) -> subprocess.CompletedProcess:
    return subprocess.run(eern_cmd(*args), capture_output=True, timeout=timeout, input=input,
                          env=env or cli_env(), cwd=kw.pop("cwd", REPO), **kw)


def upscale_here(capsys, *args: str) -> tuple[int, str]:
    """``eern upscale`` (cpu, fp32) in this process, through the CLI's error boundary: (exit code, stderr)."""
    from eern_cli.cli.app import main

    try:
        main(["upscale", *FAST, *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def decodes_completely(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
            for i in range(1, getattr(im, "n_frames", 1)):
                im.seek(i)
                im.load()
        return True
    except Exception:
        return False


class CountingNearest:
    """A stand-in model for resampling logic: nearest-neighbour x4, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def upscale_array(self, array, progress=None):
        self.calls += 1
        if progress:
            progress(1, 1)
        return np.repeat(np.repeat(array, 4, axis=0), 4, axis=1)


def encode_metadata(**kw) -> Metadata:
    """Output metadata: eern's provenance ``RECORD`` and nothing else unless given."""
    return Metadata(**{"icc": None, "dpi": None, "exif": None, "loop": None, "provenance": RECORD, **kw})


def encode_to_bytes(frames: list[Frame], fmt: str, *, options: EncodeOptions | None = None, **meta) -> bytes:
    """``frames`` as the encoder writes them in ``fmt``."""
    buf = io.BytesIO()
    encode(buf, frames, encode_metadata(**meta), options or EncodeOptions(format=fmt))
    return buf.getvalue()


def random_image(shape: tuple[int, ...], dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """Noise over the dtype's whole range (floats: 0..1): the hardest case for exactness checks."""
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype == np.uint16:
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    return rng.random(shape, dtype=np.float32)

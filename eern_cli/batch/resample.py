"""Scales other than the model's x4: run the model as often as needed, then resample to the exact size.

``--scale S`` (1 <= S <= 16) runs EERN ``ceil(log4 S)`` times (once for S <= 4, twice for 4 < S <= 16), each
pass x4, and then resizes the result to ``round(W * S) x round(H * S)`` with a Lanczos (windowed sinc) filter in
floating point, as Real-ESRGAN's ``--outscale`` does. So ``--scale 2`` is x4 by the model then halved (sharper
than a plain x2 resize), ``--scale 8`` is two model passes, and ``--scale 4`` is the model's output untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from eern_cli.engine import SCALE as MODEL_SCALE
from eern_cli.errors import UsageError

MIN_SCALE, MAX_SCALE = 1.0, 16.0

# run(array float32 0..1, progress) -> array x4; progress(done, total) per tile
Runner = Callable[..., np.ndarray]


def check_scale(scale: float) -> float:
    if not math.isfinite(scale) or not MIN_SCALE <= scale <= MAX_SCALE:
        raise UsageError(f"--scale must be between {MIN_SCALE:g} and {MAX_SCALE:g}, not {scale:g}",
                         hint="4 is the model's own factor; others are made from one or two x4 passes")
    return float(scale)


def passes(scale: float) -> int:
    """Model passes needed to reach at least ``scale``."""
    n = 1
    while MODEL_SCALE**n < scale - 1e-9:
        n += 1
    return n


def target_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def is_plain(width: int, height: int, scale: float) -> bool:
    """True when one model pass gives exactly the requested size (no resampling)."""
    return passes(scale) == 1 and target_size(width, height, scale) == (MODEL_SCALE * width, MODEL_SCALE * height)


def resize(array: np.ndarray, size: tuple[int, int],
           method: Image.Resampling = Image.Resampling.LANCZOS) -> np.ndarray:
    """Resize a float32 H x W or H x W x C array to ``size`` (width, height), channel by channel, in float."""
    if (array.shape[1], array.shape[0]) == size:
        return array
    if array.ndim == 2:
        return np.asarray(Image.fromarray(np.ascontiguousarray(array, np.float32), "F").resize(size, method))
    planes = [resize(array[..., c], size, method) for c in range(array.shape[2])]
    return np.stack(planes, axis=-1)


def upscale_to(run: Runner, array: np.ndarray, scale: float,
               progress: Callable[[int, int, int, int], None] | None = None) -> np.ndarray:
    """Upscale a float32 0..1 array by ``scale``: model passes, then Lanczos to the exact size; clipped to 0..1."""
    height, width = array.shape[:2]
    steps = passes(scale)
    out = array
    for step in range(steps):
        tick = None if progress is None else (lambda d, t, s=step: progress(s, steps, d, t))
        out = run(out, progress=tick)
    # A new array: the resize's (or the model's) result may be a read-only view of Pillow's buffer.
    return np.clip(resize(out, target_size(width, height, scale)), 0.0, 1.0)


def to_float(array: np.ndarray) -> np.ndarray:
    full = 65535.0 if array.dtype == np.uint16 else 255.0
    return array.astype(np.float32) * np.float32(1.0 / full)


def from_float(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    full = 65535.0 if dtype == np.uint16 else 255.0
    return np.clip(array * full + 0.5, 0, full).astype(dtype)

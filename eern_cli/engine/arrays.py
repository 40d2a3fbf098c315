"""numpy image arrays into the tensor contract (``upscaler.py``), and the model's output tiles back into arrays.

uint8 is read as 0..255, uint16 as 0..65535 (processed at full precision), float as 0..1; a grey array goes in
as three equal channels and comes back as BT.601 luma of the three output channels. Integer results are
clamped and rounded, float results clamped to 0..1.
"""

from __future__ import annotations

import numpy as np
import torch

from eern_cli.engine import SCALE
from eern_cli.errors import InputImageError
from eern_cli.protocols import TileSink

# BT.601 luma, as PIL's convert("L"): how a grayscale image's three output channels become one.
LUMA = (0.299, 0.587, 0.114)


def full_scale(array: np.ndarray) -> float:
    """The value that means full intensity in ``array``'s dtype; refuses layouts and dtypes eern cannot read."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3)):
        raise InputImageError(
            f"expected an H x W or H x W x 3 image array, got shape {array.shape}",
            hint="alpha channels and other layouts are handled by the image loader",
        )
    if array.dtype == np.uint8:
        return 255.0
    if array.dtype == np.uint16:
        return 65535.0
    if array.dtype in (np.float32, np.float64, np.float16):
        return 1.0
    raise InputImageError(f"unsupported image array dtype {array.dtype}", hint="use uint8, uint16 or float")


def array_in(array: np.ndarray, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, np.ndarray, TileSink]:
    """``array``'s pixels as (3, H, W) on ``device`` in ``dtype`` (0..255), the (empty) result array, and the
    sink that writes x4 output tiles (1, 3, h, w) into the result."""
    full = full_scale(array)
    grey = array.ndim == 2 or array.shape[2] == 1
    # Straight to the working precision, keeping the array's channels-last layout: no full-size fp32
    # copy of the input (uint8 values are exact in every precision).
    contiguous = np.ascontiguousarray(array)
    if not contiguous.flags.writeable:  # torch warns on read-only arrays (e.g. np.asarray of a PIL image)
        contiguous = contiguous.copy()
    pixels = torch.from_numpy(contiguous).to(device)
    pixels = pixels.reshape(array.shape[0], array.shape[1], -1).permute(2, 0, 1)
    pixels = pixels.to(dtype) if full == 255.0 else (pixels.float() * (255.0 / full)).to(dtype)
    if grey:
        pixels = pixels.expand(3, -1, -1)
    height, width = array.shape[:2]
    out_shape = (SCALE * height, SCALE * width) + (() if array.ndim == 2 else (1 if grey else 3,))
    result = np.empty(out_shape, dtype=array.dtype)
    view = torch.from_numpy(result).reshape(SCALE * height, SCALE * width, -1)
    luma = torch.tensor(LUMA, device=device).view(1, 3, 1, 1)

    def store(top: int, left: int, tile: torch.Tensor) -> None:
        # The tile is ours to overwrite. 8-bit RGB is clamped and rounded in the working precision
        # (exact: every integer up to 255 is representable, so rounding there equals rounding in fp32).
        if grey:
            tile = (tile.float() * luma).sum(dim=1, keepdim=True)
        if full != 255.0:
            tile = tile.float() * (full / 255.0)
        tile = tile.clamp_(0.0, full)
        if full != 1.0:
            tile = tile.round_()
        rows, cols = tile.shape[-2:]
        view[top : top + rows, left : left + cols].copy_(tile[0].permute(1, 2, 0))

    return pixels, result, store

"""The x8 self-ensemble (``--tta``): a little more quality for eight times the time.

The image is upscaled in each of its eight orientations (four rotations by 90 degrees, each mirrored or not);
each result is turned back to the original orientation and the eight are averaged in fp32 before anything
is rounded (Lim et al., EDSR, 2017). Every pass goes through ``Upscaler.stream_tensor``, the exact engine, so
each pass, and therefore the mean, is the same for every tile size.

The inverse transform costs no copies: the fp32 accumulator is a numpy array, and ``np.rot90``/``np.flip`` of
it are views, so each pass's tiles are added straight into the accumulator seen in that pass's orientation.
The accumulator holds 3 x 16 fp32 values per input pixel (192 bytes) besides what one pass needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from eern_cli.engine.model import SCALE
from eern_cli.protocols import Progress, TileSink
from eern_cli.upscaler import Upscaler

# (quarter turns counter-clockwise, mirrored left-right first): the eight symmetries of the square.
ORIENTATIONS: tuple[tuple[int, bool], ...] = tuple((turns, mirrored) for mirrored in (False, True) for turns in range(4))
# Output rows handed to the caller's sink at a time once the mean is done: bounds the device copy.
STRIP_ROWS = 256


def orient(pixels: Any, turns: int, mirrored: bool) -> Any:
    """``pixels`` (a numpy array or a tensor, channels first) seen in one orientation: mirror, then rotate."""
    if isinstance(pixels, np.ndarray):
        return np.rot90(np.flip(pixels, -1) if mirrored else pixels, turns, axes=(-2, -1))
    return torch.rot90(pixels.flip(-1) if mirrored else pixels, turns, dims=(-2, -1))


class SelfEnsemble:
    """An ``Upscaler`` whose every result is the mean over the eight orientations of the image.

    It has the wrapped upscaler's attributes (device, precision, tile, weights ...) and entry points
    (``upscale``, ``upscale_array``, ``upscale_tensor``, ``stream_tensor``) with the same contracts; only the
    pixels differ.
    """

    tta = True

    def __init__(self, upscaler: Upscaler) -> None:
        self.upscaler = upscaler

    def __getattr__(self, name: str) -> Any:
        return getattr(self.upscaler, name)

    # The array and PIL entry points convert to the tensor entry points, which are the ensemble's here.
    upscale_array = Upscaler.upscale_array
    upscale = Upscaler.upscale
    _array_in = Upscaler._array_in

    def upscale_tensor(self, image: torch.Tensor, *, progress: Progress | None = None) -> torch.Tensor:
        """``Upscaler.upscale_tensor`` of the eight orientations, each turned back, averaged in fp32."""
        return torch.from_numpy(self._mean(image, progress)).unsqueeze(0)

    def stream_tensor(self, image: torch.Tensor, sink: TileSink, *, progress: Progress | None = None) -> None:
        """The mean, handed to ``sink(top, left, rows)`` in strips of full-width rows on the compute device."""
        mean = self.upscale_tensor(image, progress=progress)
        for top in range(0, mean.shape[-2], STRIP_ROWS):
            sink(top, 0, mean[..., top : top + STRIP_ROWS, :].to(self.upscaler.device))

    @torch.inference_mode()
    def _mean(self, image: torch.Tensor, progress: Progress | None) -> np.ndarray:
        if image.dim() == 3:
            image = image.unsqueeze(0)
        height, width = image.shape[-2:]
        total = np.zeros((3, SCALE * height, SCALE * width), dtype=np.float32)
        for index, (turns, mirrored) in enumerate(ORIENTATIONS):
            seen = orient(total, turns, mirrored)

            def add(top: int, left: int, tile: torch.Tensor, seen: np.ndarray = seen) -> None:
                rows, cols = tile.shape[-2:]
                seen[:, top : top + rows, left : left + cols] += tile[0].float().cpu().numpy()

            self.upscaler.stream_tensor(orient(image, turns, mirrored), add, progress=_pass(progress, index))
        total *= 1.0 / len(ORIENTATIONS)
        return total


def _pass(progress: Progress | None, index: int) -> Progress | None:
    """Progress over all eight passes from one pass's (done, total)."""
    if progress is None:
        return None
    passes = len(ORIENTATIONS)
    return lambda done, total: progress(index * total + done, passes * total)

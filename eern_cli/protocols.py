"""What the batch runner, the frame upscaler and the benchmarks need from an upscaler, as typed Protocols.

``Upscaler`` satisfies all of them; a test or another backend can stand in for it by providing the same
methods. Importing this module imports neither torch nor numpy (they are named for type checkers only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

    from eern_cli.weights.loading import LoadedWeights

# progress(done, total): tiles finished of this call
Progress = Callable[[int, int], None]
# sink(top, left, tile): one tile of the output, (1, 3, h, w) float on the compute device, at output pixel (top, left)
TileSink = Callable[[int, int, "torch.Tensor"], None]


class ArrayUpscaler(Protocol):
    """Upscales numpy images x4 (``Upscaler.upscale_array``)."""

    def upscale_array(self, array: np.ndarray, *, progress: Progress | None = None) -> np.ndarray: ...


class BatchUpscaler(ArrayUpscaler, Protocol):
    """An ``ArrayUpscaler`` that also says what it runs with, for provenance records and progress events."""

    device: torch.device
    precision: str
    tile: int
    weights: LoadedWeights


class TensorUpscaler(Protocol):
    """Upscales tensors on the 0..255 scale (``Upscaler.upscale_tensor`` / ``stream_tensor``); the benchmarks
    time these with the input already on ``device`` in ``dtype``."""

    device: torch.device
    dtype: torch.dtype
    whole_up_to: int  # images of at most this many pixels run whole whatever the tile (``regions.runs_whole``)

    def upscale_tensor(self, image: torch.Tensor, *, progress: Progress | None = None) -> torch.Tensor: ...

    def stream_tensor(self, image: torch.Tensor, sink: TileSink, *, progress: Progress | None = None) -> None: ...

"""The library's entry point: ``Upscaler(...).upscale(image)``.

One ``Upscaler`` holds the model on its device in its working precision and nothing else: every call keeps
its state in local variables, so one instance can serve several threads.

Tensor contract (the one place it is written; ``upscale_tensor`` and ``stream_tensor`` follow it, and every
other entry point converts to it): the input is RGB, shape (3, H, W) or (1, 3, H, W), any float dtype, on any
device, on the **0..255 scale** (no normalisation), any H, W >= 1; images under 15 px per side (ESA's
minimum) are padded by edge replication and the output cropped back. The output is RGB (1, 3, 4H, 4W) float
on the same 0..255 scale, not clamped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from eern_cli.engine import SCALE, batches, retries
from eern_cli.engine.arrays import array_in, full_scale
from eern_cli.engine.devices import (
    DTYPES, resolve_channels, resolve_device, resolve_precision, resolve_tile, whole_frame_pixels,
)
from eern_cli.engine.model import MIN_SIDE
from eern_cli.engine.regions import runs_whole
from eern_cli.engine.retries import run_with_retries
from eern_cli.engine.scratch import feature_bytes_per_pixel
from eern_cli.engine.whole import forward_whole
from eern_cli.engine.widen import widened
from eern_cli.errors import InputImageError, InsufficientMemoryError
from eern_cli.protocols import Progress, TileSink
from eern_cli.weights.loading import load_model

if TYPE_CHECKING:
    from PIL import Image

ImageT = TypeVar("ImageT", "Image.Image", np.ndarray)
# Host memory a run holds per input pixel besides the feature maps: the 16-pixel output (48 B for 8-bit RGB),
# input copies and the encoder's copy of the output; benchmarks/soak.py measured 210-260 B.
HOST_BYTES_PER_PIXEL = 256


class Upscaler:
    """x4 super-resolution with EERN on one device.

    ``weights``: None for the bundled official checkpoint, a path (.pt/.pth/.safetensors) or
    ``hf://OWNER/REPO/FILE[@REVISION]``. ``device``: auto, cpu, cuda, cuda:N or mps. ``precision``: auto,
    fp32, bf16 or fp16. ``tile``: input pixels per tile side, None for the device's default, 0 for the
    whole frame; every tile size gives the whole-frame result. ``scratch``: where the full-resolution
    feature maps live: None on the device, "host" in CPU memory, or a folder for a memory-mapped file.

    After construction ``device`` (a ``torch.device``), ``precision`` ("fp32", "bf16" or "fp16") and ``tile``
    (an int, 0 = whole frame; ``whole_up_to``: images of at most that many pixels run whole all the same, by
    default on a CPU) are what ``auto`` resolved to, ``channels`` the width the feature maps run at (the
    model's 84, or zero-padded to 96 where this CPU measured that faster: same output), and ``reasons`` says why
    each was chosen.
    """

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        precision: str = "auto",
        tile: int | None = None,
        scratch: str | os.PathLike[str] | None = None,
    ) -> None:
        self.device = resolve_device(device)
        precision_choice = resolve_precision(precision, self.device)
        tile_choice = resolve_tile(tile, self.device)
        self.precision: str = precision_choice.value
        self.tile: int = int(tile_choice.value)
        self.whole_up_to: int = whole_frame_pixels(tile, self.device)
        channels_choice = resolve_channels(self.precision, self.device)
        self.channels: int = int(channels_choice.value)
        self.reasons: dict[str, str] = {
            "precision": precision_choice.reason, "tile": tile_choice.reason, "channels": channels_choice.reason
        }
        self.dtype = DTYPES[self.precision]
        self.scratch = scratch
        model, self.weights = load_model(weights)
        model = widened(model.to(self.device, self.dtype), self.channels)
        self.model = model.to(memory_format=torch.channels_last)

    @property
    def scale(self) -> int:
        return SCALE

    def scratch_bytes_per_pixel(self) -> int:
        """Memory the exact tiling keeps per input pixel for its feature maps (output not included)."""
        return feature_bytes_per_pixel(self.model, self.dtype)

    def upscale_tensor(self, image: torch.Tensor, *, progress: Progress | None = None) -> torch.Tensor:
        """The x4 output as one (1, 3, 4H, 4W) float32 tensor on the CPU (see the module's tensor contract)."""
        height, width = _check_shape(image)
        collected = torch.empty((1, 3, SCALE * height, SCALE * width), dtype=torch.float32)

        def collect(top: int, left: int, tile: torch.Tensor) -> None:
            collected[..., top : top + tile.shape[-2], left : left + tile.shape[-1]].copy_(tile)

        self.stream_tensor(image, collect, progress=progress)
        return collected

    @torch.inference_mode()
    def stream_tensor(self, image: torch.Tensor, sink: TileSink, *, progress: Progress | None = None) -> None:
        """The x4 output tile by tile: ``sink(top, left, tile)`` with each (1, 3, h, w) tile in output pixels, on
        the compute device (see the module's tensor contract). Memory stays at the feature maps plus whatever
        the sink keeps; this is where inference enters, every other call comes through here."""
        height, width = _check_shape(image)
        self.check_memory(height, width)
        x = image.reshape(1, 3, height, width).to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        pad_bottom, pad_right = max(MIN_SIDE - height, 0), max(MIN_SIDE - width, 0)
        if pad_bottom or pad_right:
            x = F.pad(x.float(), (0, pad_right, 0, pad_bottom), mode="replicate").to(self.dtype)
            sink = _cropping(sink, SCALE * height, SCALE * width)
        self._run(x, sink, progress)

    def _run(self, x: torch.Tensor, sink: TileSink, progress: Progress | None) -> None:
        """Run with the configured tile; on an out-of-memory error retry with smaller tiles, then host scratch."""
        if self.device.type == "cuda":
            # cuDNN autotuning pays off over a batch of same-sized tiles; TF32 would make "fp32" inexact.
            # torch's cuDNN flags are process-wide: they hold only for this call and are restored after it
            # (convolutions that other threads run meanwhile see them too).
            exact = self.dtype == torch.float32
            with torch.backends.cudnn.flags(enabled=True, benchmark=True, deterministic=False, allow_tf32=not exact):
                return run_with_retries(self, x, sink, progress)
        return run_with_retries(self, x, sink, progress)

    def runs_whole(self, height: int, width: int) -> bool:
        """Whether an H x W image runs as one whole frame with this upscaler's tile (``regions.runs_whole``)."""
        return runs_whole(height, width, self.tile, self.whole_up_to)

    def forward_whole(self, x: torch.Tensor) -> torch.Tensor:
        """The model on whole frames (N, 3, H, W), already on the device in the working dtype, channels-last."""
        return forward_whole(self.model, x)

    def check_memory(self, height: int, width: int) -> None:
        """Refuse before starting when the run cannot fit in the host's free memory.

        Counted per input pixel: the feature maps where they live in host memory, and ``HOST_BYTES_PER_PIXEL``
        for everything else a run holds (the output, input copies, the encoder's copy of the output).
        """
        on_host = self.device.type == "cpu" or str(self.scratch) == "host"
        mapped = self.scratch is not None and str(self.scratch) != "host"
        pixels = height * width
        whole = self.runs_whole(height, width)
        # The whole-frame forward keeps several 84-channel maps alive (benchmarks/memory.py measured ~1.9 kB per
        # input pixel in fp32, about five maps plus the rest); the exact tiling its two maps.
        whole_frame_bytes = 5 * self.channels * torch.empty((), dtype=self.dtype).element_size()
        feature_map = (whole_frame_bytes if whole else self.scratch_bytes_per_pixel()) * pixels
        needed = HOST_BYTES_PER_PIXEL * pixels + (feature_map if on_host and not mapped else 0)
        available = retries.available_memory()
        if available is not None and needed > available:
            hint = "use a smaller image" if mapped else "use {scratch=DIR} to keep the feature maps in a file"
            raise InsufficientMemoryError(
                f"a {width}x{height} image needs about {needed / 2**30:.1f} GiB of memory, and "
                f"{available / 2**30:.1f} GiB is free",
                hint=hint, size=(width, height), needed_bytes=needed, available_bytes=available,
                device=str(self.device),
            )

    def upscale_array(self, array: np.ndarray, *, progress: Progress | None = None) -> np.ndarray:
        """Upscale an H x W (grey) or H x W x 3 (RGB) array; the result has the same dtype and channels.

        uint8 is read as 0..255, uint16 as 0..65535 (processed at full precision), float as 0..1.
        Integer results are clamped and rounded; float results are clamped to 0..1.
        """
        pixels, result, store = self._array_in(array)
        self.stream_tensor(pixels, store, progress=progress)
        return result

    def batch_size(self, height: int, width: int) -> int:
        """How many H x W images ``upscale_arrays`` runs through one forward (1: one by one): several only where
        a batch gives each image bit for bit what it gets alone (``engine/batches.py``)."""
        return batches.batch_size(self, height, width)

    def upscale_arrays(self, arrays: Sequence[np.ndarray], *, progress: Progress | None = None) -> list[np.ndarray]:
        """Upscale arrays of one shape and dtype, each exactly as ``upscale_array`` would (same contract), small
        ones several to a forward (``batch_size``), where a forward's fixed cost dominates. ``progress(done,
        total)`` counts arrays."""
        return batches.upscale_arrays(self, arrays, progress)

    def _array_in(self, array: np.ndarray) -> tuple[torch.Tensor, np.ndarray, TileSink]:
        """Check ``array`` and whether it fits; its pixels, the (empty) result and the sink that fills it
        (``engine/arrays.py``)."""
        full_scale(array)
        self.check_memory(array.shape[0], array.shape[1])
        return array_in(array, self.device, self.dtype)

    def upscale(self, image: ImageT, *, progress: Progress | None = None) -> ImageT:
        """Upscale a PIL image (modes RGB and L) or a numpy array (see ``upscale_array``); same type back."""
        if isinstance(image, np.ndarray):
            return self.upscale_array(image, progress=progress)
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise InputImageError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
        if image.mode not in ("RGB", "L"):
            raise InputImageError(
                f"image mode {image.mode} is not supported here",
                hint="convert it to RGB or L first, or use 'eern upscale', which handles every image kind",
            )
        out = self.upscale_array(np.asarray(image), progress=progress)
        return Image.fromarray(out)


def _check_shape(image: torch.Tensor) -> tuple[int, int]:
    if image.dim() not in (3, 4) or image.shape[-3] != 3 or (image.dim() == 4 and image.shape[0] != 1):
        raise InputImageError(f"expected a (3, H, W) or (1, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
    return int(image.shape[-2]), int(image.shape[-1])


def _cropping(sink: TileSink, height: int, width: int) -> TileSink:
    def cropped(top: int, left: int, tile: torch.Tensor) -> None:
        tile = tile[..., : max(height - top, 0), : max(width - left, 0)]
        if tile.numel():
            sink(top, left, tile)

    return cropped

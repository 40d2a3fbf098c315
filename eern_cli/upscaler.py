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

from eern_cli.engine import SCALE
from eern_cli.engine.devices import (
    DTYPES, resolve_channels, resolve_device, resolve_precision, resolve_tile, whole_frame_pixels,
)
from eern_cli.engine.model import MIN_SIDE
from eern_cli.engine.regions import runs_whole
from eern_cli.engine.scratch import feature_bytes_per_pixel
from eern_cli.engine.tiled import run_exact_tiled
from eern_cli.engine.whole import forward_whole
from eern_cli.engine.widen import widened
from eern_cli.errors import InputImageError, InsufficientMemoryError
from eern_cli.protocols import Progress, TileSink
from eern_cli.weights.loading import load_model

if TYPE_CHECKING:
    from PIL import Image

ImageT = TypeVar("ImageT", "Image.Image", np.ndarray)
MIN_RETRY_TILE = 32
# Host memory a run holds per input pixel besides the feature maps: the 16-pixel output (48 B for 8-bit RGB),
# input copies and the encoder's copy of the output; benchmarks/soak.py measured 210-260 B.
HOST_BYTES_PER_PIXEL = 256
# BT.601 luma, as PIL's convert("L"): how a grayscale image's three output channels become one.
LUMA = (0.299, 0.587, 0.114)


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
                return self._run_with_retries(x, sink, progress)
        return self._run_with_retries(x, sink, progress)

    def _run_with_retries(self, x: torch.Tensor, sink: TileSink, progress: Progress | None) -> None:
        tile, scratch, whole_up_to = self.tile, self.scratch, self.whole_up_to
        while True:
            try:
                if runs_whole(x.shape[-2], x.shape[-1], tile, whole_up_to):
                    sink(0, 0, self.forward_whole(x))
                    if progress:
                        progress(1, 1)
                else:
                    run_exact_tiled(self.model, x, tile, sink, scratch=scratch, progress=progress)
                return
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not _is_out_of_memory(exc):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                ran_whole_by_size = whole_up_to and not runs_whole(x.shape[-2], x.shape[-1], tile)
                whole_up_to = 0  # retries are tiled by their tile size alone
                if ran_whole_by_size:
                    continue  # in the configured tiles first
                if tile == 0 or tile > MIN_RETRY_TILE:
                    tile = max(MIN_RETRY_TILE, min(tile or max(x.shape[-2:]), max(x.shape[-2:])) // 2)
                elif scratch is None and self.device.type != "cpu":
                    scratch = "host"
                else:
                    raise InsufficientMemoryError(
                        f"out of memory on {self.device} for a {x.shape[-1]}x{x.shape[-2]} image, even in "
                        f"{MIN_RETRY_TILE} px tiles",
                        hint="use {scratch=DIR} (a memory-mapped file), {precision=bf16}, or a smaller image",
                        size=(x.shape[-1], x.shape[-2]), device=str(self.device),
                    ) from exc

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
        whole = runs_whole(height, width, self.tile, self.whole_up_to)
        # The whole-frame forward keeps several 84-channel maps alive (benchmarks/memory.py measured ~1.9 kB per
        # input pixel in fp32, about five maps plus the rest); the exact tiling its two maps.
        whole_frame_bytes = 5 * self.channels * torch.empty((), dtype=self.dtype).element_size()
        feature_map = (whole_frame_bytes if whole else self.scratch_bytes_per_pixel()) * pixels
        needed = HOST_BYTES_PER_PIXEL * pixels + (feature_map if on_host and not mapped else 0)
        available = _available_memory()
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
        """How many H x W images ``upscale_arrays`` runs through one forward (1: one by one).

        Several only where an image comes out of a batch exactly as it comes out alone, so that a result never
        depends on the images beside it: on the CPU in bf16 or fp16, where every convolution goes to oneDNN
        whatever the batch size (tests/test_upscaler.py checks it). In fp32 PyTorch runs a single image's small
        convolutions (ESA's 1/6-scale maps) with its own kernels and a batch's with oneDNN, 1 level apart; on
        a GPU cuDNN may choose other kernels for another batch size. A batch holds at most one tile's worth
        of input pixels (the device's default tile when tiling is off): no more memory than a tile needs.
        """
        height, width = max(height, MIN_SIDE), max(width, MIN_SIDE)
        whole = runs_whole(height, width, self.tile, self.whole_up_to)
        if self.device.type != "cpu" or self.dtype == torch.float32 or not whole:
            return 1
        side = self.tile or int(resolve_tile(None, self.device).value)
        return max(1, side * side // (height * width))

    def upscale_arrays(self, arrays: Sequence[np.ndarray], *, progress: Progress | None = None) -> list[np.ndarray]:
        """Upscale arrays of one shape and dtype, each exactly as ``upscale_array`` would (same contract).

        Why: for a small image most of a forward's time is a fixed cost per call, so small images go through
        the model together, ``batch_size(H, W)`` at a time, as one (N, 3, H, W) batch (120x80 images on a
        2-core Xeon in bf16: 34 ms each in batches of 4-16, 41 ms one by one). ``progress(done, total)``
        counts arrays.
        """
        arrays = list(arrays)
        for array in arrays[1:]:
            if array.shape != arrays[0].shape or array.dtype != arrays[0].dtype:
                raise InputImageError(
                    f"upscale_arrays takes arrays of one shape and dtype, got {arrays[0].shape} {arrays[0].dtype} "
                    f"and {array.shape} {array.dtype}",
                    hint="group the arrays by shape and dtype, or call upscale_array on each",
                )
        if not arrays:
            return []
        size = self.batch_size(arrays[0].shape[0], arrays[0].shape[1])
        results: list[np.ndarray] = []
        for start in range(0, len(arrays), size):
            chunk = arrays[start : start + size]
            results.extend(self._upscale_batch(chunk) if len(chunk) > 1 else [self.upscale_array(chunk[0])])
            if progress:
                progress(len(results), len(arrays))
        return results

    @torch.inference_mode()
    def _upscale_batch(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Same-shape whole-frame arrays on the CPU through one forward: the steps of ``stream_tensor`` and
        ``_run`` on an (N, 3, H, W) batch. Out of memory, each runs alone (with ``_run``'s retries in tiles)."""
        inputs = [self._array_in(array) for array in arrays]
        x = torch.stack([pixels for pixels, _, _ in inputs]).contiguous(memory_format=torch.channels_last)
        height, width = x.shape[-2:]
        pad_bottom, pad_right = max(MIN_SIDE - height, 0), max(MIN_SIDE - width, 0)
        if pad_bottom or pad_right:
            x = F.pad(x.float(), (0, pad_right, 0, pad_bottom), mode="replicate").to(self.dtype)
        try:
            y = self.forward_whole(x)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not _is_out_of_memory(exc):
                raise
            return [self.upscale_array(array) for array in arrays]
        for index, (_, _, store) in enumerate(inputs):
            store(0, 0, y[index : index + 1, :, : SCALE * height, : SCALE * width])
        return [result for _, result, _ in inputs]

    def _array_in(self, array: np.ndarray) -> tuple[torch.Tensor, np.ndarray, TileSink]:
        """Check ``array``; its pixels as (3, H, W) on the device in the working precision, the (empty) result
        array, and the sink that writes output tiles into the result."""
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3)):
            raise InputImageError(
                f"expected an H x W or H x W x 3 image array, got shape {array.shape}",
                hint="alpha channels and other layouts are handled by the image loader",
            )
        if array.dtype == np.uint8:
            full = 255.0
        elif array.dtype == np.uint16:
            full = 65535.0
        elif array.dtype in (np.float32, np.float64, np.float16):
            full = 1.0
        else:
            raise InputImageError(f"unsupported image array dtype {array.dtype}", hint="use uint8, uint16 or float")
        self.check_memory(array.shape[0], array.shape[1])
        grey = array.ndim == 2 or array.shape[2] == 1
        # Straight to the working precision, keeping the array's channels-last layout: no full-size fp32
        # copy of the input (uint8 values are exact in every precision).
        contiguous = np.ascontiguousarray(array)
        if not contiguous.flags.writeable:  # torch warns on read-only arrays (e.g. np.asarray of a PIL image)
            contiguous = contiguous.copy()
        pixels = torch.from_numpy(contiguous).to(self.device)
        pixels = pixels.reshape(array.shape[0], array.shape[1], -1).permute(2, 0, 1)
        pixels = pixels.to(self.dtype) if full == 255.0 else (pixels.float() * (255.0 / full)).to(self.dtype)
        if grey:
            pixels = pixels.expand(3, -1, -1)
        height, width = array.shape[:2]
        out_shape = (SCALE * height, SCALE * width) + (() if array.ndim == 2 else (1 if grey else 3,))
        result = np.empty(out_shape, dtype=array.dtype)
        view = torch.from_numpy(result).reshape(SCALE * height, SCALE * width, -1)
        luma = torch.tensor(LUMA, device=self.device).view(1, 3, 1, 1)

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


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)  # the CPU allocator raises a plain RuntimeError
    return "can't allocate memory" in text or "DefaultCPUAllocator" in text


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where unknown, and then nothing is refused up front."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cropping(sink: TileSink, height: int, width: int) -> TileSink:
    def cropped(top: int, left: int, tile: torch.Tensor) -> None:
        tile = tile[..., : max(height - top, 0), : max(width - left, 0)]
        if tile.numel():
            sink(top, left, tile)

    return cropped

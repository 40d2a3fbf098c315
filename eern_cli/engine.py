"""Exact tiled inference for EERN: tiles that give the whole-frame result.

ESA's gate is a bilinear resize of a ~1/6-scale map whose grid and scale factor depend on the size of the
whole input, so cutting the image into tiles and running the network on each (overlap-and-crop, as
Real-ESRGAN does) changes the output everywhere, not only near the seams. Instead the network runs layer by
layer over all tiles:

* a block's two 3x3 convs are computed per tile with a 2 px halo read from the previous block's output;
* ESA's stride-2 conv is computed per tile on the global grid (tile origins are even, and a tile reads one
  extra row and column so that output row r sees input rows 2r..2r+2), into a small global map;
* the 7x7/3 max-pool and conv3 run once on that small global map;
* the bilinear resize samples the small map at each tile's global coordinates with the whole image's
  scale factor (``align_corners=False``), and the gate is applied lazily when the next stage reads a tile.

One full-resolution 84-channel feature map lives for the whole image (the head's output is recomputed from
the input instead of kept): 84 values per input pixel, i.e. 336 bytes in fp32 and 168 in bf16/fp16. Each
block overwrites it in place: a tile's new features wait in a small queue until every tile that reads its
old values (its neighbours, through their halo) is done, so besides the map only about one row of tiles is
held. The map can live on the compute device, in host memory or in a memory-mapped scratch file.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import OutputError
from .model import EERN, ESA

# One tile's result: (top, left) in output pixels and a (1, 3, 4h, 4w) float tensor on the compute device.
TileSink = Callable[[int, int, torch.Tensor], None]
Progress = Callable[[int, int], None]

def feature_bytes_per_pixel(model: EERN, dtype: torch.dtype) -> int:
    """Bytes of scratch the exact tiling keeps per input pixel: its one full-resolution feature map (the
    output and about one row of tiles in flight not included)."""
    return model.head.out_channels * torch.empty((), dtype=dtype).element_size()


@dataclass(frozen=True)
class Region:
    """A half-open rectangle of input pixels: rows [top, bottom), columns [left, right)."""

    top: int
    bottom: int
    left: int
    right: int

    def grown(self, halo: int, height: int, width: int, *, extra: int = 0) -> Region:
        """This region plus ``halo`` pixels each side (and ``extra`` more below/right), clipped to the image."""
        return Region(
            max(self.top - halo, 0),
            min(self.bottom + extra + halo, height),
            max(self.left - halo, 0),
            min(self.right + extra + halo, width),
        )

    def of(self, t: torch.Tensor) -> torch.Tensor:
        return t[..., self.top : self.bottom, self.left : self.right]

    def within(self, outer: Region, t: torch.Tensor) -> torch.Tensor:
        """The part of ``t`` (computed over ``outer``) that covers this region."""
        return t[
            ...,
            self.top - outer.top : self.bottom - outer.top,
            self.left - outer.left : self.right - outer.left,
        ]


def tile_regions(height: int, width: int, tile: int) -> list[Region]:
    """Regions of about ``tile`` x ``tile`` pixels whose origins are even (ESA's stride-2 grid needs that).

    Where the image is narrow enough, a region is a full-width strip of the same area: a strip of a
    channels-last map is contiguous in memory, so reading and writing it copies nothing, and its halo
    costs no more than a square tile's as long as it is at least 64 rows high.
    """
    step = max(2, tile - tile % 2)
    if width <= step * step // 64:
        rows = max(64, step * step // width)
        rows -= rows % 2
        return [Region(top, min(top + rows, height), 0, width) for top in range(0, height, rows)]
    return [
        Region(top, min(top + step, height), left, min(left + step, width))
        for top in range(0, height, step)
        for left in range(0, width, step)
    ]


class _Axis:
    """PyTorch's bilinear resize (align_corners=False) along one axis, as sparse source indices and weights."""

    def __init__(self, src: int, dst: int) -> None:
        scale = torch.tensor(src, dtype=torch.float32) / torch.tensor(dst, dtype=torch.float32)
        pos = ((torch.arange(dst, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_(min=0.0)
        self.lo = pos.to(torch.int64)
        self.hi = torch.where(self.lo < src - 1, self.lo + 1, self.lo)
        self.frac = pos - self.lo.to(torch.float32)

    def matrix(self, start: int, stop: int) -> tuple[int, torch.Tensor]:
        """(first source index, dense weights (stop - start, band)) for destination samples [start, stop)."""
        lo, hi, frac = self.lo[start:stop], self.hi[start:stop], self.frac[start:stop]
        first = int(lo[0])
        band = int(hi[-1]) - first + 1
        weights = torch.zeros((stop - start, band), dtype=torch.float32)
        rows = torch.arange(stop - start)
        weights.index_put_((rows, lo - first), 1 - frac, accumulate=True)
        weights.index_put_((rows, hi - first), frac, accumulate=True)
        return first, weights


class PendingGate:
    """ESA's gate for one block, computed from the global small map and applied when a region is read."""

    def __init__(self, esa: ESA, small: torch.Tensor, height: int, width: int) -> None:
        self.esa = esa
        self.map = esa.conv3(ESA.pooled(small)).float()[0].contiguous()  # (C, h, w), fp32 for the resize
        self.rows = _Axis(self.map.shape[-2], height)
        self.cols = _Axis(self.map.shape[-1], width)

    def resized(self, region: Region, dtype: torch.dtype) -> torch.Tensor:
        """The small map resized to the whole image, over ``region`` only: (1, C, h, w), channels-last."""
        top, rows = self.rows.matrix(region.top, region.bottom)
        left, cols = self.cols.matrix(region.left, region.right)
        band = self.map[:, top : top + rows.shape[1], left : left + cols.shape[1]]
        device = band.device
        across = band @ cols.to(device).T  # (C, band rows, w)
        channels, band_rows, w = across.shape
        up = rows.to(device) @ across.permute(1, 2, 0).reshape(band_rows, w * channels)  # (h, w * C)
        return up.view(1, region.bottom - region.top, w, channels).permute(0, 3, 1, 2).to(dtype)

    def apply(self, features: torch.Tensor, region: Region) -> torch.Tensor:
        gate = self.esa.conv1(features).add_(self.resized(region, features.dtype))
        gate = self.esa.conv4(gate).sigmoid_()
        return gate.mul_(features)


def allocate_feature_map(
    shape: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device, scratch: str | Path | None
) -> torch.Tensor:
    """The full-resolution scratch map, channels-last: on the device (``scratch`` None), in host memory
    ("host"), or memory-mapped from a file in the folder ``scratch``."""
    if scratch is None or str(scratch) == "host":
        where = device if scratch is None else torch.device("cpu")
        return torch.empty(shape, dtype=dtype, device=where, memory_format=torch.channels_last)
    return _mapped(shape, dtype, Path(scratch))


def last_readers(regions: list[Region], height: int, width: int) -> list[int]:
    """For each region, the index of the last region whose halo'd read overlaps it: after that one, the
    region's old features are no longer needed and may be overwritten."""
    reads = [_block_read(r, height, width) for r in regions]
    return [
        max(j for j, read in enumerate(reads) if _overlap(read, region))
        for region in regions
    ]


def _block_read(region: Region, height: int, width: int) -> Region:
    # conv1 and conv2 need 2 px of halo; the stride-2 conv needs one more row and column.
    return region.grown(0, height, width, extra=1).grown(2, height, width)


def _overlap(a: Region, b: Region) -> bool:
    return a.top < b.bottom and b.top < a.bottom and a.left < b.right and b.left < a.right


def _mapped(shape: tuple[int, int, int, int], dtype: torch.dtype, folder: Path) -> torch.Tensor:
    batch, channels, height, width = shape
    count = math.prod(shape)
    fd, name = tempfile.mkstemp(prefix=".eern-scratch-", suffix=".bin", dir=folder)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    try:
        # Reserve the blocks now: a full disk is an error here, not a SIGBUS in the middle of a write.
        try:
            os.posix_fallocate(fd, 0, nbytes)
        except (AttributeError, OSError) as exc:
            if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise OutputError(
                    f"no space for {nbytes / 2**30:.1f} GiB of scratch in {folder}",
                    hint="free some space, or give --scratch another folder",
                ) from exc
            os.ftruncate(fd, nbytes)  # a platform or filesystem without fallocate: sparse file
        mapped = torch.from_file(name, shared=True, size=count, dtype=dtype)
    finally:
        os.close(fd)
        os.unlink(name)  # the mapping keeps the space while it lives; nothing is left behind after a crash
    return mapped.view(batch, height, width, channels).permute(0, 3, 1, 2)


def run_exact_tiled(
    model: EERN,
    image: torch.Tensor,
    tile: int,
    sink: TileSink,
    *,
    scratch: str | Path | None = None,
    progress: Progress | None = None,
) -> None:
    """Run ``model`` over ``image`` (1, 3, H, W) tile by tile, giving exactly the whole-frame output.

    ``image`` is already on the compute device in the working dtype, H and W at least 15. ``scratch`` is
    where the feature map lives: None on the compute device, "host" in CPU memory, or a folder for
    memory-mapped files (for images larger than memory).
    """
    device, dtype = image.device, image.dtype
    _, _, height, width = image.shape
    regions = tile_regions(height, width, tile)
    blocks = list(model.recon_trunk)
    total, done = len(regions) * (len(blocks) + 1), 0
    feature_map = allocate_feature_map((1, model.head.out_channels, height, width), dtype, device, scratch)
    release = last_readers(regions, height, width)
    gate: PendingGate | None = None
    source: torch.Tensor | None = None  # None: the head's output, recomputed from the image
    for block in blocks:
        esa = block.ESA
        small = torch.zeros(
            (1, esa.conv2.out_channels, (height - 3) // 2 + 1, (width - 3) // 2 + 1),
            dtype=dtype,
            device=device,
        ).contiguous(memory_format=torch.channels_last)
        waiting: list[tuple[int, Region, torch.Tensor]] = []  # new features whose old values are still read
        for index, region in enumerate(regions):
            wanted = region.grown(0, height, width, extra=1)
            read = _block_read(region, height, width)
            features = block.features(_read(source, gate, image, model, read, device))
            features = _channels_last(wanted.within(read, features))
            waiting.append((release[index], region, region.within(wanted, features)))
            s = esa.conv1(features)
            if s.shape[-2] >= 3 and s.shape[-1] >= 3:
                y = esa.conv2(s)
                top, left = region.top // 2, region.left // 2
                small[..., top : top + y.shape[-2], left : left + y.shape[-1]] = y
            # The first block reads the image, not the map: its features can be written at once.
            waiting = _commit(waiting, len(regions) if source is None else index, feature_map)
            done += 1
            if progress:
                progress(done, total)
        _commit(waiting, len(regions), feature_map)
        source, gate = feature_map, PendingGate(esa, small, height, width)
    scale = model.scale
    for region in regions:
        # finetune and tail need 1 px of halo each; the head is recomputed from the image.
        read = region.grown(2, height, width)
        trunk = _read(source, gate, image, model, read, device)
        out = model.finetune(trunk).add_(model.head(_channels_last(read.of(image))))
        sink(scale * region.top, scale * region.left, model.upsample(region.within(read, model.tail(out))))
        done += 1
        if progress:
            progress(done, total)


def _commit(
    waiting: list[tuple[int, Region, torch.Tensor]], finished: int, feature_map: torch.Tensor
) -> list[tuple[int, Region, torch.Tensor]]:
    """Write the waiting features whose last reader is at or before ``finished``; return the others."""
    still = []
    for last_reader, region, features in waiting:
        if last_reader <= finished:
            region.of(feature_map).copy_(features)
        else:
            still.append((last_reader, region, features))
    return still


def _read(
    source: torch.Tensor | None,
    gate: PendingGate | None,
    image: torch.Tensor,
    model: EERN,
    region: Region,
    device: torch.device,
) -> torch.Tensor:
    """The features entering a stage over ``region``: the previous block's gated output, or the head's."""
    if source is None:
        outer = region.grown(1, image.shape[-2], image.shape[-1])
        return _channels_last(region.within(outer, model.head(_channels_last(outer.of(image)))))
    features = _channels_last(region.of(source).to(device, non_blocking=True))
    assert gate is not None
    return gate.apply(features, region)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)

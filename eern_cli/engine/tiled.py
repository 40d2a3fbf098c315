"""Exact tiled inference for EERN: tiles that give the whole-frame result.

ESA's gate is a bilinear resize of a ~1/6-scale map whose grid and scale factor depend on the size of the
whole input, so cutting the image into tiles and running the network on each (overlap-and-crop, as
Real-ESRGAN does) changes the output everywhere, not only near the seams. Instead the network runs layer by
layer over all tiles:

* a block's two 3x3 convs are computed per tile with a 2 px halo read from the previous block's output;
  each conv computes only the pixels it can get exactly (no padding where the halo was read), so the halo
  costs 2 px of work per conv and side, not 4;
* ESA's stride-2 conv is computed per tile on the global grid (tile origins are even, and a tile reads one
  extra row and column so that output row r sees input rows 2r..2r+2), into a small global map;
* the 7x7/3 max-pool and conv3 run once on that small global map;
* the bilinear resize samples the small map at each tile's global coordinates with the whole image's
  scale factor (``align_corners=False``), and the gate is applied lazily when the next stage reads a tile.

Two full-resolution maps live for the whole image: the block's output (84 channels) and its ESA ``conv1``
branch (21 channels), i.e. 105 values per input pixel: 420 bytes in fp32, 210 in bf16/fp16 (117 values when
the features are padded to 96 channels, ``widen.py``; the head's output is recomputed from the input instead of
kept). Each block overwrites them in place: a tile's new
values wait in a small queue until every tile that reads the old ones (its neighbours, through their halo)
is done, so besides the maps only about one row of tiles is held. The maps can live on the compute device,
in host memory or in a memory-mapped scratch file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from eern_cli.engine import kernels
from eern_cli.engine.gate import PendingGate
from eern_cli.engine.model import EERN
from eern_cli.protocols import Progress, TileSink
from eern_cli.engine.regions import Region, block_read, last_readers, tile_regions
from eern_cli.engine.scratch import allocate_feature_map, map_channels

# A tile's new block output and conv1 branch, waiting until the last reader of the old values is done.
Waiting = list[tuple[int, Region, torch.Tensor, torch.Tensor]]


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
    where the maps live: None on the compute device, "host" in CPU memory, or a folder for memory-mapped
    files (for images larger than memory).
    """
    device, dtype = image.device, image.dtype
    _, _, height, width = image.shape
    regions = tile_regions(height, width, tile)
    blocks = list(model.recon_trunk)
    total, done = len(regions) * (len(blocks) + 1), 0
    features_channels, branch_channels = map_channels(model)
    feature_map = allocate_feature_map((1, features_channels, height, width), dtype, device, scratch)
    branch_map = allocate_feature_map((1, branch_channels, height, width), dtype, device, scratch)
    release = last_readers(regions, height, width)
    gate: PendingGate | None = None  # None: the stage reads the head's output, recomputed from the image
    for block in blocks:
        esa = block.ESA
        small = torch.zeros(
            (1, esa.conv2.out_channels, (height - 3) // 2 + 1, (width - 3) // 2 + 1),
            dtype=dtype,
            device=device,
        ).contiguous(memory_format=torch.channels_last)
        waiting: Waiting = []
        for index, region in enumerate(regions):
            wanted = region.grown(0, height, width, extra=1)
            read = block_read(region, height, width)
            x = _read(gate, feature_map, image, model, read)
            x, covered = _conv3x3(block.conv1, x, read, height, width, activation="relu")
            x, covered = _conv3x3(block.conv2, x, covered, height, width)
            features = _channels_last(wanted.within(covered, x))
            s = kernels.conv(features, esa.conv1, (0, 0))
            if s.shape[-2] >= 3 and s.shape[-1] >= 3:
                y = kernels.conv(s, esa.conv2, (0, 0))
                top, left = region.top // 2, region.left // 2
                small[..., top : top + y.shape[-2], left : left + y.shape[-1]] = y
            waiting.append((release[index], region, region.within(wanted, features), region.within(wanted, s)))
            # The first block reads the image, not the maps: its values can be written at once.
            waiting = _commit(waiting, len(regions) if gate is None else index, feature_map, branch_map)
            done += 1
            if progress:
                progress(done, total)
        _commit(waiting, len(regions), feature_map, branch_map)
        gate = PendingGate(esa, small, branch_map, height, width)
    for region in regions:
        # finetune and tail need 1 px of halo each; the head is recomputed from the image.
        read = region.grown(2, height, width)
        trunk = _read(gate, feature_map, image, model, read)
        padding, computed, covered = _conv3x3_geometry(read, height, width)
        head = _channels_last(computed.within(*_head(model, image, computed)))
        out = covered.within(computed, kernels.conv_add_(head, trunk, model.finetune, padding))
        out, covered = _conv3x3(model.tail, out, covered, height, width)
        sink(model.scale * region.top, model.scale * region.left, model.upsample(region.within(covered, out)))
        done += 1
        if progress:
            progress(done, total)


def _conv3x3(
    conv: nn.Conv2d, x: torch.Tensor, known: Region, height: int, width: int, *, activation: str = "none"
) -> tuple[torch.Tensor, Region]:
    """``activation(conv(x))`` (3x3, padding 1), ``x`` known over ``known``: only its exact part, and where that is.

    Padding is used only on the image's borders, where it is the truth; where ``x`` ends inside the image
    the border pixels are not computed at all (or sliced off, when the other side needs padding).
    """
    padding, computed, exact = _conv3x3_geometry(known, height, width)
    y = kernels.conv(x, conv, padding, activation)
    return (y, exact) if computed == exact else (exact.within(computed, y), exact)


def _conv3x3_geometry(known: Region, height: int, width: int) -> tuple[tuple[int, int], Region, Region]:
    """For a 3x3 conv of values known over ``known``: its padding, where its output lies, where that is exact."""
    pad_rows = int(known.top == 0 or known.bottom == height)
    pad_cols = int(known.left == 0 or known.right == width)
    computed = Region(
        known.top + 1 - pad_rows, known.bottom - 1 + pad_rows, known.left + 1 - pad_cols, known.right - 1 + pad_cols
    )
    return (pad_rows, pad_cols), computed, known.exact_after_conv3x3(height, width)


def _head(model: EERN, image: torch.Tensor, region: Region) -> tuple[Region, torch.Tensor]:
    """The head's output over (at least) ``region``: (where it is exact, the values)."""
    known = region.grown(1, image.shape[-2], image.shape[-1])
    out, covered = _conv3x3(model.head, _channels_last(known.of(image)), known, image.shape[-2], image.shape[-1])
    return covered, out


def _read(
    gate: PendingGate | None, feature_map: torch.Tensor, image: torch.Tensor, model: EERN, region: Region
) -> torch.Tensor:
    """The features entering a stage over ``region``: the previous block's gated output, or the head's."""
    if gate is None:
        return _channels_last(region.within(*_head(model, image, region)))
    return gate.apply(region.of(feature_map).to(image.device, non_blocking=True), region)


def _commit(waiting: Waiting, finished: int, feature_map: torch.Tensor, branch_map: torch.Tensor) -> Waiting:
    """Write the waiting values whose last reader is at or before ``finished``; return the others."""
    still = []
    for entry in waiting:
        last_reader, region, features, branch = entry
        if last_reader <= finished:
            region.of(feature_map).copy_(features)
            region.of(branch_map).copy_(branch)
        else:
            still.append(entry)
    return still


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)

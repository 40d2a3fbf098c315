"""Rectangles of the input image, how the exact tiling cuts an image into them, and which outputs of a
convolution over one of them are exact."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def runs_whole(height: int, width: int, tile: int, whole_up_to: int = 0) -> bool:
    """Whether an image runs as one whole frame: tiling is off (0), one tile covers it, or it has at most
    ``whole_up_to`` pixels (``choices.whole_frame_pixels``)."""
    return tile == 0 or (tile >= height and tile >= width) or height * width <= whole_up_to


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

    def exact_after_conv3x3(self, height: int, width: int) -> Region:
        """Where a padded 3x3 convolution of values known over this region is exact: everywhere except the
        sides that are not on the image's border, where the true neighbours were not read."""
        return Region(
            self.top + (self.top > 0),
            self.bottom - (self.bottom < height),
            self.left + (self.left > 0),
            self.right - (self.right < width),
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


def block_read(region: Region, height: int, width: int) -> Region:
    """What a block reads to compute ``region``: 2 px of halo for its two 3x3 convs, plus one more row and
    column below and right for ESA's stride-2 conv (output row r reads input rows 2r..2r+2)."""
    return region.grown(0, height, width, extra=1).grown(2, height, width)


def last_readers(regions: list[Region], height: int, width: int) -> list[int]:
    """For each region, the index of the last region whose block read overlaps it: after that one, the
    region's old features are no longer needed and may be overwritten."""
    reads = [block_read(r, height, width) for r in regions]
    return [max(j for j, read in enumerate(reads) if _overlap(read, region)) for region in regions]


def _overlap(a: Region, b: Region) -> bool:
    return a.top < b.bottom and b.top < a.bottom and a.left < b.right and b.left < a.right

"""How the exact tiling cuts an image, and which outputs of a convolution over a region are exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eern_cli.engine.regions import Region, block_read, last_readers, runs_whole, tile_regions


@pytest.mark.parametrize(("height", "width", "tile"), [(40, 40, 16), (37, 1000, 64), (2000, 3000, 256), (15, 15, 16)])
def test_regions_cover_the_image_once_from_even_origins(height: int, width: int, tile: int) -> None:
    covered = np.zeros((height, width), dtype=np.int32)
    for region in tile_regions(height, width, tile):
        assert region.top % 2 == 0 and region.left % 2 == 0
        assert (region.bottom - region.top) * (region.right - region.left) <= max(tile * tile, 64 * width)
        covered[region.top : region.bottom, region.left : region.right] += 1
    assert (covered == 1).all()


def test_narrow_images_are_cut_into_full_width_strips() -> None:
    regions = tile_regions(1000, 512, 256)
    assert all(r.left == 0 and r.right == 512 for r in regions)
    assert regions[0].bottom == 128  # the same area as a 256 x 256 tile


def test_region_growth_is_clipped_to_the_image() -> None:
    assert Region(0, 10, 4, 8).grown(2, 12, 9, extra=1) == Region(0, 12, 2, 9)


def test_exact_part_of_a_padded_conv_matches_the_whole_image_conv() -> None:
    # A 3x3 conv over a crop is exact except on the crop's sides that are inside the image.
    torch.manual_seed(0)
    image = torch.randn(1, 2, 20, 24)
    weight, bias = torch.randn(3, 2, 3, 3), torch.randn(3)
    whole = F.conv2d(image, weight, bias, padding=1)
    for known in (Region(0, 20, 0, 24), Region(0, 9, 5, 24), Region(4, 20, 0, 11), Region(3, 12, 6, 17)):
        exact = known.exact_after_conv3x3(20, 24)
        got = exact.within(known, F.conv2d(known.of(image), weight, bias, padding=1))
        assert torch.allclose(got, exact.of(whole), atol=1e-5)
        assert (exact.top > known.top) == (known.top > 0) and (exact.right < known.right) == (known.right < 24)


def test_a_region_is_overwritten_only_after_its_last_reader() -> None:
    regions = tile_regions(300, 512, 256)  # full-width strips of 128 rows
    release = last_readers(regions, 300, 512)
    assert release == [1, 2, 2]  # each strip's old values are read by the next strip's halo
    assert block_read(regions[1], 300, 512) == Region(126, 259, 0, 512)


def test_an_image_runs_whole_by_its_tile_or_by_its_size() -> None:
    assert runs_whole(300, 200, 0) and runs_whole(256, 256, 256) and not runs_whole(257, 256, 256)
    assert runs_whole(512, 512, 256, whole_up_to=512 * 512) and runs_whole(1024, 256, 256, whole_up_to=512 * 512)
    assert not runs_whole(513, 512, 256, whole_up_to=512 * 512)

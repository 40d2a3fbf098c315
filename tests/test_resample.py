"""--scale other than 4: model passes, target sizes and the resize (``batch/resample.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_images import CountingNearest

from eern_cli.batch import resample
from eern_cli.errors import UsageError


@pytest.mark.parametrize("scale,passes", [(1, 1), (1.5, 1), (2, 1), (3, 1), (4, 1), (4.01, 2), (8, 2), (16, 2)])
def test_passes(scale, passes):
    assert resample.passes(scale) == passes


@pytest.mark.parametrize("bad", [0.5, 0.99, 16.5, 100, float("nan"), float("inf")])
def test_scale_out_of_range_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="--scale"):
        resample.check_scale(bad)


def test_target_size_rounds_and_never_reaches_zero():
    assert resample.target_size(24, 20, 1.5) == (36, 30)
    assert resample.target_size(3, 3, 1.0) == (3, 3)
    assert resample.target_size(1, 1, 1.2) == (1, 1)
    assert resample.is_plain(24, 20, 4) and not resample.is_plain(24, 20, 2)


def test_resampling_keeps_a_flat_image_flat():
    flat = np.full((20, 24, 3), 0.25, np.float32)
    out = resample.upscale_to(CountingNearest().upscale_array, flat, 2.5)
    assert out.shape == (50, 60, 3) and np.allclose(out, 0.25, atol=1e-4)


@pytest.mark.parametrize("shape", [(20, 24), (20, 24, 3)], ids=["grey", "rgb"])
@pytest.mark.parametrize("scale", [1, 2, 2.5, 3, 8, 16])
def test_every_plane_shape_resamples_at_every_scale(shape, scale):
    """Grey planes came back from Pillow read-only and ``np.clip(out=...)`` raised (bug: every non-RGB image)."""
    plane = np.random.default_rng(0).random(shape, dtype=np.float32) * 1.2 - 0.1  # some values outside 0..1
    out = resample.upscale_to(CountingNearest().upscale_array, plane, scale)
    assert out.shape[:2] == (round(20 * scale), round(24 * scale)) and out.shape[2:] == shape[2:]
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0

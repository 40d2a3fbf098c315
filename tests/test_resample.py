"""--scale other than 4 (resample) and the upscaling of one frame with alpha (alpha)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_images import disk_rgba, smooth

from eern_cli.batch import resample
from eern_cli.batch.frames import fill_transparent, upscale_frame
from eern_cli.errors import UsageError
from eern_cli.images.decode import Frame


@pytest.fixture(scope="module")
def upscaler():
    from eern_cli.upscaler import Upscaler

    return Upscaler(device="cpu", precision="fp32")


class CountingNearest:
    """A stand-in model: nearest-neighbour x4, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def upscale_array(self, array, progress=None):
        self.calls += 1
        if progress:
            progress(1, 1)
        return np.repeat(np.repeat(array, 4, axis=0), 4, axis=1)


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


@pytest.mark.parametrize("scale,size,calls", [(2, (48, 40), 1), (3, (72, 60), 1), (1.5, (36, 30), 1),
                                              (8, (192, 160), 2), (16, (384, 320), 2), (1, (24, 20), 1)])
def test_any_scale_runs_the_model_as_needed_then_resamples(scale, size, calls):
    fake = CountingNearest()
    out = upscale_frame(fake, Frame(smooth()), scale=scale)
    assert (out.color.shape[1], out.color.shape[0]) == size and out.color.dtype == np.uint8
    assert fake.calls == calls


def test_resampling_keeps_a_flat_image_flat():
    flat = np.full((20, 24, 3), 0.25, np.float32)
    out = resample.upscale_to(CountingNearest().upscale_array, flat, 2.5)
    assert out.shape == (50, 60, 3) and np.allclose(out, 0.25, atol=1e-4)


def test_scale_4_is_exactly_the_library_result(upscaler):
    rgb = smooth()
    out = upscale_frame(upscaler, Frame(rgb), scale=4)
    assert np.array_equal(out.color, upscaler.upscale_array(rgb))


def test_scale_2_is_the_x4_result_halved(upscaler):
    rgb = smooth(32, 32)
    out = upscale_frame(upscaler, Frame(rgb), scale=2).color
    assert out.shape == (64, 64, 3)
    x4 = resample.to_float(upscaler.upscale_array(rgb))
    halved = resample.from_float(resample.resize(x4, (64, 64)), np.uint8)
    assert np.abs(out.astype(int) - halved.astype(int)).max() <= 1


def test_16_bit_stays_16_bit_through_any_scale(upscaler):
    deep = smooth(dtype=np.uint16)
    for scale in (4, 2):
        out = upscale_frame(upscaler, Frame(deep), scale=scale)
        assert out.color.dtype == np.uint16
    low = np.asarray(out.color) & 0xFF
    assert len(np.unique(low)) > 16  # values are not just 8-bit ones scaled up


def test_progress_reports_every_run():
    seen = []
    upscale_frame(CountingNearest(), Frame(smooth()), scale=8,
                  progress=lambda *a: seen.append(a))
    assert [s[:2] for s in seen] == [(0, 2), (1, 2)]


def test_fill_transparent_uses_nearby_visible_colours():
    rgba = disk_rgba(32)
    color, alpha = rgba[..., :3].copy(), rgba[..., 3]
    color[alpha > 0] = (200, 40, 10)
    filled = fill_transparent(color, alpha)
    assert np.array_equal(filled[alpha > 0], color[alpha > 0])  # visible pixels untouched
    assert (filled[alpha == 0] == (200, 40, 10)).all()  # the only visible colour fills everything
    grey = fill_transparent(color[..., 0], alpha)
    assert grey.shape == alpha.shape and (grey[alpha == 0] == 200).all()


@pytest.mark.parametrize("mode", ["model", "bicubic"])
def test_no_dark_fringe_at_transparent_edges(upscaler, mode):
    """White on transparent *black*: half-transparent edge pixels of the output must stay white."""
    rgba = disk_rgba(32)
    out = upscale_frame(upscaler, Frame(rgba[..., :3], rgba[..., 3]), alpha_mode=mode)
    edge = (out.alpha > 20) & (out.alpha < 235)
    assert edge.sum() > 20
    assert out.color[edge].mean() > 250, out.color[edge].mean()  # without the fill: 240 (model), 226 (bicubic)


def test_alpha_through_the_model_is_sharper_than_bicubic(upscaler):
    rgba = disk_rgba(32)
    frame = Frame(rgba[..., :3], rgba[..., 3])
    sharp = upscale_frame(upscaler, frame, alpha_mode="model").alpha
    soft = upscale_frame(upscaler, frame, alpha_mode="bicubic").alpha
    assert sharp.shape == soft.shape == (128, 128)
    assert ((sharp > 10) & (sharp < 245)).sum() <= ((soft > 10) & (soft < 245)).sum()

"""The export check itself: its test image, its dB arithmetic, and that it sees a wrong model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eern_cli.export.graph import Interface
from eern_cli.export.verify import VERIFY_SIZES, check, compare, reference, sample_image


def test_sample_image_is_deterministic_and_on_the_0_255_scale() -> None:
    a, b = sample_image(37, 53, batch=2), sample_image(37, 53, batch=2)
    assert a.shape == (2, 3, 37, 53) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 255 and a.std() > 30  # not flat: edges and texture


def test_sizes_are_one_odd_and_one_larger_than_the_64px_example() -> None:
    (h1, w1), (h2, w2) = VERIFY_SIZES
    assert h1 % 2 and w1 % 2
    assert h2 > 64 and w2 > 64


def test_compare_in_db() -> None:
    base = np.full((3, 8, 8), 100.0)
    assert compare(base, base) == (math.inf, 0.0)
    psnr, largest = compare(base + 1.0, base)
    assert psnr == pytest.approx(20 * math.log10(255), abs=1e-9) and largest == 1.0
    assert compare(np.full((1, 2), 300.0), np.full((1, 2), 255.0))[0] == math.inf  # both clamp to 255


def test_check_sees_an_offset_model_at_both_sizes() -> None:
    expected = reference(None)
    interface = Interface(value_range=1)
    exact = check(lambda x: expected(x * 255.0) / 255.0, expected, interface)
    assert [(a.height, a.width) for a in exact] == list(VERIFY_SIZES)
    assert all(a.psnr_db > 120 for a in exact)  # the same fp32 run, through the 0..1 scaling
    off = check(lambda x: expected(x * 255.0) / 255.0 + 0.5 / 255.0, expected, interface, sizes=((20, 21),))
    assert off[0].max_abs == pytest.approx(0.5, abs=0.01)
    assert 50 < off[0].psnr_db < 54.2  # 20 log10(255 / 0.5) = 54.15 where nothing clamps
    assert "dB" in off[0].line() and "1x3x20x21" in off[0].line()

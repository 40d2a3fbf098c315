"""PSNR, SSIM, Y and border crops, checked against hand values and an independent SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eern_cli.bench import metrics


def test_crop_border() -> None:
    assert metrics.crop_border(np.zeros((20, 30)), 4).shape == (12, 22)
    assert metrics.crop_border(np.zeros((20, 30)), 0).shape == (20, 30)


def test_y_is_matlab_bt601() -> None:
    white, black = np.full((1, 1, 3), 255.0), np.zeros((1, 1, 3))
    assert metrics.to_y(white)[0, 0] == 235.0 and metrics.to_y(black)[0, 0] == 16.0
    red = np.array([[[255.0, 0.0, 0.0]]])
    assert metrics.to_y(red, rounded=False)[0, 0] == pytest.approx(16 + 65.481)
    assert metrics.to_y(red)[0, 0] == 81.0  # 81.481 rounded, as rgb2ycbcr does for uint8
    grey = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(metrics.to_y(grey), grey)


def test_psnr_known_values() -> None:
    a = np.zeros((16, 16, 3))
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a, a + 10) == pytest.approx(10 * math.log10(255**2 / 100))
    b = a.copy()
    b[:4] = 50  # differences only inside the 4 px border
    assert metrics.psnr(a, b, border=4) == math.inf
    assert metrics.psnr(a, b) < 30
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(a, np.zeros((8, 8, 3)))


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Direct 2-D 'valid' convolution with the 11x11 window (BasicSR's formula), one channel."""
    g = metrics.gaussian_window()
    window = torch.from_numpy(np.outer(g, g))[None, None]

    def filt(x: np.ndarray) -> torch.Tensor:
        return F.conv2d(torch.from_numpy(x)[None, None], window)[0, 0]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a, var_b, cov = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2, filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    return float((num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))).mean())


def test_gaussian_window_is_opencvs() -> None:
    g = metrics.gaussian_window()
    assert g.sum() == pytest.approx(1.0) and g.argmax() == 5
    assert g[0] == pytest.approx(0.0010283800, rel=1e-6)  # cv2.getGaussianKernel(11, 1.5)[0]


def test_ssim_matches_a_direct_convolution() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, size=(40, 33, 3)).round()
    b = np.clip(a + rng.normal(0, 12, size=a.shape), 0, 255).round()
    expected = np.mean([_ssim_reference(a[..., c], b[..., c]) for c in range(3)])
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-12)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert 0 < metrics.ssim(a, b) < 1
    expected_y = _ssim_reference(metrics.to_y(a)[4:-4, 4:-4], metrics.to_y(b)[4:-4, 4:-4])
    assert metrics.ssim(a, b, border=4, y=True) == pytest.approx(expected_y, abs=1e-12)


def test_ssim_needs_a_window() -> None:
    with pytest.raises(ValueError, match="11 x 11"):
        metrics.ssim(np.zeros((12, 12)), np.zeros((12, 12)), border=1)


def test_evaluate_gives_the_four_numbers() -> None:
    a = np.full((32, 32, 3), 100, dtype=np.uint8)
    result = metrics.evaluate(a, a, border=4)
    assert set(result) == {"psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y"}
    assert result["psnr_y"] == math.inf and result["ssim_rgb"] == pytest.approx(1.0)

"""Image-quality metrics with the conventions of the SR literature (BasicSR, the NTIRE challenges).

Images are numpy arrays H x W x 3 (or H x W) on the 0..255 scale. The conventions, all explicit:

* the model's float output becomes uint8 as in the challenge's ``tensor2uint``: clamp to 0..255, then round
  (``Upscaler.upscale_array`` does it);
* the ground truth is mod-cropped at the top left to 4x the LR size ("modcrop", ``quality.load_pair``);
* ``border`` pixels (the scale, 4) are cropped from every side before measuring;
* Y is BT.601 luma on the 0..255 scale as MATLAB's ``rgb2ycbcr`` defines it,
  ``16 + (65.481 R + 128.553 G + 24.966 B) / 255``, rounded to an integer as ``rgb2ycbcr`` does for uint8
  images (the MATLAB evaluation scripts behind the published tables: EDSR, RCAN, ...). BasicSR keeps Y in
  float instead (``rounded_y=False``), which reads about 0.01-0.02 dB higher (EERN on Set5: 32.03 vs 32.01);
* PSNR has a peak of 255; SSIM is Wang et al.'s with an 11x11 Gaussian window (sigma 1.5), ``valid``
  filtering, K1 = 0.01, K2 = 0.03, averaged over channels: BasicSR's ``calculate_ssim``.

Only numpy is used (no OpenCV, scipy or scikit-image), all in float64.
"""

from __future__ import annotations

import math

import numpy as np

PEAK = 255.0
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
Y_OFFSET = 16.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def to_y(image: np.ndarray, *, rounded: bool = True) -> np.ndarray:
    """BT.601 luma (MATLAB ``rgb2ycbcr``) of an RGB image on 0..255, float64 H x W; a 2-D image is returned as is.

    ``rounded``: round to integers (half away from zero) as MATLAB does for uint8 input; False keeps BasicSR's
    float luma.
    """
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 2:
        return array
    luma = array[..., :3] @ Y_WEIGHTS + Y_OFFSET
    return np.floor(luma + 0.5) if rounded else luma


def _prepare(a: np.ndarray, b: np.ndarray, border: int, y: bool, rounded_y: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} and {b.shape}")
    if y:
        a, b = to_y(a, rounded=rounded_y), to_y(b, rounded=rounded_y)
    a = crop_border(np.asarray(a, dtype=np.float64), border)
    b = crop_border(np.asarray(b, dtype=np.float64), border)
    if a.size == 0:
        raise ValueError(f"nothing left to compare after cropping {border} px from each border")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, *, border: int = 0, y: bool = False, rounded_y: bool = True) -> float:
    """PSNR in dB (peak 255); ``inf`` for identical images."""
    a, b = _prepare(a, b, border, y, rounded_y)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(PEAK * PEAK / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The 1-D normalised Gaussian (``cv2.getGaussianKernel``); the 2-D window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(image: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of a 2-D float64 image by the window ``outer(g, g)``."""
    k = g.size
    rows = np.lib.stride_tricks.sliding_window_view(image, k, axis=0) @ g
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2
    g = gaussian_window()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(a: np.ndarray, b: np.ndarray, *, border: int = 0, y: bool = False, rounded_y: bool = True) -> float:
    """SSIM (Wang et al. 2004, Gaussian 11/1.5), the mean over channels; 1.0 for identical images."""
    a, b = _prepare(a, b, border, y, rounded_y)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels after cropping, got {a.shape[:2]}")
    if a.ndim == 2:
        return _ssim_channel(a, b)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def evaluate(sr: np.ndarray, hr: np.ndarray, *, border: int) -> dict[str, float]:
    """PSNR and SSIM on RGB and on Y, with ``border`` pixels cropped: the four numbers an SR table shows."""
    return {
        "psnr_rgb": psnr(sr, hr, border=border),
        "ssim_rgb": ssim(sr, hr, border=border),
        "psnr_y": psnr(sr, hr, border=border, y=True),
        "ssim_y": ssim(sr, hr, border=border, y=True),
    }

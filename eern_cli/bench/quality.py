"""PSNR and SSIM on an SR test set (Set5, Set14, DIV2K valid, ...) with the challenge's conventions.

For every HR/LR pair: the LR image is upscaled by each variant and the output quantised to uint8 (clamp,
round), the HR image is mod-cropped at the top left to exactly 4x the LR size, and PSNR/SSIM are measured on
RGB and on BT.601 Y with 4 px cropped from each border (see ``eern_cli.bench.metrics``). Grey images are
converted to RGB (R = G = B) before the model and the metrics, as BasicSR's colour reader does. The
bicubic baseline is Pillow's ``Image.resize(..., BICUBIC)`` (Keys cubic, a = -0.5; it matches MATLAB's
``imresize`` x4 to within 0.005 dB on Set5/Set14). Means are over images (the SR convention).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eern_cli.bench import metrics
from eern_cli.engine.model import SCALE
from eern_cli.errors import InputImageError, InputNotFoundError, UsageError
from eern_cli.images import formats
from eern_cli.protocols import ArrayUpscaler

HR_DIRS = ("HR", "hr", "GT", "gt")
LR_DIRS = (f"LR_bicubic_x{SCALE}", f"LR_bicubic/X{SCALE}", f"LR_bicubic/x{SCALE}", f"LRbicx{SCALE}", "LR", "lr")
BICUBIC = "bicubic"
BICUBIC_NOTE = "Pillow Image.resize BICUBIC (a = -0.5)"
METRICS = ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y")


@dataclass(frozen=True)
class Pair:
    name: str
    hr: Path
    lr: Path


def _images(folder: Path) -> dict[str, Path]:
    extensions = formats.input_extensions()
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in extensions}


def find_pairs(dataset: Path | None = None, *, hr: Path | None = None, lr: Path | None = None) -> list[Pair]:
    """Pairs from ``dataset`` (a folder holding ``HR/`` and ``LR_bicubic_x4/``) or from two explicit folders.

    An LR file matches the HR file of the same stem, or of its stem without a trailing ``x4`` (DIV2K's
    ``0801x4.png``). HR files without an LR partner are an error, so that a mean is never over a subset.
    """
    if dataset is not None:
        if not dataset.is_dir():
            raise InputNotFoundError("dataset folder not found", path=dataset)
        hr = hr or next((dataset / d for d in HR_DIRS if (dataset / d).is_dir()), None)
        lr = lr or next((dataset / d for d in LR_DIRS if (dataset / d).is_dir()), None)
        if hr is None or lr is None:
            raise UsageError(
                f"no {'HR' if hr is None else 'LR'} folder in {dataset}",
                hint=f"expected HR/ and LR_bicubic_x{SCALE}/ inside it, or give {{hr=DIR}} and {{lr=DIR}}",
            )
    if hr is None or lr is None:
        raise UsageError("give --dataset DIR, or both --hr DIR and --lr DIR")
    for folder in (hr, lr):
        if not folder.is_dir():
            raise InputNotFoundError("image folder not found", path=folder)
    hr_images, lr_images = _images(hr), _images(lr)
    lr_by_stem = {s if s in hr_images else s.removesuffix(f"x{SCALE}"): p for s, p in lr_images.items()}
    missing = [stem for stem in hr_images if stem not in lr_by_stem]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise UsageError(f"{len(missing)} HR images have no LR partner in {lr}: {shown}")
    if not hr_images:
        raise UsageError(f"no images in {hr}", hint=f"supported: {formats.extensions_text()}")
    return [Pair(stem, path, lr_by_stem[stem]) for stem, path in hr_images.items()]


def load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) as uint8 RGB arrays, HR mod-cropped at the top left to exactly 4x the LR size."""
    from PIL import Image

    try:
        with Image.open(pair.lr) as im:
            lr = np.asarray(im.convert("RGB"))
        with Image.open(pair.hr) as im:
            hr = np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise InputImageError(f"cannot read image: {exc}", path=getattr(exc, "filename", None) or pair.hr) from exc
    height, width = SCALE * lr.shape[0], SCALE * lr.shape[1]
    if not (height <= hr.shape[0] < height + SCALE and width <= hr.shape[1] < width + SCALE):
        raise InputImageError(
            f"HR {hr.shape[1]}x{hr.shape[0]} is not {SCALE}x the LR {lr.shape[1]}x{lr.shape[0]} "
            f"(up to the modcrop) for '{pair.name}'",
            path=pair.hr,
        )
    return lr, hr[:height, :width]


def bicubic(lr: np.ndarray) -> np.ndarray:
    from PIL import Image

    height, width = lr.shape[:2]
    return np.asarray(Image.fromarray(lr).resize((SCALE * width, SCALE * height), Image.Resampling.BICUBIC))


class QualityBenchmark:
    """Evaluates each upscaler (and bicubic) on every pair; ``rows`` fills as it goes (Ctrl-C keeps them).

    ``upscalers`` maps a label to an ``ArrayUpscaler`` (uint8 H x W x 3 in, uint8 4H x 4W x 3 out).
    """

    def __init__(
        self,
        upscalers: dict[str, ArrayUpscaler],
        pairs: list[Pair],
        *,
        border: int = SCALE,
        with_bicubic: bool = True,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            label: up.upscale_array for label, up in upscalers.items()
        }
        if with_bicubic:
            self.methods[BICUBIC] = bicubic
        self.pairs, self.border = pairs, border
        self.on_step = on_step or (lambda _text: None)
        self.rows: list[dict[str, Any]] = []

    @property
    def steps(self) -> int:
        return len(self.pairs) * len(self.methods)

    def run(self) -> list[dict[str, Any]]:
        for pair in self.pairs:
            lr, hr = load_pair(pair)
            for method, upscale in self.methods.items():
                start = time.perf_counter()
                sr = upscale(lr)
                seconds = time.perf_counter() - start
                row = {"image": pair.name, "method": method, "lr": f"{lr.shape[1]}x{lr.shape[0]}"}
                row.update(metrics.evaluate(sr, hr, border=self.border))
                row["seconds"] = seconds
                self.rows.append(row)
                self.on_step(f"{pair.name}: {method}")
        return self.rows


def means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method, the mean of each metric over the images that method finished, in first-seen order."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    return [
        {
            "method": method,
            "images": len(group),
            **{key: float(np.mean([r[key] for r in group])) for key in METRICS},
            "seconds": float(sum(r["seconds"] for r in group)),
        }
        for method, group in by_method.items()
    ]


CONVENTIONS = {
    "output": "uint8: clamp to 0..255, then round",
    "ground_truth": f"HR mod-cropped at the top left to {SCALE}x the LR size",
    "border": f"{SCALE} px cropped from each side",
    "y": "BT.601 (MATLAB rgb2ycbcr): 16 + (65.481 R + 128.553 G + 24.966 B)/255, rounded",
    "ssim": "Wang et al., Gaussian window 11 / sigma 1.5, mean over channels (BasicSR calculate_ssim)",
    "grey_images": "converted to RGB before the model and the metrics",
    "bicubic": BICUBIC_NOTE,
    "mean": "arithmetic mean over images of the per-image values",
    "seconds": "wall clock of the whole upscale of one image (host transfers and uint8 conversion included)",
}

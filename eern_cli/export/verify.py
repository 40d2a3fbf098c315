"""Run an exported file and measure how far it is from eern's own fp32 whole-frame output, in dB.

The test image is synthetic and deterministic (smooth gradients, hard edges, fine texture), so a check needs no
image file and means the same on every machine. Agreement is PSNR on the 0..255 scale with a peak of 255, on
float outputs clamped to 0..255 (no rounding to 8 bits, so small differences still show), plus the largest
difference in grey levels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eern_cli.export.graph import Interface

# One odd size and one larger than the exporters' 64x64 example input.
VERIFY_SIZES = ((37, 53), (96, 160))


@dataclass(frozen=True)
class Agreement:
    batch: int
    height: int
    width: int
    psnr_db: float
    max_abs: float

    def line(self) -> str:
        psnr = "identical" if math.isinf(self.psnr_db) else f"{self.psnr_db:.1f} dB"
        return f"{self.batch}x3x{self.height}x{self.width}: {psnr} (largest difference {self.max_abs:.4f} grey levels)"


def sample_image(height: int, width: int, *, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic test photo stand-in, float32 (batch, 3, H, W) on 0..255."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    images = []
    for index in range(batch):
        phase = rng.uniform(0, 2 * np.pi, size=3)
        channels = [
            127.5 + 80 * np.sin(x / (5 + 3 * c) + phase[c] + index) * np.cos(y / (7 + 2 * c))
            + 40 * ((x + 2 * y) % 23 < 11) + rng.normal(0, 6, size=x.shape)
            for c in range(3)
        ]
        images.append(np.stack(channels))
    return np.clip(np.stack(images), 0, 255).astype(np.float32)


def reference(weights: str | os.PathLike[str] | None) -> Callable[[np.ndarray], np.ndarray]:
    """eern's fp32 whole-frame output, one image at a time, as a function of a (B, 3, H, W) 0..255 array."""
    import torch

    from eern_cli.upscaler import Upscaler

    upscaler = Upscaler(weights, device="cpu", precision="fp32", tile=0)

    def run(images: np.ndarray) -> np.ndarray:
        outs = [upscaler.upscale_tensor(torch.from_numpy(image)) for image in images]
        return torch.cat(outs).numpy()

    return run


def compare(output: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, largest absolute difference) of two 0..255 float arrays, clamped to 0..255."""
    a = np.clip(np.asarray(output, dtype=np.float64), 0, 255)
    b = np.clip(np.asarray(expected, dtype=np.float64), 0, 255)
    if a.shape != b.shape:
        raise ValueError(f"exported model gave shape {a.shape}, eern {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    return psnr, float(np.max(np.abs(a - b)))


def check(
    run_exported: Callable[[np.ndarray], np.ndarray],
    expected: Callable[[np.ndarray], np.ndarray],
    interface: Interface,
    sizes: tuple[tuple[int, int], ...] = VERIFY_SIZES,
    *,
    batch: int = 1,
    half_io: bool = False,
) -> list[Agreement]:
    """Feed each size through the exported model (in its range, fp16 for ``half_io``) and eern's reference."""
    results = []
    for height, width in sizes:
        images = sample_image(height, width, batch=batch)
        fed = (images * (interface.value_range / 255.0)).astype(np.float16 if half_io else np.float32)
        got = run_exported(fed).astype(np.float64) * (255.0 / interface.value_range)
        psnr, largest = compare(got, expected(images))
        results.append(Agreement(batch, height, width, psnr, largest))
    return results


def onnx_runner(path: str | os.PathLike[str]) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def ncnn_runner(param_path: str | os.PathLike[str], bin_path: str | os.PathLike[str]) -> Callable:
    """ncnn on the CPU with fp32 storage and arithmetic, so that only the exported weights' precision shows."""
    import ncnn

    from eern_cli.export.ncnn import INPUT_BLOB, OUTPUT_BLOB

    net = ncnn.Net()
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    net.opt.use_vulkan_compute = False
    if net.load_param(os.fspath(param_path)) != 0 or net.load_model(os.fspath(bin_path)) != 0:
        raise RuntimeError(f"ncnn could not load {param_path}")

    def run(images: np.ndarray) -> np.ndarray:
        outs = []
        for image in images.astype(np.float32):
            extractor = net.create_extractor()
            extractor.input(INPUT_BLOB, ncnn.Mat(image[None], batch_index=0).clone())
            status, out = extractor.extract(OUTPUT_BLOB)
            if status != 0:
                raise RuntimeError(f"ncnn failed on a {image.shape[1]}x{image.shape[2]} image (status {status})")
            outs.append(np.array(out.numpy(batch_index=0)[0], copy=True))
        return np.stack(outs)

    return run

"""What ncnn apps' own tiling does to EERN: PSNR against eern's fp32 whole-frame output, per tile size.

upscayl and realesrgan-ncnn-vulkan cut an image into fixed TILE x TILE tiles, run each with ``prepadding``
(10 px) of context on every side (mirrored at image borders, as their pre-processing shader does), and keep
the centre of each output tile, with no blending. ESA's gate depends on the size of the whole input, so each
tile gets a different gate. This script exports EERN with ``eern export``'s ncnn exporter, runs that tiling with the ncnn Python package (CPU, fp32
storage), and compares the 8-bit result with eern's fp32 whole-frame output, also rounded to 8 bits: over the
whole image, and over its interior (40 output px in from the border) where only the tiling differs.

    python benchmarks/ncnn_tiling.py                                    # Set14 barbara, LR and HR as inputs
    python benchmarks/ncnn_tiling.py --image path.png --tiles 32,64,200

Needs ``eern[export]`` and the Set14 images in ../shared/data (never copied into the repository).
"""

from __future__ import annotations

import argparse
import math
import platform
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from eern_cli.bench.metrics import psnr, quantize
from eern_cli.export import verify
from eern_cli.export.graph import Interface
from eern_cli.export.ncnn import export_ncnn
from eern_cli.weights.loading import load_model

SET14 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "Set14"
PREPADDING = 10
SCALE = 4
# Output pixels left out of the "interior" figures: the prepadding's reach. At the image border the apps see
# mirrored pixels where the model (and eern) see zero padding, which differs whatever the tile size.
BORDER = SCALE * PREPADDING


def tiled(run, image: np.ndarray, tile: int) -> np.ndarray:
    """realesrgan-ncnn-vulkan's tiling of a (3, H, W) 0..1 image; ``tile`` 0 runs the whole frame."""
    _, height, width = image.shape
    if tile == 0:
        return run(image[None])[0]
    padded = np.pad(image, ((0, 0), (PREPADDING, PREPADDING), (PREPADDING, PREPADDING)), mode="reflect")
    out = np.empty((3, SCALE * height, SCALE * width), dtype=np.float32)
    for top in range(0, height, tile):
        bottom = min(top + tile, height)
        for left in range(0, width, tile):
            right = min(left + tile, width)
            piece = padded[:, top : bottom + 2 * PREPADDING, left : right + 2 * PREPADDING]
            result = run(np.ascontiguousarray(piece[None]))[0]
            keep = result[:, SCALE * PREPADDING :, SCALE * PREPADDING :]
            out[:, SCALE * top : SCALE * bottom, SCALE * left : SCALE * right] = keep[
                :, : SCALE * (bottom - top), : SCALE * (right - left)
            ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, action="append", help="input image(s); default Set14 barbara LR and HR")
    parser.add_argument("--tiles", default="32,64,100,128,200,256,400", help="tile sizes (0 = whole frame)")
    parser.add_argument("--half", action="store_true", help="fp16 weights in the .bin")
    args = parser.parse_args()
    images = args.image or [SET14 / "LR_bicubic_x4" / "barbara.png", SET14 / "HR" / "barbara.png"]
    tiles = [0, *(int(t) for t in args.tiles.split(","))]

    model, weights = load_model()
    interface = Interface(value_range=1, half=args.half)
    expected = verify.reference(None)
    with tempfile.TemporaryDirectory() as folder:
        param, bin_path, _ = export_ncnn(model, weights, Path(folder) / "eern-x4.param", interface)
        run = verify.ncnn_runner(param, bin_path)
        print(f"ncnn {interface.precision} weights, CPU fp32 storage, prepadding {PREPADDING} px; "
              f"{platform.processor() or platform.machine()}")
        for path in images:
            rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).transpose(2, 0, 1)
            truth = quantize(expected(rgb[None])[0].transpose(1, 2, 0))
            print(f"\n{path.parent.name}/{path.name} {rgb.shape[2]}x{rgb.shape[1]}")
            print("| tile (px) | tiles | PSNR, whole image | PSNR, interior | largest difference, interior |")
            print("|---|---|---|---|---|")
            for tile in tiles:
                got = quantize((tiled(run, rgb / 255.0, tile) * 255.0).transpose(1, 2, 0))
                count = 1 if tile == 0 else math.ceil(rgb.shape[1] / tile) * math.ceil(rgb.shape[2] / tile)
                inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
                largest = int(np.abs(got[inner].astype(int) - truth[inner].astype(int)).max())
                label = "whole frame" if tile == 0 else str(tile)
                print(f"| {label} | {count} | {psnr(got, truth):.2f} dB | {psnr(got, truth, border=BORDER):.2f} dB "
                      f"| {largest} |", flush=True)


if __name__ == "__main__":
    main()

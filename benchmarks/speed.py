"""Our default and fp32 paths against the challenge-style reference and the obvious tiled path, in one run.

    python benchmarks/speed.py [--size 512] [--rounds 7] [--tile 256]

Every variant upscales the same image (a crop of Set14 'baboon' from ../shared/data when present, else
a seeded random image); rounds are interleaved so that the machine's noise hits all variants alike. Per
variant: median / min / spread of the wall time, speed-up against the reference, output megapixels per
second, and PSNR of the uint8 output against the reference's. OpenVINO and ONNX Runtime are measured
when installed (`pip install openvino onnxruntime onnx onnxscript`); eern never depends on them.

Variants:
- reference: fp32, NCHW, eager, whole frame: how the NTIRE challenge's script runs the model.
- obvious: eager, channels_last, 256 px tiles with a 16 px overlap, cropped and pasted (Real-ESRGAN
  style). Approximate for EERN (ESA's gate depends on the tile size), shown for speed.
- eern: ``Upscaler`` as ``eern upscale`` runs it: exact tiling; default precision (auto) and fp32.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from eern_cli.devices import cpu_name
from eern_cli.upscaler import Upscaler
from eern_cli.weights import load_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_image(size: int) -> torch.Tensor:
    source = SHARED / "Set14" / "HR" / "baboon.png"
    if source.exists():
        from PIL import Image

        pixels = np.asarray(Image.open(source).convert("RGB"))
        pixels = np.pad(pixels, ((0, max(0, size - pixels.shape[0])), (0, max(0, size - pixels.shape[1])), (0, 0)), "reflect")
        pixels = pixels[:size, :size]
    else:
        pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float()


def overlap_tiled(model: torch.nn.Module, x: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """Real-ESRGAN's tiling: each tile run on its own with an overlap, then cropped and pasted."""
    _, _, height, width = x.shape
    out = torch.empty((1, 3, 4 * height, 4 * width), dtype=torch.float32)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(top + tile + overlap, height), min(left + tile + overlap, width)
            result = model(x[..., y0:y1, x0:x1].contiguous(memory_format=torch.channels_last))
            bottom, right = min(top + tile, height), min(left + tile, width)
            out[..., 4 * top : 4 * bottom, 4 * left : 4 * right] = result[
                ..., 4 * (top - y0) : 4 * (bottom - y0), 4 * (left - x0) : 4 * (right - x0)
            ].float()
    return out


def torch_variants(image: torch.Tensor, tile: int) -> dict[str, Callable[[], torch.Tensor]]:
    reference, _ = load_model()
    fast = load_model()[0].to(memory_format=torch.channels_last)
    default = Upscaler(device="cpu", precision="auto", tile=tile)
    fp32 = Upscaler(device="cpu", precision="fp32", tile=tile)

    def obvious(dtype: torch.dtype) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                return overlap_tiled(fast, image, 256, 16)

        return run

    return {
        "reference: fp32 NCHW eager, whole frame": lambda: reference(image),
        "obvious: bf16 autocast, 256 tiles + 16 overlap (approx.)": obvious(torch.bfloat16),
        "obvious: fp32, 256 tiles + 16 overlap (approx.)": obvious(torch.float32),
        f"eern default ({default.precision.value}, exact tiles {tile})": lambda: default.upscale_tensor(image),
        f"eern fp32 (exact tiles {tile})": lambda: fp32.upscale_tensor(image),
    }


def onnx_variants(image: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    variants: dict[str, Callable[[], torch.Tensor]] = {}
    try:
        import onnx  # noqa: F401
    except ImportError:
        return variants
    model, _ = load_model()
    path = Path(tempfile.mkdtemp()) / "eern.onnx"
    try:
        torch.onnx.export(model, (image,), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    except Exception as exc:  # noqa: BLE001 (a benchmark: report and go on)
        print(f"(ONNX export failed: {exc}; OpenVINO and ONNX Runtime skipped)", file=sys.stderr)
        return variants
    feed = image.numpy()
    try:
        import openvino as ov

        core = ov.Core()
        for hint in ("f32", "bf16"):
            compiled = core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": hint})
            request = compiled.create_infer_request()

            def run(request=request) -> torch.Tensor:
                return torch.from_numpy(request.infer({0: feed})[0].copy())

            variants[f"OpenVINO {ov.__version__.split('-')[0]} {hint}, whole frame"] = run
    except ImportError:
        pass
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        variants[f"ONNX Runtime {ort.__version__} fp32, whole frame"] = lambda: torch.from_numpy(
            session.run(None, {"x": feed})[0]
        )
    except ImportError:
        pass
    return variants


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    qa, qb = a.clamp(0, 255).round().double(), b.clamp(0, 255).round().double()
    mse = float(((qa - qb) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="input side in pixels (default 512)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tile", type=int, default=256, help="eern's tile size (default 256, as upscale)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    image = test_image(args.size)
    variants = {**torch_variants(image, args.tile), **onnx_variants(image)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for name, run in variants.items():  # warm-up, and the output for the PSNR column
            outputs[name] = run().float()
        for _ in range(args.rounds):
            for name, run in variants.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    reference_name = next(iter(variants))
    base = statistics.median(times[reference_name])
    out_mp = 16 * args.size * args.size / 1e6
    print(f"# eern speed, input {args.size}x{args.size} -> {4 * args.size}x{4 * args.size}, {args.rounds} interleaved rounds")
    print(f"# {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, Python {platform.python_version()}")
    print("| variant | median ms | min ms | spread | speed-up | output MP/s | PSNR vs reference |")
    print("|---|---|---|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        spread = (max(samples) - min(samples)) / median
        print(
            f"| {name} | {median * 1000:.0f} | {min(samples) * 1000:.0f} | {spread:.0%} | "
            f"{base / median:.2f}x | {out_mp / median:.2f} | {psnr(outputs[name], outputs[reference_name]):.1f} dB |"
        )


if __name__ == "__main__":
    main()

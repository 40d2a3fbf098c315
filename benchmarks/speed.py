"""Our default and fp32 paths against the challenge-style reference and the obvious tiled path, in one run.

    python benchmarks/speed.py [--size 512] [--rounds 7] [--tile N] [--threads N]

Every variant upscales the same image (a crop of Set14 'baboon' from ../shared/data when present, else
a seeded random image). Each variant lives in its own worker process, as each tool would run on its own
(so one variant's allocator or thread-pool state cannot help or hurt another), and the rounds are
interleaved: the parent asks each worker in turn for one timed run, so the machine's noise hits all
variants alike and only one runs at a time. Per variant: median / min / spread of the wall time, speed-up
against the reference, output megapixels per second, and PSNR of the uint8 output against the reference's.
OpenVINO and ONNX Runtime are measured when installed (`pip install openvino onnxruntime onnx onnxscript`);
eern never depends on them.

Variants:
- reference: fp32, NCHW, eager, whole frame: how the NTIRE challenge's script runs the model.
- obvious: eager, channels_last, 256 px tiles with a 16 px overlap, cropped and pasted (Real-ESRGAN
  style). Approximate for EERN (ESA's gate depends on the tile size), shown for speed.
- eern: ``Upscaler`` as ``eern upscale`` runs it, with its default tile unless ``--tile`` is given (on a CPU a
  512x512 image then runs as one whole frame, larger ones in exact 256 px tiles; the label says which): the
  default precision (``auto``, which a calibration on this machine resolves: the label says to what), fp32 and
  bf16; and the default precision in exact 256 px tiles, to show what the tiling costs.
- ncnn (when ``ncnn`` and ``pnnx`` are installed, i.e. ``eern[export]``): the model converted by eern's own
  exporter (``eern export --format ncnn``'s code, pnnx underneath), run whole frame on the CPU with
  ``net.opt.num_threads`` threads: fp32 (fp16 storage and arithmetic off, as ``eern export`` verifies it), the
  same with its Winograd 3x3 convolutions off (ncnn picks Winograd F(6x6)/F(4x4)/F(2x2) per layer otherwise:
  the pair shows what a hand-written fused Winograd is worth here), and bf16 storage (``opt.use_bf16_storage``)
  when it runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_image(size: int):
    import torch

    source = SHARED / "Set14" / "HR" / "baboon.png"
    if source.exists():
        from PIL import Image

        pixels = np.asarray(Image.open(source).convert("RGB"))
        pixels = np.pad(pixels, ((0, max(0, size - pixels.shape[0])), (0, max(0, size - pixels.shape[1])), (0, 0)), "reflect")
        pixels = pixels[:size, :size]
    else:
        pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float()


def overlap_tiled(model, x, tile: int, overlap: int):
    """Real-ESRGAN's tiling: each tile run on its own with an overlap, then cropped and pasted."""
    import torch

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


# The CPU flags that bear on the precision choice (printed in the header; the choice itself is measured).
PRECISION_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16", "avx512_vnni")


def variant_names() -> list[str]:
    names = [
        "reference: fp32 NCHW eager, whole frame",
        "obvious: bf16 autocast, 256 tiles + 16 overlap (approx.)",
        "obvious: fp32, 256 tiles + 16 overlap (approx.)",
        "eern default",  # the worker labels each eern variant with what ``auto`` and the tile resolve to
        "eern fp32",
        "eern bf16",
        "eern default, exact tiles 256",
    ]
    if importlib.util.find_spec("ncnn") and importlib.util.find_spec("pnnx"):
        names += ["ncnn fp32, whole frame", "ncnn fp32, Winograd off, whole frame", "ncnn bf16 storage, whole frame"]
    if importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxscript"):
        if importlib.util.find_spec("openvino"):
            names += ["OpenVINO f32, whole frame", "OpenVINO bf16, whole frame"]
        if importlib.util.find_spec("onnxruntime"):
            names.append("ONNX Runtime fp32, whole frame")
    return names


def build(name: str, image, tile: int | None) -> tuple[Callable, str]:
    """The variant's run function (returns the output) and its label, built in the worker."""
    import torch

    from eern_cli.engine.allocator import keep_freed_memory
    from eern_cli.upscaler import Upscaler
    from eern_cli.weights.loading import load_model

    if name.startswith("reference"):
        model, _ = load_model()
        return lambda: model(image), name
    if name.startswith("obvious"):
        fast = load_model()[0].to(memory_format=torch.channels_last)
        dtype = torch.bfloat16 if "bf16" in name else torch.float32

        def obvious():
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                return overlap_tiled(fast, image, 256, 16)

        return obvious, name
    if name.startswith("eern"):
        precision = "fp32" if "fp32" in name else "bf16" if "bf16" in name else "auto"
        upscaler = Upscaler(device="cpu", precision=precision, tile=256 if "tiles 256" in name else tile)
        keep_freed_memory()  # as the eern CLI does
        whole = upscaler.runs_whole(*image.shape[-2:])
        # What the calibration chose on this machine (not what the CPU flags suggest), and how it ran.
        how = [upscaler.precision] if precision == "auto" else []
        how += [f"{upscaler.channels} ch", "whole frame" if whole else f"exact {upscaler.tile} px tiles"]
        return lambda: upscaler.upscale_tensor(image), f"{name.split(',')[0]} ({', '.join(how)})"
    if name.startswith("ncnn"):
        return build_ncnn(name, image)
    model, _ = load_model()
    path = Path(tempfile.mkdtemp()) / "eern.onnx"
    torch.onnx.export(model, (image,), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    feed = image.numpy()
    if name.startswith("OpenVINO"):
        import openvino as ov

        hint = "bf16" if "bf16" in name else "f32"
        request = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": hint}).create_infer_request()
        label = name.replace("OpenVINO", f"OpenVINO {ov.__version__.split('-')[0]}")
        return lambda: torch.from_numpy(request.infer({0: feed})[0].copy()), label
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label = name.replace("ONNX Runtime", f"ONNX Runtime {ort.__version__}")
    return lambda: torch.from_numpy(session.run(None, {"x": feed})[0]), label


def build_ncnn(name: str, image) -> tuple[Callable, str]:
    """The model exported by eern's ncnn exporter (0..255 in and out, like the others), on ncnn's CPU path."""
    import ncnn
    import torch

    from eern_cli.export.graph import Interface
    from eern_cli.export.ncnn import INPUT_BLOB, OUTPUT_BLOB, export_ncnn
    from eern_cli.weights.loading import load_model

    model, weights = load_model()
    param, weights_path, _ = export_ncnn(model, weights, Path(tempfile.mkdtemp()) / "eern-x4.param", Interface())
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = torch.get_num_threads()
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = net.opt.use_bf16_packed = "bf16" in name
    net.opt.use_winograd_convolution = "Winograd off" not in name
    if net.load_param(str(param)) != 0 or net.load_model(str(weights_path)) != 0:
        raise RuntimeError(f"ncnn could not load {param}")
    feed = np.ascontiguousarray(image[0].numpy())

    def run():
        extractor = net.create_extractor()
        extractor.input(INPUT_BLOB, ncnn.Mat(feed[None], batch_index=0).clone())
        status, out = extractor.extract(OUTPUT_BLOB)
        if status != 0:
            raise RuntimeError(f"ncnn failed (status {status})")
        return torch.from_numpy(np.array(out.numpy(batch_index=0)[0], copy=True))[None]

    label = name.replace("ncnn", f"ncnn {ncnn.__version__}")
    label = label.replace("whole frame", f"{net.opt.num_threads} threads, whole frame")
    return run, label


def worker(name: str, size: int, tile: int | None, threads: int, out: str) -> None:
    """Build one variant, save its uint8 output, then time one run per line read from stdin."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    if threads:
        torch.set_num_threads(threads)
    image = test_image(size)
    with torch.inference_mode():
        run, label = build(name, image, tile)
        result = run().float().clamp(0, 255).round().to(torch.uint8).numpy()
        np.save(out, result)
        print(f"ready {torch.get_num_threads()} {label}", flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            start = time.perf_counter()
            run()
            print(time.perf_counter() - start, flush=True)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="input side in pixels (default 512)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tile", type=int, default=None, help="eern's tile size (default: eern's own, as upscale)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.size, args.tile, args.threads, args.out)
    folder = Path(tempfile.mkdtemp())
    workers: dict[str, subprocess.Popen] = {}
    labels: dict[str, str] = {}
    saved: dict[str, Path] = {}
    threads = "?"
    for index, name in enumerate(variant_names()):  # started one by one: no set-up overlaps a run
        saved[name] = folder / f"{index}.npy"
        command = [sys.executable, __file__, "--worker", name, "--size", str(args.size),
                   "--threads", str(args.threads), "--out", str(saved[name])]
        command += ["--tile", str(args.tile)] if args.tile is not None else []
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = process.stdout.readline().split(maxsplit=2)
        if len(ready) < 3 or ready[0] != "ready":
            print(f"({name}: failed to start, skipped)", file=sys.stderr)
            process.kill()
            continue
        threads, labels[name], workers[name] = ready[1], ready[2].strip(), process
    times: dict[str, list[float]] = {name: [] for name in workers}
    for _ in range(args.rounds):
        for name, process in workers.items():
            process.stdin.write("run\n")
            process.stdin.flush()
            times[name].append(float(process.stdout.readline()))
    for process in workers.values():
        process.stdin.close()
        process.wait()
    outputs = {name: np.load(saved[name]) for name in workers}
    reference = next(iter(workers))
    base = statistics.median(times[reference])
    out_mp = 16 * args.size * args.size / 1e6
    import torch

    from eern_cli.engine.devices import cpu_flags, cpu_name

    print(f"# eern speed, input {args.size}x{args.size} -> {4 * args.size}x{4 * args.size}, {args.rounds} interleaved rounds, one process per variant")
    print(f"# {cpu_name()}, {threads} threads, torch {torch.__version__}, Python {platform.python_version()}")
    flags = cpu_flags()
    print("# CPU flags: " + ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in PRECISION_FLAGS))
    print("| variant | median ms | min ms | spread | speed-up | output MP/s | PSNR vs reference |")
    print("|---|---|---|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        spread = (max(samples) - min(samples)) / median
        print(
            f"| {labels[name]} | {median * 1000:.0f} | {min(samples) * 1000:.0f} | {spread:.0%} | "
            f"{base / median:.2f}x | {out_mp / median:.2f} | {psnr(outputs[name], outputs[reference]):.1f} dB |"
        )


if __name__ == "__main__":
    main()

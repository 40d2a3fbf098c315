"""The GPU proof's measurements that the CLI does not make: exactness, the challenge's timing, an OOM drill.

    python benchmarks/gpu_check.py OUT_DIR [--device cuda] [--quick]

Writes ``OUT_DIR/exactness.json``, ``OUT_DIR/challenge.json`` and ``OUT_DIR/oom.json``; ``benchmarks/gpu_check.sh``
runs it after the test suite and the CLI benchmarks. ``--device cpu --quick`` runs the same code on a CPU with
small sizes, so the script is proven before a GPU is lent (device time is scarce).

- exactness: tiled vs whole frame on the device, fp32 and fp16, max difference in grey levels (0..255) before
  and after rounding to 8 bits, and PSNR of fp16/bf16 against fp32.
- challenge: the NTIRE Efficient-SR way: model only, one DIV2K-valid-sized input (510x339 -> 2040x1356),
  CUDA events after warm-up, median of N; peak memory (torch.cuda.max_memory_allocated), against the team's
  factsheet (17.73 ms, 549.76 MB on an RTX 3090).
- oom: the tile budget forced small (``torch.cuda.set_per_process_memory_fraction``) on a large input: the
  engine must retry smaller tiles / host scratch and still give the whole-frame result, or fail with
  eern's one-line error.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from eern_cli.upscaler import Upscaler

FACTSHEET = {"ms": 17.73, "peak_mb": 549.76, "gpu": "RTX 3090"}


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth image with edges (random noise would hide tiling errors in texture)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 127 + 60 * np.sin(x / 7.0)[..., None] * np.cos(y / 11.0)[..., None] + rng.normal(0, 12, (height, width, 3))
    base[height // 3 : height // 2, :, 0] = 250
    return np.clip(base, 0, 255).astype(np.uint8)


def _tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().to(device)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float | None:
    mse = float(((a.clamp(0, 255) - b.clamp(0, 255)) ** 2).mean())
    return None if mse == 0 else 10 * math.log10(255**2 / mse)


def exactness(device: str, quick: bool) -> dict:
    image = _tensor(_image(*((96, 130) if quick else (339, 510))), torch.device(device))
    results: dict = {"size": list(image.shape[-2:]), "variants": []}
    reference = Upscaler(device=device, precision="fp32", tile=0).upscale_tensor(image)
    precisions = ["fp32", "fp16"] + (["bf16"] if device == "cpu" or torch.cuda.is_bf16_supported() else [])
    for precision in precisions:
        whole = Upscaler(device=device, precision=precision, tile=0).upscale_tensor(image)
        for tile in (64, 128) if quick else (128, 256, 512):
            tiled = Upscaler(device=device, precision=precision, tile=tile).upscale_tensor(image)
            diff = (tiled - whole).abs()
            rounded = (tiled.clamp(0, 255).round() - whole.clamp(0, 255).round()).abs()
            results["variants"].append({
                "precision": precision, "tile": tile, "max_level_diff": float(diff.max()),
                "max_level_diff_uint8": float(rounded.max()), "psnr_tiled_vs_whole_db": _psnr(tiled, whole),
                "psnr_vs_fp32_whole_db": _psnr(whole, reference),
            })
    return results


def challenge(device: str, quick: bool, rounds: int) -> dict:
    dev = torch.device(device)
    height, width = (85, 128) if quick else (339, 510)
    image = _tensor(_image(height, width), dev)
    out: dict = {"input": [height, width], "factsheet": FACTSHEET, "variants": []}
    for precision in ("fp32", "fp16", "bf16"):
        if dev.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
            continue
        upscaler = Upscaler(device=device, precision=precision, tile=0)
        model, x = upscaler.model, image.to(upscaler.dtype).contiguous(memory_format=torch.channels_last)
        times = []
        with torch.inference_mode():
            for _ in range(3 if quick else 10):
                model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            for _ in range(rounds):
                if dev.type == "cuda":
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    model(x)
                    end.record()
                    torch.cuda.synchronize()
                    times.append(start.elapsed_time(end))
                else:
                    t0 = time.perf_counter()
                    model(x)
                    times.append((time.perf_counter() - t0) * 1e3)
        row = {"precision": precision, "median_ms": statistics.median(times), "min_ms": min(times), "rounds": rounds}
        if dev.type == "cuda":
            row["peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["variants"].append(row)
    return out


def oom_drill(device: str, quick: bool) -> dict:
    """Whole frame refused by a small memory budget; tiles must still give the whole-frame result."""
    size = 96 if quick else 2048
    image = _tensor(_image(size, size, seed=1), torch.device(device))
    reference = Upscaler(device=device, precision="fp16" if device != "cpu" else "fp32", tile=256).upscale_tensor(image)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(2.0 * 2**30 / torch.cuda.get_device_properties(0).total_memory)
    try:
        upscaler = Upscaler(device=device, precision="fp16" if device != "cpu" else "fp32", tile=0)
        t0 = time.perf_counter()
        result = upscaler.upscale_tensor(image)
        seconds = time.perf_counter() - t0
        return {"size": size, "outcome": "completed", "seconds": seconds,
                "max_level_diff_vs_tiled": float((result - reference).abs().max())}
    except Exception as exc:  # the drill records what a user would see
        return {"size": size, "outcome": type(exc).__name__, "message": str(exc).splitlines()[0]}
    finally:
        if device.startswith("cuda"):
            torch.cuda.set_per_process_memory_fraction(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes (a dry run of the script on a CPU)")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, run in (("exactness", lambda: exactness(args.device, args.quick)),
                      ("challenge", lambda: challenge(args.device, args.quick, args.rounds)),
                      ("oom", lambda: oom_drill(args.device, args.quick))):
        t0 = time.perf_counter()
        result = run()
        result["seconds_to_measure"] = time.perf_counter() - t0
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
        print(f"{name}: {json.dumps(result)[:400]}", flush=True)


if __name__ == "__main__":
    main()

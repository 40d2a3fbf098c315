"""Peak memory of one upscale, each setting in a fresh process so that high-water marks do not mix.

    python benchmarks/memory.py [--size 1024] [--device cpu]

Prints, per setting: the process's peak RSS (VmHWM), the part of it that the upscale added over the
loaded model, the scratch bytes per input pixel that the exact tiling keeps (its feature and ESA-branch maps
in the working precision and width) and, on CUDA, torch's peak allocated memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np, torch
from eern_cli.engine.allocator import keep_freed_memory
from eern_cli.upscaler import Upscaler

def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

size, device, precision, tile, scratch = json.loads(sys.argv[1])
upscaler = Upscaler(device=device, precision=precision, tile=tile, scratch=scratch)
if upscaler.device.type == "cpu":
    keep_freed_memory()  # as the eern CLI does
image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
upscaler.upscale(np.zeros((32, 32, 3), dtype=np.uint8))  # warm up the kernels
before = hwm_mb()
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
out = upscaler.upscale(image)
result = {"peak_rss_mb": hwm_mb(), "added_mb": hwm_mb() - before, "bytes_per_pixel": upscaler.scratch_bytes_per_pixel(),
          "precision": upscaler.precision, "tile": upscaler.tile, "channels": upscaler.channels}
if device.startswith("cuda"):
    result["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from eern_cli.engine.choices import cpu_name

    settings = [
        ("default (auto precision, default tile)", "auto", None, None),
        ("fp32, default tile", "fp32", None, None),
        ("fp32, whole frame (tile 0)", "fp32", 0, None),
    ]
    print(f"# peak memory for a {args.size}x{args.size} input -> {4 * args.size}x{4 * args.size} uint8 output, {args.device}")
    print(f"# {cpu_name()}, torch threads: torch's default")
    print("| setting | precision | channels | tile | peak RSS MB | added by the upscale MB | scratch B/input px |")
    print("|---|---|---|---|---|---|---|")
    for name, precision, tile, scratch in settings:
        payload = json.dumps([args.size, args.device, precision, tile, scratch])
        done = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {name} | failed: {done.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(done.stdout)
        extra = f" (CUDA peak {r['cuda_peak_allocated_mb']:.0f} MB)" if "cuda_peak_allocated_mb" in r else ""
        print(
            f"| {name} | {r['precision']} | {r['channels']} | {r['tile']} | {r['peak_rss_mb']:.0f}{extra} | {r['added_mb']:.0f} | "
            f"{r['bytes_per_pixel']} |"
        )


if __name__ == "__main__":
    main()

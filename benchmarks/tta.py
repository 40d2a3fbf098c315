"""What ``--tta`` (the x8 self-ensemble) costs in time, against the plain upscale, on the same images.

    PYTHONPATH=. python benchmarks/tta.py [--data DIR ...] [--precision fp32] [--tile 0] [--rounds 3] [--threads N]

For every image (decoded once, beforehand), ``Upscaler.upscale_array`` and ``SelfEnsemble.upscale_array``
run alternately, one call at a time, for ``--rounds`` rounds after one untimed call of each (so that both
meet every image shape warm). Prints, per image and in total, the best wall time of each and their ratio, and
the same for the process's CPU time (all threads), which other jobs on a shared machine disturb less. The
quality side is ``eern benchmark --dataset DIR --tta``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DATA = ["/work/shared/data/Set5/LR_bicubic_x4", "/work/shared/data/Set14/LR_bicubic_x4"]


def timed(fn, array: np.ndarray) -> np.ndarray:
    """(wall seconds, CPU seconds of this process) of ``fn(array)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(array)
    return np.array([time.perf_counter() - wall, time.process_time() - cpu])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=DEFAULT_DATA, help="folders of input images")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--tile", type=int, default=0, help="0: whole frame (the benchmark's convention)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's); with 1, "
                        "no thread spins at a barrier, so CPU time stays honest on a busy machine")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from eern_cli.bench import sysinfo
    from eern_cli.ensemble import SelfEnsemble
    from eern_cli.upscaler import Upscaler

    plain = Upscaler(device=args.device, precision=args.precision, tile=args.tile)
    ensemble = SelfEnsemble(plain)
    paths = sorted(p for folder in args.data for p in Path(folder).iterdir() if p.suffix.lower() == ".png")
    arrays = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in paths}
    print(f"{sysinfo.describe(sysinfo.device_info(plain.device))}; {args.precision}, tile {args.tile}, "
          f"best of {args.rounds}; load average {sysinfo.load_average()}", flush=True)
    best: dict[str, np.ndarray] = {}  # per image: [[plain wall, plain CPU], [tta wall, tta CPU]]
    for name, array in arrays.items():
        plain.upscale_array(array)
        ensemble.upscale_array(array)
        rounds = [[timed(plain.upscale_array, array), timed(ensemble.upscale_array, array)] for _ in range(args.rounds)]
        best[name] = np.min(np.array(rounds), axis=0)
        (wall, cpu), (tta_wall, tta_cpu) = best[name]
        print(f"{name:12s} {array.shape[1]}x{array.shape[0]}  wall {wall:6.3f} -> {tta_wall:6.3f} s "
              f"({tta_wall / wall:5.2f}x)  CPU {cpu:6.3f} -> {tta_cpu:6.3f} s ({tta_cpu / cpu:5.2f}x)", flush=True)
    (wall, cpu), (tta_wall, tta_cpu) = sum(best.values())
    print(f"total over {len(best)} images: wall {wall:.2f} -> {tta_wall:.2f} s ({tta_wall / wall:.2f}x), "
          f"CPU {cpu:.2f} -> {tta_cpu:.2f} s ({tta_cpu / cpu:.2f}x); load average {sysinfo.load_average()}")


if __name__ == "__main__":
    main()

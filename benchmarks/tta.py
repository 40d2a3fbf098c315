"""What ``--tta`` (the x8 self-ensemble) costs in time, against the plain upscale, on the same images.

    PYTHONPATH=. python benchmarks/tta.py [--data DIR ...] [--precision fp32] [--tile 0] [--rounds 3]

For every image (decoded once, beforehand), ``Upscaler.upscale_array`` and ``SelfEnsemble.upscale_array``
run alternately, one call at a time, for ``--rounds`` rounds after one untimed call of each (so that both
meet every image shape warm). Prints, per image and in total, the best time of each and their ratio (best
times: this machine may be shared). The quality side is ``eern benchmark --dataset DIR --tta``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DATA = ["/work/shared/data/Set5/LR_bicubic_x4", "/work/shared/data/Set14/LR_bicubic_x4"]


def timed(fn, array: np.ndarray) -> float:
    start = time.perf_counter()
    fn(array)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=DEFAULT_DATA, help="folders of input images")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--tile", type=int, default=0, help="0: whole frame (the benchmark's convention)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from eern_cli.bench import sysinfo
    from eern_cli.ensemble import SelfEnsemble
    from eern_cli.upscaler import Upscaler

    plain = Upscaler(device=args.device, precision=args.precision, tile=args.tile)
    ensemble = SelfEnsemble(plain)
    paths = sorted(p for folder in args.data for p in Path(folder).iterdir() if p.suffix.lower() == ".png")
    arrays = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in paths}
    print(f"{sysinfo.describe(sysinfo.device_info(plain.device))}; {args.precision}, tile {args.tile}, "
          f"best of {args.rounds}; load average {sysinfo.load_average()}", flush=True)
    best: dict[str, list[float]] = {}
    for name, array in arrays.items():
        plain.upscale_array(array)
        ensemble.upscale_array(array)
        times = [(timed(plain.upscale_array, array), timed(ensemble.upscale_array, array)) for _ in range(args.rounds)]
        best[name] = [min(t[0] for t in times), min(t[1] for t in times)]
        width, height = array.shape[1], array.shape[0]
        print(f"{name:12s} {width}x{height}  plain {best[name][0]:7.3f} s  tta {best[name][1]:7.3f} s  "
              f"ratio {best[name][1] / best[name][0]:5.2f}x", flush=True)
    plain_total = sum(b[0] for b in best.values())
    tta_total = sum(b[1] for b in best.values())
    print(f"total over {len(best)} images: plain {plain_total:.2f} s, tta {tta_total:.2f} s, "
          f"ratio {tta_total / plain_total:.2f}x; load average {sysinfo.load_average()}")


if __name__ == "__main__":
    main()

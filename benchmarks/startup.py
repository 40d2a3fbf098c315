"""How long the ``eern`` commands that need no model take to start, against ``python -c "import torch"``.

    python benchmarks/startup.py [--runs 7]

Each command runs ``--runs`` times in a fresh process (interleaved, so background load hits all alike) and
the median and min wall-clock times are printed. The commands: ``import torch`` (the yardstick),
``eern --help``, ``eern upscale --help``, ``eern upscale x.png --dry-run``, an up-to-date re-run of
``eern upscale x.png`` (its output already made, so every file is skipped), and ``eern info``. The images
are 32x32 PNGs made here; the output is one made by a real ``eern upscale`` first.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

EERN = [sys.executable, "-m", "eern_cli"]


def commands(folder: Path) -> dict[str, list[str]]:
    image = folder / "x.png"
    return {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "eern --help": [*EERN, "--help"],
        "eern upscale --help": [*EERN, "upscale", "--help"],
        "eern upscale x.png --dry-run": [*EERN, "upscale", str(image), "--dry-run"],
        "eern upscale x.png (up to date)": [*EERN, "upscale", str(image)],
        "eern info": [*EERN, "info"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        Image.new("RGB", (32, 32), (90, 120, 200)).save(folder / "x.png")
        subprocess.run([*EERN, "upscale", str(folder / "x.png"), "--quiet"], check=True)
        runs = commands(folder)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.runs):
            for name, command in runs.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - start)
    torch_median = statistics.median(times['python -c "import torch"'])
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'/ import torch':>15}   ({args.runs} runs each)")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<34} {median:9.3f} {min(samples):7.3f} {median / torch_median:15.2f}")


if __name__ == "__main__":
    main()

"""How long the ``eern`` commands that need no model take to start, against ``python -c "import torch"``.

    python benchmarks/startup.py [--runs 7] [--before DIR]

Each command runs ``--runs`` times in a fresh process, interleaved (so background load hits all alike), and
the median and min wall-clock times are printed, with the median's ratio to ``import torch``'s. The
commands: ``import torch`` (the yardstick), ``eern --help``, ``eern upscale --help``, ``eern upscale x.png
--dry-run``, an up-to-date re-run of ``eern upscale x.png`` (its output already made, so it is skipped), and
``eern info``. The image is a 32x32 PNG made here, upscaled once by a real ``eern upscale`` first.
``--before DIR`` also times the same commands with the package from DIR (e.g. an older checkout: ``git archive
COMMIT | tar -x -C DIR``) in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

EERN = [sys.executable, "-m", "eern_cli"]


def commands(image: Path) -> dict[str, list[str]]:
    return {
        "eern --help": [*EERN, "--help"],
        "eern upscale --help": [*EERN, "upscale", "--help"],
        "eern upscale x.png --dry-run": [*EERN, "upscale", str(image), "--dry-run"],
        "eern upscale x.png (up to date)": [*EERN, "upscale", str(image)],
        "eern info": [*EERN, "info"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", type=Path, help="a folder holding an older eern_cli package")
    args = parser.parse_args()
    trees = {"": Path(__file__).resolve().parents[1]}
    if args.before:
        trees["before: "] = args.before.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        runs: dict[str, tuple[list[str], dict[str, str], Path]] = {
            'python -c "import torch"': ([sys.executable, "-c", "import torch"], dict(os.environ), Path(tmp))}
        for label, tree in trees.items():
            image = Path(tmp, label.strip(": ") or "now", "x.png")
            image.parent.mkdir()
            Image.new("RGB", (32, 32), (90, 120, 200)).save(image)
            env = {**os.environ, "PYTHONPATH": str(tree)}
            subprocess.run([*EERN, "upscale", str(image), "--quiet"], check=True, env=env, cwd=tree)
            runs.update({label + name: (command, env, tree) for name, command in commands(image).items()})
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.runs):
            for name, (command, env, cwd) in runs.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                               cwd=cwd)
                times[name].append(time.perf_counter() - start)
    torch_median = statistics.median(times['python -c "import torch"'])
    print(f"{'command':<42} {'median s':>9} {'min s':>7} {'/ import torch':>15}   ({args.runs} runs each)")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<42} {median:9.3f} {min(samples):7.3f} {median / torch_median:15.2f}")


if __name__ == "__main__":
    main()

"""Throughput of ``eern upscale --ray local`` against a local run, and what starting Ray costs.

    python benchmarks/ray_scaling.py [--data DIR] [--rounds 2]

Runs, interleaved round by round, on the same folder and through the real CLI (a fresh process each):

* local, ``--threads 2``;
* ``--ray local --ray-actors 1 --threads 1`` and ``--ray local --ray-actors 2 --threads 1``.

From each run's ``--events`` stream it takes the start-up time (launch to the ``start`` event: imports, Ray's
start, the model loaded in every worker) and the batch time (``start`` to ``summary``), and prints images/s over
the batch time (median of the rounds) and the start-up cost. Needs the Ray extra; default data: Set14's x4 inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "Set14" / "LR_bicubic_x4"
VARIANTS = {
    "local, 2 threads": ["--threads", "2"],
    "ray, 1 actor x 1 thread": ["--ray", "local", "--ray-actors", "1", "--threads", "1"],
    "ray, 2 actors x 1 thread": ["--ray", "local", "--ray-actors", "2", "--threads", "1"],
}


def one_run(data: Path, extra: list[str]) -> tuple[float, float, int]:
    """(start-up s, batch s, images done) of one ``eern upscale`` run into a fresh folder."""
    with tempfile.TemporaryDirectory() as out:
        launched = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "eern_cli", "upscale", str(data), "-o", out, "--device", "cpu",
                                 "--events", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        started = ended = None
        done = 0
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "start":
                started = time.perf_counter()
            elif event["event"] == "summary":
                ended, done = time.perf_counter(), event["done"]
        if proc.wait() != 0 or started is None or ended is None:
            raise SystemExit(f"run failed: {extra}")
        return started - launched, ended - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in VARIANTS}
    for r in range(args.rounds):
        for name, extra in VARIANTS.items():
            results[name].append(one_run(args.data, extra))
            startup, batch, done = results[name][-1]
            print(f"round {r + 1}: {name}: start-up {startup:.1f} s, {done} images in {batch:.1f} s", flush=True)
    load = os.getloadavg()
    print(f"\n{args.data}, {args.rounds} rounds, load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"| variant | images/s (median) | batch s (median) | start-up s (median) |\n|---|---|---|---|")
    rates = {}
    for name, runs in results.items():
        batch = statistics.median(b for _, b, _ in runs)
        rates[name] = runs[0][2] / batch
        print(f"| {name} | {rates[name]:.2f} | {batch:.1f} | {statistics.median(s for s, _, _ in runs):.1f} |")
    one, two = rates["ray, 1 actor x 1 thread"], rates["ray, 2 actors x 1 thread"]
    print(f"2 actors / 1 actor: {two / one:.2f}x; 2 actors / local 2 threads: {two / rates['local, 2 threads']:.2f}x")


if __name__ == "__main__":
    main()

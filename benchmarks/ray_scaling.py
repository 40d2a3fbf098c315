"""Throughput of ``eern upscale --ray local`` against a local run, and what starting Ray costs.

    python benchmarks/ray_scaling.py [--data DIR] [--rounds 2]

Runs, interleaved round by round, on the same folder and through the real CLI (a fresh process each):

* local, ``--threads 2`` and ``--threads 1``;
* ``--ray local --ray-actors 1 --threads 1`` and ``--ray local --ray-actors 2 --threads 1``.

From each run's ``--events`` stream it takes the start-up time (launch to the last worker ready: imports, Ray's
start, the model loaded in every worker; ``start`` for a local run) and the rate after it: images finished from
then to the ``summary`` event, per second (median of the rounds). Needs the Ray extra; default data: Set14
x4 inputs (14 images, 62x90 to 192x128).
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
    "local, 1 thread": ["--threads", "1"],
    "ray, 1 actor x 1 thread": ["--ray", "local", "--ray-actors", "1", "--threads", "1"],
    "ray, 2 actors x 1 thread": ["--ray", "local", "--ray-actors", "2", "--threads", "1"],
}


def one_run(data: Path, extra: list[str]) -> tuple[float, float, int]:
    """(start-up s, s from then to the end, images finished in that time) of one run into a fresh folder."""
    with tempfile.TemporaryDirectory() as out:
        launched = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "eern_cli", "upscale", str(data), "-o", out, "--device", "cpu",
                                 "--events", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        started = ended = None
        finished: list[float] = []
        for line in proc.stdout:
            event = json.loads(line)
            now = time.perf_counter()
            if event["event"] == "worker_ready" or (event["event"] == "start" and "--ray" not in extra):
                started = now
            elif event["event"] == "file_done":
                finished.append(now)
            elif event["event"] == "summary":
                ended = now
        if proc.wait() != 0 or started is None or ended is None:
            raise SystemExit(f"run failed: {extra}")
        return started - launched, ended - started, sum(t > started for t in finished)


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
            print(f"round {r + 1}: {name}: start-up {startup:.1f} s, then {done} images in {batch:.1f} s", flush=True)
    load = os.getloadavg()
    print(f"\n{args.data}, {args.rounds} rounds, load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print("| variant | images/s after start-up (median) | start-up s (median) |\n|---|---|---|")
    rates = {}
    for name, runs in results.items():
        rates[name] = statistics.median(done / batch for _, batch, done in runs)
        print(f"| {name} | {rates[name]:.2f} | {statistics.median(s for s, _, _ in runs):.1f} |")
    one, two = rates["ray, 1 actor x 1 thread"], rates["ray, 2 actors x 1 thread"]
    print(f"2 actors / 1 actor: {two / one:.2f}x; 2 actors / local 2 threads: {two / rates['local, 2 threads']:.2f}x")


if __name__ == "__main__":
    main()

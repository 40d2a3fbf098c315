"""How much a batch through ``eern upscale`` costs beyond the model itself, in images per second.

    PYTHONPATH=. python benchmarks/batch_overhead.py --small 100           # 100 crops of ~120x80 (Set5/Set14 HR)
    PYTHONPATH=. python benchmarks/batch_overhead.py [--data DIR ...] [--levels default 4 1] [--threads N]

Prints, on the same images, in interleaved rounds (so that a busy moment hits every row alike):

* the model alone, one image at a time (``Upscaler.upscale_array`` on decoded arrays): the reference;
* the model alone, images of one shape batched (``Upscaler.upscale_arrays``);
* the batch through ``eern upscale DIR -o OUT`` in-process (its decode and encode threads, model load and
  planning included; "loop" is the batch alone), once per ``--levels`` PNG level;
* decode + encode alone, serially, at the first level;

each as the median over ``--rounds`` rounds, in images/s and as a ratio to the reference; then PNG encode
time and size per writer and level on these outputs (eern's writer, and Pillow's at levels 4 and 6).
``--small N`` makes the folder itself: N crops of 120x80 from the Set5 and Set14 HR images in ../shared/data,
every third one portrait (80x120), as photos of a folder mix them.

The machine may be shared: before each round the benchmark waits (up to ``--patience`` s) until other
processes leave the CPUs idle, and a round in which they used more than ``--max-foreign`` CPUs is measured
again (every round is printed with that figure); after ``--patience`` s it keeps what it has, and says so.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = [str(SHARED / "Set14" / "LR_bicubic_x4"), str(SHARED / "Set5" / "LR_bicubic_x4")]
SMALL_SOURCES = [SHARED / "Set5" / "HR", SHARED / "Set14" / "HR"]
SMALL_SIZE = (120, 80)  # width, height of a landscape crop
TICK = os.sysconf("SC_CLK_TCK")


def images_in(folders: list[str | Path]) -> list[Path]:
    from eern_cli.images.formats import input_extensions

    return sorted(p for f in folders for p in Path(f).iterdir() if p.suffix.lower() in input_extensions())


def make_small_folder(count: int, folder: Path, seed: int = 0) -> list[Path]:
    """``count`` PNG crops of 120x80 (every third 80x120) from the HR images, cycling through them."""
    from PIL import Image

    sources = images_in(SMALL_SOURCES)
    if not sources:
        sys.exit(f"no images in {', '.join(map(str, SMALL_SOURCES))}")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            im = im.convert("RGB")
            width, height = SMALL_SIZE if i % 3 else SMALL_SIZE[::-1]
            left = int(rng.integers(0, im.width - width + 1))
            top = int(rng.integers(0, im.height - height + 1))
            path = folder / f"img{i:03d}.png"
            im.crop((left, top, left + width, top + height)).save(path)
            paths.append(path)
    return paths


def busy_seconds() -> float:
    """CPU seconds every process of the machine has used since boot (Linux /proc/stat, steal included)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK  # all but idle and iowait


def own_seconds() -> float:
    times = os.times()
    return times.user + times.system


class Foreign:
    """CPUs that other processes used while a block ran (their CPU seconds per wall second)."""

    cpus = 0.0

    def __enter__(self) -> None:
        self.busy, self.own, self.wall = busy_seconds(), own_seconds(), time.perf_counter()

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.wall
        self.cpus = max(0.0, busy_seconds() - self.busy - (own_seconds() - self.own)) / max(wall, 1e-9)


def wait_for_quiet(limit: float, deadline: float) -> None:
    while time.monotonic() < deadline:
        foreign = Foreign()
        with foreign:
            time.sleep(1.0)
        if foreign.cpus <= limit:
            return


def measure(rows: dict[str, Callable[[], float | None]], rounds: int, max_foreign: float, patience: float
            ) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """Interleaved rounds of every row: the times of the kept rounds, what the rows returned in them (a time of
    their own, or None), and how many rounds ran in all."""
    times: dict[str, list[float]] = {name: [] for name in rows}
    returned: dict[str, list[float]] = {}
    deadline, ran = time.monotonic() + patience, 0
    while len(times[next(iter(rows))]) < rounds:
        wait_for_quiet(max_foreign, deadline)
        round_times, round_returned = {}, {}
        foreign = Foreign()
        with foreign:
            for name, fn in rows.items():
                start = time.perf_counter()
                value = fn()
                round_times[name] = time.perf_counter() - start
                if value is not None:
                    round_returned[name] = value
        ran += 1
        kept = foreign.cpus <= max_foreign or time.monotonic() > deadline
        print(f"round {ran}: " + ", ".join(f"{name} {t:.2f} s" for name, t in round_times.items()) +
              f"; other processes {foreign.cpus:.2f} CPUs{'' if kept else ' (measured again)'}", flush=True)
        if kept:
            for name, t in round_times.items():
                times[name].append(t)
            for name, value in round_returned.items():
                returned.setdefault(name, []).append(value)
    return times, returned, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=DEFAULT_DATA, help="folders of input images")
    parser.add_argument("--small", type=int, metavar="N", help="make and use a folder of N ~120x80 crops instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rounds", "--repeat", type=int, default=5)
    parser.add_argument("--levels", nargs="+", default=["default"],
                        help="PNG levels to run 'eern upscale' with: 0-9 or default (eern's own; the default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the model (default: torch's); fewer than the cores leaves some spare "
                        "for decode/encode, as on a bigger machine")
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="CPUs other processes may use during a round that is kept")
    parser.add_argument("--patience", type=float, default=1200, help="seconds to wait for a quiet machine in all")
    parser.add_argument("--png-source", help="PNG level table on the x4 output of this image (default: the outputs "
                        "of the folder); the README's table used ../shared/data/Set5/HR/baby.png")
    parser.add_argument("--png-crop", type=int, default=384, help="crop side (input px) of --png-source")
    args = parser.parse_args()

    import torch

    from eern_cli.cli.app import main as eern
    from eern_cli.engine.allocator import keep_freed_memory
    from eern_cli.engine.devices import cpu_name
    from eern_cli.images.decode import Frame, read_image
    from eern_cli.images.encode import EncodeOptions, Metadata, encode
    from eern_cli.upscaler import Upscaler

    if args.threads:
        torch.set_num_threads(args.threads)
    levels = [None if level == "default" else int(level) for level in args.levels]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        if args.small:
            paths = make_small_folder(args.small, folder)
            where = f"{args.small} crops of Set5/Set14 HR"
        else:
            folder.mkdir()
            paths = []
            for p in images_in(args.data):
                paths.append(folder / f"{p.parent.parent.name}_{p.name}")
                paths[-1].write_bytes(p.read_bytes())
            where = ", ".join(args.data)
        if not paths:
            sys.exit(f"no images in {where}")
        upscaler = Upscaler(device=args.device, precision=args.precision)
        if upscaler.device.type == "cpu":
            keep_freed_memory()  # as the eern CLI does
        blobs = [p.read_bytes() for p in paths]
        arrays = [read_image(b, str(p)).frames[0].color for b, p in zip(blobs, paths, strict=True)]
        shapes: dict[tuple, list[np.ndarray]] = {}
        for a in arrays:
            shapes.setdefault((a.shape, a.dtype), []).append(a)
        in_px = sum(a.shape[0] * a.shape[1] for a in arrays)
        print(f"machine: {cpu_name()}, {len(os.sched_getaffinity(0))} usable CPUs, torch threads "
              f"{torch.get_num_threads()}; device {upscaler.device}, precision {upscaler.precision}, tile {upscaler.tile}")
        print(f"images: {len(paths)} from {where}; {len(shapes)} shapes "
              f"({', '.join(f'{s[1]}x{s[0]} x{len(v)}' for (s, _), v in shapes.items())}), batch sizes "
              f"{sorted({upscaler.batch_size(*s[:2]) for s, _ in shapes})}; {in_px / 1e6:.2f} Mpx in")
        outputs: list[np.ndarray] = [upscaler.upscale_array(a) for a in arrays]  # also the warm-up
        for group in shapes.values():
            upscaler.upscale_arrays(group)
        meta = Metadata(icc=None, dpi=None, exif=None, loop=None, provenance=None)

        def one_by_one() -> None:
            for a in arrays:
                upscaler.upscale_array(a)

        def batched() -> None:
            for group in shapes.values():
                upscaler.upscale_arrays(group)

        def decode_encode() -> None:
            png = EncodeOptions(format="png", compress_level=levels[0])
            for blob, path, out in zip(blobs, paths, outputs, strict=True):
                read_image(blob, str(path))
                encode(io.BytesIO(), [Frame(out)], meta, png)

        def command(level: int | None) -> tuple[str, Callable[[], float]]:
            def run() -> float:
                buf = io.StringIO()
                try:
                    with redirect_stdout(buf):
                        eern(["upscale", str(folder), "-o", str(Path(tmp) / "out"), "--overwrite", "--quiet", "--json",
                              "--device", args.device, "--precision", upscaler.precision]
                             + (["--compress-level", str(level)] if level is not None else [])
                             + (["--threads", str(args.threads)] if args.threads else []))
                except SystemExit as exc:
                    if exc.code:
                        raise
                return json.loads(buf.getvalue())["seconds"]

            return f"eern upscale, PNG {_level_name(level)}", run

        rows = {"model alone, one by one": one_by_one, "model alone, batched": batched,
                **dict(command(level) for level in levels),
                f"decode + encode alone, PNG {_level_name(levels[0])}": decode_encode}
        times, loops, ran = measure(rows, args.rounds, args.max_foreign, args.patience)
    kept = len(times["model alone, one by one"])
    print()
    print(f"median of the {kept} rounds kept of {ran}:")
    reference = statistics.median(times["model alone, one by one"])
    print(f"{'':40s} {'seconds':>8s} {'images/s':>9s} {'vs model one by one':>20s}")
    for name, values in times.items():
        t = statistics.median(values)
        per_round = statistics.median(v / r for v, r in zip(values, times["model alone, one by one"], strict=True))
        line = f"{name:40s} {t:8.2f} {len(paths) / t:9.1f} {t / reference:10.3f} (per round {per_round:.3f})"
        if name in loops:
            loop = statistics.median(loops[name])
            line += f"; loop alone {loop:.2f} s = {len(paths) / loop:.1f} images/s, {loop / reference:.3f}"
        print(line)
    if args.png_source:
        from PIL import Image

        rgb = np.asarray(Image.open(args.png_source).convert("RGB"))[: args.png_crop, : args.png_crop]
        outputs = [upscaler.upscale_array(np.ascontiguousarray(rgb))]
    png_table(outputs, args.rounds)


def _level_name(level: int | None) -> str:
    return "default" if level is None else f"level {level}"


def png_table(outputs: list[np.ndarray], repeat: int) -> None:
    """eern's PNG writer at its default and at each zlib level, beside Pillow's own encoder (adaptive filters;
    eern wrote 8-bit PNGs with it, at level 4, before ``images/png_writer.py``)."""
    from PIL import Image

    from eern_cli.images.decode import Frame
    from eern_cli.images.encode import EncodeOptions, Metadata, encode

    meta = Metadata(icc=None, dpi=None, exif=None, loop=None, provenance=None)
    sample = outputs[: max(1, min(len(outputs), 30))]
    raw = sum(o.nbytes for o in sample)

    def ours(level: int | None) -> Callable[[np.ndarray, io.BytesIO], None]:
        return lambda out, buf: encode(buf, [Frame(out)], meta, EncodeOptions(format="png", compress_level=level))

    def pillow(level: int) -> Callable[[np.ndarray, io.BytesIO], None]:
        return lambda out, buf: Image.fromarray(out).save(buf, "PNG", compress_level=level)

    writers = {f"eern {_level_name(level)}": ours(level) for level in [None, *range(10)]}
    writers.update({"Pillow level 4": pillow(4), "Pillow level 6": pillow(6)})
    print()
    print(f"PNG writers on {len(sample)} of these x4 outputs ({raw / len(sample) / 1e6:.2f} MB raw each), encode CPU "
          f"time per output, best of {max(repeat, 3)}:")
    print(f"{'writer':18s} ms/output   size (kB)   time vs Pillow 4   size vs Pillow 4")
    rows = {}
    for name, write in writers.items():
        best, size = float("inf"), 0
        for _ in range(max(repeat, 3)):
            start, size = time.thread_time(), 0
            for out in sample:
                buf = io.BytesIO()
                write(out, buf)
                size += len(buf.getvalue())
            best = min(best, time.thread_time() - start)
        rows[name] = (1000 * best / len(sample), size / len(sample) / 1e3)
    base_ms, base_kb = rows["Pillow level 4"]
    for name, (ms, kb) in rows.items():
        print(f"{name:18s} {ms:8.1f}    {kb:8.1f}     {ms / base_ms:10.2f}x     {kb / base_kb:10.3f}")


if __name__ == "__main__":
    main()

"""How much a batch through ``eern upscale`` costs beyond the model itself, and which PNG level to default to.

    PYTHONPATH=. python benchmarks/batch_overhead.py [--data DIR ...] [--device cpu] [--threads N]

Prints, in one run and on the same images:

* the model's own time (``Upscaler.upscale_array`` on pre-decoded arrays, nothing else);
* decode + encode time done serially (read + decode the input, encode the x4 output as PNG);
* the batch's time through ``eern upscale DIR -o OUT`` (in-process: the CLI with its decode and encode
  threads), and the ratio batch / model;
* a PNG compression table: encode time and size for levels 0-9 on a realistic x4 output.

Each timing is the best of ``--repeat`` rounds (this machine may be shared). Needs /work/shared/data or any
folder of images.
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
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

DEFAULT_DATA = ["/work/shared/data/Set14/LR_bicubic_x4", "/work/shared/data/Set5/LR_bicubic_x4"]


def images_in(folders: list[str]) -> list[Path]:
    from eern_cli.images.formats import input_extensions

    return sorted(p for f in folders for p in Path(f).iterdir() if p.suffix.lower() in input_extensions())


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=DEFAULT_DATA, help="folders of input images")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the model (default: torch's); fewer than the cores leaves some spare "
                        "for decode/encode, as on a bigger machine")
    parser.add_argument("--png-source", default="/work/shared/data/Set5/HR/baby.png",
                        help="image whose x4 output is used for the PNG level table")
    parser.add_argument("--png-crop", type=int, default=384, help="crop side (input px) for the PNG table")
    args = parser.parse_args()

    import torch

    from eern_cli.cli.app import main as eern
    from eern_cli.images.decode import Frame, read_image
    from eern_cli.images.encode import (
        DEFAULT_PNG_LEVEL,
        EncodeOptions,
        Metadata,
        encode,
    )
    from eern_cli.engine.allocator import keep_freed_memory
    from eern_cli.upscaler import Upscaler

    if args.threads:
        torch.set_num_threads(args.threads)
    paths = images_in(args.data)
    if not paths:
        sys.exit(f"no images in {args.data}")
    upscaler = Upscaler(device=args.device, precision=args.precision)
    if upscaler.device.type == "cpu":
        keep_freed_memory()  # as the eern CLI does
    print(f"machine: {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}; device {upscaler.device}, precision {upscaler.precision}, "
          f"tile {upscaler.tile}")
    blobs = [p.read_bytes() for p in paths]
    arrays = [read_image(b, str(p)).frames[0].color for b, p in zip(blobs, paths, strict=True)]
    in_px = sum(a.shape[0] * a.shape[1] for a in arrays)
    print(f"images: {len(paths)} from {', '.join(args.data)}; {in_px / 1e6:.2f} Mpx in, "
          f"{16 * in_px / 1e6:.1f} Mpx out")
    upscaler.upscale_array(arrays[0])  # warm-up
    outputs: list[np.ndarray] = []

    def model_only() -> None:
        outputs.clear()
        outputs.extend(upscaler.upscale_array(a) for a in arrays)

    meta = Metadata(icc=None, dpi=None, exif=None, loop=None, provenance=None)
    png = EncodeOptions(format="png", compress_level=DEFAULT_PNG_LEVEL)

    def decode_encode() -> None:
        for blob, path, out in zip(blobs, paths, outputs, strict=True):
            read_image(blob, str(path))
            encode(io.BytesIO(), [Frame(out)], meta, png)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for p in paths:
            (folder / f"{p.parent.parent.name}_{p.name}").write_bytes(p.read_bytes())
        summaries = []

        def batch() -> None:
            buf = io.StringIO()
            try:
                with redirect_stdout(buf):
                    eern(["upscale", str(folder), "-o", str(Path(tmp) / "out"), "--overwrite", "--quiet", "--json",
                          "--device", args.device, "--precision", upscaler.precision])
            except SystemExit as exc:
                if exc.code:
                    raise
            summaries.append(json.loads(buf.getvalue()))

        t_model, t_io, t_batch = [], [], []
        for _ in range(args.repeat):  # interleaved, so that a busy moment hits all three alike
            t_model.append(best(model_only, 1))
            t_io.append(best(decode_encode, 1))
            t_batch.append(best(batch, 1))
    model, io_s, wall = min(t_model), min(t_io), min(t_batch)
    inner = min(s["seconds"] for s in summaries)
    print()
    print(f"model alone (upscale_array on decoded arrays):   {model:7.2f} s")
    print(f"decode + encode alone (serial, PNG level {DEFAULT_PNG_LEVEL}):   {io_s:7.2f} s")
    print(f"model + decode + encode if done one after other: {model + io_s:7.2f} s")
    print(f"batch through 'eern upscale' (wall, in-process): {wall:7.2f} s  (batch loop {inner:.2f} s, "
          f"model load and planning included in the wall time)")
    print(f"ratio batch / model: {wall / model:.3f}  (loop only {inner / model:.3f}); overhead "
          f"{100 * (wall / model - 1):+.1f} %")
    print(f"all rounds: model {[round(t, 2) for t in t_model]}, io {[round(t, 2) for t in t_io]}, "
          f"batch {[round(t, 2) for t in t_batch]}")
    png_table(upscaler, args.png_source, args.png_crop, args.repeat)


def png_table(upscaler, source: str, crop: int, repeat: int) -> None:
    from PIL import Image

    from eern_cli.images.decode import Frame
    from eern_cli.images.encode import EncodeOptions, Metadata, encode

    rgb = np.asarray(Image.open(source).convert("RGB"))[:crop, :crop]
    out = upscaler.upscale_array(np.ascontiguousarray(rgb))
    meta = Metadata(icc=None, dpi=None, exif=None, loop=None, provenance=None)
    print()
    print(f"PNG compress level on a x4 output of {Path(source).name} ({out.shape[1]}x{out.shape[0]}, "
          f"{out.nbytes / 1e6:.1f} MB raw), best of {max(repeat, 3)}:")
    print("level   time (s)   size (MB)   time vs 6   size vs 6")
    rows = {}
    for level in range(10):
        sizes, times = [], []
        for _ in range(max(repeat, 3)):
            buf = io.BytesIO()
            start = time.perf_counter()
            encode(buf, [Frame(out)], meta, EncodeOptions(format="png", compress_level=level))
            times.append(time.perf_counter() - start)
            sizes.append(len(buf.getvalue()))
        rows[level] = (min(times), statistics.median(sizes))
    for level, (t, size) in rows.items():
        print(f"  {level}     {t:7.3f}    {size / 1e6:8.2f}     {t / rows[6][0]:6.2f}x     {size / rows[6][1]:6.3f}")


if __name__ == "__main__":
    main()

"""Video throughput: frames per second of ``eern upscale clip.mp4`` end to end against the model alone, and
what chunking (resumability) costs.

    PYTHONPATH=. python benchmarks/video_throughput.py [--frames 24] [--size 640x360] [--precision auto]

On one synthetic clip (a moving smooth pattern with an audio track, H.264 in MP4, made here with PyAV):

* model only: ``upscale_frame`` on frames decoded beforehand (nothing else timed);
* end to end, one chunk (``--chunk-seconds`` larger than the clip): decode, model, encode, mux;
* end to end, small chunks (``--small-chunk`` seconds), to show what chunk boundaries cost (each chunk is a
  fresh encoder: a key frame and a flushed lookahead), in time and in file size.

Each end-to-end run is the CLI in this process (``eern upscale``, with its threads), into a fresh folder.
Needs the video extra (``pip install 'eern[video]'``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--small-chunk", type=float, default=0.25)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))

    from helpers_video import make_video, video_frames

    from eern_cli.batch.frames import upscale_frame
    from eern_cli.cli.app import main as eern
    from eern_cli.images.decode import Frame
    from eern_cli.upscaler import Upscaler

    folder = Path(tempfile.mkdtemp(prefix="eern-video-bench-"))
    clip = make_video(folder / "clip.mp4", width=width, height=height, frames=args.frames, fps=args.fps)
    frames = video_frames(clip)
    upscaler = Upscaler(device=args.device, precision=args.precision)
    upscale_frame(upscaler, Frame(frames[0]))  # warm-up (first call allocates and picks kernels)
    start = time.perf_counter()
    for rgb in frames:
        upscale_frame(upscaler, Frame(rgb))
    model = time.perf_counter() - start

    def end_to_end(chunk_seconds: float, name: str) -> tuple[float, int]:
        out = folder / name
        start = time.perf_counter()
        try:
            eern(["upscale", str(clip), "-o", str(out), "--device", args.device, "--precision", args.precision,
                  "--chunk-seconds", str(chunk_seconds), "--quiet"])
        except SystemExit as exc:
            if exc.code:
                raise
        return time.perf_counter() - start, out.stat().st_size

    whole, whole_size = end_to_end(args.frames / args.fps + 1, "one_chunk.mp4")
    small, small_size = end_to_end(args.small_chunk, "small_chunks.mp4")
    chunks = int(np.ceil(args.frames / max(1, round(args.fps * args.small_chunk))))
    n = args.frames
    print(f"clip: {width}x{height}, {n} frames at {args.fps} fps, H.264 in MP4 with AAC audio; output "
          f"{4 * width}x{4 * height}; device {args.device}, precision {upscaler.precision.value}, "
          f"torch threads {__import__('torch').get_num_threads()}, cpu count {os.cpu_count()}")
    print("| run | seconds | frames/s | vs model | output size |")
    print("|---|---|---|---|---|")
    print(f"| model only (decoded frames in memory) | {model:.2f} | {n / model:.3f} | 1.00 | - |")
    print(f"| end to end, 1 chunk | {whole:.2f} | {n / whole:.3f} | {whole / model:.2f} | {whole_size / 1e6:.2f} MB |")
    print(f"| end to end, {chunks} chunks of {args.small_chunk:g} s | {small:.2f} | {n / small:.3f} | "
          f"{small / model:.2f} | {small_size / 1e6:.2f} MB |")
    print(f"chunking overhead: {100 * (small / whole - 1):+.1f} % time, {100 * (small_size / whole_size - 1):+.1f} % size")


if __name__ == "__main__":
    main()

"""Video throughput: frames per second of ``eern upscale clip.mp4`` end to end against the model alone, and
what chunking (resumability) costs.

    PYTHONPATH=. python benchmarks/video_throughput.py [--frames 8] [--fps 8] [--rounds 3] [--size 640x360]

On one synthetic clip (a moving smooth pattern with an audio track, H.264 in MP4, made here with PyAV):

* model only: ``upscale_frame`` on frames decoded beforehand (nothing else timed);
* end to end, one chunk (``--chunk-seconds`` larger than the clip): decode, model, encode, mux;
* end to end, small chunks (``--small-chunk`` seconds), to show what chunk boundaries cost (each chunk is a
  fresh encoder: a key frame and a flushed lookahead), in time and in file size.

``--encoder-only SECONDS`` measures instead what chunking costs the encoder alone on a longer clip (frames
resized x4 with Pillow's bicubic as a stand-in for the model's, which chunking does not touch): the same
frames encoded as one segment and as segments of 5 s, 1 s and 0.5 s, with the time and the muxed size of each.

Each end-to-end run is the CLI in this process (``eern upscale``, with its threads). The three are interleaved,
round after round, so that a machine shared with other jobs slows each alike; medians and minimums are printed.
Needs the video extra (``pip install 'eern[video]'``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
LOAD0 = f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--small-chunk", type=float, default=0.25)
    parser.add_argument("--encoder-only", type=float, default=0, metavar="SECONDS")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    if args.encoder_only:
        return encoder_only(args.encoder_only, args.fps, width, height)

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

    def model_only() -> tuple[float, int]:
        start = time.perf_counter()
        for rgb in frames:
            upscale_frame(upscaler, Frame(rgb))
        return time.perf_counter() - start, 0

    def end_to_end(chunk_seconds: float, name: str):
        def run() -> tuple[float, int]:
            out = folder / name
            out.unlink(missing_ok=True)
            start = time.perf_counter()
            try:
                eern(["upscale", str(clip), "-o", str(out), "--device", args.device, "--precision", args.precision,
                      "--chunk-seconds", str(chunk_seconds), "--quiet"])
            except SystemExit as exc:
                if exc.code:
                    raise
            return time.perf_counter() - start, out.stat().st_size
        return run

    n = args.frames
    chunks = int(np.ceil(n / max(1, round(args.fps * args.small_chunk))))
    variants = {"model only (decoded frames in memory)": model_only,
                "end to end, 1 chunk": end_to_end(n / args.fps + 1, "one_chunk.mp4"),
                f"end to end, {chunks} chunks of {args.small_chunk:g} s": end_to_end(args.small_chunk, "chunks.mp4")}
    times: dict[str, list[float]] = {name: [] for name in variants}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, run in variants.items():
            seconds, size = run()
            times[name].append(seconds)
            sizes[name] = size
    print(f"clip: {width}x{height}, {n} frames at {args.fps} fps, H.264 in MP4 with AAC audio; output "
          f"{4 * width}x{4 * height}; device {args.device}, precision {upscaler.precision.value}, "
          f"torch threads {__import__('torch').get_num_threads()}, cpu count {os.cpu_count()}, "
          f"{args.rounds} interleaved rounds, load average before/after {LOAD0} / {os.getloadavg()[0]:.1f}")
    print("| run | median s | min s | frames/s (median) | median vs model | output size |")
    print("|---|---|---|---|---|---|")
    model = statistics.median(times["model only (decoded frames in memory)"])
    for name, values in times.items():
        median = statistics.median(values)
        size = f"{sizes[name] / 1e6:.2f} MB" if sizes[name] else "-"
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {n / median:.3f} | {median / model:.2f} | {size} |")
    one, many = list(times.values())[1:]
    (one_size, many_size) = list(sizes.values())[1:]
    by_median = 100 * (statistics.median(many) / statistics.median(one) - 1)
    print(f"chunking overhead ({chunks} chunks vs 1): {by_median:+.1f} % time (medians), "
          f"{100 * (min(many) / min(one) - 1):+.1f} % (minimums), "
          f"{100 * (many_size / one_size - 1):+.1f} % size")


def encoder_only(seconds: float, fps: int, width: int, height: int) -> None:
    from helpers_video import make_video
    from PIL import Image

    from eern_cli.video import encode, probe
    from eern_cli.video.mux import mux

    folder = Path(tempfile.mkdtemp(prefix="eern-video-encoder-"))
    frames_count = round(seconds * fps)
    clip = make_video(folder / "clip.mp4", width=width, height=height, frames=frames_count, fps=fps)
    info = probe.probe(clip, "clip.mp4")
    decoded = list(probe.frames(info))
    size = (4 * width, 4 * height)
    big = [(pts, np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))) for _, pts, _, rgb in decoded]
    encoding = encode.resolve(encode.VideoOptions(), ".mp4", info, size)
    print(f"encoder only: {frames_count} frames {size[0]}x{size[1]} at {fps} fps, {encoding.encoder} "
          f"{encoding.options}, one encoder thread; load average {os.getloadavg()[0]:.1f}")
    print("| chunks | encode + mux s | output size |")
    print("|---|---|---|")
    base = None
    for chunk_seconds in (seconds + 1, 5.0, 1.0, 0.5):
        per = max(1, round(chunk_seconds * fps))
        start = time.perf_counter()
        segments = []
        for first in range(0, frames_count, per):
            path = folder / f"chunk-{len(segments):06d}.nut"
            encode.write_segment(path, big[first:first + per], info, encoding, size)
            segments.append(path)
        out = folder / f"out_{chunk_seconds:g}.mp4"
        mux(out, segments, [d[1] for d in decoded], [d[2] for d in decoded], info, {})
        elapsed, bytes_ = time.perf_counter() - start, out.stat().st_size
        base = base or (elapsed, bytes_)
        label = "1 (whole clip)" if chunk_seconds > seconds else f"{len(segments)} of {chunk_seconds:g} s"
        print(f"| {label} | {elapsed:.1f} ({100 * (elapsed / base[0] - 1):+.1f} %) | "
              f"{bytes_ / 1e6:.2f} MB ({100 * (bytes_ / base[1] - 1):+.1f} %) |")
        for path in segments:
            path.unlink()


if __name__ == "__main__":
    main()

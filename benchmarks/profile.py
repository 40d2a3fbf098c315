"""Where a CPU upscale spends its time: torch's profiler over eern's default path, over the same engine with
the plain ops (no fused kernels, 84 channels), and over the default in exact 256 px tiles (what a 512x512 image
ran in before the CPU's whole-frame rule), in one process, rounds interleaved.

    python benchmarks/profile.py [--size 512] [--rounds 3] [--precision auto]

Per variant: wall time (min of the rounds) and the profiler's self CPU time grouped by what the ops do
(3x3 convs, ESA's 1x1 and small-map convs, elementwise passes, copies, pooling/resize, the output's pixel
shuffle), from the profiled run (one per round, beside the timed one) with the least total: the least disturbed.
The profiler adds its own overhead; compare the shares, and the wall times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

GROUPS = {
    "elementwise": ("aten::relu", "aten::clamp_min", "aten::sigmoid", "aten::mul", "aten::add", "aten::fill_"),
    "copies": ("aten::copy_",),
    "pooling, resize": (
        "aten::max_pool2d", "aten::upsample_bilinear2d", "aten::mm", "aten::bmm", "aten::index_put", "aten::_index_put",
    ),
    "pixel shuffle": ("aten::pixel_shuffle",),
}


def group_of(name: str, shapes: list) -> str:
    if "convolution" in name:
        weight = shapes[1] if len(shapes) > 1 and shapes[1] else []
        if len(weight) == 4 and weight[-1] == 3 and weight[0] >= 48 and weight[1] >= 48:
            return "3x3 convs (84/96 ch)"
        return "other convs (head, ESA)"
    for group, prefixes in GROUPS.items():
        if name.startswith(prefixes):
            return group
    return "rest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from eern_cli.engine import kernels
    from eern_cli.engine.allocator import keep_freed_memory
    from eern_cli.engine.choices import cpu_name
    from eern_cli.engine.widen import widened
    from eern_cli.upscaler import Upscaler
    from eern_cli.weights.loading import load_model
    from speed import test_image

    keep_freed_memory()
    image = test_image(args.size)
    default = Upscaler(device="cpu", precision=args.precision)
    plain = Upscaler(device="cpu", precision=default.precision)
    plain.model = widened(load_model()[0].to(plain.dtype), 84).to(memory_format=torch.channels_last)
    fused = kernels.fusable
    tiled = Upscaler(device="cpu", precision=default.precision, tile=256)
    how = "whole frame" if default.runs_whole(*image.shape[-2:]) else f"{default.tile} px tiles"
    variants = {
        f"eern default ({default.precision}, {default.channels} ch, fused kernels, {how})": (default, fused),
        f"plain ops ({plain.precision}, 84 ch, no fused kernels, {how})": (plain, lambda x: False),
        f"eern default in exact 256 px tiles ({tiled.channels} ch)": (tiled, fused),
    }
    walls: dict[str, list[float]] = {name: [] for name in variants}
    groups: dict[str, dict[str, float]] = {}
    for round_ in range(args.rounds + 1):
        for name, (upscaler, fusable) in variants.items():
            kernels.fusable = fusable
            start = time.perf_counter()
            upscaler.upscale_tensor(image)
            if not round_:  # the first round warms up
                continue
            walls[name].append(time.perf_counter() - start)
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                upscaler.upscale_tensor(image)
            totals: dict[str, float] = {}
            for event in prof.key_averages(group_by_input_shape=True):
                group = group_of(event.key, event.input_shapes)
                totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total / 1e3
            if name not in groups or sum(totals.values()) < sum(groups[name].values()):
                groups[name] = totals  # the least disturbed profiled round
    kernels.fusable = fused
    print(f"# where the time goes: {args.size}x{args.size} input, {cpu_name()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    names = list(variants)
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    print("| wall ms (min of rounds) | " + " | ".join(f"{min(walls[n]) * 1e3:.0f}" for n in names) + " |")
    order = ["3x3 convs (84/96 ch)", "other convs (head, ESA)", *GROUPS, "rest"]
    for group in order:
        cells = []
        for name in names:
            total = sum(groups[name].values())
            ms = groups[name].get(group, 0.0)
            cells.append(f"{ms:.0f} ms ({ms / total:.0%})")
        print(f"| {group} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

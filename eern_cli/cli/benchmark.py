"""``eern benchmark``: speed (challenge-style timing, with variance) and quality (PSNR/SSIM on a test set).

Tables go to stdout, progress to stderr. ``--json`` puts the report alone on stdout (the tables then go to
stderr), as ``--json`` does in every command; ``--report FILE`` writes it to a file (``.json`` or ``.csv``).
Ctrl-C stops the run and reports what was measured so far.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from eern_cli.cli import options
from eern_cli.errors import UsageError

DEFAULT_SIZES = ["256", "640x480"]  # the challenge's FLOPs size, and a 2560x1920 (4.9 MP) photo out
DEFAULTS = {"cpu": (5, 1), "cuda": (30, 10)}  # (timed rounds, warm-up calls) per device type
WHOLE = {"0", "whole", "full", "none"}


def _split(values: list[str] | None, default: list[str]) -> list[str]:
    items = [v.strip() for value in (values or default) for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(items))


def parse_size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '640x480' (width x height, as photo sizes are written) -> (480, 640) = (H, W)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*", text)
    if not match or int(match[1]) < 1 or int(match[2] or match[1]) < 1:
        raise UsageError(f"bad input size {text!r}", hint="use N (square) or WIDTHxHEIGHT, e.g. 256 or 640x480")
    width = int(match[1])
    return int(match[2] or width), width


def _tile(text: str, device: Any) -> tuple[int, bool]:
    """(tile side, whether it is the device's default: ``Variant.auto``)."""
    from eern_cli.engine.devices import resolve_tile

    if text.lower() in WHOLE:
        return 0, False
    if text.lower() == "auto":
        return int(resolve_tile(None, device).value), True
    try:
        return int(resolve_tile(int(text), device).value), False
    except ValueError:
        raise UsageError(f"bad tile {text!r}", hint="use auto, 0 (whole frame) or a side in pixels") from None


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _speed_tables(rows: list[dict[str, Any]]) -> list[Any]:
    """One table per input size: a terminal 80 columns wide shows it without wrapping."""
    from rich import box
    from rich.table import Table

    tables = []
    for size in dict.fromkeys(r["input"] for r in rows):
        group = [r for r in rows if r["input"] == size]
        w, h = (int(v) for v in size.split("x"))
        runs = "-".join(str(n) for n in sorted({min(r["n"] for r in group), max(r["n"] for r in group)}))
        table = Table(
            title=f"input {size} -> output {4 * w}x{4 * h}: ms per image, {runs} timed runs each",
            title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1),
        )
        for name in ("variant", "median", "min", "IQR", "first", "MP/s", "speed-up", "vs fp32", "MiB"):
            table.add_column(name, justify="left" if name == "variant" else "right")
        for r in group:
            memory = (f"{_mib(r['cuda_max_allocated_bytes'])}/{_mib(r['cuda_max_reserved_bytes'])}"
                      if "cuda_max_allocated_bytes" in r else _mib(r.get("peak_rss_growth_bytes")))
            speedup, psnr = r["speedup_vs_fp32_whole"], r["psnr_vs_fp32_db"]
            table.add_row(
                r["variant"], f"{r['median_ms']:.1f}", f"{r['min_ms']:.1f}", f"{r['iqr_ms']:.1f}",
                f"{r['first_ms']:.1f}", f"{r['output_mp_per_s']:.2f}", "-" if speedup is None else f"{speedup:.2f}x",
                "-" if psnr is None else f"{psnr:.1f} ({r['max_diff_levels']})", memory,
            )
        tables.append(table)
    return tables


SPEED_LEGEND = (
    "median, min, IQR (interquartile range), first (the variant's first, cold call): ms; MP/s: output megapixels "
    "per second at the median; speed-up: against fp32 whole frame; vs fp32: PSNR in dB of the output against fp32 "
    "whole frame ('inf': identical), in brackets the largest difference in grey levels; MiB: {memory}"
)
QUALITY_LEGEND = (
    "output uint8 (clamp, round); HR mod-cropped to 4x the LR; 4 px border cropped; Y = BT.601 as MATLAB's "
    "rgb2ycbcr (rounded); SSIM Gaussian 11/1.5; bicubic = {bicubic}; time s: wall clock of the whole upscale"
)


def _quality_table(title: str, rows: list[dict[str, Any]], per_image: bool) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    first = ["image", "method"] if per_image else ["method", "images"]
    for name in [*first, "PSNR RGB", "SSIM RGB", "PSNR Y", "SSIM Y", "time s"]:
        table.add_column(name, justify="left" if name in ("image", "method") else "right")
    for r in rows:
        head = [r["image"], r["method"]] if per_image else [r["method"], str(r["images"])]
        table.add_row(
            *head, f"{r['psnr_rgb']:.2f}", f"{r['ssim_rgb']:.4f}", f"{r['psnr_y']:.2f}", f"{r['ssim_y']:.4f}",
            f"{r['seconds']:.2f}",
        )
    return table


def benchmark(
    device: options.Device = "auto",
    precision: options.Precisions = None,
    tile: options.Tiles = None,
    size: Annotated[list[str] | None, typer.Option(
        "--size", metavar="N|WxH", help="Input size N (square) or WIDTHxHEIGHT; several.",
        show_default="256, 640x480")] = None,
    repeat: Annotated[int | None, typer.Option(
        "--repeat", min=1, metavar="N", help="Timed rounds.", show_default="5 CPU, 30 CUDA")] = None,
    warmup: Annotated[int | None, typer.Option(
        "--warmup", min=0, metavar="N", help="Untimed calls after the 1st.", show_default="1 CPU, 10 CUDA")] = None,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset", metavar="DIR", help="Test set folder with HR/ and LR_bicubic_x4/: PSNR and SSIM.")] = None,
    hr: Annotated[Path | None, typer.Option(
        "--hr", metavar="DIR", help="HR folder (with --lr, instead of --dataset).")] = None,
    lr: Annotated[Path | None, typer.Option("--lr", metavar="DIR", help="LR x4 folder (with --hr).")] = None,
    per_image: Annotated[bool, options.switch("--per-image", help="Show PSNR/SSIM for every image.")] = False,
    tta: Annotated[bool, options.switch(
        "--tta", help="With --dataset: also each variant with the x8 self-ensemble (8x the time).")] = False,
    weights: options.Weights = None,
    threads: options.Threads = None,
    as_json: options.Json = False,
    report_files: Annotated[list[Path] | None, typer.Option(
        "--report", metavar="FILE", help="Write the report to FILE: .json or .csv by its extension; repeatable.",
        show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="PNG", help="Plot speed by size or tile.", show_default=False)] = None,
) -> None:
    """Measure speed (and, with --dataset, PSNR/SSIM) of one or more precision/tile variants side by side.

    Exit codes: 0, 1 error (e.g. CUDA asked for but absent), 2 usage error, 130 interrupted (what was measured
    so far is still reported).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    for path in report_files or []:
        if path.suffix.lower() not in (".json", ".csv"):
            raise UsageError(f"--report {path}: unknown report format", hint="Name a .json or a .csv file")
    if per_image and dataset is None and hr is None:
        raise UsageError("--per-image needs --dataset (or --hr and --lr)")
    if tta and dataset is None and hr is None:
        raise UsageError("--tta needs --dataset (or --hr and --lr)", hint="it is measured for quality, not speed")
    with_quality = dataset is not None or hr is not None or lr is not None

    import torch

    from eern_cli.bench import flops, quality, sysinfo
    from eern_cli.bench import report as reports
    from eern_cli.bench import timing
    from eern_cli.engine.allocator import keep_freed_memory
    from eern_cli.engine.devices import resolve_device, resolve_precision
    from eern_cli.engine.model import EERN
    from eern_cli.upscaler import Upscaler

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    backend = timing.make_backend(dev)
    sizes = [parse_size(s) for s in _split(size, [] if with_quality else DEFAULT_SIZES)]
    pairs = quality.find_pairs(dataset, hr=hr, lr=lr) if with_quality else []
    precisions = [resolve_precision(p, dev).value for p in _split(precision, ["auto"])]
    tiles = [_tile(t, dev) for t in _split(tile, ["auto"])]
    variants = list(dict.fromkeys([timing.REFERENCE] + [timing.Variant(p, *t) for p in precisions for t in tiles]))
    repeat, warmup = repeat or DEFAULTS[dev.type][0], DEFAULTS[dev.type][1] if warmup is None else warmup

    runners = {v: Upscaler(weights, device=str(dev), precision=v.precision, tile=v.tile_option) for v in variants}
    if dev.type == "cpu":
        keep_freed_memory()  # process-wide, set once here as eern upscale does (engine/allocator.py)
    loaded = next(iter(runners.values())).weights
    arch = EERN()
    report = reports.new_report(
        dev, [v.label for v in variants], [f"{w}x{h}" for h, w in sizes], repeat=repeat, warmup=warmup,
        timer=backend.timer, memory=backend.memory, weights=loaded, model=arch,
    )
    out = Console(stderr=as_json, soft_wrap=False)
    err = Console(stderr=True)
    tf32 = report["settings"].get("cudnn_allow_tf32") and " (CUDA 'fp32' convolutions run in TF32: cudnn.allow_tf32)"
    device_name = report["settings"]["device_name"]
    out.print(f"[bold]eern {report['software']['eern']} benchmark[/] · torch {torch.__version__} · {device_name}")
    load = report["machine"]["load_average"]
    if sizes and dev.type == "cpu" and load is not None and load > 0.5 * sysinfo.usable_cpus():
        err.print(f"[yellow]warning: this machine is busy (load average {load} on {sysinfo.usable_cpus()} CPUs): "
                  "CPU timings will be noisy and slower than on an idle machine[/]")
    labels = ", ".join(v.label for v in variants)
    out.print(
        f"weights {loaded.source} (sha256 {loaded.sha256[:12]}…) · EERN {report['model']['parameters']:,} "
        f"parameters, {report['model']['flops']['gmacs']:.2f} G MACs at 256x256 · variants: {labels}{tf32 or ''}"
    )
    bench = timing.SpeedBenchmark(runners, sizes, backend=backend, repeat=repeat, warmup=warmup)
    labelled = {v.label: runners[v] for v in variants}
    if tta:
        from eern_cli.ensemble import SelfEnsemble

        labelled = {**labelled, **{f"{v.label} tta": SelfEnsemble(runners[v]) for v in variants}}
    qual = quality.QualityBenchmark(labelled, pairs) if pairs else None
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("benchmark", total=(bench.steps if sizes else 0) + (qual.steps if qual else 0))

            def step(text: str) -> None:
                progress.update(task, advance=1, description=text)

            bench.on_step = step
            if qual is not None:
                qual.on_step = step
            if sizes:
                bench.run()
            if qual is not None:
                qual.run()
    except KeyboardInterrupt:
        report["interrupted"] = True
        err.print("[yellow]interrupted: reporting what was measured so far[/]")

    report["settings"]["load_average_after"] = sysinfo.load_average()  # machine.load_average: before
    macs = {(h, w): flops.count(arch, (1, 3, max(h, 15), max(w, 15))).macs for h, w in sizes}
    report["speed"] = reports.speed_rows(bench.results, lambda h, w: macs[(h, w)])
    if report["speed"]:
        out.print(
            f"{backend.timer}; {repeat} interleaved rounds after the first call and {warmup} warm-up call(s); "
            f"memory: {backend.memory or 'not measurable here (needs Linux /proc)'}"
        )
        for table in _speed_tables(report["speed"]):
            out.print(table)
        cuda = "cuda_max_allocated_bytes" in report["speed"][0]
        memory = "peak allocated/reserved (CUDA caching allocator)" if cuda else "peak RSS growth"
        out.print(SPEED_LEGEND.format(memory=memory), style="dim")
    if qual is not None and qual.rows:
        name = str(dataset) if dataset is not None else f"{hr} + {lr}"
        report["quality"] = {
            "dataset": name, "images": len(pairs), "conventions": quality.CONVENTIONS,
            "mean": quality.means(qual.rows), "per_image": qual.rows,
        }
        done = len({r["image"] for r in qual.rows})
        title = f"quality: {name}, mean of {done}/{len(pairs)} images"
        out.print(_quality_table(title, report["quality"]["mean"], False))
        if per_image:
            out.print(_quality_table("per image", qual.rows, True))
        out.print(QUALITY_LEGEND.format(bicubic=quality.BICUBIC_NOTE), style="dim")
    if as_json:
        typer.echo(reports.to_json(report), nl=False)
    for path in report_files or []:
        reports.write(report, path)
    if plot is not None:
        if report["speed"]:
            reports.write_plot(report["speed"], plot, title=f"EERN x4 on {device_name}")
        else:
            err.print("[yellow]no speed measurements to plot: give --size[/]")
    if report["interrupted"]:
        raise typer.Exit(130)

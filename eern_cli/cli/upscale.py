"""``eern upscale``: the batch command. Flags, progress on stderr, data (JSON, dry-run lists) on stdout.

Exit codes: 0 every image done (or skipped as up to date), 1 some failed, 2 usage error, 130 interrupted.
torch is imported only when an image needs the model (``lazy_model``), so ``--help``, a dry run and an
up-to-date re-run start fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from typing import Annotated

import typer

from eern_cli.cli import options
from eern_cli.cli.progress import Reporter
from eern_cli.cli.video_options import ChunkSeconds, Codec, Crf, PixFmt, video_options
from eern_cli.errors import UsageError
from eern_cli.images import formats
from eern_cli.video import EXTENSIONS as VIDEO_EXTENSIONS

SCHEMA = "eern.upscale/1"
_OUT, _RUN, _RAY = "Output", "Run and report", "Ray cluster"


def _opt(*names: str, panel: str | None = None, help: str, **kwargs) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help, rich_help_panel=panel, **kwargs)


Inputs = Annotated[list[str], typer.Argument(
    help="Image or video files, folders, glob patterns (quoted), or - for standard input.", metavar="INPUT",
    show_default=False)]
Output = Annotated[str | None, _opt("-o", "--output", panel=_OUT, metavar="PATH", help=(
    "Output file (one input), folder (mirrors the input tree; created) or - for standard output. "
    "Default: next to each input, with --suffix."))]
Recursive = Annotated[bool, options.switch("-r", "--recursive", help="Include subfolders of folder inputs.")]
Scale = Annotated[float, _opt("-s", "--scale", metavar="S", help=(
    "Output scale, 1 to 16. 4 is the model; others run the model once or twice, then resample (Lanczos)."))]
Format = Annotated[str, _opt("-f", "--format", panel=_OUT, metavar="FORMAT", help=(
    f"{', '.join(formats.output_names())} (heic and avif need eern[formats]), or same (as the input; -o FILE's "
    "extension wins)."))]
Suffix = Annotated[str | None, _opt("--suffix", panel=_OUT, metavar="TEXT", help=(
    "Added to the stem: default _x4 (_xSCALE) next to the input, none with -o FOLDER."))]
Quality = Annotated[int | None, _opt("-q", "--quality", panel=_OUT, metavar="1-100", help=(
    "JPEG/WebP/HEIC/AVIF quality (default 92 JPEG, 90 the others); other formats ignore it, with a note."))]
Subsampling = Annotated[str, _opt("--subsampling", panel=_OUT, metavar="4:2:0|4:2:2|4:4:4",
                                  help="JPEG chroma subsampling.")]
Lossless = Annotated[bool, options.switch("--lossless", panel=_OUT, help="Lossless WebP.")]
CompressLevel = Annotated[int | None, _opt("--compress-level", panel=_OUT, metavar="0-9", help=(
    "PNG zlib level 0-9. Default: eern's fast setting (Paeth rows, zlib run-length), as small as level 6 "
    "(within 2%) in a sixth of its time on x4 photos."))]
Alpha = Annotated[str, _opt("--alpha", panel=_OUT, metavar="model|bicubic", help=(
    "How transparency is upscaled: model (sharp) or bicubic (faster)."))]
Overwrite = Annotated[bool, options.switch("--overwrite", panel=_OUT, help=(
    "Redo outputs that exist, even up-to-date ones or files not made by eern (inputs are never overwritten)."))]
Tta = Annotated[bool, options.switch("--tta", panel=options.MODEL_PANEL, help=(
    "x8 self-ensemble: the mean over the image's 8 rotations and mirrorings. A little better (Y PSNR +0.13 dB "
    "Set5, +0.08 dB Set14); 8x the time."))]
Scratch = Annotated[str | None, _opt("--scratch", panel=options.MODEL_PANEL, metavar="host|DIR", help=(
    "Where the exact tiling keeps its full-size feature maps (210-420 bytes per input pixel): "
    "host (CPU memory, with a GPU) or a folder for memory-mapped files, for images larger than memory."))]
MaxPixels = Annotated[int | None, _opt("--max-pixels", panel=_RUN, metavar="N", help=(
    "Refuse inputs with more pixels (all frames together); 0 for no limit. Default 89478485."))]
Workers = Annotated[int, _opt("--workers", panel=_RUN, metavar="N",
                              help="Decode and encode threads (each), beside the model.")]
DryRun = Annotated[bool, options.switch("--dry-run", panel=_RUN, help=(
    "List what would be written or skipped (stdout); write nothing and load no model."))]
Quiet = Annotated[bool, options.switch("--quiet", panel=_RUN, help="Print only errors.")]
JsonSummary = Annotated[bool, options.switch("--json", panel=_RUN, help=(
    "Print the result alone on stdout as JSON: counts, times, and every file written, skipped or failed."))]
Events = Annotated[bool, options.switch("--events", panel=_RUN, help=(
    "Stream JSON-lines events (file started, tile i/N, file done/failed/skipped, summary) to stdout."))]
RayAddress = Annotated[str | None, _opt("--ray", panel=_RAY, metavar="ADDRESS", help=(
    "Run on a Ray cluster: local (a Ray instance on this machine), auto (the running cluster, or RAY_ADDRESS) or "
    "an address. Needs pip install 'eern\\[ray]', and inputs and outputs on a filesystem every node sees."))]
RayActors = Annotated[int | None, _opt("--ray-actors", panel=_RAY, metavar="N", help=(
    "Workers on the cluster, one model each (default: one per GPU, else one per --threads CPUs)."))]

_HELP = """Upscale images x4 (or any --scale from 1 to 16) with EERN.

Takes any number of files, folders and patterns; one bad file never stops the batch. Outputs are written \
atomically (never half-written), inputs are never overwritten, and each output records what made it, so a \
re-run of the same command skips what is done and continues an interrupted batch.

[bold]Examples[/bold]

  eern upscale photo.jpg                   [dim]# photo_x4.jpg beside it[/dim]
  eern upscale photo.jpg -o big.png        [dim]# format from the name[/dim]
  eern upscale shots/ -r -o out/ -f webp   [dim]# a tree, mirrored in out/[/dim]
  eern upscale "scans/*.tif" -o out/ -s 2  [dim]# a pattern; x4, then x0.5[/dim]
  cat in.png | eern upscale - > out.png    [dim]# in a pipe[/dim]
  eern upscale shots/ -o out/ --events     [dim]# JSON lines for scripts[/dim]
  eern upscale clip.mp4                    [dim]# clip_x4.mp4, audio copied (pip install 'eern[video]')[/dim]

Exit codes: 0 all done, 1 some files failed, 2 usage error, 130 interrupted.
"""


def upscale(
    ctx: typer.Context,
    inputs: Inputs,
    output: Output = None,
    recursive: Recursive = False,
    scale: Scale = 4.0,
    fmt: Format = "same",
    suffix: Suffix = None,
    quality: Quality = None,
    subsampling: Subsampling = "4:2:0",
    lossless: Lossless = False,
    compress_level: CompressLevel = None,
    alpha: Alpha = "model",
    overwrite: Overwrite = False,
    device: options.Device = "auto",
    precision: options.Precision = "auto",
    tile: options.Tile = None,
    weights: options.Weights = None,
    tta: Tta = False,
    scratch: Scratch = None,
    threads: options.Threads = None,
    max_pixels: MaxPixels = None,
    workers: Workers = 2,
    dry_run: DryRun = False,
    quiet: Quiet = False,
    json_summary: JsonSummary = False,
    events: Events = False,
    ray: RayAddress = None,
    ray_actors: RayActors = None,
    codec: Codec = None,
    crf: Crf = None,
    pix_fmt: PixFmt = None,
    chunk_seconds: ChunkSeconds = 5.0,
) -> None:
    """Upscale images with EERN (the help text is ``_HELP``)."""
    from eern_cli.batch import planner
    from eern_cli.batch import runner
    from eern_cli.batch.frames import ALPHA_MODES
    from eern_cli.batch.resample import check_scale
    from eern_cli.cli.app import as_flag
    from eern_cli.cli.lazy_model import ModelUnavailable, make_upscaler
    from eern_cli.images.decode import DEFAULT_MAX_PIXELS, configure_pillow
    from eern_cli.images.encode import SUBSAMPLING, EncodeOptions

    check_scale(scale)
    fmt = formats.ALIASES.get(fmt.lower(), fmt.lower())
    _check(fmt == "same" or fmt in formats.output_names(), f"unknown format '{fmt}'",
           f"Use one of {', '.join(formats.output_names())} or same")
    _check(quality is None or 1 <= quality <= 100, f"--quality must be 1-100, not {quality}")
    _check(subsampling in SUBSAMPLING, f"unknown subsampling '{subsampling}'", "Use 4:2:0, 4:2:2 or 4:4:4")
    _check(compress_level is None or 0 <= compress_level <= 9, f"--compress-level must be 0-9, not {compress_level}")
    _check(alpha in ALPHA_MODES, f"unknown alpha mode '{alpha}'", f"Use {' or '.join(ALPHA_MODES)}")
    _check(workers >= 1, f"--workers must be at least 1, not {workers}")
    _check(max_pixels is None or max_pixels >= 0, f"--max-pixels must be 0 or more, not {max_pixels}")
    _check(not (lossless and fmt not in ("webp", "same")), "--lossless applies to WebP only", "Add --format webp")
    if ray is not None:
        _check_ray(inputs, output, ray_actors)
    _check(ray_actors is None or ray is not None, "--ray-actors needs --ray", "Add --ray local, auto or an address")
    video = video_options(codec, crf, pix_fmt, chunk_seconds)

    if inputs == ["-"] and output is None:
        output = "-"
    image_to_stdout = output == "-" and not dry_run
    _check(not (image_to_stdout and sys.stdout.isatty()), "refusing to write image data to a terminal",
           "Use -o FILE, or send standard output to a file or a pipe (eern upscale - < in.png > out.png)")
    out_stream = sys.stderr if output == "-" else sys.stdout  # stdout carries the image: data goes to stderr
    report = Reporter(quiet=quiet, events=events, stream=out_stream, dry_run=dry_run,
                      plan_to_data=dry_run and not (json_summary or events))
    # Pillow warns about oddities of a file (corrupt EXIF, ...) on stderr with its own source path and no file
    # name (planning reads headers too); what matters reaches the user as eern's own error or note for that file.
    warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")
    planned = planner.plan(inputs, output=output, recursive=recursive, suffix=suffix, fmt=fmt, scale=scale)
    for passed in planned.passed_over:
        report({"event": "ignored", "input": passed.input, "reason": passed.reason})
    jobs = planned.jobs
    if not jobs:
        raise UsageError("no images found in the inputs",
                         hint=f"Folders are scanned for {formats.extensions_text()} files and "
                              f"{' '.join(sorted(VIDEO_EXTENSIONS))} videos; add -r for subfolders")
    if quality is not None and not lossless:
        ignored = sorted({f for f in map(_output_format, jobs) if f not in (None, "jpg", "webp", "heic", "avif")})
        if ignored:
            report.note(f"--quality applies to JPEG, WebP, HEIC and AVIF only; ignored for {', '.join(ignored)} "
                        "outputs")

    def build():
        from eern_cli.engine.allocator import keep_freed_memory
        from eern_cli.upscaler import Upscaler

        if threads:
            import torch

            torch.set_num_threads(threads)
        model = Upscaler(weights, device=device, precision=precision, tile=tile, scratch=_scratch(scratch))
        if model.device.type == "cpu":  # glibc keeps freed tile buffers for reuse (allocator.py)
            keep_freed_memory()
        return model

    # Process-wide settings, set once here (the library leaves them alone): eern's --max-pixels replaces
    # Pillow's global pixel guard; the allocator's, when the model is built (above).
    configure_pillow()
    # With --ray, each worker builds its own model: the driver never needs one.
    upscaler = make_upscaler(weights, device, precision, tile, threads, build) if ray is None else None
    debug = bool(getattr(ctx.find_root().obj, "debug", False))
    run_options = runner.RunOptions(
        scale=scale, alpha=alpha, tta=tta, overwrite=overwrite, dry_run=dry_run, workers=workers,
        max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None), debug=debug,
        setting=as_flag,
        encode=EncodeOptions(quality=quality, subsampling=subsampling, lossless=lossless,
                             compress_level=compress_level),
        video=video,
    )
    previous = _sigterm_as_interrupt()
    try:
        with report.live(len(jobs)):
            if ray is None:
                summary = runner.run(jobs, upscaler, run_options, report)
            else:
                from eern_cli.cluster import driver

                model = {"weights": weights, "device": device, "precision": precision, "tile": tile,
                         "scratch": _scratch(scratch)}
                summary = driver.run(jobs, model, run_options, driver.ClusterOptions(ray, ray_actors, threads),
                                     report)
    except ModelUnavailable as exc:
        raise exc.error from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if json_summary:
        print(json.dumps(result_document(summary, report.files, dry_run=dry_run), indent=2), file=out_stream,
              flush=True)
    report.finish(summary, single=len(jobs) == 1)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(1)


def result_document(summary, files: list[dict], *, dry_run: bool) -> dict:
    """``--json``: the counts and times, then every file with its status (written, skipped, failed, planned).

    A dry run has ``planned`` where a run has ``done``: nothing was written.
    """
    counts = summary.to_dict()
    if dry_run:
        counts.pop("done")
    else:
        counts.pop("planned")
    return {"schema": SCHEMA, "dry_run": dry_run, **counts, "files": files}


def _output_format(job) -> str | None:
    if job.format != "same":
        return job.format
    row = None if job.input is None else formats.from_extension(job.input.suffix)
    return None if row is None else row.name


def _check_ray(inputs: list[str], output: str | None, actors: int | None) -> None:
    from eern_cli.cluster.connect import require_ray

    _check(output != "-" and "-" not in inputs, "--ray cannot read standard input or write standard output",
           "Give files or folders, and -o FOLDER on a filesystem that every node of the cluster sees")
    _check(actors is None or actors >= 1, f"--ray-actors must be at least 1, not {actors}")
    require_ray()


def _scratch(value: str | None) -> str | None:
    if value is None or value == "host":
        return value
    _check(os.path.isdir(value), f"--scratch folder not found: '{value}'", "Create it, or use --scratch host")
    return value


def _check(ok: bool, message: str, hint: str | None = None) -> None:
    if not ok:
        raise UsageError(message, hint=hint)


def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. a test runner): leave SIGTERM alone
        return None


upscale.__doc__ = _HELP

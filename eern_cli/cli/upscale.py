"""``eern upscale``: the batch command. Flags, progress on stderr, data (JSON, dry-run lists) on stdout.

Exit codes: 0 every image done (or skipped as up to date), 1 some failed, 2 usage error, 130 interrupted.
torch and the library are imported inside the command, so ``eern --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from typing import Annotated

import typer

from eern_cli.cli.progress import Reporter
from eern_cli.errors import UsageError
from eern_cli.images import formats

_OUT, _MODEL, _RUN = "Output", "Model", "Run and report"


def _opt(*names: str, panel: str | None = None, help: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help, rich_help_panel=panel)


Inputs = Annotated[list[str], typer.Argument(
    help="Image files, folders, glob patterns (quoted), or - for standard input.", metavar="INPUT...",
    show_default=False)]
Output = Annotated[str | None, _opt("-o", "--output", panel=_OUT, help=(
    "Output file (one input), folder (mirrors the input tree; created) or - for standard output. "
    "Default: next to each input, with --suffix."))]
Recursive = Annotated[bool, _opt("-r", "--recursive", help="Include subfolders of folder inputs.")]
Scale = Annotated[float, _opt("-s", "--scale", help=(
    "Output scale, 1 to 16. 4 is the model; others run the model once or twice, then resample (Lanczos)."))]
Format = Annotated[str, _opt("-f", "--format", panel=_OUT, help=(
    f"{', '.join(formats.output_names())} (heic and avif need eern[formats]), or same (as the input; -o FILE's "
    "extension wins)."))]
Suffix = Annotated[str | None, _opt("--suffix", panel=_OUT, help=(
    "Added to the stem: default _x4 (_xSCALE) next to the input, none with -o FOLDER."))]
Quality = Annotated[int | None, _opt("-q", "--quality", panel=_OUT, help=(
    "JPEG/WebP/HEIC/AVIF quality 1-100 (default 92 JPEG, 90 the others)."))]
Subsampling = Annotated[str, _opt("--subsampling", panel=_OUT, help="JPEG chroma subsampling: 4:2:0, 4:2:2, 4:4:4.")]
Lossless = Annotated[bool, _opt("--lossless", panel=_OUT, help="Lossless WebP.")]
CompressLevel = Annotated[int | None, _opt("--compress-level", panel=_OUT, help=(
    "PNG compression 0-9. Default 4: about level 6's size in ~40% of its time; 1 is faster, ~15% larger."))]
Alpha = Annotated[str, _opt("--alpha", panel=_OUT, help=(
    "How transparency is upscaled: model (sharp) or bicubic (faster)."))]
Overwrite = Annotated[bool, _opt("--overwrite", panel=_OUT, help=(
    "Redo outputs that exist, even up-to-date ones or files not made by eern (inputs are never overwritten)."))]
Device = Annotated[str, _opt("--device", panel=_MODEL, help="auto, cpu, cuda, cuda:N or mps.")]
Precision = Annotated[str, _opt("--precision", panel=_MODEL, help="auto, fp32, bf16 or fp16.")]
Tile = Annotated[int | None, _opt("--tile", panel=_MODEL, help=(
    "Tile side in input pixels (0: whole image). The output is the same for every tile size."))]
Tta = Annotated[bool, _opt("--tta", panel=_MODEL, help=(
    "x8 self-ensemble: the mean over the image's 8 rotations and mirrorings. A little better (Y PSNR +0.13 dB "
    "Set5, +0.08 dB Set14); 8x the time."))]
Weights = Annotated[str | None, _opt("--weights", panel=_MODEL, help=(
    "Checkpoint: a .pt/.safetensors path or hf://OWNER/REPO/FILE. Default: the bundled official one."))]
Scratch = Annotated[str | None, _opt("--scratch", panel=_MODEL, help=(
    "Where the exact tiling keeps its full-size feature maps (210-420 bytes per input pixel): "
    "host (CPU memory, with a GPU) or a folder for memory-mapped files, for images larger than memory."))]
Threads = Annotated[int | None, _opt("--threads", panel=_MODEL, help="CPU threads for the model (default: torch's).")]
MaxPixels = Annotated[int | None, _opt("--max-pixels", panel=_RUN, help=(
    "Refuse inputs with more pixels (all frames together); 0 for no limit. Default 89478485."))]
Workers = Annotated[int, _opt("--workers", panel=_RUN, help="Decode and encode threads (each), beside the model.")]
DryRun = Annotated[bool, _opt("--dry-run", panel=_RUN, help="List what would be written or skipped; write nothing.")]
Quiet = Annotated[bool, _opt("--quiet", panel=_RUN, help="Print only errors.")]
JsonSummary = Annotated[bool, _opt("--json", panel=_RUN, help="Print a JSON summary at the end (stdout).")]
Events = Annotated[bool, _opt("--events", panel=_RUN, help=(
    "Stream JSON-lines events (file started, tile i/N, file done/failed/skipped, summary) to stdout."))]

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

Exit codes: 0 all done, 1 some files failed, 2 usage error, 130 interrupted.
"""


def upscale(
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
    device: Device = "auto",
    precision: Precision = "auto",
    tile: Tile = None,
    tta: Tta = False,
    weights: Weights = None,
    scratch: Scratch = None,
    threads: Threads = None,
    max_pixels: MaxPixels = None,
    workers: Workers = 2,
    dry_run: DryRun = False,
    quiet: Quiet = False,
    json_summary: JsonSummary = False,
    events: Events = False,
) -> None:
    """Upscale images with EERN (the help text is ``_HELP``)."""
    from eern_cli.batch import planner
    from eern_cli.batch import runner as batch
    from eern_cli.batch.frames import ALPHA_MODES
    from eern_cli.batch.resample import check_scale
    from eern_cli.cli.app import as_flag
    from eern_cli.images.decode import DEFAULT_MAX_PIXELS, configure_pillow
    from eern_cli.images.encode import DEFAULT_PNG_LEVEL, SUBSAMPLING, EncodeOptions

    check_scale(scale)
    fmt = formats.ALIASES.get(fmt.lower(), fmt.lower())
    _check(fmt == "same" or fmt in formats.output_names(), f"unknown format '{fmt}'",
           f"use one of {', '.join(formats.output_names())} or same")
    _check(quality is None or 1 <= quality <= 100, f"--quality must be 1-100, not {quality}")
    _check(subsampling in SUBSAMPLING, f"unknown subsampling '{subsampling}'", "use 4:2:0, 4:2:2 or 4:4:4")
    _check(compress_level is None or 0 <= compress_level <= 9, f"--compress-level must be 0-9, not {compress_level}")
    _check(alpha in ALPHA_MODES, f"unknown alpha mode '{alpha}'", f"use {' or '.join(ALPHA_MODES)}")
    _check(workers >= 1, f"--workers must be at least 1, not {workers}")
    _check(threads is None or threads >= 1, f"--threads must be at least 1, not {threads}")
    _check(max_pixels is None or max_pixels >= 0, f"--max-pixels must be 0 or more, not {max_pixels}")
    _check(not (lossless and fmt not in ("webp", "same")), "--lossless applies to WebP only", "add --format webp")

    data_to_stdout = output == "-" or (inputs == ["-"] and output is None)
    if inputs == ["-"] and output is None:
        output = "-"
    out_stream = sys.stderr if data_to_stdout else sys.stdout
    report = Reporter(quiet=quiet, events=events, stream=out_stream, dry_run=dry_run)
    # Pillow warns about oddities of a file (corrupt EXIF, ...) on stderr with its own source path and no file
    # name (planning reads headers too); what matters reaches the user as eern's own error or note for that file.
    warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")
    planned = planner.plan(inputs, output=output, recursive=recursive, suffix=suffix, fmt=fmt, scale=scale)
    for passed in planned.passed_over:
        report({"event": "ignored", "input": passed.input, "reason": passed.reason})
    jobs = planned.jobs
    if not jobs:
        raise UsageError("no images found in the inputs",
                         hint=f"folders are scanned for {formats.extensions_text()} files; add -r for subfolders")

    from eern_cli.engine.allocator import keep_freed_memory
    from eern_cli.upscaler import Upscaler

    if threads:
        import torch

        torch.set_num_threads(threads)
    upscaler = Upscaler(weights, device=device, precision=precision, tile=tile, scratch=_scratch(scratch))
    # Process-wide settings, set once here (the library leaves them alone): eern's --max-pixels replaces
    # Pillow's global pixel guard, and on a CPU glibc keeps freed tile buffers for reuse (allocator.py).
    configure_pillow()
    if upscaler.device.type == "cpu":
        keep_freed_memory()
    options = batch.RunOptions(
        scale=scale, alpha=alpha, tta=tta, overwrite=overwrite, dry_run=dry_run, workers=workers,
        max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None),
        debug=os.environ.get("EERN_DEBUG", "") not in ("", "0"),
        setting=as_flag,
        encode=EncodeOptions(quality=quality, subsampling=subsampling, lossless=lossless,
                             compress_level=DEFAULT_PNG_LEVEL if compress_level is None else compress_level),
    )
    previous = _sigterm_as_interrupt()
    try:
        with report.live(len(jobs)):
            summary = batch.run(jobs, upscaler, options, report)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if json_summary:
        print(json.dumps(summary.to_dict()), file=out_stream, flush=True)
    report.finish(summary, single=len(jobs) == 1)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(1)


def _scratch(value: str | None) -> str | None:
    if value is None or value == "host":
        return value
    _check(os.path.isdir(value), f"--scratch folder not found: '{value}'", "create it, or use --scratch host")
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

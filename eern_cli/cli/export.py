"""``eern export OUT``: EERN as ONNX (``OUT.onnx``) or ncnn (``NAME.param`` + ``NAME.bin``), checked at the end.

The format comes from OUT's extension or ``--format``. After writing, the file is run (onnxruntime or the ncnn
package, when installed) at two sizes and compared with eern's fp32 whole-frame output, in dB. Results go to
stdout; notes to stderr. torch and the exporters are imported inside the command.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from eern_cli.cli import options
from eern_cli.errors import MissingExtraError, UsageError

_FORMATS = ("onnx", "ncnn")
_EXTENSIONS = {".onnx": "onnx", ".param": "ncnn", ".bin": "ncnn"}
# What each format needs to be written, and what checks it afterwards.
_WRITERS = {"onnx": ("onnx", "onnxscript"), "ncnn": ("pnnx",)}
_CHECKERS = {"onnx": "onnxruntime", "ncnn": "ncnn"}

Out = Annotated[Path, typer.Argument(
    help="OUT.onnx, models/NAME.param (ncnn, with NAME.bin beside it), or a folder (eern-x4.onnx / eern-x4.param "
         "in it). Missing folders are created.", show_default=False, metavar="OUT")]
Format = Annotated[str | None, typer.Option(
    "--format", metavar="onnx|ncnn", help="onnx or ncnn (default: from OUT's extension).")]
Range = Annotated[int | None, typer.Option("--range", metavar="255|1", help=(
    "Value range of input and output baked into the model: 255 (eern's own scale) or 1 (0..1, what chaiNNer "
    "and ncnn apps feed). Default: 255 for ONNX, 1 for ncnn."))]
Half = Annotated[bool, options.switch("--half", help="fp16 weights (ONNX: fp16 input and output too). Half the size.")]
NoVerify = Annotated[bool, options.switch("--no-verify", help="Skip running the exported file against eern.")]
Overwrite = Annotated[bool, options.switch("--overwrite", help="Replace existing output files.")]


def export(
    out: Out, format: Format = None, value_range: Range = None, half: Half = False, weights: options.Weights = None,
    no_verify: NoVerify = False, overwrite: Overwrite = False,
) -> None:
    """Export EERN x4 to ONNX or ncnn (for upscayl / realesrgan-ncnn-vulkan), then check it against eern.

    \b
    eern export eern-x4.onnx                    # ONNX, 0..255 in and out, dynamic batch/height/width
    eern export eern-x4.onnx --range 1 --half   # 0..1 interface, fp16 (chaiNNer, most SR runtimes)
    eern export models/eern-x4.param            # ncnn: models/eern-x4.param + .bin, for upscayl
    """
    fmt = _format(out, format)
    value_range = (255 if fmt == "onnx" else 1) if value_range is None else value_range
    if value_range not in (255, 1):
        raise UsageError(f"--range must be 255 or 1, not {value_range}")
    paths = _outputs(out, fmt)
    for path in paths:
        if path.exists() and not overwrite:
            raise UsageError("the output exists", path=path, hint="pass --overwrite to replace it")
    if fmt == "ncnn":
        from eern_cli.export.ncnn import check_name, split_name

        check_name(split_name(paths[0]))
    for package in _WRITERS[fmt]:
        _need(package, f"eern export --format {fmt}")

    from eern_cli.export import verify
    from eern_cli.export.graph import Interface
    from eern_cli.weights.loading import load_model

    model, loaded = load_model(weights)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    interface = Interface(value_range=value_range, half=half)
    print(f"exporting EERN x4 ({interface.precision}, range 0..{value_range}) to {fmt} ...", file=sys.stderr)
    if fmt == "onnx":
        from eern_cli.export import onnx as exporter

        metadata = exporter.export_onnx(model, loaded, paths[0], interface)
    else:
        from eern_cli.export import ncnn as exporter

        _, _, metadata = exporter.export_ncnn(model, loaded, paths[0], interface)
        note = exporter.upscayl_folder_note(paths[0])
        if note:
            print(f"eern: note: {note}", file=sys.stderr)
        if value_range != 1:
            print("eern: note: upscayl and other ncnn apps feed 0..1; this file expects 0..255", file=sys.stderr)
    for path in paths:
        print(f"wrote {path} ({_size(path.stat().st_size)})")
    print(f"interface: {metadata['interface']}")
    if no_verify:
        return
    checker = _CHECKERS[fmt]
    if not _available(checker):
        print(f"eern: note: not verified: {checker} is not installed (pip install 'eern[export]')", file=sys.stderr)
        return
    if fmt == "onnx":
        run = verify.onnx_runner(paths[0])
    else:
        run = verify.ncnn_runner(paths[0], paths[1])
    results = verify.check(run, verify.reference(weights), interface, half_io=half and fmt == "onnx")
    print(f"{checker} vs eern fp32 whole frame:")
    for agreement in results:
        print(f"  {agreement.line()}")


def _format(out: Path, option: str | None) -> str:
    from_extension = _EXTENSIONS.get(out.suffix.lower())
    if option is not None:
        option = option.lower()
        if option not in _FORMATS:
            raise UsageError(f"unknown --format {option!r}", hint="use onnx or ncnn")
        if from_extension and from_extension != option:
            raise UsageError(f"--format {option} does not match the extension of {out}")
        return option
    if from_extension is None:
        if out.is_dir() or not out.suffix:
            return "onnx"
        raise UsageError(f"cannot tell the format from {out.name!r}", hint="name it .onnx or .param, or pass --format")
    return from_extension


def _outputs(out: Path, fmt: str) -> list[Path]:
    if out.is_dir() or not out.suffix:
        out = out / ("eern-x4.onnx" if fmt == "onnx" else "eern-x4.param")
    if out.parent.exists() and not out.parent.is_dir():
        raise UsageError("the output folder is not a folder", path=out.parent)
    if fmt == "onnx":
        return [out]
    param = out.with_suffix(".param")
    return [param, param.with_suffix(".bin")]


def _size(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


def _available(package: str) -> bool:
    try:
        importlib.import_module(package)
    except ImportError:
        return False
    return True


def _need(package: str, what: str) -> None:
    if not _available(package):
        raise MissingExtraError(f"{what} needs the optional package '{package}'", extra="export", package=package)

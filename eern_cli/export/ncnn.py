"""EERN to ncnn ``NAME.param`` + ``NAME.bin`` through pnnx, named and laid out for upscayl's custom models.

upscayl (and upscayl-bin, its realesrgan-ncnn-vulkan fork) find a model as ``-m FOLDER -n NAME``, read
``FOLDER/NAME.param`` and ``FOLDER/NAME.bin``, and take the scale from the name: upscayl-bin checks for
``x1``/``1x``, then ``x2``/``2x``, ``x3``/``3x``, ``x4``/``4x``, ``x8``, ``x16`` in that order, and the folder's path
must contain ``models``. The app feeds 0..1 RGB to the blob ``data`` (else ``in0``) and reads ``output`` (else
``out0``); realesrgan-ncnn-vulkan accepts only ``data``/``output``, so the blobs get those names. Provenance
goes after the last layer of the ``.param`` file, as a ``#`` line that ncnn never reads (it stops after the
declared layer count): upscayl's folder takes only ``.param`` and ``.bin`` files, so no side file.

pnnx traces the model at two input sizes, so ESA's resize follows the input size (an ``Interp`` with a size
expression). Shapes in ncnn are not symbolic, so images must be at least 15 px per side (ESA's minimum); tiles of
upscayl and realesrgan-ncnn-vulkan are at least 32 px.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from eern_cli.engine.model import MIN_SIDE, EERN
from eern_cli.errors import UsageError
from eern_cli.export.graph import ExportGraph, Interface, provenance
from eern_cli.images.atomic import atomic_write
from eern_cli.weights.loading import LoadedWeights

INPUT_BLOB, OUTPUT_BLOB = "data", "output"
DEFAULT_NAME = "eern-x4"
PROVENANCE_PREFIX = "#eern "
_TRACE_SIZES = ((64, 64), (48, 80))  # two sizes: pnnx derives the dynamic shape expressions from both
# upscayl-bin's scale detection, in its order; the first match wins.
_SCALE_TOKENS = (("x1", "1x"), ("x2", "2x"), ("x3", "3x"), ("x4", "4x"))


def check_name(name: str) -> None:
    """Refuse a model name from which upscayl would read a scale other than 4."""
    lowered = name.lower()
    for tokens in _SCALE_TOKENS:
        hit = next((t for t in tokens if t in lowered), None)
        if hit is None:
            continue
        if tokens[0] == "x4":
            return
        raise UsageError(
            f"the model name {name!r} contains {hit!r}, from which upscayl reads a x{tokens[0][1]} model",
            hint=f"name it without it, e.g. {DEFAULT_NAME}",
        )
    raise UsageError(
        f"the model name {name!r} has no 'x4' or '4x', which upscayl reads the scale from",
        hint=f"name it e.g. {DEFAULT_NAME}",
    )


def export_ncnn(
    model: EERN, weights: LoadedWeights, param_path: str | os.PathLike[str], interface: Interface
) -> tuple[Path, Path, dict[str, str]]:
    """Write ``NAME.param`` and ``NAME.bin`` (the ``.bin`` beside the ``.param``); returns both and the metadata."""
    import pnnx

    param_path = Path(param_path)
    bin_path = param_path.with_suffix(".bin")
    graph = ExportGraph(model, interface, pad_small=False).float().eval()
    metadata = provenance(weights, interface, min_side=MIN_SIDE, io_precision="fp32", layout="CHW")
    with tempfile.TemporaryDirectory(prefix="eern-pnnx-") as work:
        traced = Path(work) / "eern.pt"
        example = torch.rand(1, 3, *_TRACE_SIZES[0], generator=torch.Generator().manual_seed(0))
        with warnings.catch_warnings():  # torch.jit is deprecated, but pnnx reads TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.trace(graph, example * interface.value_range, check_trace=False).save(str(traced))
        shapes = [f"[1,3,{h},{w}]f32" for h, w in _TRACE_SIZES]
        command = [pnnx.EXEC_PATH, str(traced), f"inputshape={shapes[0]}", f"inputshape2={shapes[1]}",
                   "device=cpu", f"fp16={int(interface.half)}"]
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, errors="replace")
        made_param, made_bin = Path(work) / "eern.ncnn.param", Path(work) / "eern.ncnn.bin"
        if done.returncode != 0 or not made_param.is_file() or not made_bin.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"pnnx failed (exit {done.returncode}): {tail[0]}")
        text = rename_blobs(made_param.read_text()) + PROVENANCE_PREFIX + json.dumps(metadata) + "\n"
        weights_bytes = made_bin.read_bytes()
    atomic_write(bin_path, lambda f: f.write(weights_bytes))
    atomic_write(param_path, lambda f: f.write(text.encode()))
    return param_path, bin_path, metadata


def rename_blobs(param_text: str) -> str:
    """pnnx names the input and output blobs ``in0``/``out0``; ncnn SR apps look for ``data``/``output``."""
    names = {"in0": INPUT_BLOB, "out0": OUTPUT_BLOB}
    lines = param_text.splitlines()
    out = lines[:2]
    for line in lines[2:]:
        fields = line.split()
        if len(fields) < 4:
            out.append(line)
            continue
        blobs = 4 + int(fields[2]) + int(fields[3])
        renamed = [names.get(f, f) for f in fields[4:blobs]]
        layer_name = INPUT_BLOB if fields[0] == "Input" else fields[1]
        out.append(" ".join([fields[0], layer_name, *fields[2:4], *renamed, *fields[blobs:]]))
    return "\n".join(out) + "\n"


def read_metadata(param_path: str | os.PathLike[str]) -> dict[str, str]:
    """The provenance line of a ``.param`` file written by eern ({} when there is none)."""
    for line in Path(param_path).read_text(errors="replace").splitlines():
        if line.startswith(PROVENANCE_PREFIX):
            return json.loads(line[len(PROVENANCE_PREFIX):])
    return {}


def upscayl_folder_note(param_path: Path) -> str | None:
    """upscayl-bin refuses a model folder whose path does not contain 'models'."""
    if "models" in str(param_path.resolve().parent):
        return None
    return (f"upscayl and realesrgan-ncnn-vulkan load models only from a folder whose path contains 'models'; "
            f"move {param_path.name} and {param_path.with_suffix('.bin').name} into such a folder")


def split_name(path: Path) -> str:
    return re.sub(r"\.(param|bin)$", "", path.name)

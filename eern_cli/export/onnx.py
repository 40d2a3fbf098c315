"""EERN to ONNX: dynamic batch, height and width; provenance in the model's metadata.

The graph is captured with ``torch.export`` (the dynamo exporter; opset 20 with torch 2.13), so shapes stay
symbolic: ESA's resize follows the input's size, and images under 15 px are padded and cropped inside the
graph. The file is written atomically.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings

import torch

from eern_cli.engine.model import EERN
from eern_cli.export.graph import ExportGraph, Interface, provenance
from eern_cli.images.atomic import atomic_write
from eern_cli.weights.loading import LoadedWeights

INPUT_NAME, OUTPUT_NAME = "input", "output"
DUMMY_SIDE = 64  # the traced example; verification uses a size larger than this and an odd one


def export_onnx(
    model: EERN, weights: LoadedWeights, path: str | os.PathLike[str], interface: Interface
) -> dict[str, str]:
    """Write ``path`` and return the metadata written into it."""
    import onnx  # noqa: F401  (the exporter needs onnx and onnxscript; fail here with a clear ImportError)
    import onnxscript  # noqa: F401

    graph = ExportGraph(model, interface, pad_small=True).to(interface.dtype).eval()
    dummy = torch.rand(1, 3, DUMMY_SIDE, DUMMY_SIDE, generator=torch.Generator().manual_seed(0))
    dummy = (dummy * interface.value_range).to(interface.dtype)
    dims = {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=1),
            3: torch.export.Dim("width", min=1)}
    with _quiet():
        program = torch.onnx.export(
            graph, (dummy,), dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": dims}, optimize=True, verbose=False,
        )
    proto = program.model_proto
    metadata = provenance(weights, interface, min_side=1, io_precision=interface.precision, layout="NCHW")
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = metadata["interface"]
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of an exported ONNX file (without loading its weights)."""
    import onnx

    proto = onnx.load(os.fspath(path), load_external_data=False)
    return {entry.key: entry.value for entry in proto.metadata_props}


def input_dims(path: str | os.PathLike[str]) -> list[str | int]:
    """The declared input shape: symbolic names for the dynamic axes, numbers for the fixed ones."""
    import onnx

    proto = onnx.load(os.fspath(path), load_external_data=False)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims]


@contextlib.contextmanager
def _quiet():
    """The exporter prints its steps to stdout and warns about unrelated packages; stdout is for data."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)

"""ONNX export: dynamic batch, height and width, provenance metadata, and agreement with eern under onnxruntime.

One export (fp32, 0..255) is shared by the module. Tolerance: 0.01 grey levels on the 0..255 scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxscript")
onnxruntime = pytest.importorskip("onnxruntime")

from eern_cli.export.graph import Interface  # noqa: E402
from eern_cli.export.onnx import export_onnx, input_dims, read_metadata  # noqa: E402
from eern_cli.export.verify import sample_image  # noqa: E402
from eern_cli.weights.checkpoints import OFFICIAL  # noqa: E402
from eern_cli.weights.loading import load_model  # noqa: E402

TOLERANCE = 0.01


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    model, weights = load_model()
    path = tmp_path_factory.mktemp("onnx") / "eern-x4.onnx"
    export_onnx(model, weights, path, Interface())
    return path, model


def test_axes_are_dynamic(exported) -> None:
    path, _ = exported
    assert input_dims(path) == ["batch", 3, "height", "width"]


def test_metadata_carries_provenance(exported) -> None:
    path, _ = exported
    meta = read_metadata(path)
    assert meta["weights_sha256"] == OFFICIAL.sha256
    assert meta["value_range"] == "255" and meta["min_side"] == "1" and meta["weights_precision"] == "fp32"
    assert "0..255" in meta["interface"]


def test_written_atomically(exported) -> None:
    path, _ = exported
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["eern-x4.onnx"]


@pytest.mark.parametrize(("batch", "height", "width"), [(2, 37, 53), (1, 70, 90), (1, 7, 9), (3, 15, 16)])
def test_onnxruntime_matches_eern_at_any_shape(exported, batch: int, height: int, width: int) -> None:
    import torch
    import torch.nn.functional as F

    path, model = exported
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = sample_image(height, width, batch=batch)
    got = session.run(None, {"input": x})[0]
    padded = F.pad(torch.from_numpy(x), (0, max(15 - width, 0), 0, max(15 - height, 0)), mode="replicate")
    expected = model(padded)[..., : 4 * height, : 4 * width].numpy()
    assert got.shape == (batch, 3, 4 * height, 4 * width)
    assert np.abs(got - expected).max() <= TOLERANCE

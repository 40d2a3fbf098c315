"""The traced export module: the 0..1 interface and the in-graph padding reproduce eern's own output.

Tolerances in 0..255 grey levels: 0.01 (float rounding of the same fp32 arithmetic).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eern_cli.export.graph import ExportGraph, Interface, provenance
from eern_cli.export.verify import sample_image
from eern_cli.weights.checkpoints import OFFICIAL
from eern_cli.weights.loading import load_model

TOLERANCE = 0.01


@pytest.fixture(scope="module")
def official():
    return load_model()


@pytest.mark.parametrize(("height", "width"), [(20, 17), (7, 9), (15, 3)])
def test_padding_inside_the_graph_matches_the_engine_rule(official, height: int, width: int) -> None:
    model, _ = official
    x = torch.from_numpy(sample_image(height, width, batch=2))
    pad_bottom, pad_right = max(15 - height, 0), max(15 - width, 0)
    expected = model(F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate"))[..., : 4 * height, : 4 * width]
    got = ExportGraph(model, Interface(), pad_small=True)(x)
    assert got.shape == (2, 3, 4 * height, 4 * width)
    assert (got - expected).abs().max().item() <= TOLERANCE


def test_unit_range_is_the_same_model_scaled(official) -> None:
    model, _ = official
    x = torch.from_numpy(sample_image(24, 31))
    got = ExportGraph(model, Interface(value_range=1), pad_small=False)(x / 255.0) * 255.0
    assert (got - model(x)).abs().max().item() <= TOLERANCE


def test_provenance_names_weights_version_and_interface(official) -> None:
    _, weights = official
    facts = provenance(weights, Interface(value_range=1, half=True), min_side=15, io_precision="fp32", layout="CHW")
    assert facts["weights_sha256"] == OFFICIAL.sha256
    assert facts["eern_version"] and facts["scale"] == "4" and facts["value_range"] == "1"
    assert facts["weights_precision"] == "fp16" and facts["io_precision"] == "fp32"
    assert "0..1" in facts["interface"] and ">= 15 px" in facts["interface"]
    assert all(isinstance(value, str) for value in facts.values())


def test_a_local_checkpoint_is_named_without_its_folder(official, tmp_path) -> None:
    import shutil

    from eern_cli.weights.loading import bundled_checkpoint_path, load_weights

    copy = tmp_path / "private" / "mine.pt"
    copy.parent.mkdir()
    shutil.copy(bundled_checkpoint_path(), copy)
    facts = provenance(load_weights(str(copy)), Interface(), min_side=1, io_precision="fp32", layout="NCHW")
    assert facts["weights_source"] == "mine.pt" and "private" not in str(facts)
    assert provenance(official[1], Interface(), min_side=1, io_precision="fp32", layout="NCHW")[
        "weights_source"] == "bundled"

"""ncnn export: upscayl's naming rules, blob names, provenance line, and agreement with eern under ncnn.

One export (fp32 weights, 0..1) is shared by the module. Tolerance: 0.01 grey levels on the 0..255 scale.
"""

from __future__ import annotations

import pytest

from eern_cli.errors import UsageError
from eern_cli.export.ncnn import check_name, rename_blobs, upscayl_folder_note


@pytest.mark.parametrize("name", ["eern-x4", "EERN_4x", "eern-x4-fp16", "x4-photo"])
def test_names_upscayl_reads_as_x4(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize(("name", "why"), [("eern", "no 'x4'"), ("eern-x2", "'x2'"), ("1x-eern-x4", "'1x'"),
                                           ("eern-x16", "'x1'"), ("eern3x-x4", "'3x'")])
def test_names_upscayl_would_misread_are_refused(name: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        check_name(name)


def test_blobs_get_the_names_ncnn_sr_apps_look_for() -> None:
    text = "7767517\n3 3\nInput in0 0 1 in0\nConvolution conv_0 1 1 in0 1 0=3 6=81\nPixelShuffle ps 1 1 1 out0 0=4\n"
    lines = rename_blobs(text).splitlines()
    assert lines[2].split() == ["Input", "data", "0", "1", "data"]
    assert lines[3].split() == ["Convolution", "conv_0", "1", "1", "data", "1", "0=3", "6=81"]
    assert lines[4].split() == ["PixelShuffle", "ps", "1", "1", "1", "output", "0=4"]


def test_folder_note_only_outside_a_models_folder(tmp_path) -> None:
    assert upscayl_folder_note(tmp_path / "models" / "eern-x4.param") is None
    assert "'models'" in upscayl_folder_note(tmp_path / "out" / "eern-x4.param")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("pnnx")
    from eern_cli.export.graph import Interface
    from eern_cli.export.ncnn import export_ncnn
    from eern_cli.weights.loading import load_model

    model, weights = load_model()
    folder = tmp_path_factory.mktemp("ncnn") / "models"
    folder.mkdir()
    return export_ncnn(model, weights, folder / "eern-x4.param", Interface(value_range=1)), model


def test_export_is_exactly_two_files_with_provenance(exported) -> None:
    from eern_cli.export.ncnn import read_metadata
    from eern_cli.weights.checkpoints import OFFICIAL

    (param, bin_path, meta), _ = exported
    assert sorted(p.name for p in param.parent.iterdir()) == ["eern-x4.bin", "eern-x4.param"]
    assert read_metadata(param) == meta
    assert meta["weights_sha256"] == OFFICIAL.sha256 and meta["value_range"] == "1" and meta["min_side"] == "15"
    assert bin_path.stat().st_size > 4 * 657_000  # fp32 weights


@pytest.mark.parametrize(("height", "width"), [(37, 53), (64, 96), (15, 15)])
def test_ncnn_matches_eern(exported, height: int, width: int) -> None:
    pytest.importorskip("ncnn")
    import numpy as np
    import torch

    from eern_cli.export.verify import ncnn_runner, sample_image

    (param, bin_path, _), model = exported
    x = sample_image(height, width)
    got = ncnn_runner(param, bin_path)(x / 255.0) * 255.0
    expected = model(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 3, 4 * height, 4 * width)
    assert np.abs(got - expected).max() <= 0.01

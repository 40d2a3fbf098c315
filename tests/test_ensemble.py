"""The x8 self-ensemble: the mean of the eight orientations, turned back, independent of the tiling; and
``--tta`` end to end (the CLI, provenance, resume). Tolerances are in grey levels (0..255)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_images import save, smooth, upscale_here
from PIL import Image

from eern_cli.ensemble import ORIENTATIONS, SelfEnsemble
from eern_cli.images import provenance
from eern_cli.upscaler import Upscaler


@pytest.fixture(scope="module")
def whole(device: str) -> Upscaler:
    return Upscaler(device=device, precision="fp32", tile=0)


@pytest.fixture(scope="module")
def tiled(device: str) -> Upscaler:
    return Upscaler(device=device, precision="fp32", tile=24)


def image_tensor(width: int, height: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(smooth(width, height, seed=seed)).permute(2, 0, 1)[None].float()


def reference_ensemble(upscaler: Upscaler, x: torch.Tensor) -> torch.Tensor:
    """The ensemble written out plainly with torch (copies, explicit inverses), independent of the module's views."""
    total = torch.zeros(1, 3, 4 * x.shape[-2], 4 * x.shape[-1])
    for turns in range(4):
        for mirrored in (False, True):
            seen = torch.rot90(x.flip(-1) if mirrored else x, turns, dims=(-2, -1))
            back = torch.rot90(upscaler.upscale_tensor(seen), -turns, dims=(-2, -1))
            total += back.flip(-1) if mirrored else back
    return total / 8


def test_mean_of_the_orientations_turned_back(whole: Upscaler) -> None:
    x = image_tensor(23, 17)  # odd and not square: a wrong inverse would not even fit
    got = SelfEnsemble(whole).upscale_tensor(x)
    assert got.shape == (1, 3, 68, 92)
    assert float((got - reference_ensemble(whole, x)).abs().max()) <= 1e-3
    assert float((got - whole.upscale_tensor(x)).abs().max()) > 0.1  # it is not the plain output


def test_tiled_equals_whole_frame(whole: Upscaler, tiled: Upscaler) -> None:
    # 24 px tiles on 40x31 (and 31x40, turned): ragged edge tiles in every orientation.
    x = image_tensor(40, 31, seed=1)
    expected = SelfEnsemble(whole).upscale_tensor(x)
    got = SelfEnsemble(tiled).upscale_tensor(x)
    assert float((got - expected).abs().max()) <= 0.01  # before rounding
    assert float((got.clamp(0, 255).round() - expected.clamp(0, 255).round()).abs().max()) <= 1  # after


def test_symmetric_input_gives_a_symmetric_output(whole: Upscaler) -> None:
    # Symmetric under all eight orientations: every pass sees the same image, and the mean of the eight
    # turned-back outputs must itself be symmetric (the plain output need not be: the model is not).
    quarter = image_tensor(12, 12, seed=2)[..., :12, :12]
    quarter = (quarter + quarter.transpose(-2, -1)) / 2
    half = torch.cat([quarter, quarter.flip(-1)], dim=-1)
    x = torch.cat([half, half.flip(-2)], dim=-2).round()
    for turns, mirrored in ORIENTATIONS:
        assert torch.equal(torch.rot90(x.flip(-1) if mirrored else x, turns, dims=(-2, -1)), x)
    got = SelfEnsemble(whole).upscale_tensor(x)
    for turns, mirrored in ORIENTATIONS:
        seen = torch.rot90(got.flip(-1) if mirrored else got, turns, dims=(-2, -1))
        assert float((seen - got).abs().max()) <= 1e-3
    plain = whole.upscale_tensor(x)
    assert float((got - plain).abs().max()) < 8  # the model is nearly equivariant: close to the plain output


def test_grey_and_16_bit_arrays_keep_their_kind(tiled: Upscaler) -> None:
    grey = SelfEnsemble(tiled).upscale_array(smooth(20, 18, channels=1))
    deep = SelfEnsemble(tiled).upscale_array(smooth(20, 18, dtype=np.uint16))
    assert grey.shape == (72, 80) and grey.dtype == np.uint8
    assert deep.shape == (72, 80, 3) and deep.dtype == np.uint16


def test_flag_end_to_end_with_provenance_and_resume(tmp_path, capsys, whole: Upscaler) -> None:
    rgb = smooth(30, 22, seed=3)
    source = save(tmp_path / "a.png", rgb)
    out = tmp_path / "a_x4.png"
    code, err = upscale_here(capsys, str(source), "--tta", "--tile", "16")  # tiled; compared with whole frame
    assert code == 0, err
    written = np.asarray(Image.open(out))
    assert np.abs(written.astype(int) - SelfEnsemble(whole).upscale_array(rgb).astype(int)).max() <= 1
    plain = whole.upscale_array(rgb)
    assert not np.array_equal(written, plain)
    record = provenance.read(out)
    assert record is not None and record.tta is True
    assert "up to date" in upscale_here(capsys, str(source), "--tta")[1]
    code, err = upscale_here(capsys, str(source))  # without --tta the output is stale: redone
    assert code == 0 and "up to date" not in err and provenance.read(out).tta is False
    assert np.array_equal(np.asarray(Image.open(out)), plain)


def test_records_without_tta_still_read() -> None:
    record = provenance.make(weights_sha256="ab" * 32, scale=4.0, tile=0, precision="fp32", device="cpu",
                             alpha="model", input_sha256="cd" * 32, settings={})
    old = record.to_json().replace(',"tta":false', "")
    assert '"tta"' not in old and provenance.Provenance.from_json(old) == record

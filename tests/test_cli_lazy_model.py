"""The model that ``eern upscale`` builds only when needed: its settings known before torch is imported
must be the ones the real ``Upscaler`` gets, and a model that cannot be built stops the batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eern_cli.cli.lazy_model import LazyUpscaler, ModelUnavailable, make_upscaler, predict
from eern_cli.engine.choices import surely_cpu_only
from eern_cli.errors import UsageError, WeightsError
from eern_cli.weights.checkpoints import OFFICIAL

BUNDLED = Path(__file__).resolve().parents[1] / "weights" / OFFICIAL.filename


@pytest.mark.parametrize("weights", [None, str(BUNDLED)])
@pytest.mark.parametrize("precision,tile", [("auto", None), ("fp32", 0), ("bf16", 64)])
def test_predicted_settings_are_the_upscaler_s(weights, precision, tile) -> None:
    from eern_cli.upscaler import Upscaler

    real = Upscaler(weights, device="cpu", precision=precision, tile=tile)  # auto: measured, then cached
    predicted = predict(weights, "cpu", precision, tile, torch.get_num_threads())
    assert predicted is not None
    assert (predicted.weights.sha256, predicted.precision, predicted.device, predicted.tile) == (
        real.weights.sha256, real.precision, str(real.device), real.tile)


def test_what_only_torch_can_tell_is_left_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert predict(None, "cuda", "auto", None) is None
    monkeypatch.setenv("EERN_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert predict(None, "cpu", "auto", None) is None  # this CPU not measured yet
    assert predict(None, "cpu", "fp32", None) is not None
    assert predict("hf://owner/repo/file.pt", "cpu", "auto", None) is None
    assert predict(str(tmp_path / "missing.pt"), "cpu", "auto", None) is None
    assert (predict(None, "auto", "fp32", None) is None) == (not surely_cpu_only())
    with pytest.raises(UsageError):
        predict(None, "cpu", "fp8", None)
    with pytest.raises(UsageError):
        predict(None, "cpu", "auto", 3)


def test_the_model_is_built_once_at_first_use() -> None:
    built = []

    def build():
        from eern_cli.upscaler import Upscaler

        built.append(1)
        return Upscaler(device="cpu", precision="fp32", tile=0)

    lazy = make_upscaler(None, "cpu", "fp32", 0, None, build)
    assert isinstance(lazy, LazyUpscaler) and not lazy.built and lazy.weights.sha256 == OFFICIAL.sha256
    assert lazy.scale == 4 and lazy.built and lazy.scratch_bytes_per_pixel() > 0
    assert built == [1]


def test_a_model_that_cannot_be_built_is_not_one_file_s_failure(tmp_path: Path) -> None:
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not a checkpoint")

    def build():
        from eern_cli.upscaler import Upscaler

        return Upscaler(str(bad), device="cpu")

    lazy = make_upscaler(str(bad), "cpu", "fp32", None, None, build)
    with pytest.raises(ModelUnavailable) as raised:
        lazy.upscale_array
    assert isinstance(raised.value.error, WeightsError) and not isinstance(raised.value, Exception)

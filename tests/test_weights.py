"""Loading checkpoints: the bundled one strictly, user files safely, and every bad file with a clear error."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from eern_cli.engine.model import EERN, count_parameters
from eern_cli.errors import IntegrityError, WeightsError, WeightsNotFoundError
from eern_cli.weights.checkpoints import OFFICIAL
from eern_cli.weights.loading import (
    LoadedWeights,
    bundled_checkpoint_path,
    load_model,
    load_pinned,
    load_weights,
)

SHIPPED = Path(__file__).resolve().parent.parent / "weights" / OFFICIAL.filename


@pytest.fixture(scope="module")
def official() -> dict[str, torch.Tensor]:
    """The shipped state dict, read directly (not through the code under test)."""
    return dict(torch.load(SHIPPED, map_location="cpu", weights_only=True))


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == torch.float32 and a[key].device.type == "cpu"
        assert torch.equal(a[key], b[key]), key


class _Evil:
    """Unpickling this would create ``self.sentinel``: proof that code from a checkpoint ran."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (pathlib.Path.touch, (self.sentinel,))


# --- the bundled checkpoint -----------------------------------------------------------------------------


def test_bundled_path_is_the_shipped_file() -> None:
    path = bundled_checkpoint_path()
    assert path.is_file() and path.name == OFFICIAL.filename
    assert path.read_bytes() == SHIPPED.read_bytes()


def test_a_source_tree_finds_the_checkpoint_in_its_weights_folder() -> None:
    """Run from a clone without installing (as the test suite itself does in CI): no ``eern_cli._bundled``."""
    code = ("import sys; sys.modules['eern_cli._bundled'] = None\n"
            "from eern_cli.weights.loading import bundled_checkpoint_path\n"
            "path = bundled_checkpoint_path(); print(path); assert path.is_file(), path")
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == repo / "weights" / OFFICIAL.filename


def test_bundled_loads_strict(official: dict[str, torch.Tensor]) -> None:
    model, loaded = load_model()
    assert isinstance(model, EERN) and isinstance(loaded, LoadedWeights)
    assert count_parameters(model) == 657_432
    assert loaded.source == "bundled" and loaded.checkpoint is OFFICIAL
    assert loaded.sha256 == OFFICIAL.sha256 and loaded.license == "MIT"
    assert not model.training
    for p in model.parameters():
        assert not p.requires_grad and p.dtype == torch.float32 and p.device.type == "cpu"
    _assert_same(dict(model.state_dict()), official)


def test_official_is_the_bundled_spec(official: dict[str, torch.Tensor]) -> None:
    loaded = load_weights("official")
    assert loaded.source == "bundled" and loaded.path == bundled_checkpoint_path()
    _assert_same(loaded.state_dict, official)


def test_copy_of_official_is_recognised(tmp_path: Path) -> None:
    copy = tmp_path / "renamed.pth"
    shutil.copyfile(SHIPPED, copy)
    loaded = load_weights(copy)
    assert loaded.checkpoint is OFFICIAL and loaded.license == "MIT"
    assert loaded.source == str(copy) and loaded.path == copy


def test_pinned_copy_loads(tmp_path: Path, official: dict[str, torch.Tensor]) -> None:
    copy = tmp_path / OFFICIAL.filename
    shutil.copyfile(SHIPPED, copy)
    loaded = load_pinned(copy, OFFICIAL)
    assert loaded.checkpoint is OFFICIAL
    _assert_same(loaded.state_dict, official)


@pytest.mark.parametrize("damage", ["flip", "truncate", "evil"])
def test_tampered_pinned_copy_is_refused_before_unpickling(tmp_path: Path, damage: str) -> None:
    copy = tmp_path / OFFICIAL.filename
    data = bytearray(SHIPPED.read_bytes())
    sentinel = tmp_path / "pwned"
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        copy.write_bytes(bytes(data))
    elif damage == "truncate":  # the unpickler would raise WeightsError; the hash check comes first
        copy.write_bytes(bytes(data[: len(data) // 2]))
    else:
        torch.save({"x": _Evil(sentinel)}, copy)
    with pytest.raises(IntegrityError, match="sha256") as info:
        load_pinned(copy, OFFICIAL)
    assert OFFICIAL.sha256 in str(info.value) and str(copy) in str(info.value)
    assert not sentinel.exists()


# --- formats and wrappers -------------------------------------------------------------------------------


def test_pt_and_safetensors_round_trip(tmp_path: Path, official: dict[str, torch.Tensor]) -> None:
    pt, st = tmp_path / "w.pt", tmp_path / "w.safetensors"
    torch.save(official, pt)
    safetensors.torch.save_file(official, st)
    from_pt, from_st = load_weights(pt), load_weights(str(st))
    _assert_same(from_pt.state_dict, official)
    _assert_same(from_st.state_dict, official)
    assert from_st.checkpoint is None and from_st.license is None
    model, _ = load_model(st)
    _assert_same(dict(model.state_dict()), official)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"params": sd},
        lambda sd: {"params_ema": sd},
        lambda sd: {"state_dict": sd},
        lambda sd: {"model": sd, "epoch": 3},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}},
        lambda sd: {"params": {k: torch.zeros_like(v) for k, v in sd.items()}, "params_ema": sd},
    ],
    ids=["params", "params_ema", "state_dict", "model", "module-prefix", "nested", "ema-preferred"],
)
def test_wrappers_unwrap(tmp_path: Path, official: dict[str, torch.Tensor], wrap) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(official), path)
    _assert_same(load_weights(path).state_dict, official)


def test_half_precision_becomes_float32(tmp_path: Path, official: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "half.safetensors"
    safetensors.torch.save_file({k: v.half() for k, v in official.items()}, path)
    _assert_same(load_weights(path).state_dict, {k: v.half().float() for k, v in official.items()})


# --- refusals -------------------------------------------------------------------------------------------


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    sentinel, path = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"head.weight": _Evil(sentinel)}, path)
    with pytest.raises(WeightsError, match="never runs code") as info:
        load_weights(path)
    assert "not a valid checkpoint" in str(info.value)
    assert not sentinel.exists()


def test_harmless_but_unlisted_global_is_refused_without_fallback(tmp_path: Path) -> None:
    path = tmp_path / "ns.pt"
    torch.save({"args": argparse.Namespace(lr=1)}, path)
    with pytest.raises(WeightsError, match="never runs code"):
        load_weights(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    path.write_bytes(SHIPPED.read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="not a valid checkpoint") as info:
        load_weights(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "payload", [b"garbage" * 10, struct.pack("<Q", 1 << 40) + b"{}"], ids=["garbage", "header-bomb"]
)
def test_corrupt_safetensors(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(payload)
    with pytest.raises(WeightsError, match="not a valid safetensors checkpoint"):
        load_weights(path)


@pytest.mark.parametrize("obj", [[1, 2, 3], {}, {"head.weight": 3}], ids=["list", "empty", "not-tensors"])
def test_not_a_dict_of_tensors(tmp_path: Path, obj: object) -> None:
    path = tmp_path / "odd.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError, match="not an EERN state dict|not a state dict of tensors"):
        load_weights(path)


def test_other_architecture_lists_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3)).state_dict(), path)
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    text = str(info.value)
    assert "54 missing keys (head.weight, head.bias" in text
    assert "4 unexpected keys (0.weight, 0.bias, 2.weight, 2.bias)" in text
    assert str(path) in text


def test_extra_key_is_unexpected(tmp_path: Path, official: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "extra.pt"
    torch.save({**official, "extra.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match=r"1 unexpected keys \(extra.weight\)"):
        load_weights(path)


def test_wrong_shape(tmp_path: Path, official: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "x2.pt"
    torch.save({**official, "tail.weight": torch.zeros(12, 84, 3, 3)}, path)
    with pytest.raises(WeightsError, match=r"tail.weight has shape \(12, 84, 3, 3\), EERN needs \(48, 84, 3, 3\)"):
        load_weights(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(tmp_path: Path, official: dict[str, torch.Tensor], bad: float) -> None:
    bias = official["head.bias"].clone()
    bias[3] = bad
    path = tmp_path / "nan.safetensors"
    safetensors.torch.save_file({**official, "head.bias": bias}, path)
    with pytest.raises(WeightsError, match="head.bias contains NaN or infinite values"):
        load_weights(path)


def test_integer_weights(tmp_path: Path, official: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "int.pt"
    torch.save({**official, "head.bias": official["head.bias"].to(torch.int32)}, path)
    with pytest.raises(WeightsError, match="head.bias holds torch.int32"):
        load_weights(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="directory"):
        load_weights(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(WeightsNotFoundError) as info:
        load_weights(str(path))
    assert isinstance(info.value, FileNotFoundError) and str(path) in str(info.value)

"""Shared test settings and fixtures: the device under test, one fp32 ``Upscaler`` on it, the benchmark data,
and an isolated hub cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# ../shared beside the repository, as in CI; the images there may not be copied into the repo.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# EERN_TEST_DEVICE=cuda runs the same suite on a GPU.
TEST_DEVICE = os.environ.get("EERN_TEST_DEVICE", "cpu")
# One calibration cache for the whole run, subprocesses included: ``--precision auto`` measures once and every
# process then agrees on the choice; the user's own cache folder is never touched.
os.environ["EERN_CACHE_DIR"] = tempfile.mkdtemp(prefix="eern-test-cache-")


@pytest.fixture(autouse=True)
def _isolated_hub_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's Hugging Face cache, or reaches the real hub."""
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing ever answers
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark images not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def device() -> str:
    return TEST_DEVICE


@pytest.fixture(scope="session")
def upscaler(device: str):
    """One fp32 ``Upscaler`` on the device under test, shared by every test that only runs the model."""
    from eern_cli.upscaler import Upscaler

    return Upscaler(device=device, precision="fp32")

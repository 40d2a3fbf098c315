"""The long soak (excluded by default; ``pytest -m soak``): ``benchmarks/soak.py`` through pytest.

``EERN_SOAK_TRIALS`` (default 100) sets the number of kill -9 trials (the other faults scale with it) and
``EERN_SOAK_BIG`` the side of the bounded-memory run's image (default 1024; 0 skips it). The figures table is
printed (run with ``-s`` to see it); the test fails if anything was lost or half-written.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


@pytest.mark.soak
def test_soak_nothing_lost_nothing_half_written():
    spec = importlib.util.spec_from_file_location("eern_soak", SOAK)
    soak = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = soak  # its dataclasses look their module up while being defined
    spec.loader.exec_module(soak)
    trials = os.environ.get("EERN_SOAK_TRIALS", "100")
    big = os.environ.get("EERN_SOAK_BIG", "1024")
    assert soak.main(["--trials", trials, "--big", big]) == 0

"""Freed tile-sized memory is kept for reuse: repeated tiles stop paying for page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The second of two exact tiled runs over a 160x160 image; prints its minor page faults.
CHILD = r"""
import resource, sys, torch
from eern_cli.engine import run_exact_tiled
from eern_cli.weights import load_model
if sys.argv[1] == "tuned":
    from eern_cli.allocator import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()
model = load_model()[0].to(memory_format=torch.channels_last)
image = torch.rand(1, 3, 160, 160).mul(255).contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    run_exact_tiled(model, image, 128, lambda *tile: None)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    run_exact_tiled(model, image, 128, lambda *tile: None)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_allocator_stops_page_faults_on_repeated_tiles() -> None:
    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
        return int(done.stdout)

    # Untuned glibc trims the heap between tiles and faults the pages in again (measured ~3,500 here).
    assert faults("tuned") < 500 < faults("default")

"""Freed tile-sized memory is kept for reuse: repeated tiles stop paying for page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Four 40 MB buffers allocated, written and freed, 10 times; prints the minor page faults of the last 5
# rounds. 40 MB is above glibc's default mmap threshold (at most 32 MB), so untuned each buffer is mapped and
# unmapped every round; tuned it comes from the heap, which keeps up to 512 MB of freed memory.
CHILD = r"""
import resource, sys, torch
if sys.argv[1] == "tuned":
    from eern_cli.engine.allocator import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()
for round in range(10):
    if round == 5:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [torch.empty(10 << 20, dtype=torch.float32).fill_(1.0) for _ in range(4)]
    del buffers
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_allocator_reuses_freed_buffers_instead_of_faulting_them_in_again() -> None:
    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
        return int(done.stdout)

    # 5 rounds x 160 MB is ~200,000 pages faulted in again when untuned.
    assert faults("tuned") < 1000
    assert faults("default") > 100_000


def test_the_library_leaves_the_allocator_alone() -> None:
    """Process-wide settings are the CLI's to make: creating a CPU ``Upscaler`` does not tune glibc."""
    child = ("from eern_cli.upscaler import Upscaler\n"
             "from eern_cli.engine.allocator import keep_freed_memory\n"
             "Upscaler(device='cpu', precision='fp32')\n"
             "print(keep_freed_memory.cache_info().currsize)")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"

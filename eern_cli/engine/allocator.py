"""Keep freed memory for reuse instead of handing it back to the OS after every tile.

The exact tiling allocates and frees tile-sized tensors (10-30 MB) hundreds of times per image. With
glibc's defaults the top of the heap is trimmed after each free and grown again by the next allocation, so
every tile pays for tens of thousands of page faults (benchmarks/speed.py measured 6 % of a 512x512 run).
Raising glibc's trim threshold keeps up to ``KEEP_BYTES`` of freed memory in the process; allocations of
``MMAP_BYTES`` and more (whole images) still come from, and go back to, the OS at once.

This tunes the whole process, so the library never calls it: ``eern upscale`` and ``eern benchmark`` do, once,
for a CPU device, and so do the benchmark scripts; a program that embeds ``Upscaler`` on a CPU may.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 64 << 20
KEEP_BYTES = 512 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's allocator once per process; False where there is no glibc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))

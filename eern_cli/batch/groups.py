"""Small images of one shape gathered so that they share one forward (``Upscaler.upscale_arrays``).

For an image of a few thousand pixels most of a forward's time is a fixed cost per call; several of one shape
in one (N, 3, H, W) batch cost less each (``benchmarks/batch_overhead.py``). Images of one shape are rarely
all next to each other in a folder (portrait and landscape crops alternate), so a small image waits for others
of its shape among the next ``window`` jobs: its group runs when it is full (``Upscaler.batch_size``), when its
first image has waited through ``window`` jobs, or when the caller flushes (before a video, and at the end).
What waits is bounded: fewer than ``window`` images, each smaller than one tile.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
# How many jobs a small image may wait through for others of its shape.
WINDOW = 32


class Groups(Generic[T]):
    """Items waiting by key; each ``add`` counts as one job seen (``seen`` for a job that waits for nothing)."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.jobs = 0
        self._waiting: dict[Hashable, tuple[int, list[T]]] = {}  # key: (job count when the first came, items)

    def __len__(self) -> int:
        return sum(len(items) for _, items in self._waiting.values())

    def seen(self) -> list[list[T]]:
        """Count one job; the groups whose first item has now waited through ``window`` jobs, oldest first."""
        self.jobs += 1
        expired = [key for key, (first, _) in self._waiting.items() if self.jobs - first >= self.window]
        return [self._waiting.pop(key)[1] for key in expired]

    def add(self, key: Hashable, item: T, size: int) -> list[list[T]]:
        """Add ``item`` (one job) to the group of ``key``; the groups ready to run: that group once it holds
        ``size`` items, and any that waited too long."""
        _, items = self._waiting.setdefault(key, (self.jobs, []))
        items.append(item)
        full = [self._waiting.pop(key)[1]] if len(items) >= size else []
        return full + self.seen()

    def flush(self) -> list[list[T]]:
        """Every waiting group, oldest first."""
        groups = [items for _, items in sorted(self._waiting.values(), key=lambda entry: entry[0])]
        self._waiting.clear()
        return groups

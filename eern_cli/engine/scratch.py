"""Where the exact tiling keeps its full-resolution maps: on the compute device, in host memory, or in a
memory-mapped file for images larger than memory."""

from __future__ import annotations

import errno
import math
import os
import tempfile
from pathlib import Path

import torch

from eern_cli.engine.model import EERN
from eern_cli.errors import OutputError


def map_channels(model: EERN) -> tuple[int, int]:
    """Channels of the two full-resolution maps: a block's output, and its ESA ``conv1`` branch."""
    esa = model.recon_trunk[0].ESA
    return model.head.out_channels, esa.conv1.out_channels


def feature_bytes_per_pixel(model: EERN, dtype: torch.dtype) -> int:
    """Bytes of scratch the exact tiling keeps per input pixel: its full-resolution maps (the output and
    about one row of tiles in flight not included)."""
    return sum(map_channels(model)) * torch.empty((), dtype=dtype).element_size()


def allocate_feature_map(
    shape: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device, scratch: str | Path | None
) -> torch.Tensor:
    """A full-resolution map, channels-last: on the device (``scratch`` None), in host memory ("host"),
    or memory-mapped from a file in the folder ``scratch``."""
    if scratch is None or str(scratch) == "host":
        where = device if scratch is None else torch.device("cpu")
        return torch.empty(shape, dtype=dtype, device=where, memory_format=torch.channels_last)
    return _mapped(shape, dtype, Path(scratch))


def _mapped(shape: tuple[int, int, int, int], dtype: torch.dtype, folder: Path) -> torch.Tensor:
    batch, channels, height, width = shape
    count = math.prod(shape)
    fd, name = tempfile.mkstemp(prefix=".eern-scratch-", suffix=".bin", dir=folder)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    try:
        # Reserve the blocks now: a full disk is an error here, not a SIGBUS in the middle of a write.
        try:
            os.posix_fallocate(fd, 0, nbytes)
        except (AttributeError, OSError) as exc:
            if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise OutputError(
                    f"no space for {nbytes / 2**30:.1f} GiB of scratch in {folder}",
                    hint="free some space, or give {scratch} another folder",
                ) from exc
            os.ftruncate(fd, nbytes)  # a platform or filesystem without fallocate: sparse file
        mapped = torch.from_file(name, shared=True, size=count, dtype=dtype)
    finally:
        os.close(fd)
        os.unlink(name)  # the mapping keeps the space while it lives; nothing is left behind after a crash
    return mapped.view(batch, height, width, channels).permute(0, 3, 1, 2)

"""eern: x4 super-resolution with EERN (NTIRE 2024 Efficient SR, team Lasagna), exact tiling on CPU and GPU.

The public API is re-exported here lazily, so that ``import eern_cli`` (and ``eern --help``) does not import
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EERN",
    "DeviceError",
    "DownloadError",
    "EernError",
    "InputImageError",
    "InsufficientMemoryError",
    "IntegrityError",
    "MissingExtraError",
    "OutputError",
    "Upscaler",
    "UsageError",
    "WeightsError",
    "WeightsNotFoundError",
    "__version__",
    "load_model",
    "load_weights",
]

_LAZY = {
    "EERN": "engine.model",
    "Upscaler": "upscaler",
    "load_model": "weights.loading",
    "load_weights": "weights.loading",
}

from eern_cli.errors import (  # noqa: E402  (no torch here)
    DeviceError,
    DownloadError,
    EernError,
    InputImageError,
    InsufficientMemoryError,
    IntegrityError,
    MissingExtraError,
    OutputError,
    UsageError,
    WeightsError,
    WeightsNotFoundError,
)

if TYPE_CHECKING:
    from eern_cli.engine.model import EERN
    from eern_cli.upscaler import Upscaler
    from eern_cli.weights.loading import load_model, load_weights


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

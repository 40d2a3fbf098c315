"""The model behind ``eern upscale``, built only when an image needs it.

A dry run, and a re-run whose outputs are all up to date, never run the model, but the resume check needs
the settings that would make an output (weights sha256, precision, device, tile). On a machine that surely
has no GPU, with the bundled weights or a local checkpoint, those follow from the same rules ``auto`` uses
(``engine.choices``, and for a CPU's precision the cached measurement of ``engine.calibrate``) without
importing torch, which is most of a start-up's time (2-5 s). In every other case (a GPU may be there,
``hf://`` weights, a CPU not measured yet) the real ``Upscaler`` is built at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eern_cli.engine import calibrate
from eern_cli.engine.choices import check_precision, resolve_tile, surely_cpu_only
from eern_cli.weights.checkpoints import OFFICIAL, sha256_file


@dataclass(frozen=True)
class WeightsId:
    """What the resume check needs of the weights before they are loaded: their sha256."""

    sha256: str


@dataclass(frozen=True)
class Predicted:
    device: str
    precision: str
    tile: int
    weights: WeightsId


def predict(weights: str | None, device: str, precision: str, tile: int | None,
            threads: int | None = None) -> Predicted | None:
    """The settings the ``Upscaler`` will have, or None when only torch can tell (or report the error)."""
    name = (device or "auto").strip().lower()
    if not (name == "cpu" or (name == "auto" and surely_cpu_only())):
        return None
    asked = check_precision(precision)
    tile_side = int(resolve_tile(tile, "cpu").value)
    if asked == "auto":
        measured = calibrate.cached_choice(threads)
        if measured is None:
            return None
        chosen = measured
    else:
        chosen = asked
    if weights is None:
        sha = OFFICIAL.sha256  # the bundled file is verified against this pin when it is loaded
    elif str(weights).startswith("hf://") or not Path(weights).is_file():
        return None  # the hub, or an error only the loader words well
    else:
        sha = sha256_file(weights)
    return Predicted("cpu", chosen, tile_side, WeightsId(sha))


class ModelUnavailable(BaseException):
    """The model could not be built (bad weights, no such device): not one file's problem, so it must stop
    the batch rather than fail each file in turn. A ``BaseException`` passes through the batch's per-file
    ``except Exception``; the command re-raises ``error`` for the error boundary."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class LazyUpscaler:
    """Has the settings at once and builds the ``Upscaler`` (``build()``) at the first use of anything else.

    Once built, the real settings replace the predicted ones (they agree unless the CPU was measured anew
    meanwhile), so that every output's provenance records what made it.
    """

    def __init__(self, predicted: Predicted, build: Callable[[], Any]) -> None:
        self.device, self.precision, self.tile, self.weights = (
            predicted.device, predicted.precision, predicted.tile, predicted.weights)
        self._build = build
        self._real: Any = None

    @property
    def built(self) -> bool:
        return self._real is not None

    def __getattr__(self, name: str) -> Any:  # only for what __init__ did not set: the model's methods
        if name.startswith("_"):
            raise AttributeError(name)
        if self._real is None:
            try:
                real = self._build()
            except Exception as exc:
                raise ModelUnavailable(exc) from exc
            self.device, self.precision, self.tile, self.weights = real.device, real.precision, real.tile, real.weights
            self._real = real
        return getattr(self._real, name)


def make_upscaler(weights: str | None, device: str, precision: str, tile: int | None, threads: int | None,
                  build: Callable[[], Any]) -> Any:
    predicted = predict(weights, device, precision, tile, threads)
    return build() if predicted is None else LazyUpscaler(predicted, build)

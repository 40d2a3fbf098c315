"""The module the exporters trace, and the provenance every exported file carries.

EERN itself works on the 0..255 scale; most SR runtimes (chaiNNer, upscayl, ncnn apps) feed 0..1, so the
interface range is baked into the exported graph rather than left to each user's pre-processing. ESA's
stride-2 conv and 7x7 max-pool need 15 px per side; eern's engine pads smaller images by edge replication and
crops the output, and ``ExportGraph`` does the same inside the graph where the exporter keeps shapes symbolic
(ONNX). The padding is a no-op for images of 15 px and more, so the exported model stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

import torch
import torch.nn.functional as F
from torch import nn

from eern_cli import __version__
from eern_cli.engine.model import MIN_SIDE, SCALE, EERN
from eern_cli.weights.loading import LoadedWeights

@dataclass(frozen=True)
class Interface:
    """What an exported model takes and gives: NCHW RGB, values 0..``value_range``, fp32 or fp16."""

    value_range: int = 255
    half: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.half else torch.float32

    @property
    def precision(self) -> str:
        return "fp16" if self.half else "fp32"

    def describe(self, *, min_side: int, io_precision: str, layout: str) -> str:
        smaller = (
            "smaller images are padded and cropped inside the graph"
            if min_side == 1
            else f"height and width >= {MIN_SIDE} px"
        )
        return (
            f"input {layout} RGB {io_precision} on 0..{self.value_range}; output {layout} RGB {io_precision} on "
            f"0..{self.value_range}, x{SCALE} (not clamped); {self.precision} weights; sizes dynamic; {smaller}"
        )


class ExportGraph(nn.Module):
    """EERN with the interface range baked in; ``pad_small`` pads images under 15 px and crops the output."""

    def __init__(self, model: EERN, interface: Interface, *, pad_small: bool) -> None:
        super().__init__()
        self.model = model
        self.value_range = interface.value_range
        self.pad_small = pad_small

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.value_range != 255:
            x = x * (255.0 / self.value_range)
        if not self.pad_small:
            return self._rescaled(self.model(x))
        height, width = x.shape[-2], x.shape[-1]
        # Pad by the most that can be needed, then keep max(side, 15): symbolic in the exported graph.
        padded = F.pad(x, (0, MIN_SIDE - 1, 0, MIN_SIDE - 1), mode="replicate")
        padded = padded[..., : torch.sym_max(height, MIN_SIDE), : torch.sym_max(width, MIN_SIDE)]
        return self._rescaled(self.model(padded)[..., : SCALE * height, : SCALE * width])

    def _rescaled(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.value_range == 255 else y * (self.value_range / 255.0)


def provenance(
    weights: LoadedWeights, interface: Interface, *, min_side: int, io_precision: str, layout: str
) -> dict[str, str]:
    """Where an exported file came from and how to feed it, as flat strings (ONNX metadata, ncnn trailer)."""
    return {
        "eern_version": __version__,
        "model": f"EERN x{SCALE} (NTIRE 2024 Efficient SR, team Lasagna)",
        "weights_sha256": weights.sha256,
        "weights_source": _shareable(weights.source),
        "weights_license": weights.license or "unknown",
        "scale": str(SCALE),
        "value_range": str(interface.value_range),
        "weights_precision": interface.precision,
        "io_precision": io_precision,
        "min_side": str(min_side),
        "interface": interface.describe(min_side=min_side, io_precision=io_precision, layout=layout),
    }


def _shareable(source: str) -> str:
    """A local checkpoint is named by its file name only: exported files travel, the user's folders should not."""
    if source == "bundled" or source.startswith("hf://"):
        return source
    return PurePath(source).name

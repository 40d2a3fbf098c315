"""The options several commands share, defined once: the same spelling, short form, help and choices in
``upscale``, ``benchmark`` and ``info``.

Short flags mean one thing everywhere: ``-d`` device, ``-p`` precision, ``-t`` tile, ``-w`` weights (and,
in ``upscale`` only, ``-o`` output, ``-r`` recursive, ``-s`` scale, ``-f`` format, ``-q`` quality).
Switches get an empty metavar so that help shows ``--json``, not ``--json <bool>``.
"""

from __future__ import annotations

from typing import Annotated

import typer

MODEL_PANEL = "Model"

DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."
PRECISION_HELP = "auto, fp32, bf16 or fp16 (auto: the fastest measured on this CPU; fp16 on GPUs)."
TILE_HELP = (
    "Tile side in input pixels; 0 = whole image; default per device (CPU 256, whole up to 512x512; CUDA 1024). "
    "Output is the same."
)
WEIGHTS_HELP = "Checkpoint: a .pt/.pth/.safetensors path or hf://OWNER/REPO/FILE\\[@REV]."  # \\[: not rich markup
THREADS_HELP = "CPU threads for the model (default: torch's, one per core)."
SEVERAL = " Several to compare: repeat the flag or separate with commas."


class Command(typer.core.TyperCommand):
    """A command whose usage line reads as usage lines do (``INPUT...``, not ``{INPUT}...``) and whose
    -h/--help, like every switch, shows no value placeholder."""

    def collect_usage_pieces(self, ctx):  # noqa: ANN001, ANN201 (click's signature)
        return [piece[1:].replace("}", "", 1) if piece.startswith("{") else piece
                for piece in super().collect_usage_pieces(ctx)]

    def get_help_option(self, ctx):  # noqa: ANN001, ANN201 (click's signature)
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class Group(typer.core.TyperGroup):
    def get_help_option(self, ctx):  # noqa: ANN001, ANN201
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


def switch(*names: str, help: str, panel: str | None = None) -> typer.models.OptionInfo:
    """An on/off flag."""
    return typer.Option(*names, help=help, metavar="", rich_help_panel=panel)


Device = Annotated[str, typer.Option(
    "--device", "-d", metavar="DEVICE", help=DEVICE_HELP, rich_help_panel=MODEL_PANEL)]
Precision = Annotated[str, typer.Option(
    "--precision", "-p", metavar="PRECISION", help=PRECISION_HELP, rich_help_panel=MODEL_PANEL)]
Tile = Annotated[int | None, typer.Option(
    "--tile", "-t", metavar="PX", help=TILE_HELP, show_default="auto", rich_help_panel=MODEL_PANEL)]
Weights = Annotated[str | None, typer.Option(
    "--weights", "-w", metavar="PATH", help=WEIGHTS_HELP, show_default="bundled", rich_help_panel=MODEL_PANEL)]
Threads = Annotated[int | None, typer.Option(
    "--threads", min=1, metavar="N", help=THREADS_HELP, show_default="auto", rich_help_panel=MODEL_PANEL)]
# benchmark compares several values of the same settings side by side
Precisions = Annotated[list[str] | None, typer.Option(
    "--precision", "-p", metavar="PRECISION", help=PRECISION_HELP + SEVERAL, show_default="auto",
    rich_help_panel=MODEL_PANEL)]
Tiles = Annotated[list[str] | None, typer.Option(
    "--tile", "-t", metavar="PX", help=TILE_HELP + SEVERAL, show_default="auto", rich_help_panel=MODEL_PANEL)]
Json = Annotated[bool, switch(
    "--json", help="Print the machine-readable result alone on stdout (JSON, with a 'schema' version).")]

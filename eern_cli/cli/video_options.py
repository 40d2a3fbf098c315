"""The video flags of ``eern upscale`` (``--codec``, ``--crf``, ``--pix-fmt``, ``--chunk-seconds``)."""

from __future__ import annotations

from typing import Annotated

import typer

_PANEL = "Video"

Codec = Annotated[str | None, typer.Option("--codec", rich_help_panel=_PANEL, help=(
    "Video encoder: h264, h265, vp9, av1, ffv1 (lossless) or an FFmpeg encoder name. "
    "Default: H.264 for .mp4 .mov .mkv, VP9 for .webm, FFV1 for .avi."))]
Crf = Annotated[int | None, typer.Option("--crf", rich_help_panel=_PANEL, help=(
    "Constant-quality level of H.264/H.265/VP9/AV1 (lower is better; defaults 18, 20, 24, 28)."))]
PixFmt = Annotated[str | None, typer.Option("--pix-fmt", rich_help_panel=_PANEL, help=(
    "Pixel format of the encoded video, e.g. yuv420p (default), yuv444p, yuv420p10le (default for >8-bit "
    "sources); FFV1 stores RGB (bgr0) by default."))]
ChunkSeconds = Annotated[float, typer.Option("--chunk-seconds", rich_help_panel=_PANEL, help=(
    "Seconds of video per resumable chunk: a killed run loses at most the chunk in flight."))]


def video_options(codec: str | None, crf: int | None, pix_fmt: str | None, chunk_seconds: float):
    """The library's ``VideoOptions``, checked (exit 2 for a bad value or a codec flag without PyAV)."""
    from eern_cli.video.encode import VideoOptions, check_options

    options = VideoOptions(codec=codec, crf=crf, pix_fmt=pix_fmt, chunk_seconds=chunk_seconds)
    check_options(options)
    return options

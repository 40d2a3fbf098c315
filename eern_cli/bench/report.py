"""Benchmark reports for scripts and for people: JSON, CSV, and a PNG plot drawn with Pillow alone.

The report is one plain dict: what ran it (``software``, ``machine``, ``weights``, ``model``, with the keys
``eern info --json`` uses), how it measured (``settings``), the speed rows and the quality rows. JSON keeps all
of it, with a ``schema`` version; numbers stay numbers, and a non-finite one (the PSNR of an output identical
to the reference is infinite) is null, since JSON has no such numbers. CSV is one table with a ``section``
column (speed, quality-mean, quality-image) and the torch version and device on every row; non-finite
numbers are empty cells.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from eern_cli.bench.timing import REFERENCE, Measurement
from eern_cli.engine.model import SCALE

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def summary(samples: list[float]) -> dict[str, float]:
    """Median, min, max, mean, standard deviation and quartiles of the timed samples (ms)."""
    if not samples:
        return {}
    q1, q3 = np.percentile(samples, [25, 75])
    return {
        "n": len(samples),
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "mean_ms": statistics.fmean(samples),
        "std_ms": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "iqr_ms": float(q3 - q1),
    }


def speed_rows(results: list[Measurement], macs: Callable[[int, int], int] | None = None) -> list[dict[str, Any]]:
    """One flat dict per (size, variant) with the statistics, throughput and speed-up against fp32 whole."""
    reference = {(m.height, m.width): m for m in results if m.variant == REFERENCE and m.times_ms}
    out = []
    for m in results:
        if not m.times_ms:
            continue
        stats = summary(m.times_ms)
        seconds = stats["median_ms"] / 1e3
        base = reference.get((m.height, m.width))
        row: dict[str, Any] = {
            "variant": m.variant.label,
            "precision": m.variant.precision,
            "tile": m.variant.tile,
            "tiles": m.tiles,
            "input": f"{m.width}x{m.height}",
            "height": m.height,
            "width": m.width,
            "output_mp": SCALE * SCALE * m.height * m.width / 1e6,
            "first_ms": m.first_ms,
            **stats,
            "output_mp_per_s": SCALE * SCALE * m.height * m.width / 1e6 / seconds,
            "speedup_vs_fp32_whole": base and summary(base.times_ms)["median_ms"] / stats["median_ms"],
            "psnr_vs_fp32_db": m.psnr_vs_reference,
            "max_diff_levels": m.max_diff_levels,
            **m.memory,
            "times_ms": list(m.times_ms),
        }
        if macs is not None:
            row["gmac_per_s"] = macs(m.height, m.width) / 1e9 / seconds
        out.append(row)
    return out


SCHEMA = "eern.benchmark/1"


def new_report(
    device: Any, variants: list[str], sizes: list[str], *, repeat: int, warmup: int, timer: str,
    memory: str | None, weights: Any, model: Any,
) -> dict[str, Any]:
    """The report's skeleton: what ran it (software, machine, weights, model), and how it measures
    (``settings``: the device used, torch's numeric switches, the variants, sizes and rounds)."""
    from eern_cli.bench import sysinfo

    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["eern", *sys.argv[1:]],
        "software": sysinfo.software(),
        "machine": sysinfo.machine(),
        "weights": sysinfo.weights_facts(weights),
        "model": sysinfo.model_facts(model),
        "settings": {
            **sysinfo.numeric_settings(device), "device": str(device),
            "device_name": sysinfo.describe(sysinfo.device_info(device)), "variants": variants,
            "reference": REFERENCE.label, "sizes": sizes, "repeat": repeat, "warmup": warmup, "timer": timer,
            "memory": memory, "input": "synthetic photo-like image (seed 0), already on the device",
        },
        "speed": [], "quality": None, "interrupted": False,
    }


def _finite(value: Any) -> Any:
    """Non-finite floats as None (JSON null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(_finite(report), indent=2, allow_nan=False) + "\n"


def write(report: dict[str, Any], path: str | Path) -> None:
    """The report as JSON or CSV, by the file's extension, written atomically (never half a report)."""
    from eern_cli.images.atomic import atomic_open

    text = to_csv(report) if Path(path).suffix.lower() == ".csv" else to_json(report)
    with atomic_open(Path(path)) as f:
        f.write(text.encode("utf-8"))


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    common = {"torch": report.get("software", {}).get("torch"), "device": report.get("settings", {}).get("device_name")}
    out: list[dict[str, Any]] = []
    for row in report.get("speed", []):
        flat = {k: (" ".join(f"{t:.3f}" for t in v) if k == "times_ms" else v) for k, v in row.items()}
        out.append({"section": "speed", **flat, **common})
    quality = report.get("quality") or {}
    for section, key in (("quality-mean", "mean"), ("quality-image", "per_image")):
        dataset = quality.get("dataset")
        out += [{"section": section, "dataset": dataset, **row, **common} for row in quality.get(key, [])]
    return out


def to_csv(report: dict[str, Any]) -> str:
    rows = csv_rows(report)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
    return buffer.getvalue()


Points = list[tuple[float, float, float, float]]  # x, MP/s at the median, at the slowest run, at the fastest


def _point(x: float, r: dict[str, Any]) -> tuple[float, float, float, float]:
    return x, r["output_mp_per_s"], r["output_mp"] / r["max_ms"] * 1e3, r["output_mp"] / r["min_ms"] * 1e3


def plot_series(speed: list[dict[str, Any]]) -> tuple[str, list[tuple[float, str]], dict[str, Points]]:
    """What to draw: against input size when several sizes were measured, else against tile size.

    Returns the x-axis title, the x ticks (position, label) and the points of each series.
    """
    sizes = sorted({(r["height"] * r["width"], r["input"]) for r in speed})
    series: dict[str, Points] = {}
    if len(sizes) > 1:
        ticks = [(pixels / 1e6, f"{label}") for pixels, label in sizes]
        for r in speed:
            series.setdefault(r["variant"], []).append(_point(r["height"] * r["width"] / 1e6, r))
        return "input size (spaced by pixel count)", ticks, series
    tiles = sorted({r["tile"] for r in speed}, key=lambda t: (t != 0, t))
    position = {tile: float(i) for i, tile in enumerate(tiles)}
    ticks = [(position[t], "whole" if t == 0 else str(t)) for t in tiles]
    for r in speed:
        series.setdefault(r["precision"], []).append(_point(position[r["tile"]], r))
    return f"tile side (input px), input {sizes[0][1]}", ticks, series


def _nice_step(top: float, count: int = 5) -> float:
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def write_plot(speed: list[dict[str, Any]], path: str | Path, *, title: str) -> None:
    """A line chart of output megapixels per second (higher is better), one line per variant or precision."""
    from PIL import Image, ImageDraw, ImageFont

    xtitle, ticks, series = plot_series(speed)
    width, height, left, right, top, bottom = 960, 580, 80, 230, 76, 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    try:
        font, small = ImageFont.load_default(size=15), ImageFont.load_default(size=12)
    except TypeError:  # Pillow without FreeType: the bitmap font has one size
        font = small = ImageFont.load_default()
    x0, x1, y0, y1 = left, width - right, height - bottom, top
    xs = [p for p, _ in ticks]
    span = (max(xs) - min(xs)) or 1.0
    lo = min(xs) - 0.08 * span
    hi = max(xs) + 0.08 * span
    ymax = max((p[3] for points in series.values() for p in points), default=1.0) * 1.1 or 1.0
    step = _nice_step(ymax)
    ymax = math.ceil(ymax / step) * step

    def px(x: float, y: float) -> tuple[float, float]:
        return x0 + (x - lo) / (hi - lo) * (x1 - x0), y0 - y / ymax * (y0 - y1)

    draw.text((left, 14), title, fill="black", font=font)
    for i in range(int(round(ymax / step)) + 1):
        y = i * step
        _, py = px(lo, y)
        draw.line([(x0, py), (x1, py)], fill="#e6e6e6")
        draw.text((x0 - 8, py), f"{y:g}", fill="black", font=small, anchor="rm")
    for x, label in ticks:
        tx, _ = px(x, 0)
        draw.line([(tx, y0), (tx, y0 + 5)], fill="black")
        draw.text((tx, y0 + 8), label, fill="black", font=small, anchor="ma")
    draw.line([(x0, y1), (x0, y0), (x1, y0)], fill="black", width=2)
    draw.text(((x0 + x1) / 2, height - 24), xtitle, fill="black", font=font, anchor="ma")
    draw.text((x0, y1 - 14), "output megapixels per second", fill="black", font=font, anchor="ls")
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = sorted(points)
        coords = [px(x, y) for x, y, _, _ in points]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=3)
        for x, y, slow, fast in points:
            (cx, cy), (_, top_y), (_, bottom_y) = px(x, y), px(x, fast), px(x, slow)
            draw.line([(cx, top_y), (cx, bottom_y)], fill=colour, width=1)  # the fastest to the slowest run
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=colour)
        ly = top + 10 + 24 * index
        draw.line([(x1 + 20, ly), (x1 + 50, ly)], fill=colour, width=3)
        draw.text((x1 + 58, ly), name, fill="black", font=small, anchor="lm")
    note_y = top + 10 + 24 * len(series)
    draw.text((x1 + 20, note_y), "(dot: median; bar: all runs)", fill="#555555", font=small, anchor="lm")
    from eern_cli.images.atomic import atomic_open

    with atomic_open(Path(path)) as f:
        image.save(f, format="PNG")

"""``eern info``: versions, devices, what ``auto`` picks here, the weights in use, the model's cost."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from eern_cli.errors import EernError


def collect(weights: str | None = None) -> dict[str, Any]:
    """Everything ``eern info`` shows, as a plain dict (the ``--json`` output)."""
    import torch

    from eern_cli.bench import flops, sysinfo
    from eern_cli.engine.model import EERN
    from eern_cli.engine.scratch import feature_bytes_per_pixel
    from eern_cli.weights.hub import cache_dir
    from eern_cli.weights.loading import load_model

    facts: dict[str, Any] = {
        "software": sysinfo.software(), "devices": sysinfo.devices(), "auto": sysinfo.auto_choices()
    }
    try:
        model, loaded = load_model(weights)
        known = loaded.checkpoint
        facts["weights"] = {
            "source": loaded.source,
            "path": str(loaded.path),
            "sha256": loaded.sha256,
            "checkpoint": None if known is None else known.name,
            "license": loaded.license,
            "origin": None if known is None else known.source,
        }
    except EernError as exc:  # still show the machine; the error is part of the report
        model = EERN()
        facts["weights"] = {"error": str(exc), "spec": weights}
    count = flops.count(model)
    facts["model"] = {
        "architecture": "EERN x4 (NTIRE 2024 ESR, team 25)",
        "parameters": count.params,
        "flops": count.as_dict(),
        "tiling_scratch_bytes_per_input_pixel": {
            name: feature_bytes_per_pixel(model, dtype)
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16))
        },
    }
    facts["hub_cache"] = str(cache_dir())
    return facts


def _yes(value: object) -> str:
    return "yes" if value else "no"


def _device_lines(device: dict[str, Any]) -> str:
    if device["type"] == "cpu":
        cores = device["physical_cores"]
        return (
            f"{device['name']}: {cores if cores else '?'} cores / {device['logical_cpus']} logical CPUs, "
            f"{device['usable_cpus']} usable, torch uses {device['torch_threads']} threads\n"
            f"kernels {device['kernels'] or 'default'}; AVX-512 {_yes(device['avx512'])}; "
            f"native bf16 {_yes(device['native_bf16'])}; AMX {_yes(device['amx'])}; oneDNN {_yes(device['onednn'])}"
        )
    if device["type"] == "cuda":
        return (
            f"{device['name']}: {device['memory_gib']} GiB, compute capability {device['compute_capability']}, "
            f"{device['multiprocessors']} SMs\ncuDNN {device['cudnn']}, CUDA runtime {device['cuda_runtime']}, "
            f"bf16 {_yes(device['bf16'])}"
        )
    return device["name"]


def render(facts: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from eern_cli.bench.flops import format_count

    sw, auto, weights, model = facts["software"], facts["auto"], facts["weights"], facts["model"]
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")

    def section(title: str) -> None:
        table.add_row(f"[cyan]{title}[/]", "")

    section("eern")
    table.add_row("version", sw["eern"])
    table.add_row("python", f"{sw['python']} ({sw['python_implementation']})")
    table.add_row("torch", f"{sw['torch']} (CUDA {sw['torch_cuda'] or 'none'})")
    table.add_row("platform", sw["platform"])
    section("devices")
    for device in facts["devices"]:
        table.add_row(device["id"], _device_lines(device))
    section("auto picks here")
    table.add_row("device", auto["device"])
    table.add_row("precision", f"{auto['precision']['value']} ({auto['precision']['reason']})")
    tile = auto["tile"]["value"]
    table.add_row("tile", f"{tile} px ({auto['tile']['reason']})")
    section("weights")
    if "error" in weights:
        table.add_row("error", f"[red]{weights['error']}[/]")
    else:
        table.add_row("source", weights["source"])
        table.add_row("path", weights["path"])
        table.add_row("sha256", weights["sha256"])
        known = weights["checkpoint"]
        table.add_row("checkpoint", f"{known} (pinned)" if known else "not a known checkpoint")
        table.add_row("license", weights["license"] or "unknown (not a known checkpoint)")
    section("model")
    count = model["flops"]
    table.add_row("architecture", model["architecture"])
    table.add_row("parameters", f"{model['parameters']:,}")
    shape = "x".join(map(str, count["input_shape"]))
    table.add_row(
        "FLOPs",
        f"{format_count(count['macs'])} multiply-adds for {shape} "
        f"({format_count(count['macs_per_input_pixel'])} per input pixel; one MAC = one FLOP, as fvcore/NTIRE)",
    )
    scratch = model["tiling_scratch_bytes_per_input_pixel"]
    table.add_row("tiling scratch", f"{scratch['fp32']} B per input pixel in fp32, {scratch['bf16']} in bf16/fp16")
    section("cache")
    table.add_row("hub cache", facts["hub_cache"])
    Console(soft_wrap=False).print(table)


def info(
    weights: Annotated[
        str | None,
        typer.Option("--weights", "-w", help="Checkpoint to describe: a path or hf://OWNER/REPO/FILE[@REV]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON (for scripts).")] = False,
) -> None:
    """Show versions, devices, what 'auto' picks here, the weights in use and the model's cost."""
    facts = collect(weights)
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
    else:
        render(facts)
    if "error" in facts["weights"]:
        raise typer.Exit(1)

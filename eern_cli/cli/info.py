"""``eern info``: versions, devices, what ``auto`` picks here, the weights in use, the model's cost.

The text form is plain lines, never wrapped at the terminal's width, so that a path or a sha256 can be
copied whole; ``--json`` is the same facts for scripts, with the keys ``eern benchmark --json`` uses.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from eern_cli.cli import options
from eern_cli.errors import EernError

SCHEMA = "eern.info/1"


def collect(weights: str | None = None) -> dict[str, Any]:
    """Everything ``eern info`` shows, as a plain dict (the ``--json`` output)."""
    from eern_cli.bench import sysinfo
    from eern_cli.engine.model import EERN
    from eern_cli.weights.hub import cache_dir
    from eern_cli.weights.loading import load_model

    facts: dict[str, Any] = {"schema": SCHEMA, "software": sysinfo.software(), "machine": sysinfo.machine()}
    try:
        model, loaded = load_model(weights)
        facts["weights"] = sysinfo.weights_facts(loaded)
    except EernError as exc:  # still show the machine; the error is part of the report
        model = EERN()
        facts["weights"] = {"error": str(exc), "spec": weights}
    facts["model"] = sysinfo.model_facts(model)
    facts["hub_cache"] = str(cache_dir())
    return facts


def _yes(value: object) -> str:
    return "yes" if value else "no"


def _device_lines(device: dict[str, Any]) -> list[str]:
    if device["type"] == "cpu":
        cores = device["physical_cores"]
        return [
            f"{device['name']}: {cores if cores else '?'} cores / {device['logical_cpus']} logical CPUs, "
            f"{device['usable_cpus']} usable, torch uses {device['torch_threads']} threads",
            f"kernels {device['kernels'] or 'default'}; AVX-512 {_yes(device['avx512'])}; "
            f"native bf16 {_yes(device['native_bf16'])}; AMX {_yes(device['amx'])}; oneDNN {_yes(device['onednn'])}",
        ]
    if device["type"] == "cuda":
        return [
            f"{device['name']}: {device['memory_gib']} GiB, compute capability {device['compute_capability']}, "
            f"{device['multiprocessors']} SMs",
            f"cuDNN {device['cudnn']}, CUDA runtime {device['cuda_runtime']}, bf16 {_yes(device['bf16'])}",
        ]
    return [device["name"]]


def lines(facts: dict[str, Any]) -> list[str]:
    """The text form: a heading per section, then 'key  value' rows with the values aligned."""
    from eern_cli.bench.flops import format_count

    sw, auto, weights, model = facts["software"], facts["machine"]["auto"], facts["weights"], facts["model"]
    rows: list[tuple[str, str] | str] = ["eern"]
    rows += [("version", sw["eern"]), ("python", f"{sw['python']} ({sw['python_implementation']})"),
             ("torch", f"{sw['torch']} (CUDA {sw['torch_cuda'] or 'none'})"), ("platform", sw["platform"])]
    rows.append("devices")
    for device in facts["machine"]["devices"]:
        first, *rest = _device_lines(device)
        rows += [(device["id"], first)] + [("", line) for line in rest]
    rows.append("auto picks here")
    rows += [("device", auto["device"]),
             ("precision", f"{auto['precision']['value']} ({auto['precision']['reason']})"),
             ("tile", f"{auto['tile']['value']} px ({auto['tile']['reason']})")]
    if "channels" in auto:
        rows.append(("channels", f"{auto['channels']['value']} ({auto['channels']['reason']})"))
    rows.append("weights")
    if "error" in weights:
        rows.append(("error", weights["error"]))
    else:
        known = weights["checkpoint"]
        rows += [("source", weights["source"]), ("path", weights["path"]), ("sha256", weights["sha256"]),
                 ("checkpoint", f"{known} (pinned)" if known else "not a known checkpoint"),
                 ("license", weights["license"] or "unknown (not a known checkpoint)")]
    rows.append("model")
    count = model["flops"]
    shape = "x".join(map(str, count["input_shape"]))
    scratch = model["tiling_scratch_bytes_per_input_pixel"]
    rows += [("architecture", model["architecture"]), ("parameters", f"{model['parameters']:,}"),
             ("FLOPs", f"{format_count(count['macs'])} multiply-adds for {shape} "
                       f"({format_count(count['macs_per_input_pixel'])} per input pixel; one MAC = one FLOP, "
                       "as fvcore/NTIRE)"),
             ("tiling scratch", f"{scratch['fp32']} B per input pixel in fp32, {scratch['bf16']} in bf16/fp16")]
    rows += ["cache", ("hub cache", facts["hub_cache"])]
    width = max(len(row[0]) for row in rows if isinstance(row, tuple))
    return [row if isinstance(row, str) else f"  {row[0]:<{width}}  {row[1]}" for row in rows]


def info(weights: options.Weights = None, as_json: options.Json = False) -> None:
    """Show versions, devices, what 'auto' picks here, the weights in use and the model's cost.

    Exit codes: 0, or 1 when the weights cannot be loaded (the rest is still shown).
    """
    facts = collect(weights)
    typer.echo(json.dumps(facts, indent=2) if as_json else "\n".join(lines(facts)))
    if "error" in facts["weights"]:
        raise typer.Exit(1)

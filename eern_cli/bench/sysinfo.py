"""Facts about this machine, its software, the weights and the model, as plain dicts.

Used by ``eern info`` (to show) and ``eern benchmark`` (so every report says exactly what produced its
numbers): both JSON documents describe the same things with the same keys (``software``, ``machine``,
``weights``, ``model``), built here. Nothing here prints, and nothing here changes a setting.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from eern_cli import __version__
from eern_cli.engine.devices import (
    cpu_flags,
    cpu_has_native_bf16,
    cpu_name,
    mps_available,
    resolve_channels,
    resolve_device,
    resolve_precision,
    resolve_tile,
)

GIB = 1024**3


def physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo; None where that is not available."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores, package = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_info() -> dict[str, Any]:
    flags = cpu_flags()
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: None)()
    return {
        "id": "cpu",
        "type": "cpu",
        "name": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "usable_cpus": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "kernels": capability,  # the widest vector ISA ATen dispatches to: DEFAULT, AVX2, AVX512, ...
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "native_bf16": cpu_has_native_bf16(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": bool({"amx_bf16", "amx_tile"} & flags),
        "onednn": torch.backends.mkldnn.is_available(),
    }


def cuda_info(index: int) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    return {
        "id": f"cuda:{index}",
        "type": "cuda",
        "name": props.name,
        "memory_bytes": int(props.total_memory),
        "memory_gib": round(props.total_memory / GIB, 1),
        "compute_capability": f"{props.major}.{props.minor}",
        "multiprocessors": getattr(props, "multi_processor_count", None),
        "bf16": bool(torch.cuda.is_bf16_supported()),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_runtime": torch.version.cuda,
    }


def devices() -> list[dict[str, Any]]:
    """Every device this torch build can use here: the CPU, each CUDA GPU, MPS."""
    found = [cpu_info()]
    if torch.cuda.is_available():
        found += [cuda_info(i) for i in range(torch.cuda.device_count())]
    if mps_available():
        found.append({"id": "mps", "type": "mps", "name": "Apple GPU (Metal Performance Shaders)"})
    return found


def device_info(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return cuda_info(device.index if device.index is not None else torch.cuda.current_device())
    if device.type == "mps":
        return {"id": "mps", "type": "mps", "name": "Apple GPU (Metal Performance Shaders)"}
    return cpu_info()


def describe(info: dict[str, Any]) -> str:
    """One line for a report header: 'cpu: AMD EPYC, 2 threads, AVX512 kernels, native bf16'."""
    if info["type"] == "cuda":
        return (
            f"{info['id']}: {info['name']}, {info['memory_gib']} GiB, compute {info['compute_capability']}, "
            f"cuDNN {info['cudnn']}"
        )
    if info["type"] == "cpu":
        extras = [f"{info['torch_threads']} threads of {info['usable_cpus']} usable CPUs"]
        if info.get("kernels"):
            extras.append(f"{info['kernels']} kernels")
        extras.append("native bf16" if info["native_bf16"] else "no native bf16")
        if info["amx"]:
            extras.append("AMX")
        return f"cpu: {info['name']}, " + ", ".join(extras)
    return f"{info['id']}: {info['name']}"


def load_average() -> float | None:
    """The 1-minute load average: above the number of usable CPUs, other work competes with a benchmark."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def numeric_settings(device: torch.device) -> dict[str, Any]:
    """The torch switches that change speed or results (TF32 makes CUDA 'fp32' convolutions TF32)."""
    settings: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
    if device.type == "cuda":
        settings.update(
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
            cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
            matmul_allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
        )
    return settings


def software() -> dict[str, Any]:
    import numpy
    import PIL

    return {
        "eern": __version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
    }


def auto_choices() -> dict[str, Any]:
    """What ``--device/--precision/--tile auto`` pick on this machine, and why."""
    device = resolve_device("auto")
    precision = resolve_precision("auto", device)
    tile = resolve_tile(None, device)
    choices: dict[str, Any] = {
        "device": str(device),
        "precision": {"value": precision.value, "reason": precision.reason},
        "tile": {"value": int(tile.value), "reason": tile.reason},
    }
    if device.type == "cpu":  # the measurement behind the choice: ms per conv step for each candidate
        from eern_cli.engine.calibrate import cpu_precision

        calibration = cpu_precision()
        choices["precision"]["measured_ms"] = calibration.ms
        choices["precision"]["calibration_key"] = calibration.key
        channels = resolve_channels(precision.value, device)
        choices["channels"] = {"value": int(channels.value), "reason": channels.reason}
    return choices


def machine() -> dict[str, Any]:
    """The machine: every usable device, what ``auto`` picks here, and how busy it is."""
    return {"devices": devices(), "auto": auto_choices(), "usable_cpus": usable_cpus(), "load_average": load_average()}


def weights_facts(loaded: Any) -> dict[str, Any]:
    """The weights in use (a ``LoadedWeights``): where from, which bytes, under which licence."""
    known = loaded.checkpoint
    return {
        "source": loaded.source,
        "path": str(loaded.path),
        "sha256": loaded.sha256,
        "checkpoint": None if known is None else known.name,
        "license": loaded.license,
        "origin": None if known is None else known.source,
    }


def model_facts(model: torch.nn.Module) -> dict[str, Any]:
    """The model's size and cost: parameters, multiply-adds at the challenge's input size, tiling scratch."""
    from eern_cli.bench import flops
    from eern_cli.engine.scratch import feature_bytes_per_pixel

    count = flops.count(model).as_dict()
    parameters = count.pop("params")
    return {
        "architecture": "EERN x4 (NTIRE 2024 ESR, team 25)",
        "parameters": parameters,
        "flops": count,
        "tiling_scratch_bytes_per_input_pixel": {
            name: feature_bytes_per_pixel(model, dtype)
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16))
        },
    }

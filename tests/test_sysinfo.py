"""Facts about the machine, including a GPU faked through torch.cuda so the CUDA branch runs on a CPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from eern_cli.bench import sysinfo
from eern_cli.engine.devices import resolve_device, resolve_precision, resolve_tile


def test_cpu_is_always_listed_first() -> None:
    cpu = sysinfo.devices()[0]
    assert cpu["id"] == "cpu" and cpu["name"]
    assert cpu["torch_threads"] == torch.get_num_threads()
    assert 1 <= cpu["usable_cpus"] <= (cpu["logical_cpus"] or cpu["usable_cpus"])
    for key in ("native_bf16", "amx", "avx512", "onednn"):
        assert isinstance(cpu[key], bool)
    line = sysinfo.describe(cpu)
    assert line.startswith("cpu: ") and "threads" in line and "bf16" in line


def test_auto_choices_are_what_the_resolvers_pick() -> None:
    auto = sysinfo.auto_choices()
    device = resolve_device("auto")
    assert auto["device"] == str(device)
    assert auto["precision"]["value"] == resolve_precision("auto", device).value
    assert auto["tile"]["value"] == int(resolve_tile(None, device).value)
    assert auto["precision"]["reason"]


def test_software_and_settings() -> None:
    sw = sysinfo.software()
    assert sw["torch"] == torch.__version__ and sw["eern"]
    settings = sysinfo.numeric_settings(torch.device("cpu"))
    assert settings["torch_threads"] == torch.get_num_threads()
    cuda_settings = sysinfo.numeric_settings(torch.device("cuda"))  # reads flags only: works without a GPU
    assert cuda_settings["cudnn_allow_tf32"] == torch.backends.cudnn.allow_tf32
    load = sysinfo.load_average()
    assert load is None or load >= 0


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    props = SimpleNamespace(name="Fake H100", total_memory=80 * 1024**3, major=9, minor=0, multi_processor_count=132)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91000)


def test_cuda_devices_are_described(fake_gpu: None) -> None:
    found = sysinfo.devices()
    assert [d["id"] for d in found] == ["cpu", "cuda:0"]
    gpu = found[1]
    assert gpu["name"] == "Fake H100" and gpu["memory_gib"] == 80.0
    assert gpu["compute_capability"] == "9.0" and gpu["cudnn"] == 91000 and gpu["bf16"] is True
    assert sysinfo.device_info(torch.device("cuda")) == gpu
    assert sysinfo.describe(gpu) == "cuda:0: Fake H100, 80.0 GiB, compute 9.0, cuDNN 91000"
    assert sysinfo.auto_choices()["device"] == "cuda"
    assert sysinfo.auto_choices()["precision"]["value"] == "fp16"


def test_physical_cores_is_sane() -> None:
    cores = sysinfo.physical_cores()
    assert cores is None or 1 <= cores <= (sysinfo.devices()[0]["logical_cpus"] or cores)


def test_weights_and_model_facts_are_json_ready() -> None:
    import json

    from eern_cli.weights.checkpoints import OFFICIAL
    from eern_cli.weights.loading import load_model

    model, loaded = load_model(None)
    weights = sysinfo.weights_facts(loaded)
    assert weights["sha256"] == OFFICIAL.sha256 and weights["checkpoint"] == "official"
    facts = sysinfo.model_facts(model)
    assert facts["parameters"] == 657_432 and "params" not in facts["flops"]  # one key per number
    assert round(facts["flops"]["gmacs"], 2) == 41.21
    machine = sysinfo.machine()
    assert machine["devices"][0]["type"] == "cpu" and machine["auto"]["device"]
    json.dumps({"weights": weights, "model": facts, "machine": machine}, allow_nan=False)

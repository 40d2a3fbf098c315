"""Hostile checkpoints: files from strangers, half-downloaded files, tampered hub downloads.

What must hold: a clear ``EernError`` naming the file, no code from the file ever runs (each payload would
create a sentinel file; the tests check it does not exist), and nothing corrupt stays in the hub cache.

Builds on test_weights.py (one malicious pickle, one truncation, NaN/Inf, wrong shapes, another architecture,
a 2^40-byte safetensors header) and test_hub.py (altered and cut downloads against a loopback hub): here the
official checkpoint is cut at hundreds of offsets and bit-flipped hundreds of times in both formats, a dozen
code-execution payloads are tried through every entry point, a dozen malformed safetensors headers, a
pinned hub download with the wrong bytes, a cut download that is retried, and a downloader killed mid-body.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import pickle
import random
import struct
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hostile_helpers import (
    FAST,
    SHIPPED_WEIGHTS,
    Hub,
    address_space_limit,
    kill_mid_download,
    loopback_hub,
    record,
    smooth,
)
from PIL import Image

from eern_cli.cli.app import main
from eern_cli.errors import IntegrityError, WeightsError
from eern_cli.weights import checkpoints, hub
from eern_cli.weights.checkpoints import OFFICIAL, HubLocation
from eern_cli.weights.hub import HubRef
from eern_cli.weights.loading import load_pinned, load_weights

OFFICIAL_BYTES = SHIPPED_WEIGHTS.read_bytes()


@pytest.fixture(scope="module")
def official() -> dict[str, torch.Tensor]:
    return dict(torch.load(io.BytesIO(OFFICIAL_BYTES), map_location="cpu", weights_only=True))


@pytest.fixture(scope="module")
def safetensors_bytes(official) -> bytes:
    return safetensors.torch.save(official)


# ----------------------------------------------------------------------------------------------- cut and flipped


def _cut_points(data: bytes, rng: random.Random) -> list[int]:
    """Every offset of the first 64 bytes, around every zip member boundary, every 64 bytes of the last 4 kB
    (zip central directory), and random offsets in between."""
    points = set(range(64))
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                points.update((info.header_offset - 1, info.header_offset, info.header_offset + 1))
    points.update(range(max(0, len(data) - 4096), len(data), 64))
    points.update(len(data) - k for k in range(1, 9))
    points.update(rng.randrange(len(data)) for _ in range(100))
    return sorted(p for p in points if 0 <= p < len(data))


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_cut_checkpoint_is_always_refused_naming_the_file(tmp_path, fmt, safetensors_bytes):
    data = OFFICIAL_BYTES if fmt == "pt" else safetensors_bytes
    path = tmp_path / f"half downloaded.{fmt}"
    cuts = _cut_points(data, random.Random(f"cut-{fmt}"))
    with address_space_limit(1 << 30):
        for cut in cuts:
            path.write_bytes(data[:cut])
            with pytest.raises(WeightsError) as info:
                load_weights(path)
            assert str(path) in str(info.value), (cut, str(info.value))
    record(f"checkpoints: truncated .{fmt}", inputs=len(cuts), refused=len(cuts))


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_flipped_checkpoint_is_refused_or_loads_as_a_valid_eern_state_dict(tmp_path, fmt, safetensors_bytes):
    """A stranger's file has no pin: a flip in the tensor bytes can only be caught if it makes a value NaN/Inf;
    what must hold is that every file is either refused naming it, or a complete, finite EERN state dict.
    Half of the flips hit the first 8 kB (the pickle or the JSON header), where the parsers do their work."""
    data = OFFICIAL_BYTES if fmt == "pt" else safetensors_bytes
    rng = random.Random(f"flip-{fmt}")
    path = tmp_path / f"flipped.{fmt}"
    refused = loaded = 0
    with address_space_limit(1 << 30):
        for i in range(150):
            b = bytearray(data)
            span = 8192 if i % 2 else len(b)
            for _ in range(rng.choice((1, 1, 2, 8))):
                b[rng.randrange(span)] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(b))
            try:
                weights = load_weights(path)
            except WeightsError as exc:
                assert str(path) in str(exc)
                refused += 1
                continue
            assert len(weights.state_dict) == 54
            assert all(bool(torch.isfinite(t).all()) and t.dtype == torch.float32 for t in weights.state_dict.values())
            loaded += 1
    record(f"checkpoints: bit-flipped .{fmt}", inputs=150, refused=refused, loaded_valid=loaded)


def test_flipped_pinned_checkpoint_never_reaches_the_unpickler(tmp_path, monkeypatch):
    """The bundled checkpoint is pinned: 40 flipped copies are all refused by their sha256, and torch.load is
    never called for any of them."""
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or pytest.fail("torch.load was called"))
    rng = random.Random("pinned")
    path = tmp_path / OFFICIAL.filename
    for _ in range(40):
        b = bytearray(OFFICIAL_BYTES)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(b))
        with pytest.raises(IntegrityError, match="sha256"):
            load_pinned(path, OFFICIAL)
    assert calls == []
    record("checkpoints: bit-flipped pinned copy", inputs=40, refused=40)


def test_device_as_checkpoint_is_refused_without_reading_it():
    """--weights /dev/zero: refused from its file type; reading it would never end (a FIFO would block)."""
    with address_space_limit(1 << 30), pytest.raises(WeightsError, match="/dev/zero"):
        load_weights("/dev/zero")
    record("checkpoints: a device as --weights", inputs=1)


# ----------------------------------------------------------------------------------------------- code in pickles


class _Call:
    """Pickles as ``fn(*args)``: what an attacker's checkpoint asks the unpickler to run."""

    def __init__(self, fn, *args) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _getattr_chain_pickle(sentinel: Path) -> bytes:
    """getattr(__import__('os'), 'system')('touch SENTINEL'), in protocol-0 opcodes (no GLOBAL of os itself)."""
    return (b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V"
            + f"touch '{sentinel}'".encode() + b"\ntR.")


def _swap_data_pkl(zipped: bytes, payload: bytes) -> bytes:
    """A real torch zip checkpoint whose data.pkl is replaced by ``payload``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zipped)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info, payload if info.filename.endswith("data.pkl") else src.read(info))
    return out.getvalue()


def _payloads(sentinel: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (file name, bytes): each would create ``sentinel`` if its code ran."""
    touch = f"touch '{sentinel}'"
    evil = {
        "Path.touch": _Call(pathlib.Path.touch, sentinel),
        "os.system": _Call(os.system, touch),
        "builtins.exec": _Call(builtins.exec, f"open({str(sentinel)!r}, 'w').close()"),
        "builtins.eval": _Call(builtins.eval, f"open({str(sentinel)!r}, 'w').close()"),
        "subprocess.call": _Call(subprocess.call, ["touch", str(sentinel)]),
    }
    out: dict[str, tuple[str, bytes]] = {}
    for name, obj in evil.items():
        buf = io.BytesIO()
        torch.save({"head.weight": obj}, buf)
        out[f"torch zip, {name} as a tensor"] = ("evil.pt", buf.getvalue())
    buf = io.BytesIO()
    torch.save({"params_ema": {"body": [evil["os.system"]]}}, buf)
    out["torch zip, nested in a BasicSR wrapper"] = ("evil.pth", buf.getvalue())
    buf = io.BytesIO()
    torch.save({"head.weight": evil["Path.touch"]}, buf, _use_new_zipfile_serialization=False)
    out["legacy (pre-1.6) torch format"] = ("legacy.pt", buf.getvalue())
    for protocol in (0, 2, 5):
        out[f"bare pickle, protocol {protocol}"] = ("bare.pt", pickle.dumps(evil["os.system"], protocol=protocol))
    out["getattr(__import__('os'), 'system') chain"] = ("chain.pt", _getattr_chain_pickle(sentinel))
    out["official zip with data.pkl swapped"] = (
        "official-looking.pt", _swap_data_pkl(OFFICIAL_BYTES, pickle.dumps(evil["os.system"], protocol=2)))
    out["pickle named .safetensors"] = ("evil.safetensors", pickle.dumps(evil["os.system"], protocol=2))
    return out


_PAYLOAD_NAMES = list(_payloads(Path("/nonexistent")))


@pytest.mark.parametrize("payload", _PAYLOAD_NAMES)
def test_code_in_a_checkpoint_never_runs(tmp_path, payload):
    """Each payload would create the sentinel if unpickled unsafely: refused naming the file, nothing run."""
    sentinel = tmp_path / "pwned"
    filename, data = _payloads(sentinel)[payload]
    path = tmp_path / filename
    path.write_bytes(data)
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    assert str(path) in str(info.value)
    time.sleep(0.05)  # os.system/subprocess would have finished by now
    assert not sentinel.exists(), f"{payload}: the checkpoint's code ran"
    record("checkpoints: code-execution payloads", inputs=1, executed=int(sentinel.exists()))


def test_code_in_a_checkpoint_never_runs_through_the_cli(tmp_path, capsys):
    """``eern upscale --weights evil.pt``: one line, exit 1, nothing written, nothing run."""
    sentinel = tmp_path / "pwned"
    _, data = _payloads(sentinel)["torch zip, os.system as a tensor"]
    (tmp_path / "evil.pt").write_bytes(data)
    Image.fromarray(smooth()).save(tmp_path / "a.png")
    try:
        main(["upscale", *FAST, str(tmp_path / "a.png"), "--weights", str(tmp_path / "evil.pt")])
        code = 0
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("eern: error:") and "evil.pt" in err, err
    assert not sentinel.exists() and not (tmp_path / "a_x4.png").exists()
    record("checkpoints: code-execution payloads", inputs=1, executed=int(sentinel.exists()))


def test_refusal_says_it_would_run_code_and_never_suggests_weights_only_false(tmp_path):
    """Every payload that names a global is refused as code, including torch's 'module is blocked' wording for
    os/posix/subprocess, and the message never relays torch's advice to retry with weights_only=False."""
    wrong = []
    for payload, (filename, data) in _payloads(tmp_path / "pwned").items():
        if "protocol 5" in payload or filename.endswith(".safetensors"):
            continue  # refused as unreadable before any global is looked at
        path = tmp_path / filename
        path.write_bytes(data)
        with pytest.raises(WeightsError) as info:
            load_weights(path)
        text = str(info.value)
        if "run code" not in text or "weights_only" in text:
            wrong.append(f"{payload}: {text[:160]}")
    assert wrong == []


# ----------------------------------------------------------------------------------------------- safetensors


def _st(header: object, body: bytes = b"", *, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


BAD_HEADERS = {
    "empty file": b"",
    "7 bytes": b"\x01" * 7,
    "length beyond the file": _st({}, length=10_000),
    "length 2^63": _st({}, length=2**63),
    "length 2^64-1": _st({}, length=2**64 - 1),
    "not JSON": _st(b"\xff\xfe not json at all"),
    "JSON list": _st([1, 2, 3]),
    "offsets beyond the data": _st({"head.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
    "shape larger than its bytes": _st({"head.weight": {"dtype": "F32", "shape": [10**6, 10**6],
                                                        "data_offsets": [0, 8]}}, b"\0" * 8),
    "negative shape": _st({"head.weight": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
    "unknown dtype": _st({"head.weight": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
    "overlapping tensors": _st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
    "valid file, no tensors": _st({"__metadata__": {"format": "pt"}}),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_malformed_safetensors_is_refused_quickly_in_bounded_memory(tmp_path, case):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(BAD_HEADERS[case])
    started = time.monotonic()
    with address_space_limit(512 << 20), pytest.raises(WeightsError) as info:
        load_weights(path)
    assert str(path) in str(info.value) and time.monotonic() - started < 2
    record("checkpoints: malformed safetensors headers", inputs=1, refused=1)


# ----------------------------------------------------------------------------------------------- the hub


COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
REPO_ID = "stranger/eern-x4"


@pytest.fixture
def fake_hub(monkeypatch, tmp_path) -> Iterator[Hub]:
    with loopback_hub(REPO_ID, COMMIT) as state:
        monkeypatch.setenv("HF_ENDPOINT", state.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        yield state


def _cache(tmp_path: Path) -> Path:
    return tmp_path / "hf" / "hub" / f"models--{REPO_ID.replace('/', '--')}"


def _blobs(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    """(complete blobs, partial downloads) in the repository's cache."""
    folder = _cache(tmp_path) / "blobs"
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    partial = [p for p in files if p.name.endswith(".incomplete")]
    return [p for p in files if p not in partial], partial


def test_pinned_hub_download_with_other_bytes_is_refused_before_unpickling(fake_hub, tmp_path, monkeypatch):
    """The hub serves a code-execution pickle (with a matching ETag: the server is the attacker) where eern
    pins the official checkpoint: refused by the pinned sha256, evicted from the cache, never unpickled;
    once the server has the right file, the same command works."""
    sentinel = tmp_path / "pwned"
    _, evil = _payloads(sentinel)["torch zip, os.system as a tensor"]
    fake_hub.files[OFFICIAL.filename] = evil
    pin = dataclasses.replace(OFFICIAL, hub=HubLocation(REPO_ID, COMMIT))
    monkeypatch.setattr(checkpoints, "for_hub", lambda repo, name, rev, known=None: pin if repo == REPO_ID else None)
    spec = f"hf://{REPO_ID}/{OFFICIAL.filename}"
    with pytest.raises(IntegrityError) as info:
        load_weights(spec)
    assert "pinned sha256" in str(info.value) and OFFICIAL.sha256 in str(info.value)
    assert not sentinel.exists()
    assert _blobs(tmp_path) == ([], []), "the mismatching download stayed in the cache"
    fake_hub.files[OFFICIAL.filename] = OFFICIAL_BYTES
    loaded = load_weights(spec)
    assert loaded.sha256 == OFFICIAL.sha256 and loaded.checkpoint is OFFICIAL
    record("hub: pinned sha256 mismatch", inputs=1, faults=1, refused=1)


def test_unpinned_hub_pickle_with_code_is_refused_and_does_not_run(fake_hub, tmp_path):
    """A hub file with no pin, whose ETag matches (the server is the attacker): the unpickler still refuses it."""
    sentinel = tmp_path / "pwned"
    _, evil = _payloads(sentinel)["torch zip, Path.touch as a tensor"]
    fake_hub.files["model.pt"] = evil
    with pytest.raises(WeightsError, match="run code"):
        load_weights(f"hf://{REPO_ID}/model.pt")
    assert not sentinel.exists()
    record("checkpoints: code-execution payloads", inputs=1, executed=0)


def test_download_cut_in_the_middle_then_retried(fake_hub, tmp_path):
    """The connection drops half-way through the body (huggingface_hub resumes once within the call, and this
    server answers the resume in full): the call succeeds with the right bytes and no partial file is left."""
    fake_hub.files["eern.pt"] = payload = random.Random(5).randbytes(256 * 1024)
    fake_hub.mode = "cut-once"
    path = hub.download(HubRef(REPO_ID, "eern.pt"))
    assert path.read_bytes() == payload and fake_hub.gets >= 2
    complete, partial = _blobs(tmp_path)
    assert [p.name for p in complete] == [hashlib.sha256(payload).hexdigest()] and partial == []
    record("hub: download cut in the middle, retried", inputs=1, faults=1)


def test_downloader_killed_mid_body_leaves_nothing_usable_and_the_next_run_succeeds(fake_hub, tmp_path):
    """kill -9 while the body streams: no blob under its final name, no snapshot link; the next run downloads
    afresh, verifies it, and the cache holds exactly the right blob."""
    payload = random.Random(6).randbytes(512 * 1024)
    sha = hashlib.sha256(payload).hexdigest()
    kill_mid_download(fake_hub, tmp_path / "hf", "eern.pt", payload)
    complete, _ = _blobs(tmp_path)
    assert complete == [] and not (_cache(tmp_path) / "snapshots" / COMMIT / "eern.pt").exists()
    path = hub.download(HubRef(REPO_ID, "eern.pt"))
    assert path.read_bytes() == payload and path.resolve().name == sha
    record("hub: downloader killed -9 mid-body", inputs=1, faults=1, kill9=1)


def test_no_partial_download_is_left_in_the_cache_after_a_kill_and_a_successful_rerun(fake_hub, tmp_path):
    """The orphan <sha>.<hex>.incomplete of a killed download is removed once a later download completes."""
    payload = random.Random(7).randbytes(512 * 1024)
    kill_mid_download(fake_hub, tmp_path / "hf", "eern.pt", payload)
    hub.download(HubRef(REPO_ID, "eern.pt"))
    assert _blobs(tmp_path)[1] == []

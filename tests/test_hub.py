"""hub.download against a real loopback HTTP server that speaks just enough of the Hub protocol.

No mocks: huggingface_hub talks HTTP to a ``ThreadingHTTPServer`` on 127.0.0.1, and the files land in a real
cache under ``tmp_path``. The server can misbehave on purpose (404s, 500, truncated or altered bodies).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers_http import QuietHandler

from eern_cli.errors import (
    DownloadError,
    IntegrityError,
    UsageError,
    WeightsNotFoundError,
)
from eern_cli.weights import hub
from eern_cli.weights.checkpoints import OFFICIAL
from eern_cli.weights.hub import HubRef, parse_ref
from eern_cli.weights.loading import load_weights

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "eern/eern-x4"
PAYLOAD = bytes(range(256)) * 256  # 64 KiB, deterministic
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / OFFICIAL.filename


@dataclass
class FakeHub:
    """Files served per (repo_id, filename); ``modes`` makes one file misbehave; ``log`` records requests."""

    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def requests(self) -> list[str]:
        return [method for method, *_ in self.log]

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def _handler(state: FakeHub) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self, *, body: bool) -> None:
            rng = self.headers.get("Range")
            state.log.append((self.command, self.path, rng, self.headers.get("Authorization")))
            parts = unquote(self.path).lstrip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return self._error(404, "RepoNotFound")
            repo_id, rev, filename = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
            if not any(r == repo_id for r, _ in state.files):
                return self._error(404, "RepoNotFound")
            if rev not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound")
            if (repo_id, filename) not in state.files:
                return self._error(404, "EntryNotFound", commit=True)
            data = state.files[(repo_id, filename)]
            mode = state.modes.get(filename, "ok")
            if mode == "head500" or (mode == "get500" and body):
                return self._error(500, None)
            etag = "a" * 40 if mode == "git-etag" else hashlib.sha256(data).hexdigest()
            if mode == "corrupt":  # same length, same ETag, different bytes
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            if mode == "truncate" and body and any(m == "GET" for m, *_ in state.log[:-1]):
                mode = "short"  # the library retries a dropped body once after 1 s: then end cleanly but short
            self.send_response(200)
            if not (mode == "no-commit"):
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{etag}"')
            sent = data[: len(data) // 2] if body and mode in ("truncate", "truncate-always", "short") else data
            length = len(sent) if mode == "short" and body else len(data)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if body:
                self.wfile.write(sent)
                self.wfile.flush()
            if mode.startswith("truncate"):  # Content-Length promised more: drop the connection
                self.close_connection = True

        def _error(self, status: int, code: str | None, *, commit: bool = False) -> None:
            self.send_response(status)
            if code:
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
            if commit:
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    state = FakeHub(files={(REPO, "eern.pt"): PAYLOAD})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.server, state.url = server, f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_TOKEN", "hf_eern_test_token")
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield state
    try:
        state.stop()
    except OSError:
        pass
    thread.join(timeout=5)


def _repo_cache(tmp_path: Path) -> Path:
    return tmp_path / "hf" / "hub" / "models--eern--eern-x4"


def _complete_blobs(tmp_path: Path) -> list[Path]:
    blobs = _repo_cache(tmp_path) / "blobs"
    return sorted(p for p in blobs.glob("*") if not p.name.endswith(".incomplete")) if blobs.is_dir() else []


REF = HubRef(REPO, "eern.pt")
SHA = hashlib.sha256(PAYLOAD).hexdigest()


# --- parsing --------------------------------------------------------------------------------------------


def test_parse_ref() -> None:
    assert parse_ref("hf://eern/eern-x4/eern.pt") == HubRef("eern/eern-x4", "eern.pt", None)
    ref = parse_ref(f"hf://eern/eern-x4/sub/dir/w.safetensors@{COMMIT}")
    assert ref == HubRef("eern/eern-x4", "sub/dir/w.safetensors", COMMIT)
    assert str(ref) == f"hf://eern/eern-x4/sub/dir/w.safetensors@{COMMIT}"
    assert parse_ref("hf://o/r/f.pt@v1.0").revision == "v1.0"


@pytest.mark.parametrize(
    "spec",
    [
        "hf://",
        "hf://owner",
        "hf://owner/repo",
        "hf://owner/repo/",
        "hf://owner//file.pt",
        "hf://owner/repo/a//b.pt",
        "hf://owner/repo/file.pt@",
        "hf://owner/repo/../file.pt",
        "hf://datasets/repo/file.pt",
        "hf://bad--name/repo/file.pt",
        "https://huggingface.co/owner/repo/file.pt",
    ],
)
def test_parse_ref_rejects_malformed(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_ref(spec)


# --- success and the cache ------------------------------------------------------------------------------


def test_download_lands_in_hf_cache_verified(fake_hub: FakeHub, tmp_path: Path) -> None:
    path = hub.download(REF)
    assert path == _repo_cache(tmp_path) / "snapshots" / COMMIT / "eern.pt"
    assert path.read_bytes() == PAYLOAD
    assert path.resolve() == _repo_cache(tmp_path) / "blobs" / SHA
    assert (_repo_cache(tmp_path) / "refs" / "main").read_text() == COMMIT
    assert fake_hub.requests() == ["HEAD", "HEAD", "GET"]  # a cold download: one probe, then the library's
    assert all(auth == "Bearer hf_eern_test_token" for *_, auth in fake_hub.log)  # HF_TOKEN honoured


def test_hf_hub_cache_is_read_at_call_time(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    path = hub.download(REF, expected_sha256=SHA)
    assert path.is_relative_to(tmp_path / "elsewhere") and path.read_bytes() == PAYLOAD


def test_cache_hits(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    first = hub.download(REF)
    assert hub.download(REF) == first and fake_hub.requests() == ["HEAD", "HEAD", "GET", "HEAD"]
    assert hub.download(HubRef(REPO, "eern.pt", COMMIT)) == first  # a pinned commit in cache: no request
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.download(REF) == first
    assert fake_hub.requests() == ["HEAD", "HEAD", "GET", "HEAD"]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    fake_hub.stop()
    assert hub.download(REF) == first and first.read_bytes() == PAYLOAD  # server gone: refs/main in cache


def test_head_500_with_warm_cache_serves_cache(fake_hub: FakeHub) -> None:
    first = hub.download(REF)
    fake_hub.modes["eern.pt"] = "head500"
    assert hub.download(REF) == first
    assert fake_hub.requests() == ["HEAD", "HEAD", "GET", "HEAD"]  # no probe, no retries: the cache answers


def test_offline_cold_cache(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        hub.download(REF)
    assert "offline" in str(info.value) and info.value.hint == "run once online or use weights=PATH"
    assert fake_hub.log == []


# --- not found ------------------------------------------------------------------------------------------


def test_not_found_errors_are_distinct(fake_hub: FakeHub, tmp_path: Path) -> None:
    messages = []
    for ref in (HubRef(REPO, "missing.pt"), HubRef("eern/nope", "eern.pt"), HubRef(REPO, "eern.pt", "v9")):
        with pytest.raises(WeightsNotFoundError) as info:
            hub.download(ref)
        messages.append(info.value.message)
    assert "file 'missing.pt' not found" in messages[0]
    assert "repository eern/nope not found" in messages[1]
    assert "revision 'v9' not found" in messages[2]
    assert _complete_blobs(tmp_path) == []


# --- server and network failures ------------------------------------------------------------------------


def test_get_500_is_a_download_error(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.modes["eern.pt"] = "get500"
    with pytest.raises(DownloadError, match="HTTP 500"):
        hub.download(REF)
    assert _complete_blobs(tmp_path) == []


@pytest.mark.soak  # huggingface_hub retries a failed HEAD with backoff (1+2+4+8+8 s) before giving up
def test_head_500_cold_cache_is_a_download_error(fake_hub: FakeHub) -> None:
    fake_hub.modes["eern.pt"] = "head500"
    with pytest.raises(DownloadError, match="could not reach"):
        hub.download(REF)


def test_unreachable_hub_fails_after_one_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HF_HUB_OFFLINE, a refused connection cost 23.4 s of the library's retries before our message."""
    with socket.socket() as probe:  # a loopback port that nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="could not reach .* and it is not cached") as info:
        hub.download(REF)
    assert time.monotonic() - started < 3
    assert "HF_HUB_OFFLINE=1" in info.value.hint


@pytest.mark.parametrize("mode", ["truncate", "short"])
def test_truncated_body_leaves_no_blob(fake_hub: FakeHub, tmp_path: Path, mode: str) -> None:
    fake_hub.modes["eern.pt"] = mode
    started = time.monotonic()
    with pytest.raises(DownloadError, match="was cut short"):
        hub.download(REF)
    assert time.monotonic() - started < 10  # one 1 s resume pause in the library for "truncate", none for "short"
    assert fake_hub.requests() == ["HEAD", "HEAD", "GET", "GET"] if mode == "truncate" else ["HEAD", "HEAD", "GET"]
    assert _complete_blobs(tmp_path) == []
    assert not (_repo_cache(tmp_path) / "snapshots" / COMMIT / "eern.pt").exists()


@pytest.mark.soak  # a server that drops every body: the library retries 5 times, 1 s apart
def test_always_truncated_body_is_a_download_error(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.modes["eern.pt"] = "truncate-always"
    with pytest.raises(DownloadError, match="peer closed connection"):
        hub.download(REF)
    assert _complete_blobs(tmp_path) == []


def test_not_a_hub_endpoint(fake_hub: FakeHub) -> None:
    fake_hub.modes["eern.pt"] = "no-commit"
    with pytest.raises(DownloadError, match="did not answer like a Hugging Face Hub"):
        hub.download(REF)


# --- integrity ------------------------------------------------------------------------------------------


def test_altered_body_is_refused_and_evicted(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.modes["eern.pt"] = "corrupt"
    with pytest.raises(IntegrityError) as info:
        hub.download(REF)
    assert "hf://eern/eern-x4/eern.pt" in str(info.value) and SHA in str(info.value)
    assert _complete_blobs(tmp_path) == []
    assert not (_repo_cache(tmp_path) / "snapshots" / COMMIT / "eern.pt").is_symlink()
    fake_hub.modes.clear()  # the server is fixed: the next call downloads afresh
    assert hub.download(REF).read_bytes() == PAYLOAD


def test_expected_sha256_mismatch_is_refused_and_evicted(fake_hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="expected sha256"):
        hub.download(REF, expected_sha256="0" * 64)
    assert _complete_blobs(tmp_path) == []
    assert hub.download(REF, expected_sha256=SHA.upper()).read_bytes() == PAYLOAD


def test_expected_sha256_must_be_hex() -> None:
    with pytest.raises(UsageError):
        hub.download(REF, expected_sha256="abc")


def test_git_etag_is_not_mistaken_for_sha256(fake_hub: FakeHub) -> None:
    fake_hub.modes["eern.pt"] = "git-etag"  # a 40-hex ETag (non-LFS file): nothing to compare with
    assert hub.download(REF).read_bytes() == PAYLOAD


# --- through weights.load_weights -----------------------------------------------------------------------


def test_load_weights_from_hub(fake_hub: FakeHub) -> None:
    fake_hub.files[(REPO, "team25_EERN.pt")] = SHIPPED.read_bytes()
    spec = f"hf://{REPO}/team25_EERN.pt"
    loaded = load_weights(spec)
    assert loaded.source == spec and loaded.checkpoint is OFFICIAL and loaded.license == "MIT"
    assert loaded.path.name == "team25_EERN.pt" and loaded.sha256 == OFFICIAL.sha256
    assert len(loaded.state_dict) == 54

"""Shared by the hostile-input and fault-injection tests (``tests/test_hostile_*.py``) and ``benchmarks/soak.py``.

Three kinds of tools:

* hostile inputs: a tiny sample of every image kind eern reads, cut at every byte or bit-flipped; images whose
  header lies (decompression bombs, 0-sized, grown canvases); checkpoints cut and flipped;
* guards that keep an attack from taking the test machine down with it: ``address_space_limit`` turns a
  runaway allocation into a ``MemoryError`` instead of a visit from the OOM killer;
* fault trials on real ``eern upscale`` processes (kill -9, SIGINT, SIGTERM at random moments) and the checks
  that must hold after each: every output that exists decodes completely and equals what a clean run writes,
  no temporary file after a clean or interrupted exit, and a re-run completes the batch.

``EERN_HOSTILE_FIGURES=FILE`` makes the tests append what they tried (inputs, faults, kill -9 trials) as JSON
lines to FILE, for the summary table.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from helpers_http import QuietHandler
from helpers_images import (
    FAST,
    REPO,
    cli_env,
    decodes_completely,
    disk_rgba,
    eern_cmd,
    encoded,
    smooth,
)
from PIL import Image

from eern_cli.images import atomic, bit16, png_writer

__all__ = ["FAST", "REPO", "cli_env", "decodes_completely", "eern_cmd", "encoded", "smooth"]

SIZE = (20, 16)  # the model takes ~20 ms on an image this small
SHIPPED_WEIGHTS = REPO / "weights" / "team25_EERN.pt"


# ----------------------------------------------------------------------------------------------- figures


def record(category: str, **counts) -> None:
    """Append one line of figures (inputs tried, faults injected, kill -9 trials ...) for the summary table."""
    target = os.environ.get("EERN_HOSTILE_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps({"category": category, **counts}) + "\n")


# ----------------------------------------------------------------------------------------------- image samples


def _frames(fmt: str, count: int = 3, **params) -> bytes:
    ims = [Image.fromarray(smooth(*SIZE, seed=i)) for i in range(count)]
    buf = io.BytesIO()
    ims[0].save(buf, fmt, save_all=True, append_images=ims[1:], **params)
    return buf.getvalue()


def samples() -> dict[str, tuple[str, bytes]]:
    """A tiny valid file of every kind eern reads: name -> (extension, bytes)."""
    rgb = smooth(*SIZE)
    png16, tif16 = io.BytesIO(), io.BytesIO()
    png_writer.write_png(png16, smooth(*SIZE, dtype=np.uint16))
    bit16.write_tiff16(tif16, [smooth(*SIZE, dtype=np.uint16)])
    return {
        "png": (".png", encoded(rgb)),
        "png-rgba": (".png", encoded(disk_rgba(SIZE[0]))),
        "png-grey": (".png", encoded(smooth(*SIZE, channels=1))),
        "png-palette": (".png", encoded(Image.fromarray(rgb).quantize(32))),
        "png-16bit": (".png", png16.getvalue()),
        "apng": (".png", _frames("PNG", duration=40)),
        "jpeg": (".jpg", encoded(rgb, "JPEG", quality=90)),
        "jpeg-progressive": (".jpg", encoded(rgb, "JPEG", quality=90, progressive=True)),
        "webp": (".webp", encoded(rgb, "WEBP")),
        "webp-lossless": (".webp", encoded(rgb, "WEBP", lossless=True)),
        "webp-anim": (".webp", _frames("WEBP", duration=40)),
        "tiff": (".tif", encoded(rgb, "TIFF")),
        "tiff-deflate": (".tif", encoded(rgb, "TIFF", compression="tiff_adobe_deflate")),
        "tiff-16bit": (".tif", tif16.getvalue()),
        "tiff-pages": (".tif", _frames("TIFF")),
        "bmp": (".bmp", encoded(rgb, "BMP")),
        "gif": (".gif", encoded(Image.fromarray(rgb).quantize(64), "GIF")),
        "gif-anim": (".gif", _frames("GIF", duration=40)),
    }


def bit_flips(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """``count`` copies of ``data`` with 1 to 8 random bits flipped."""
    out = []
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 1, 2, 4, 8))):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    return out


def frames_of(decoded) -> list[tuple[np.ndarray, np.ndarray | None]]:
    return [(f.color, f.alpha) for f in decoded.frames]


def same_frames(a, b) -> bool:
    if len(a) != len(b):
        return False
    for (c1, a1), (c2, a2) in zip(a, b, strict=True):
        if c1.shape != c2.shape or c1.dtype != c2.dtype or not np.array_equal(c1, c2):
            return False
        if (a1 is None) != (a2 is None) or (a1 is not None and not np.array_equal(a1, a2)):
            return False
    return True


# ----------------------------------------------------------------------------------------------- crafted files


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int, body: bytes = b"") -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` RGB, followed by ``body`` (maybe nothing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + body


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG declaring a huge image (its body is a few zero rows, then IEND)."""
    return png_header_only(width, height, png_chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + png_chunk(b"IEND", b""))


def write_big_png(path: Path, width: int, height: int) -> Path:
    """A real, decodable width x height RGB PNG, streamed row by row (8000 x 8000 takes ~0.6 s, 0.75 MB)."""
    comp = zlib.compressobj(6)
    row = b"\0" + bytes((x * 7) & 0xFF for x in range(width * 3))
    with open(path, "wb") as f:
        f.write(png_header_only(width, height))
        parts = [comp.compress(row) for _ in range(height)]
        parts.append(comp.flush())
        f.write(png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b""))
    return path


def gif_with_grown_canvas(width: int, height: int) -> bytes:
    """A 2-frame 20x16 GIF whose second frame's descriptor says it sits at (0, 0) and is ``width`` x ``height``:
    Pillow grows the canvas to that size when it reaches the frame (as one flipped bit did in the fuzzer)."""
    data = bytearray(_frames("GIF", 2, duration=40))
    # The second image descriptor: 0x2C, left, top, width, height (little-endian uint16 each).
    at = data.index(b"\x2c", data.index(b"\x21\xf9", data.index(b"\x2c") + 1))
    data[at + 1 : at + 9] = struct.pack("<HHHH", 0, 0, width, height)
    return bytes(data)


def tiff_with_big_second_page(width: int, height: int) -> bytes:
    """A 2-page TIFF: a 20x16 first page, and a real ``width`` x ``height`` second page."""
    first = Image.fromarray(smooth(*SIZE))
    second = Image.new("RGB", (width, height), (90, 120, 150))
    buf = io.BytesIO()
    first.save(buf, "TIFF", save_all=True, append_images=[second], compression="tiff_adobe_deflate")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------- memory guard


def _status_kib(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def address_space_limit(extra: int = 2 << 30) -> Iterator[None]:
    """Within the block, this process may map at most ``extra`` more bytes: an attack that allocates without
    bound gets a ``MemoryError`` instead of the machine's OOM killer. Restored afterwards (the soft limit only)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _status_kib("VmSize") * 1024 + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def limit_address_space(nbytes: int):
    """A ``preexec_fn`` for a child process: at most ``nbytes`` of address space."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, resource.RLIM_INFINITY))

    return apply


# ----------------------------------------------------------------------------------------------- batches


def make_batch(root: Path, count: int, *, size: tuple[int, int] = SIZE, seed: int = 0) -> Path:
    """``root/in`` with ``count`` small PNGs (varied content)."""
    src = root / "in"
    src.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(smooth(*size, seed=seed + i)).save(src / f"img{i:03d}.png")
    return src


def finals(out: Path) -> list[Path]:
    """Files under their final names (not eern temporaries)."""
    if not out.exists():
        return []
    return sorted(p for p in out.iterdir() if p.is_file() and not atomic.is_temp(p.name))


def temps(out: Path, pid: int | None = None) -> list[Path]:
    """eern's temporary files in ``out`` (only those of process ``pid`` if given)."""
    if not out.exists():
        return []
    found = sorted(p for p in out.iterdir() if atomic.is_temp(p.name))
    return found if pid is None else [p for p in found if int(atomic.TEMP_RE.match(p.name).group(1)) == pid]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA") if im.mode == "P" else im).copy()


def clean_run(src: Path, out: Path, *extra: str, env: dict | None = None) -> dict[str, np.ndarray]:
    """Run ``eern upscale src -o out`` once without faults and return every output's pixels, by name."""
    result = subprocess.run(eern_cmd(str(src), "-o", str(out), *FAST, *extra), capture_output=True,
                            env=env or cli_env(), cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return {p.name: pixels(p) for p in finals(out)}


def output_problems(out: Path, reference: dict[str, np.ndarray]) -> list[str]:
    """What is wrong with the outputs that exist: not decodable to the end, unknown, or not the clean result."""
    problems = []
    for path in finals(out):
        if path.name not in reference:
            problems.append(f"{path.name}: not an output of a clean run")
        elif not decodes_completely(path):
            problems.append(f"{path.name}: does not decode completely (half-written)")
        elif not np.array_equal(pixels(path), reference[path.name]):
            problems.append(f"{path.name}: differs from the clean run's output")
    return problems


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@dataclass
class Trial:
    """One run of ``eern upscale`` stopped by a signal at a moment chosen by the RNG, and what it left."""

    sig: str
    moment: str
    returncode: int | None
    outputs: int
    temps: int
    problems: list[str] = field(default_factory=list)
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def signal_trial(src: Path, out: Path, sig: int, rng: random.Random, reference: dict[str, np.ndarray], *,
                 early: bool = True, second_signal: bool = False, extra: tuple[str, ...] = ()) -> Trial:
    """Start a batch, send ``sig`` at a random moment, wait for the process, check what it left.

    Moments: "blind" (uniform from 0 to 3 s after the start: import, planning, model loading or the batch
    itself) when ``early``, else "anchored" (once an output or a temporary file exists, plus 0-300 ms, so most
    land during a write). ``second_signal`` sends the same signal again 20-80 ms later (an impatient Ctrl-C).
    """
    delay = rng.choice(("0", "0.02", "0.1", "0.25"))
    env = cli_env(EERN_TEST_ENCODE_DELAY=delay)
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST, *extra), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = {p.name for p in finals(out)}
    try:
        if early and rng.random() < 0.5:
            moment = f"blind {rng.uniform(0.0, 3.0):.2f}s"
            time.sleep(float(moment.split()[1][:-1]))
        else:
            _wait_for(lambda: proc.poll() is not None or len({p.name for p in finals(out)} - before) > 0
                      or bool(temps(out, proc.pid)), timeout=60)
            pause = rng.uniform(0.0, 0.3)
            moment = f"anchored +{pause:.2f}s"
            time.sleep(pause)
        if proc.poll() is None:
            proc.send_signal(sig)
            if second_signal:
                time.sleep(rng.uniform(0.02, 0.08))
                if proc.poll() is None:
                    proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.decode(errors="replace")
    # Temporaries of earlier kill -9 trials may still be there (the next run that gets going sweeps them):
    # only this process's own count against a clean or interrupted exit.
    trial = Trial(signal.Signals(sig).name, moment, proc.returncode, len(finals(out)), len(temps(out, proc.pid)),
                  output_problems(out, reference), stderr)
    if sig != signal.SIGKILL:
        if trial.temps:
            trial.problems.append(f"{trial.temps} temporary file(s) left after {trial.sig} (exit {proc.returncode})")
        if "Traceback" in stderr:
            trial.problems.append(f"a traceback after {trial.sig}: {stderr[-400:]}")
        if proc.returncode not in (0, 130, -sig):
            trial.problems.append(f"exit code {proc.returncode} after {trial.sig}")
        if proc.returncode == 130 and "Interrupted:" not in stderr and "interrupted" not in stderr:
            trial.problems.append("exit 130 without saying it was interrupted")
    return trial


def rerun_problems(src: Path, out: Path, reference: dict[str, np.ndarray], *extra: str) -> list[str]:
    """A fault-free re-run of the same command must complete the batch and leave no temporary file."""
    result = subprocess.run(eern_cmd(str(src), "-o", str(out), *FAST, *extra), capture_output=True,
                            env=cli_env(), cwd=REPO, timeout=300)
    problems = []
    if result.returncode != 0:
        problems.append(f"re-run exit {result.returncode}: {result.stderr.decode(errors='replace')[-400:]}")
    names = {p.name for p in finals(out)}
    if names != set(reference):
        missing = sorted(set(reference) - names)
        problems.append(f"re-run left {len(names)} of {len(reference)} outputs; missing {missing}")
    if temps(out):
        problems.append(f"re-run left temporary files {[p.name for p in temps(out)]}")
    return problems + output_problems(out, reference)


# ----------------------------------------------------------------------------------------------- a loopback hub


@dataclass
class Hub:
    """A loopback server speaking just enough of the Hub protocol; ``mode`` makes it misbehave."""

    repo_id: str
    commit: str
    files: dict[str, bytes] = field(default_factory=dict)
    mode: str = "ok"  # ok | cut-once (the first GET drops half-way) | slow (4 kB per 10 ms)
    sent: int = 0  # body bytes sent by GETs so far
    gets: int = 0
    url: str = ""


def _hub_handler(state: Hub):
    class Handler(QuietHandler):
        def _serve(self, *, body: bool) -> None:
            parts = unquote(self.path).lstrip("/").split("/")
            name = "/".join(parts[4:])
            if len(parts) < 5 or f"{parts[0]}/{parts[1]}" != state.repo_id or name not in state.files:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", state.commit)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = state.files[name]
            self.send_response(200)
            self.send_header("X-Repo-Commit", state.commit)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not body:
                return
            state.gets += 1
            if state.mode == "cut-once" and state.gets == 1:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True  # Content-Length promised more: the connection drops
                return
            step = 4096
            for start in range(0, len(data), step):
                try:
                    self.wfile.write(data[start : start + step])
                    self.wfile.flush()
                except OSError:  # the client went away (killed)
                    return
                state.sent += min(step, len(data) - start)
                if state.mode == "slow":
                    time.sleep(0.01)

    return Handler


@contextlib.contextmanager
def loopback_hub(repo_id: str, commit: str) -> Iterator[Hub]:
    state = Hub(repo_id, commit)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _hub_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


_DOWNLOADER = """
import sys
from eern_cli.weights import hub
hub.download(hub.HubRef(sys.argv[1], sys.argv[2]))
"""


def kill_mid_download(state: Hub, hf_home: Path, filename: str, payload: bytes, *, at: float = 0.25) -> int:
    """Serve ``payload`` slowly to a downloader process and kill -9 it once ``at`` of the body has gone out.
    Returns the bytes sent before the kill."""
    state.files[filename] = payload
    state.mode, state.sent = "slow", 0
    env = cli_env(HF_ENDPOINT=state.url, HF_HOME=str(hf_home), HF_HUB_DISABLE_XET="1")
    proc = subprocess.Popen([sys.executable, "-c", _DOWNLOADER, state.repo_id, filename], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while state.sent < len(payload) * at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    err = proc.communicate(timeout=30)[1].decode(errors="replace")
    assert alive, f"the downloader ended before the kill: {err[-400:]}"
    sent = state.sent
    assert sent < len(payload), "killed too late: the download had finished"
    state.mode = "ok"
    return sent

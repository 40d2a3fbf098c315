"""Atomic writes: complete or absent, temp files always cleaned, OS errors turned into clear messages."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers_images import REPO, cli_env

from eern_cli.errors import OutputError
from eern_cli.images import atomic


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if atomic.is_temp(p.name)]


def test_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    atomic.atomic_write(target, lambda f: f.write(b"new content"))
    assert target.read_bytes() == b"new content"
    assert _leftovers(tmp_path) == []


def test_temp_name_is_hidden_in_the_same_folder(tmp_path):
    name = atomic.temp_name(tmp_path / "photo.png")
    assert name.parent == tmp_path and name.name.startswith(".photo.png.eern-")
    assert atomic.is_temp(name.name) and not atomic.is_temp("photo.png")
    long = atomic.temp_name(tmp_path / ("x" * 250 + ".png"))
    assert len(long.name) < 255


def test_exception_keeps_old_content_and_removes_temp(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def fails(f):
        f.write(b"partial")
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(target, fails)
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_failed_rename_keeps_old_content(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match="out.png"):
        atomic.atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_keyboard_interrupt_removes_temp(tmp_path):
    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(tmp_path / "x.png", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_cancel_stops_the_next_write(tmp_path):
    cancel = threading.Event()

    def writer(f):
        f.write(b"first")
        cancel.set()
        f.write(b"second")

    with pytest.raises(atomic.Cancelled):
        atomic.atomic_write(tmp_path / "x.png", writer, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_pillow_writes_through_the_guard(tmp_path):
    """Pillow must not bypass write() through fileno(), or cancellation could not stop an encode."""
    from PIL import Image

    with atomic.atomic_open(tmp_path / "a.png") as f:
        assert not hasattr(f, "fileno")
        Image.new("RGB", (8, 8)).save(f, format="PNG")
    Image.open(tmp_path / "a.png").load()


@pytest.mark.parametrize("code,words", [
    (errno.ENOSPC, "no space left"), (errno.EFBIG, "too large"), (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only"),
])
def test_os_errors_become_clear_messages(tmp_path, code, words):
    err = atomic.output_error(OSError(code, os.strerror(code)), tmp_path / "o.png")
    assert words in str(err) and "o.png" in str(err) and err.hint


def test_sweep_removes_temps_of_dead_runs_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stale = tmp_path / f".a.png.eern-{dead_pid}-0123abcd.tmp"
        live = tmp_path / f".b.png.eern-{sleeper.pid}-0123abcd.tmp"
        old = tmp_path / f".c.png.eern-{sleeper.pid}-89abcdef.tmp"
        mine = atomic.temp_name(tmp_path / "d.png")
        other = tmp_path / "keep.png"
        for p in (stale, live, old, mine, other):
            p.write_bytes(b"x")
        past = time.time() - atomic.STALE_AFTER_S - 60
        os.utime(old, (past, past))
        removed = atomic.sweep_stale_temps(tmp_path)
        assert sorted(p.name for p in removed) == sorted([stale.name, old.name])
        assert live.exists() and mine.exists() and other.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_remove_temps_of_takes_every_temp_of_that_output_and_nothing_else(tmp_path):
    """A cluster driver's clean-up after a worker died writing a.png: any pid (it may be another node's)."""
    theirs = tmp_path / f".a.png.eern-{os.getpid()}-0123abcd.tmp"
    foreign = tmp_path / ".a.png.eern-999999-89abcdef.tmp"
    longer = tmp_path / ".a.png.x.eern-1-0123abcd.tmp"  # the temp of 'a.png.x'
    others = [longer, tmp_path / ".b.png.eern-1-0123abcd.tmp", tmp_path / "a.png", tmp_path / ".a.png.eern-notes"]
    for path in (theirs, foreign, *others):
        path.write_bytes(b"x")
    removed = atomic.remove_temps_of(tmp_path / "a.png")
    assert sorted(removed) == sorted([theirs, foreign])
    assert all(path.exists() for path in others)
    assert atomic.remove_temps_of(tmp_path / "missing" / "a.png") == []


_FSIZE_SCRIPT = """
import sys
from eern_cli.images import atomic
from eern_cli.errors import OutputError
try:
    atomic.atomic_write(sys.argv[1], lambda f: f.write(b"x" * 400_000))
except OutputError as exc:
    print(exc)
    sys.exit(3)
"""


def test_full_disk_via_file_size_limit(tmp_path):
    """RLIMIT_FSIZE makes write() fail with EFBIG (Python ignores SIGXFSZ): a stand-in for a full disk."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"previous")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))

    result = subprocess.run([sys.executable, "-c", _FSIZE_SCRIPT, str(target)], capture_output=True, text=True,
                            preexec_fn=limit, env=cli_env(), cwd=REPO, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "too large" in result.stdout and "big.bin" in result.stdout
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []

"""Faults during a batch, on real ``eern upscale`` processes: kill -9, SIGINT and SIGTERM at random moments, an
impatient double Ctrl-C, two runs on one output folder, a full disk (a small filesystem, and a file-size limit),
the output folder made read-only half-way, running out of (GPU) memory.

What must hold after every fault: every output that exists decodes completely and equals what a clean run
writes; no temporary file after a clean or interrupted exit (SIGINT, SIGTERM, errors); only kill -9 may leave
temporaries, and the next run removes them; a re-run of the same command completes the batch.

Builds on test_cli_upscale.py (one SIGINT, one kill -9 after the 2nd output, one RLIMIT_FSIZE run, a read-only
folder from the start, and a soak of 8 stops per signal) and test_upscaler.py (OOM retry in the Upscaler).
Here the stops come at seeded random moments, each one is checked against a clean run's pixels, and the faults
arrive mid-batch. ``benchmarks/soak.py --trials N`` (or ``pytest -m soak``) repeats them many times.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import (
    FAST,
    REPO,
    clean_run,
    cli_env,
    eern_cmd,
    finals,
    make_batch,
    output_problems,
    pixels,
    record,
    rerun_problems,
    signal_trial,
    smooth,
    temps,
)
from PIL import Image

COUNT = 8


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """8 small PNGs and the outputs of one clean run (the reference every faulty run is compared with)."""
    root = tmp_path_factory.mktemp("faults")
    src = make_batch(root, COUNT)
    return src, clean_run(src, root / "reference")


def _assert_ok(trials, src, out, reference) -> None:
    problems = [f"trial {i} ({t.sig} {t.moment}, exit {t.returncode}): {p}"
                for i, t in enumerate(trials) for p in t.problems]
    assert problems == []
    assert rerun_problems(src, out, reference) == []


# ----------------------------------------------------------------------------------------------- signals


def test_kill_9_at_random_moments(tmp_path, batch):
    """5 kill -9 at seeded random moments (half blind: from start-up to the end of the batch; half during a
    write), all into the same folder, each followed by the checks; then a re-run completes the batch."""
    src, reference = batch
    rng, out = random.Random(9), tmp_path / "out"
    trials = [signal_trial(src, out, signal.SIGKILL, rng, reference) for _ in range(5)]
    record("faults: kill -9 at random moments", trials=len(trials), kill9=len(trials),
           survived=sum(t.ok for t in trials), temps_left_by_kills=sum(t.temps for t in trials))
    _assert_ok(trials, src, out, reference)


def test_interrupts_at_random_moments_leave_no_temporary_file(tmp_path, batch):
    """SIGINT, SIGTERM, and an impatient double Ctrl-C (the second 20-80 ms after the first, while the first is
    being handled), each at a random moment during the writes: exit 130 with the 'Interrupted' summary (or 0 if
    the batch was already done), never a temporary file, never a traceback; then a re-run completes."""
    src, reference = batch
    rng, out = random.Random(2), tmp_path / "out"
    trials = [signal_trial(src, out, signal.SIGINT, rng, reference, early=False),
              signal_trial(src, out, signal.SIGTERM, rng, reference, early=False),
              signal_trial(src, out, signal.SIGINT, rng, reference, early=False, second_signal=True)]
    record("faults: SIGINT, SIGTERM, double SIGINT at random moments", trials=len(trials), faults=4,
           survived=sum(t.ok for t in trials))
    _assert_ok(trials, src, out, reference)


_CTRL_C_DURING_IMPORT = """
import builtins, runpy, sys
real_import = builtins.__import__

def interrupted_import(name, *args, **kwargs):
    if name == "typer":  # the user presses Ctrl-C while Python is still importing eern's command line
        raise KeyboardInterrupt
    return real_import(name, *args, **kwargs)

builtins.__import__ = interrupted_import
sys.argv = ["eern", "upscale", "photo.png"]
runpy.run_module("eern_cli", run_name="__main__")
"""


def test_ctrl_c_while_the_command_starts():
    """Ctrl-C while Python still imports the command line (simulated deterministically): exit 130, no traceback."""
    result = subprocess.run([sys.executable, "-c", _CTRL_C_DURING_IMPORT], capture_output=True, text=True,
                            env=cli_env(), cwd=REPO, timeout=60)
    assert "Traceback" not in result.stderr and result.returncode == 130, (result.returncode, result.stderr)


# ----------------------------------------------------------------------------------------------- concurrency


def test_two_runs_on_the_same_output_folder(tmp_path, batch):
    """Two identical commands at once, into one folder: both succeed, every output is complete and right, no
    temporary file is left (neither run sweeps the other's live temporaries)."""
    src, reference = batch
    out = tmp_path / "out"
    for delay in ("0.05",):
        shutil.rmtree(out, ignore_errors=True)
        procs = [subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST), env=cli_env(EERN_TEST_ENCODE_DELAY=delay),
                                  cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
        errors = [p.communicate(timeout=120)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errors
        assert {p.name for p in finals(out)} == set(reference) and temps(out) == []
        assert output_problems(out, reference) == []
    record("faults: two runs on one output folder", trials=1, faults=1, survived=1)


# ----------------------------------------------------------------------------------------------- full disk


@contextlib.contextmanager
def _small_filesystem(folder: Path, size: str):
    """``folder`` becomes a tmpfs of ``size`` (root only; skips elsewhere). Yields a function to resize it."""
    folder.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a small filesystem needs root (mount -t tmpfs)")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")

    def resize(new: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={new}", str(folder)], check=True, capture_output=True)

    try:
        yield resize
    finally:
        _unmount(folder)


def test_full_disk_mid_batch(tmp_path, batch):
    """The output folder is a 28 kB filesystem: ~3 of 8 outputs fit. The rest fail with 'no space left' naming
    each, the ones written are complete and right, no temporary file is left; with space again, the same
    command completes the batch."""
    src, reference = batch
    out = tmp_path / "out"
    with _small_filesystem(out, "28k") as resize:
        result = subprocess.run(eern_cmd(str(src), "-o", str(out), *FAST), capture_output=True, env=cli_env(),
                                cwd=REPO, timeout=120)
        err = result.stderr.decode()
        done = finals(out)
        assert result.returncode == 1 and "Traceback" not in err, err
        assert 0 < len(done) < COUNT and temps(out) == [] and output_problems(out, reference) == []
        failed = [name for name in reference if name not in {p.name for p in done}]
        assert all(f"no space left on the device writing '{out / name}'" in err for name in failed), err
        resize("1m")
        assert rerun_problems(src, out, reference) == []
    record("faults: full disk (28 kB tmpfs)", trials=1, faults=len(failed), survived=1)


def test_file_size_limit_mid_batch(tmp_path):
    """RLIMIT_FSIZE (the portable stand-in for a full disk): the outputs over the limit fail with a clear message,
    the others are written; nothing half-written, no temporary file; without the limit a re-run completes."""
    src = tmp_path / "in"
    src.mkdir()
    sizes = [(20, 16), (64, 48), (20, 16), (64, 48), (20, 16)]  # 80x64 outputs (~6 kB), 256x192 ones (~90 kB)
    for i, size in enumerate(sizes):
        Image.fromarray(smooth(*size, seed=i)).save(src / f"{i}.png")
    reference = clean_run(src, tmp_path / "reference")
    small = {n for n, a in reference.items() if a.shape[1] == 80}
    out = tmp_path / "out"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, resource.RLIM_INFINITY))

    result = subprocess.run(eern_cmd(str(src), "-o", str(out), *FAST), capture_output=True, env=cli_env(),
                            cwd=REPO, timeout=120, preexec_fn=limit)
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err, err
    assert {p.name for p in finals(out)} == small and temps(out) == [] and output_problems(out, reference) == []
    assert len(reference) - len(small) == 2 and err.count("file too large") == 2 * 2, err  # in-line and summary
    assert rerun_problems(src, out, reference) == []
    record("faults: file-size limit (RLIMIT_FSIZE)", trials=1, faults=2, survived=1)


# ----------------------------------------------------------------------------------------------- read-only half-way


def _mounted(folder: Path) -> bool:
    target = os.path.realpath(folder)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f)


def _unmount(folder: Path) -> None:
    """Remove every mount on ``folder`` (lazily: a process may still hold a file there)."""
    for _ in range(10):
        if not _mounted(folder):
            return
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextlib.contextmanager
def _made_read_only(folder: Path):
    """Make the existing ``folder`` unwritable now: chmod for a user, a read-only bind mount for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    for _ in range(300):  # 'mount point is busy' when eern opens a file there between bind and read-only: retry
        done = subprocess.run(["mount", "-o", "bind,ro", str(folder), str(folder)], capture_output=True, text=True)
        if done.returncode == 0:
            break
        _unmount(folder)
        if "busy" not in done.stderr:
            break
        time.sleep(0.005)
    if done.returncode != 0:
        pytest.skip(f"root without bind mounts, cannot make a folder read-only: {done.stderr.strip()}")
    try:
        yield
    finally:
        _unmount(folder)


def test_output_folder_made_read_only_half_way(tmp_path, batch):
    """After 2 outputs, the folder turns read-only: the remaining files fail with a message naming the folder's
    state, the 2 stay complete and right, nothing half-written appears under a final name. A temporary file
    being written at that moment cannot be removed from a read-only folder: the next run (writable again)
    sweeps it and completes the batch."""
    src, reference = batch
    out = tmp_path / "out"
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST), env=cli_env(EERN_TEST_ENCODE_DELAY="0.4"),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while len(finals(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        with _made_read_only(out):
            err = proc.communicate(timeout=120)[1].decode()
            stranded = len(temps(out))
            assert proc.returncode == 1 and "Traceback" not in err, err
            assert ("read-only" in err or "permission denied" in err) and str(out) in err, err
            assert 2 <= len(finals(out)) < COUNT and output_problems(out, reference) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rerun_problems(src, out, reference) == []
    record("faults: output folder read-only half-way", trials=1, faults=1, survived=1, stranded_temps=stranded)


# ----------------------------------------------------------------------------------------------- out of memory


@pytest.fixture
def forced_oom(monkeypatch):
    """CUDA's out-of-memory error, raised at the device boundary (every convolution: the engine's kernels and
    torch's Conv2d) for inputs larger than ``limit[0]`` pixels: the code path a GPU takes, on the CPU."""
    import torch

    from eern_cli.engine import kernels

    limit = [24 * 24, 0]  # [pixels that fit, failures so far]

    def check(x) -> None:
        if x.shape[-2] * x.shape[-1] > limit[0]:
            limit[1] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (forced by the test)")

    def wrap(function):
        def allocating(*args, **kwargs):
            check(args[1] if function is conv_forward or function is conv_add else args[0])
            return function(*args, **kwargs)

        return allocating

    conv_forward, conv, conv_add = torch.nn.Conv2d._conv_forward, kernels.conv, kernels.conv_add_
    monkeypatch.setattr(torch.nn.Conv2d, "_conv_forward", wrap(conv_forward))
    monkeypatch.setattr(kernels, "conv", wrap(conv))
    monkeypatch.setattr(kernels, "conv_add_", wrap(conv_add))
    return limit


def _run_batch(src: Path, out: Path, tile: int):
    from eern_cli.batch import runner as batch_module
    from eern_cli.batch.planner import plan
    from eern_cli.upscaler import Upscaler

    upscaler = Upscaler(device="cpu", precision="fp32", tile=tile)
    return batch_module.run(plan([str(src)], output=str(out)).jobs, upscaler, batch_module.RunOptions())


def test_out_of_memory_in_a_batch_retries_with_smaller_tiles(tmp_path, forced_oom):
    """Every convolution over more than 40x40 px 'runs out of GPU memory': the whole-frame attempt fails, the
    retry with 32 px tiles succeeds; every output equals the one of a run without the fault (to the rounding of
    the last bit: tiles are exact in float) and no temporary file is left."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(smooth(64, 48, seed=i)).save(src / f"{i}.png")
    forced_oom[0] = 10**9
    assert _run_batch(src, tmp_path / "reference", tile=0).done == 3
    reference = {p.name: pixels(p) for p in finals(tmp_path / "reference")}
    forced_oom[0] = 40 * 40
    summary = _run_batch(src, tmp_path / "out", tile=0)
    assert (summary.done, summary.failed) == (3, 0) and forced_oom[1] > 0
    assert temps(tmp_path / "out") == [] and sorted(p.name for p in finals(tmp_path / "out")) == sorted(reference)
    for path in finals(tmp_path / "out"):  # tiled vs whole frame: the same floats up to rounding, as test_upscaler
        assert np.abs(pixels(path).astype(int) - reference[path.name].astype(int)).max() <= 1
    record("resources: forced CUDA OOM in a batch (retried)", trials=3, faults=forced_oom[1], survived=3)


def test_persistent_out_of_memory_fails_that_file_only(tmp_path, forced_oom):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth(20, 16)).save(src / "small.png")
    Image.fromarray(smooth(48, 40, seed=1)).save(src / "big.png")
    forced_oom[0] = 24 * 24  # the small one fits whole; the big one not even in 32 px tiles (the smallest retry)
    summary = _run_batch(src, tmp_path / "out", tile=64)
    assert (summary.done, summary.failed) == (1, 1) and summary.failures[0]["input"].endswith("big.png")
    assert [p.name for p in finals(tmp_path / "out")] == ["small.png"] and temps(tmp_path / "out") == []
    record("resources: forced CUDA OOM that never fits", trials=1, faults=1, survived=1)


def test_persistent_out_of_memory_message_says_what_to_do(tmp_path, forced_oom):
    """An OOM that smaller tiles cannot fix is an out-of-memory message with what to try, not an internal error."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth(48, 40, seed=1)).save(src / "big.png")
    Image.fromarray(smooth(20, 16)).save(src / "small.png")
    forced_oom[0] = 24 * 24
    summary = _run_batch(src, tmp_path / "out", tile=64)
    failure = summary.failures[0]
    assert "memory" in failure["error"] and "big.png" in failure["error"] + failure["input"]
    assert "report it" not in failure["hint"] and "OutOfMemoryError:" not in failure["error"], failure


def test_the_reference_is_a_complete_clean_run(batch):
    """The reference itself: every clean output decodes and is 4x its input (a guard on the guard)."""
    src, reference = batch
    assert len(reference) == COUNT
    for name, image in reference.items():
        source = pixels(src / name)
        assert image.shape[:2] == (4 * source.shape[0], 4 * source.shape[1])
        assert np.issubdtype(image.dtype, np.integer)

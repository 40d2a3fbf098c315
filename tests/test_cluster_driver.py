"""``eern upscale --ray``: real local Ray clusters, real processes, real kill -9.

What must hold, as for a local run: every output equals the local run's byte for byte, a bad file fails alone,
events and the summary have the same form, and after a worker (or a whole node) is killed, or after Ctrl-C,
no output is lost or half-written, no temporary file stays, and a re-run completes the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers_images import FAST, cli_env, decodes_completely, eern_cmd, run_eern, save, smooth

from eern_cli.images import atomic

pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'eern[ray]'")

NAMES = [f"img{i}.png" for i in range(6)]
TWO_WORKERS = ["--ray", "local", "--ray-actors", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, Path]:
    """Six small images, and their outputs from a local run (the reference)."""
    root = tmp_path_factory.mktemp("cluster")
    for i, name in enumerate(NAMES):
        save(root / "in" / name, smooth(40 + 4 * i, 32 + 2 * i, seed=i))
    result = run_eern(str(root / "in"), "-o", str(root / "local"), *FAST, "--threads", "1")
    assert result.returncode == 0, result.stderr.decode()
    return root / "in", root / "local"


def events_of(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if atomic.is_temp(p.name)] if folder.is_dir() else []


def assert_outputs_complete_and_equal(out: Path, reference: Path, *, all_of_them: bool) -> int:
    """Every output that exists decodes and equals the local run's bytes; returns how many exist."""
    assert not temps(out)
    made = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    for name in made:
        assert decodes_completely(out / name), name
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    if all_of_them:
        assert made == NAMES
    return len(made)


def wait_for_a_write(proc: subprocess.Popen, out: Path, timeout: float = 240) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = temps(out)
        if found:
            return found[0]
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no write seen in {out}: {proc.communicate()[1].decode()[-2000:]}")


def test_ray_local_writes_what_the_local_run_writes_and_reports_alike(folder, tmp_path):
    src, reference = folder
    work = tmp_path / "in"
    work.mkdir()
    for name in NAMES:
        (work / name).write_bytes((src / name).read_bytes())
    (work / "bad.png").write_bytes((src / NAMES[0]).read_bytes()[:60])  # cut: fails alone
    out = tmp_path / "out"
    result = run_eern(str(work), "-o", str(out), *FAST, *TWO_WORKERS, "--events", timeout=300)
    assert result.returncode == 1, result.stderr.decode()
    events = events_of(result.stdout)
    start, summary = events[0], events[-1]
    assert start["event"] == "start" and start["workers"] == 2 and start["device"] == "cpu"
    assert start["precision"] == "fp32" and start["total"] == 7
    ready = [e for e in events if e["event"] == "worker_ready"]
    # The second worker may still be loading its model when the first has done all six.
    assert 1 <= len({e["pid"] for e in ready}) == len(ready) <= 2 and all(e["threads"] == 1 for e in ready)
    assert summary["event"] == "summary" and (summary["done"], summary["failed"]) == (6, 1)
    done = sorted(e["input"] for e in events if e["event"] == "file_done")
    assert done == sorted(str(work / n) for n in NAMES)
    (failed,) = [e for e in events if e["event"] == "file_failed"]
    assert failed["input"] == str(work / "bad.png") and failed["hint"] is not None
    assert not (out / "bad.png").exists()
    assert_outputs_complete_and_equal(out, reference, all_of_them=True)


def test_kill_9_of_a_worker_mid_write_loses_nothing(folder, tmp_path):
    src, reference = folder
    out = tmp_path / "out"
    # Each output write pauses 1 s half-way, so the kill lands while a worker has a file half-written.
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST, *TWO_WORKERS, "--events"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(EERN_TEST_ENCODE_DELAY="1"))
    temp = wait_for_a_write(proc, out)
    worker_pid = int(atomic.TEMP_RE.match(temp.name).group(1))
    assert worker_pid != proc.pid
    os.kill(worker_pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    events = events_of(stdout)
    retried = [e for e in events if e["event"] == "retry"]
    assert retried and all("died" in e["reason"] and e["attempt"] == 2 for e in retried)
    assert any(temp.name.startswith(f".{Path(e['input']).name}.") for e in retried)  # the half-written one
    assert events[-1]["done"] + events[-1]["skipped"] == len(NAMES) and events[-1]["failed"] == 0
    assert_outputs_complete_and_equal(out, reference, all_of_them=True)
    print(f"fault figures: 1 worker killed, {len(retried)} files in flight retried, 0 lost, 0 half-written, "
          "0 re-runs needed")


@pytest.mark.soak
def test_ctrl_c_stops_the_workers_leaves_no_temporary_and_a_rerun_completes(folder, tmp_path):
    src, reference = folder
    out = tmp_path / "out"
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST, *TWO_WORKERS),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(EERN_TEST_ENCODE_DELAY="1"))
    wait_for_a_write(proc, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()
    assert "Interrupted:" in stderr.decode() and "Traceback" not in stderr.decode()
    assert assert_outputs_complete_and_equal(out, reference, all_of_them=False) < len(NAMES)
    again = run_eern(str(src), "-o", str(out), *FAST, "--ray", "local", "--json", timeout=300)
    assert again.returncode == 0, again.stderr.decode()
    summary = json.loads(again.stdout)  # the re-run resumes: what was finished is skipped as up to date
    assert summary["done"] + summary["skipped"] == len(NAMES) and summary["done"] >= 1 and not summary["failed"]
    assert_outputs_complete_and_equal(out, reference, all_of_them=True)


def test_without_ray_flags_that_need_it_are_refused(tmp_path, folder):
    src, _ = folder
    for args, message in [(["-o", "-"], "standard output"), (["--ray-actors", "0", "-o", str(tmp_path)], "at least 1")]:
        result = run_eern(str(src / NAMES[0]), *args, "--ray", "local")
        assert result.returncode == 2 and message in result.stderr.decode()
    result = run_eern(str(src), "-o", str(tmp_path), "--ray-actors", "2")
    assert result.returncode == 2 and "--ray-actors needs --ray" in result.stderr.decode()


@pytest.mark.soak
def test_a_worker_node_killed_mid_run_loses_nothing(folder, tmp_path, monkeypatch):
    """Two nodes on this machine (a head and a worker, one CPU each, one eern worker each); the worker node is
    killed (kill -9 of its raylet and workers) while it writes; the head's worker finishes the batch."""
    from ray.cluster_utils import Cluster

    src, reference = folder
    out = tmp_path / "out"
    monkeypatch.setenv("EERN_TEST_ENCODE_DELAY", "1")  # the nodes' workers inherit this process's environment
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                              "object_store_memory": 80 * 2**20})
    node = cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    try:
        cluster.wait_for_nodes()
        proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST, "--ray", cluster.address, "--threads", "1",
                                         "--events"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=cli_env())
        node_pids = {p.process.pid for ps in node.all_processes.values() for p in ps}
        deadline = time.monotonic() + 240
        while True:  # until a worker of the worker node is writing
            temp = wait_for_a_write(proc, out)
            pid = int(atomic.TEMP_RE.match(temp.name).group(1))
            if _ancestors(pid) & node_pids:
                break
            assert time.monotonic() < deadline, "the worker node never wrote"
            time.sleep(0.05)
        cluster.remove_node(node, allow_graceful=False)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        cluster.shutdown()
    assert proc.returncode == 0, stderr.decode()
    events = events_of(stdout)
    retried = [e for e in events if e["event"] == "retry"]
    assert events[0]["workers"] == 2 and retried
    assert_outputs_complete_and_equal(out, reference, all_of_them=True)
    print(f"fault figures: 1 node killed, {len(retried)} files in flight retried, 0 lost, 0 half-written, "
          "0 re-runs needed")


def _ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 1:
        found.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return found

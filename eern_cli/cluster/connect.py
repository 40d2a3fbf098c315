"""Joining a Ray cluster, and sizing eern's workers to it.

Ray is an optional extra (``pip install 'eern[ray]'``): it is imported here only, and only when ``--ray`` is
used. ``local`` starts a private Ray instance sized to this machine (for trying it, and for tests), ``auto``
joins the running cluster the way ``ray.init(address="auto")`` does (``RAY_ADDRESS`` wins), anything else is
given to ``ray.init`` as the address (``HOST:PORT``, ``ray://HOST:PORT``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass

from eern_cli.errors import ClusterError, DeviceError, MissingExtraError, first_line

# Near the smallest object store Ray accepts (75 MiB): only job descriptions and events pass through it.
LOCAL_OBJECT_STORE_BYTES = 80 * 2**20


def require_ray():
    """The ``ray`` module, or an error (exit 2) saying how to install it."""
    if importlib.util.find_spec("ray") is None:
        raise MissingExtraError("running on a Ray cluster needs Ray, which is not installed", extra="ray",
                                package="ray[data]")
    import ray

    return ray


def local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def connected(address: str) -> Iterator[object]:
    """Connected to the cluster at ``address`` for the duration; disconnects (and stops a local one) after.

    Ray prints its notices (a worker died, a node is gone) to standard output, which is eern's data stream
    (``--events``, ``--json``): they are sent to standard error instead, until Ray is shut down.
    """
    with redirect_stdout(sys.stderr):
        yield from _connected(address)


def _connected(address: str) -> Iterator[object]:
    ray = require_ray()
    if ray.is_initialized():  # a caller that set up Ray itself (a notebook, a test): use it as it is
        yield ray
        return
    kwargs: dict = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address == "local":  # private to this run: its token-authentication notice would be noise
        kwargs.update(num_cpus=local_cpus(), object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level=logging.ERROR)
    else:
        kwargs.update(address=address)
        kwargs.pop("include_dashboard")  # a setting of the cluster's head, not of a driver joining it
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at '{address}': {first_line(exc)}",
                           hint="start one with 'ray start --head', check the address (or RAY_ADDRESS), "
                                "or use {ray=local}") from exc
    finally:
        if previous is not None:  # Ray installs its own SIGTERM handler; the CLI's turns SIGTERM into Ctrl-C
            signal.signal(signal.SIGTERM, previous)
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Sizing:
    actors: int
    cpus_per_actor: int  # Ray CPUs reserved, and torch threads
    gpus_per_actor: int


def size_actors(ray, device: str, actors: int | None, threads: int | None) -> Sizing:
    """How many workers, and what each reserves: one per GPU when the model runs on GPUs, else one per
    ``threads`` CPUs (default 1 thread where there are GPUs to feed, else all of one node's CPUs up to 4)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if device.startswith("cuda") and gpus == 0:
        raise DeviceError(f"device '{device}' asks for a GPU, but the Ray cluster has none",
                          hint="use {device=cpu}, or add GPU nodes to the cluster")
    if (device == "auto" or device.startswith("cuda")) and gpus > 0:
        return Sizing(actors or gpus, threads or 1, 1)
    per_node = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=cpus)
    threads = threads or max(1, min(4, per_node))
    return Sizing(actors or max(1, cpus // threads), threads, 0)


def last_line(exc: BaseException) -> str:
    """The last line of a Ray error: for a worker that could not start, the exception that stopped it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__

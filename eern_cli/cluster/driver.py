"""Run planned jobs on a Ray cluster: the driver side of ``eern upscale --ray``.

The driver plans nothing new: it takes the jobs of a local run, starts one ``UpscaleWorker`` actor per GPU
(or per ``threads`` CPUs), and hands each worker one job at a time (two queued, so it never waits for the
driver). A worker does the whole job itself and answers with the runner's events, which the driver passes on
unchanged, so progress, ``--events``, ``--json`` and the summary look as they do locally.

Faults: when a worker dies (its process killed, its node gone), every job it held is put back in the queue
and goes to another worker (Ray restarts the actor, up to ``MAX_RESTARTS`` times); the dead worker's
temporary files for those outputs are removed first, so nothing half-written stays. A job whose worker dies
``max_attempts`` times fails on its own (it probably kills its worker: out of memory), like a bad file.
Ctrl-C kills the workers, waits for them to be gone and removes the temporaries of the jobs in flight.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from eern_cli import __version__
from eern_cli.batch.planner import Job
from eern_cli.batch.runner import Event, RunOptions, Summary, record_failure, sweep_output_temps
from eern_cli.cluster.connect import connected, last_line, size_actors
from eern_cli.cluster.worker import UpscaleWorker
from eern_cli.errors import ClusterError, first_line
from eern_cli.images import atomic

QUEUED_PER_WORKER = 2  # jobs sent ahead to each worker: one running, one waiting
MAX_RESTARTS = 3  # per worker, by Ray
START_TIMEOUT_S = 300.0  # for a worker to load the model (an autoscaler may first have to add a node)
STOP_TIMEOUT_S = 30.0  # for killed workers to be gone before their temporaries are removed


@dataclass(frozen=True)
class ClusterOptions:
    address: str = "local"  # local, auto, or an address for ray.init
    actors: int | None = None  # default: one per GPU, else one per `threads` CPUs
    threads: int | None = None  # CPU threads (and Ray CPUs) per worker
    max_attempts: int = 3  # tries of one job before it fails on its own
    start_timeout: float = START_TIMEOUT_S


@dataclass
class _Worker:
    handle: object
    ready: object | None = None  # a pending describe(): the actor is starting or restarting
    info: dict = field(default_factory=dict)
    queued: int = 0
    life: int = 0  # bumped at each death, so the many failed calls of one death count once
    dead: bool = False
    why: str = ""  # how it last died


def run(jobs: list[Job], model: dict, options: RunOptions, cluster: ClusterOptions,
        on_event: Event | None = None) -> Summary:
    """Process ``jobs`` on the Ray cluster at ``cluster.address``; ``model`` holds ``Upscaler``'s arguments.

    Never raises for a single file's problem; raises ``ClusterError`` when no worker can start at all, and a
    worker's own error (bad weights, no such device) when the model cannot be loaded.
    """
    with connected(cluster.address) as ray:
        return _Driver(ray, jobs, model, options, cluster, on_event or (lambda e: None)).run()


class _Driver:
    def __init__(self, ray, jobs: list[Job], model: dict, options: RunOptions, cluster: ClusterOptions,
                 emit: Event) -> None:
        from ray.exceptions import RayActorError

        self.ray, self.jobs, self.opts, self.cluster, self.emit = ray, jobs, options, cluster, emit
        self.model = {**model, "device": "cuda" if model.get("device", "auto").startswith("cuda")
                      else model.get("device", "auto")}  # each worker sees only its own GPU(s)
        self.actor_died = RayActorError
        self.summary = Summary(total=len(jobs))
        self.queue: deque[Job] = deque()
        self.in_flight: dict[object, tuple[_Worker, int, Job]] = {}
        self.attempts: Counter[int] = Counter()
        self.workers: list[_Worker] = []
        self.started = False  # the start event was emitted

    def run(self) -> Summary:
        started = time.perf_counter()
        try:
            if not self.opts.dry_run:
                sweep_output_temps(self.jobs)
            self.start_workers()
            for job in self.jobs:
                if job.error:
                    record_failure(self.summary, self.emit, job, job.error, self.opts.setting)
                else:
                    self.queue.append(job)
            self.loop()
        except KeyboardInterrupt:
            self.interrupt()
        finally:
            self.kill_workers()
            self.summary.seconds = time.perf_counter() - started
        self.emit({"event": "summary", **self.summary.to_dict()})
        return self.summary

    # ------------------------------------------------------------------------------------------ workers
    def start_workers(self) -> None:
        sizing = size_actors(self.ray, self.model["device"], self.cluster.actors, self.cluster.threads)
        actor = self.ray.remote(UpscaleWorker).options(
            num_cpus=sizing.cpus_per_actor, num_gpus=sizing.gpus_per_actor, max_restarts=MAX_RESTARTS,
            max_task_retries=0)  # the driver re-queues a dead worker's jobs itself
        for _ in range(sizing.actors):
            handle = actor.remote(self.model, self.opts, sizing.cpus_per_actor, os.getcwd())
            self.workers.append(_Worker(handle, ready=handle.describe.remote()))
        first = self.wait_ready()
        if first is None:
            why = next((f": {w.why}" for w in self.workers if w.why), "")
            raise ClusterError(
                f"no eern worker started on the Ray cluster within {self.cluster.start_timeout:g} s{why}",
                hint=f"eern must be installed on every node, and each worker needs {sizing.cpus_per_actor} CPU(s) "
                     f"and {sizing.gpus_per_actor} GPU(s) free: check 'ray status', or lower {{threads}}")
        self.emit({"event": "start", "total": len(self.jobs), "version": __version__, "device": first["device"],
                   "precision": first["precision"], "tile": first["tile"], "scale": self.opts.scale,
                   "weights_sha256": first["weights_sha256"], "dry_run": self.opts.dry_run,
                   "cluster": self.cluster.address, "workers": sizing.actors})
        self.started = True
        for worker in self.workers:
            if worker.info:
                self.emit({"event": "worker_ready", **worker.info})

    def wait_ready(self) -> dict | None:
        """The first worker to be ready (its description), or None if none is within the start timeout."""
        deadline = time.monotonic() + self.cluster.start_timeout
        while True:
            starting = [w.ready for w in self.workers if w.ready is not None]
            if not starting:
                return None
            done, _ = self.ray.wait(starting, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                return None
            worker = next(w for w in self.workers if w.ready == done[0])
            if self.on_ready(worker, done[0]):
                return worker.info

    def on_ready(self, worker: _Worker, ref) -> bool:
        worker.ready = None
        try:
            info = self.ray.get(ref)
        except self.actor_died as exc:
            worker.why = last_line(exc)
            self.on_death(worker, worker.life)
            return False
        if "error" in info:  # the model cannot load (weights, device): the same on every worker
            raise info["error"]
        worker.info = info
        if self.started:  # else announced right after the start event
            self.emit({"event": "worker_ready", **info})
        return True

    def on_death(self, worker: _Worker, life: int) -> None:
        if life != worker.life:
            return  # this death was already counted
        worker.life += 1
        if worker.life > MAX_RESTARTS:
            worker.dead = True
        else:
            worker.ready = worker.handle.describe.remote()  # answered once Ray has restarted it

    # ------------------------------------------------------------------------------------------ main loop
    def loop(self) -> None:
        while self.queue or self.in_flight:
            self.dispatch()
            starting = [w.ready for w in self.workers if w.ready is not None]
            if not self.in_flight:  # no worker is up: wait for one to (re)start
                if not self.wait_ready():
                    self.fail_queued()
                continue
            done, _ = self.ray.wait(list(self.in_flight) + starting, num_returns=1)
            ref = done[0]
            if ref in self.in_flight:
                self.collect(ref)
            else:
                self.on_ready(next(w for w in self.workers if w.ready == ref), ref)

    def dispatch(self) -> None:
        for worker in self.workers:
            while self.queue and worker.info and worker.ready is None and not worker.dead \
                    and worker.queued < QUEUED_PER_WORKER:
                job = self.queue.popleft()
                self.in_flight[worker.handle.run.remote([job])] = (worker, worker.life, job)
                worker.queued += 1

    def collect(self, ref) -> None:
        worker, life, job = self.in_flight.pop(ref)
        worker.queued -= 1
        try:
            events, part = self.ray.get(ref)
        except self.actor_died as exc:
            self.on_death(worker, life)
            self.retry(job, exc)
            return
        except Exception as exc:  # raised inside the worker's runner: only with --debug (a bug of ours)
            record_failure(self.summary, self.emit, job, getattr(exc, "cause", None) or exc, self.opts.setting)
            return
        for event in events:
            self.emit(event)
        self.merge(part)

    def retry(self, job: Job, exc: BaseException) -> None:
        """The worker died with ``job``: nothing of it may stay half-written; try it again elsewhere."""
        if job.output is not None:
            atomic.remove_temps_of(job.output)
        self.attempts[job.index] += 1
        tries = self.attempts[job.index]
        if tries >= self.cluster.max_attempts:
            record_failure(self.summary, self.emit, job, ClusterError(
                f"the Ray worker upscaling '{job.source}' died {tries} times", path=job.source,
                hint="it may run out of memory there (see 'ray logs'): try a smaller {tile}, or {scratch=DIR}"),
                self.opts.setting)
            return
        self.emit({"event": "retry", "index": job.index, "input": job.source, "attempt": tries + 1,
                   "reason": f"its Ray worker died ({first_line(exc)})"})
        self.queue.appendleft(job)

    def merge(self, part: Summary) -> None:
        s = self.summary
        s.done += part.done
        s.planned += part.planned
        s.skipped += part.skipped
        s.failed += part.failed
        s.model_seconds += part.model_seconds
        s.decode_seconds += part.decode_seconds
        s.encode_seconds += part.encode_seconds
        s.failures.extend(part.failures)

    def fail_queued(self) -> None:
        error = ClusterError("no eern worker is left on the Ray cluster to upscale it",
                             hint="re-run the same command when the cluster has room again (finished outputs "
                                  "are kept)")
        while self.queue:
            record_failure(self.summary, self.emit, self.queue.popleft(), error, self.opts.setting)

    # ------------------------------------------------------------------------------------------ Ctrl-C
    def interrupt(self) -> None:
        """Stop every worker, count what they finished, remove the temporaries of what they did not."""
        self.summary.interrupted = True
        self.kill_workers()
        refs = list(self.in_flight)
        try:
            done, _ = self.ray.wait(refs, num_returns=len(refs), timeout=STOP_TIMEOUT_S) if refs else ([], [])
            for ref in done:
                try:
                    events, part = self.ray.get(ref)
                except Exception:  # killed while it worked: its temporary is removed below
                    continue
                del self.in_flight[ref]
                for event in events:
                    self.emit(event)
                self.merge(part)
        except KeyboardInterrupt:  # a second Ctrl-C: still clean up below
            pass
        for _, _, job in self.in_flight.values():
            if job.output is not None:
                atomic.remove_temps_of(job.output)
        self.in_flight.clear()

    def kill_workers(self) -> None:
        for worker in self.workers:
            try:
                self.ray.kill(worker.handle, no_restart=True)
            except Exception:  # already gone with its node
                pass


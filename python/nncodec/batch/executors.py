"""Where ``nncodec batch`` runs its tasks: a local process pool, or a Ray cluster.

``run(fn, jobs, memory)`` yields ``(index, result)`` as tasks finish, in any order; a result is
the exception the task raised (an NnzError names the model's file) or its return value. A
worker that dies (killed, out of memory) is not the task's fault: its tasks run again, up to
``RETRIES`` times, on a fresh pool or another Ray worker.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import NnzError

RETRIES = 3
EXECUTORS = ("local", "ray")


class WorkerLostError(NnzError):
    """A task's worker died on every attempt."""


def _start_method() -> str:
    """fork while this process has one thread (workers start at once, nncodec already imported:
    about a second less per run than spawn, which imports it again), else spawn (forking a
    process with other threads, a Ray driver's say, could copy a lock some thread holds)."""
    try:
        return "fork" if len(os.listdir("/proc/self/task")) == 1 else "spawn"
    except OSError:
        return "spawn"


def _ready() -> None:
    from . import tasks  # noqa: F401  (what every task imports)


class LocalExecutor:
    """A pool of ``workers`` processes, kept for every run of tasks until ``close``, and started
    afresh when a worker died."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def warm_up(self) -> None:
        """Starts the workers (each imports nncodec) without waiting for them."""
        pool = self._fresh_pool()
        for _ in range(self.workers):
            pool.submit(_ready)

    def _fresh_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(_start_method()))
        return self._pool

    def run(self, fn: Callable, jobs: Sequence, memory: Callable | None = None) -> Iterator[tuple[int, object]]:
        attempts = dict.fromkeys(range(len(jobs)), 0)
        pending = set(range(len(jobs)))
        while pending:
            pool = self._fresh_pool()
            futures = {pool.submit(fn, jobs[i]): i for i in sorted(pending)}
            broken = False
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    i = futures.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    except Exception as exc:  # the task's own error, reported for its model
                        result = exc
                    pending.discard(i)
                    yield i, result
            if broken:
                self.close()
                for i in sorted(pending):
                    attempts[i] += 1
                    if attempts[i] > RETRIES:
                        pending.discard(i)
                        yield i, WorkerLostError(f"its worker died {attempts[i]} times")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class RayExecutor:
    """One Ray task per model, ``threads`` CPUs each, with the memory the model needs reserved
    (``memory(job)`` bytes) so that Ray schedules by it; at most ``workers`` at once. Connects to
    ``address`` (``auto``: the cluster of this machine), or starts a local cluster if none."""

    def __init__(self, workers: int, threads: int, address: str | None = None):
        import ray

        self.ray, self.workers, self.threads, self.address = ray, workers, threads, address
        self._started = False
        self._max_memory: int | None = None
        self._remote: dict[Callable, object] = {}

    def warm_up(self) -> None:
        pass  # connecting or starting a cluster waits for the first task: a rerun with nothing to do needs none

    def _connect(self) -> None:
        if not self.ray.is_initialized():
            self.ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                          **({} if self.address else {"num_cpus": max(self.workers * self.threads, 1)}))
            self._started = True
        # A reservation above the cluster's memory would never be scheduled: cap it there.
        self._max_memory = int(self.ray.cluster_resources().get("memory", 0)) or None

    def run(self, fn: Callable, jobs: Sequence, memory: Callable | None = None) -> Iterator[tuple[int, object]]:
        from ray.exceptions import RayTaskError, WorkerCrashedError

        self._connect()
        remote = self._remote.setdefault(fn, self.ray.remote(fn))
        queue, running = list(range(len(jobs))), {}
        while queue or running:
            while queue and len(running) < self.workers:
                i = queue.pop(0)
                options = {"num_cpus": self.threads, "max_retries": RETRIES, "retry_exceptions": False,
                           "name": f"nncodec-{fn.__name__}"}
                if memory is not None:
                    options["memory"] = min(memory(jobs[i]), self._max_memory or memory(jobs[i]))
                running[remote.options(**options).remote(jobs[i])] = i
            done, _ = self.ray.wait(list(running), num_returns=1)
            i = running.pop(done[0])
            try:
                result = self.ray.get(done[0])
            except RayTaskError as exc:
                result = exc.cause if isinstance(exc.cause, BaseException) else NnzError(str(exc).splitlines()[0])
            except WorkerCrashedError:
                result = WorkerLostError(f"its worker died {RETRIES + 1} times")
            yield i, result

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False


def executor(kind: str, workers: int, threads: int, address: str | None = None):
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        try:
            return RayExecutor(workers, threads, address)
        except ImportError:
            raise NnzError("--executor ray needs Ray: pip install ray") from None
    raise NnzError(f"unknown executor {kind!r} (choose from {', '.join(EXECUTORS)})")

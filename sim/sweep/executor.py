"""Task pools: where a sweep's points and a study's cells run.  One interface, three executors:

- "inline" : the driver process itself (debugging, tests);
- "local"  : a process pool on this machine (no Ray needed); its workers exit when the driver dies;
- "ray"    : Ray tasks (a local Ray instance, or the cluster at `address`), retried by Ray when a worker dies.

`pool.submit(key, fn, *args)` queues fn(*args) (fn must be a module-level function, so workers import it by name);
`pool.completed()` yields (key, result) as tasks finish, including tasks submitted while it runs (a study submits
its cells as their FP reference arrives).  `pool.share(obj)` wraps a large argument that several tasks receive
(Ray stores it once in its object store; the other executors pass it as is).
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager

EXECUTORS = ("ray", "local", "inline")
RAY_TASK_RETRIES = 3
DRIVER_POLL_S = 0.25      # how often a local pool worker checks that its driver is still alive


class InlinePool:
    def __init__(self):
        self._queue = deque()

    def share(self, obj):
        return obj

    def submit(self, key, fn, *args):
        self._queue.append((key, fn, args))

    def completed(self):
        while self._queue:
            key, fn, args = self._queue.popleft()
            yield key, fn(*args)


class LocalPool:
    def __init__(self, workers: int, start_method: str | None = None):
        self._pool = local_pool(workers, start_method)
        self._pending = {}

    def share(self, obj):
        return obj

    def submit(self, key, fn, *args):
        self._pending[self._pool.submit(fn, *args)] = key

    def completed(self):
        while self._pending:
            done, _ = wait(list(self._pending), return_when=FIRST_COMPLETED)
            for f in done:
                yield self._pending.pop(f), f.result()

    def close(self):
        # an interrupted or failed run does not wait for queued tasks; finished results were already consumed
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayPool:
    def __init__(self, workers: int, address: str | None, cpus_per_task: int):
        self._ray = ray_module()
        ray_init(self._ray, workers, address)
        self._cpus = cpus_per_task
        self._remote = {}
        self._pending = {}

    def share(self, obj):
        return self._ray.put(obj)

    def submit(self, key, fn, *args):
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(max_retries=RAY_TASK_RETRIES, num_cpus=self._cpus)(fn)
        self._pending[self._remote[fn].remote(*args)] = key

    def completed(self):
        while self._pending:
            ready, _ = self._ray.wait(list(self._pending), num_returns=1)
            for ref in ready:
                yield self._pending.pop(ref), self._ray.get(ref)


@contextmanager
def open_pool(executor: str, workers: int = 1, address: str | None = None, cpus_per_task: int = 1,
              start_method: str | None = None):
    """A task pool of `executor` with `workers` parallel tasks (Ray: `cpus_per_task` CPUs reserved per task;
    local: worker processes started by multiprocessing `start_method`, None = the platform's default)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if executor == "inline":
        yield InlinePool()
    elif executor == "local":
        pool = LocalPool(workers, start_method)
        try:
            yield pool
        finally:
            pool.close()
    else:
        yield RayPool(workers, address, cpus_per_task)


def local_pool(workers: int, start_method: str | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers exit when this (driver) process dies, even by SIGKILL, which gives the pool
    no chance to shut them down.  A driver that may already run OpenMP threads (Numba, torch) must not fork its
    workers: start_method "forkserver" starts them from a clean server process instead."""
    import multiprocessing
    ctx = multiprocessing.get_context(start_method) if start_method else None
    return ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_driver, mp_context=ctx)


def _exit_with_driver():
    """Pool worker initializer: a daemon thread exits the worker once it is re-parented, which happens when the
    process that started it (the driver, or the fork server that the driver's death also ends) dies."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(DRIVER_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()


def ray_module():
    try:
        import ray
    except ModuleNotFoundError:
        raise ModuleNotFoundError("Ray is not installed: pip install 'semdialect-suite[dist]' (or use "
                                  "--executor local for a process pool on this machine)") from None
    return ray


def ray_init(ray, workers, address):
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)

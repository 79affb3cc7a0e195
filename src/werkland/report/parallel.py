"""Running the independent parts of a report in forked worker processes.

The report's figures, its optional sections and the interactive map each read the loaded
:class:`~werkland.report.load.RegionData` and return bytes or text; none depends on another. With
``workers > 1`` :class:`TaskPool` forks that many processes after the data was read (they inherit
it: nothing large is pickled), hands them the tasks in the order given (largest first keeps the
two cores busy) and returns each result to the parent, which assembles the page exactly as the
serial run does. Every task is deterministic on its own (matplotlib, Pillow and folium get the same
input in a child as in the parent), so the written files are the same bytes whichever process drew
them. Without ``fork`` (not on Linux) or with ``workers <= 1`` the tasks run in this process, one
at a time, when their result is asked for.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Mapping
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from werkland.forking import ForkedWorkers, forked_pool, inherited

__all__ = ["TaskPool", "default_workers"]

log = logging.getLogger(__name__)

def _timed(key: str, task: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    out = task()
    log.info("task %s: %.2f s (%.2f s CPU, pid %d)", key, time.perf_counter() - wall, time.process_time() - cpu,
             os.getpid())
    return out


def _run(key: str) -> Any:
    # in a worker: the pool's tasks were inherited at the fork (a closure cannot be pickled, its key can)
    return _timed(key, inherited()[key])


def default_workers() -> int:
    """Processes a report uses when not told: the CPUs this process may run on, at most 2."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(2, n))


class TaskPool(ForkedWorkers):
    """Named zero-argument tasks run by ``workers`` forked processes (or here, one by one).

    Parameters
    ----------
    tasks : mapping of str to callable
        Task key -> a callable without arguments whose result can be pickled; started in this
        order.
    workers : int
        Worker processes; ``<= 1`` (or a platform without ``fork``) runs each task in this process
        when :meth:`result` asks for it.

    Notes
    -----
    Use it as a context manager; leaving the block ends the workers. The workers inherit the
    tasks at the fork (:func:`~werkland.forking.forked_pool`'s ``inherit``).
    """

    def __init__(self, tasks: Mapping[str, Callable[[], Any]], workers: int) -> None:
        self._tasks = dict(tasks)
        self._pool: Pool | None = None
        self._pending: dict[str, AsyncResult[Any]] = {}
        if workers > 1 and len(self._tasks) > 1 and "fork" in mp.get_all_start_methods():
            self._pool = forked_pool(min(workers, len(self._tasks)), inherit=self._tasks)
            self._pending = {key: self._pool.apply_async(_run, (key,)) for key in self._tasks}

    @property
    def parallel(self) -> bool:
        """Whether the tasks run in worker processes."""
        return self._pool is not None

    def result(self, key: str) -> Any:
        """The result of task ``key`` (waits for it; re-raises the task's exception)."""
        if self._pool is None:
            return _timed(key, self._tasks[key])
        return self._pending[key].get()


"""Pools of forked worker processes that share the parent's memory copy-on-write.

A forked worker inherits the parent's objects without copying them, until a page is written. The
garbage collector writes one: a collection in the worker walks every container it tracks and
updates its header, so every page holding one of the parent's lists, dicts or objects (the guild
graphs' adjacency, the candidates) would be copied into each worker. :func:`forked_pool` forks with
the parent's objects frozen out of the collector (``gc.freeze``; unfrozen in the parent once the
workers exist), so the workers' collections only visit what they create themselves.

:func:`shared_threads` is the thread-side counterpart: process-wide thread pools, made once per
process (a forked child makes its own: threads do not survive a fork), for the short parallel maps
that would otherwise start and join threads on every call.

:func:`background_thread` makes a thread yield the CPU to the process's critical chain: work that
runs ahead of a serial chain (and is ready long before the chain needs it) then no longer slows the
chain down by taking turns with it on a core.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = [
    "BACKGROUND_NICENESS", "Beside", "ForkedWorkers", "WorkShares", "background_thread", "call_inherited", "forked_imap",
    "forked_pool", "inherited", "shared_threads",
]

T = TypeVar("T")
A = TypeVar("A")
W = TypeVar("W", bound="ForkedWorkers")

# What the pool being forked hands its workers (forked_pool's ``inherit``): each worker keeps its copy
# of this list as it was at the fork and reads it with inherited(); the parent empties it at once.
_INHERITED: list[Any] = []
_INHERIT_LOCK = threading.Lock()


# process-wide thread pools of shared_threads, by (use, threads, background); a forked child starts with none
# (emptied by the at-fork hook below)
_SHARED: dict[tuple[str, int, bool], ThreadPoolExecutor] = {}
_SHARED_LOCK = threading.Lock()


def shared_threads(use: str, threads: int, *, background: bool = False) -> ThreadPoolExecutor:
    r"""A pool of ``threads`` threads for ``use``, made on first use and kept for the process.

    Starting and joining a pool's threads costs about 0.3 ms per call; the interventions' searches
    map over a few patches thousands of times (at 4.1 M cells the selection spent about 5 s of its
    threads starting and joining pools). Callers of one ``use`` share its threads, so a task must
    not wait on another task of the same ``use`` (give nested maps their own ``use``). In a forked
    child the parent's threads do not exist: the child makes its own pools. With ``background`` the
    pool's threads are :func:`background_thread`\ s (a pool of its own, apart from the plain one).
    """
    key = (use, threads, background)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None:
            pool = _SHARED[key] = ThreadPoolExecutor(
                threads, thread_name_prefix=f"werkland-{use}" + ("-background" if background else ""),
                initializer=background_thread if background else None)
        return pool


def _reset_shared_threads_in_child() -> None:
    """After every fork, in the child: the parent's pools' threads do not exist there."""
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()  # a fork while another thread held it would leave it held
    _SHARED.clear()


os.register_at_fork(after_in_child=_reset_shared_threads_in_child)

#: Niceness of a :func:`background_thread` (Linux's lowest priority: against a thread of niceness 0
#: it gets about 1.5 % of a shared core, so it runs on the cores the other threads leave idle).
BACKGROUND_NICENESS = 19


def background_thread() -> None:
    """Give the calling thread the lowest CPU priority (on Linux; elsewhere nothing changes).

    For threads that work ahead of a serial chain on the calling thread (a pool's ``initializer``):
    on two cores, two such threads beside the chain took turns with it, and the chain, the critical
    path, ran about 20 % slower (land cover at 4.1 M cells: the priority chain 11.4 s instead of
    9.7 s). Only the order in which the cores serve the threads changes, never what they compute.
    Linux sets a niceness per thread; a thread may always raise its own, and a process that is
    already this nice keeps its niceness.
    """
    if not sys.platform.startswith("linux"):
        return  # elsewhere PRIO_PROCESS takes a process id, not a thread's
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICENESS)
    except OSError:
        pass  # a sandbox that forbids it: the thread keeps its priority (slower, same results)


def forked_pool(processes: int, *, inherit: Any = None) -> Pool:
    """A ``multiprocessing`` pool of ``processes`` workers forked from this process, forked with its
    objects frozen out of the garbage collector (see the module docstring).

    Parameters
    ----------
    processes : int
        Worker processes (all forked here, before this returns).
    inherit : object, optional
        Handed to the workers without pickling: in a worker, :func:`inherited` returns it (a closure,
        the state to work on, a mapping of tasks). Pools made one after the other, or from several
        threads, each hand over their own.

    Returns
    -------
    multiprocessing.pool.Pool
        The caller closes or terminates it (``with forked_pool(n) as pool:``).
    """
    with _INHERIT_LOCK:  # one object in the slot while its workers are forked
        _INHERITED.append(inherit)
        gc.collect()  # what is garbage now is not frozen (and not inherited as live pages)
        gc.freeze()
        try:
            return mp.get_context("fork").Pool(processes)
        finally:
            gc.unfreeze()
            _INHERITED.clear()  # the workers are forked and hold their own copy


def inherited() -> Any:
    """In a worker of :func:`forked_pool`: the ``inherit`` object its pool was made with."""
    if not _INHERITED:
        raise RuntimeError("inherited() is for the workers of forked_pool (this process was not forked by one)")
    return _INHERITED[0]


def call_inherited(*args: Any) -> Any:
    """In a worker of :func:`forked_pool` made with a callable ``inherit``: call it with ``args`` (the
    function to hand to ``apply_async``, ``imap`` and the like: a module function, so it pickles)."""
    return inherited()(*args)


class ForkedWorkers:
    """Owner of a pool of forked workers (or of none: the work then runs in this process), ended at
    the end of a ``with`` block -- at once, without waiting, when the block raised.

    Subclasses set ``self._pool`` (:func:`forked_pool`) and may extend :meth:`close`.
    """

    _pool: Pool | None = None

    def close(self, *, terminate: bool = False) -> None:
        """End the workers (``terminate``: without waiting for unfinished work)."""
        if self._pool is not None:
            if terminate:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self: W) -> W:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(terminate=exc_type is not None)


class Beside(ForkedWorkers, Generic[T]):
    """One task without arguments run in a forked process while this process goes on.

    The worker inherits everything the task refers to (nothing large is pickled); only its result
    comes back, pickled. Without ``fork`` (not on Linux) or with ``fork=False`` the task runs in
    this process when :meth:`result` asks for it, with the same result.

    Parameters
    ----------
    task : callable
        The task; its result must pickle.
    fork : bool
        Whether to fork (the caller's thread budget allows a second process).

    Notes
    -----
    Use it as a context manager: leaving the block on an exception ends the worker.
    """

    def __init__(self, task: Callable[[], T], *, fork: bool = True) -> None:
        self._task = task
        self._pool: Pool | None = None
        self._pending: AsyncResult[T] | None = None
        if fork and "fork" in mp.get_all_start_methods():
            self._pool = forked_pool(1, inherit=task)
            self._pending = self._pool.apply_async(call_inherited)

    @property
    def forked(self) -> bool:
        """Whether the task runs in a forked process."""
        return self._pool is not None

    def result(self) -> T:
        """The task's result (waits for it; re-raises the task's exception)."""
        if self._pending is None:
            return self._task()
        try:
            return self._pending.get()
        finally:
            self.close()


def forked_imap(fn: Callable[[A], T], items: Sequence[A], processes: int) -> Iterator[T]:
    """``fn`` over ``items`` in ``processes`` forked workers, the results in item order.

    The workers inherit ``fn`` and everything it refers to (a closure is fine: nothing of it is
    pickled); each item and each result is pickled. Items are handed out one at a time, so a slow
    one does not hold up a worker's queue. With ``processes <= 1``, fewer than two items or without
    ``fork`` the items run here, one by one, with the same results.

    Parameters
    ----------
    fn : callable
        Called with one item; must not depend on which process runs it.
    items : sequence
        The items (small: each is pickled to a worker).
    processes : int
        Worker processes.

    Yields
    ------
    object
        ``fn(item)`` for each item, in order (an item's exception is raised when its turn comes,
        and the workers are ended).
    """
    if processes <= 1 or len(items) < 2 or "fork" not in mp.get_all_start_methods():
        yield from map(fn, items)
        return
    with forked_pool(min(processes, len(items)), inherit=fn) as pool:
        yield from pool.imap(call_inherited, items, chunksize=1)


class WorkShares:
    """Positions ``0..n-1`` of an ordered list split into one contiguous share per forked worker,
    handed out a chunk at a time: a worker walks its own share from the front and, once that is
    empty, takes chunks from the back of the fullest share left.

    Work whose neighbouring items share cached state (the interventions' first evaluation, in
    space-filling-curve order: nearby candidates re-search the same patches, whose cost surfaces
    each worker keeps) keeps that locality in every worker; chunks handed to whichever worker is
    free alternate between the workers, so each sees only every other chunk of a neighbourhood.
    Every position is taken exactly once, whatever the timing.

    Make it before :func:`forked_pool` and hand it to the workers in ``inherit``: the bounds live in
    shared memory, the workers claim their share on their first :meth:`take`.

    Parameters
    ----------
    n : int
        Positions to hand out.
    workers : int
        Shares (the pool's processes); a worker beyond them (one the pool started again) steals only.
    chunk : int
        Positions per take (the last of a share may be shorter).
    """

    def __init__(self, n: int, workers: int, chunk: int) -> None:
        if n < 0 or workers < 1 or chunk < 1:
            raise ValueError(f"WorkShares needs n >= 0, workers >= 1, chunk >= 1 (got {n}, {workers}, {chunk})")
        ctx = mp.get_context("fork")
        cuts = [n * w // workers for w in range(workers + 1)]
        self._bounds = ctx.Array("q", [b for w in range(workers) for b in (cuts[w], cuts[w + 1])], lock=True)
        self._claimed = ctx.Value("i", 0, lock=True)
        self._share: int | None = None
        self.workers = workers
        self.chunk = chunk
        #: takes that empty every share: a take holds a whole chunk unless it empties its share, from
        #: either end, so a share of s positions takes at most ceil(s / chunk). The caller runs this
        #: many tasks of one :meth:`take` each; a take after the last position is empty
        self.n_takes = sum(-(-(cuts[w + 1] - cuts[w]) // chunk) for w in range(workers))

    def take(self, share: int | None = None) -> range:
        """The next chunk of this worker's share, or of the back of the fullest share when its own is
        empty (an empty range when none is left).

        Parameters
        ----------
        share : int, optional
            The share to walk (default: the one this process claimed on its first take).
        """
        if share is None:
            if self._share is None:
                with self._claimed.get_lock():
                    self._share = self._claimed.value
                    self._claimed.value += 1
            share = self._share
        b = self._bounds
        with b.get_lock():
            if share < self.workers and b[2 * share] < b[2 * share + 1]:
                lo = b[2 * share]
                hi = min(lo + self.chunk, b[2 * share + 1])
                b[2 * share] = hi
                return range(lo, hi)
            left = [b[2 * w + 1] - b[2 * w] for w in range(self.workers)]
            w = max(range(self.workers), key=lambda s: (left[s], -s))
            if left[w] <= 0:
                return range(0)
            hi = b[2 * w + 1]
            lo = max(b[2 * w], hi - self.chunk)
            b[2 * w + 1] = lo
            return range(lo, hi)

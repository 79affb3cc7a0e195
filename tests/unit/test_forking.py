"""Forked worker pools: the parent's objects are frozen out of the workers' garbage collector."""

from __future__ import annotations

import gc
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from werkland.forking import (
    BACKGROUND_NICENESS,
    Beside,
    WorkShares,
    background_thread,
    call_inherited,
    forked_imap,
    forked_pool,
    inherited,
    shared_threads,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork start method only (POSIX)")


def _frozen_in_worker(_: int) -> int:
    return gc.get_freeze_count()


def test_workers_inherit_the_parent_objects_frozen_and_the_parent_is_unfrozen():
    keep = [{"node": i} for i in range(20_000)]  # containers the workers inherit
    with forked_pool(2) as pool:
        counts = pool.map(_frozen_in_worker, range(4))
    assert gc.get_freeze_count() == 0  # the parent collects its objects as before
    assert all(c >= len(keep) for c in counts)  # in the workers they are out of the collector's reach


def test_beside_runs_the_task_in_another_process_with_what_it_refers_to():
    big = list(range(100_000))  # inherited, not pickled: the closure could not be

    def task():
        return os.getpid(), sum(big)

    with Beside(task) as beside:
        assert beside.forked
        here = sum(big)  # the caller goes on meanwhile
        pid, total = beside.result()
    assert pid != os.getpid() and total == here
    # without fork the task runs here, when its result is asked for, with the same result
    serial = Beside(task, fork=False)
    assert not serial.forked and serial.result() == (os.getpid(), here)


def test_beside_reraises_the_task_error_and_tasks_run_side_by_side():
    def fails():
        raise ValueError("landcover.gpkg: no layer 'lines'")

    with Beside(fails) as beside:
        with pytest.raises(ValueError, match="no layer 'lines'"):
            beside.result()
    with Beside(lambda: 1) as first, Beside(lambda: 2) as second:  # each worker runs its own task
        assert second.result() == 2 and first.result() == 1


def test_forked_imap_gives_the_results_in_item_order_from_other_processes():
    offset = 1000  # inherited by the workers with the closure

    def fn(x):
        return x + offset, os.getpid()

    items = list(range(9))
    out = list(forked_imap(fn, items, 2))
    assert [v for v, _ in out] == [x + offset for x in items]
    assert os.getpid() not in {pid for _, pid in out}
    # one process, one item or no fork: here, one by one, the same values
    assert [v for v, _ in forked_imap(fn, items, 1)] == [x + offset for x in items]
    assert list(forked_imap(fn, [4], 2)) == [(1004, os.getpid())]


def test_forked_imap_raises_an_items_error_in_its_turn():
    def fn(x):
        if x == 3:
            raise ValueError("segment 3: no footprint")
        return x

    seen = []
    with pytest.raises(ValueError, match="segment 3"):
        for v in forked_imap(fn, list(range(6)), 2):
            seen.append(v)
    assert seen == [0, 1, 2]


def _inherited_in_worker(key: str) -> object:
    return inherited()[key]


def test_each_pool_hands_its_workers_its_own_object_without_pickling():
    def unpicklable(x):  # a closure: only inheriting can hand it over
        return x * 2

    with forked_pool(1, inherit={"a": "first"}) as one, forked_pool(1, inherit={"a": "second"}) as two:
        assert one.apply(_inherited_in_worker, ("a",)) == "first"  # the first pool keeps its own
        assert two.apply(_inherited_in_worker, ("a",)) == "second"
    with forked_pool(2, inherit=unpicklable) as pool:
        assert pool.map(call_inherited, [1, 2, 3]) == [2, 4, 6]
    with pytest.raises(RuntimeError, match="workers of forked_pool"):
        inherited()  # this process holds nothing: the slot is emptied once the workers exist


def test_shared_threads_are_made_once_per_use_and_afresh_in_a_forked_child():
    """One pool per (use, threads) for the process, its results in order; a forked child, where the
    parent's threads do not exist, makes and uses its own."""
    pool = shared_threads("test-a", 2)
    assert shared_threads("test-a", 2) is pool
    assert shared_threads("test-b", 2) is not pool and shared_threads("test-a", 1) is not pool
    assert list(pool.map(lambda v: v * v, range(6))) == [0, 1, 4, 9, 16, 25]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a new pool and whether that pool works
        try:
            child = shared_threads("test-a", 2)
            ok = child is not pool and list(child.map(lambda v: v + 1, range(4))) == [1, 2, 3, 4]
            os.write(write, b"ok" if ok else b"no")
        finally:
            os._exit(0)
    os.close(write)
    got = os.read(read, 2)
    os.waitpid(pid, 0)
    os.close(read)
    assert got == b"ok"
    assert shared_threads("test-a", 2) is pool  # the parent keeps its own


@pytest.mark.parametrize("n, workers, chunk", [(0, 2, 16), (1, 2, 16), (100, 2, 16), (1000, 2, 16), (101, 3, 7),
                                               (17, 4, 5), (50, 1, 8)])
def test_work_shares_hand_out_every_position_once_each_worker_walking_its_own_share(n, workers, chunk):
    """Takes by the workers in random turns: every position exactly once, within ``n_takes`` takes;
    each worker's own takes walk its contiguous share from the front, the steals come from the back of
    the fullest share."""
    rng = random.Random(n * 31 + workers)
    shares = WorkShares(n, workers, chunk)
    cuts = [n * w // workers for w in range(workers + 1)]
    seen: list[int] = []
    front, back = cuts[:-1], cuts[1:]  # what is left of each share: [front, back)
    takes = 0
    while True:
        w = rng.randrange(workers)
        left = [back[s] - front[s] for s in range(workers)]
        taken = shares.take(w)
        if not taken:
            assert sum(left) == 0, f"an empty take while {sum(left)} positions were left"
            break
        takes += 1
        if left[w]:  # its own share, from the front
            assert (taken.start, len(taken)) == (front[w], min(chunk, left[w]))
            front[w] = taken.stop
        else:  # a steal, from the back of the fullest share (ties: the first)
            fullest = max(range(workers), key=lambda s: (left[s], -s))
            assert (taken.stop, len(taken)) == (back[fullest], min(chunk, left[fullest]))
            back[fullest] = taken.start
        seen.extend(taken)
    assert sorted(seen) == list(range(n))
    assert takes <= shares.n_takes


def _take_in_worker(_: int) -> tuple[int, list[int]]:
    shares = inherited()
    taken = shares.take()
    time.sleep(0.002 * len(taken))  # work that takes time, so the other worker gets its turns
    return os.getpid(), list(taken)


def test_work_shares_in_forked_workers_cover_the_positions_once_each_walking_a_share():
    """Two forked workers, ``n_takes`` tasks: every position once; each worker starts at the front of
    a share of its own (the shares are claimed once per process)."""
    shares = WorkShares(200, 2, 8)
    with forked_pool(2, inherit=shares) as pool:
        results = pool.map(_take_in_worker, range(shares.n_takes), chunksize=1)
    seen = sorted(i for _, taken in results for i in taken)
    assert seen == list(range(200))
    firsts: dict[int, int] = {}
    for pid, taken in results:
        if taken:
            firsts.setdefault(pid, taken[0])
    assert sorted(firsts.values()) == [0, 100]  # each worker's first take: the front of its share


def test_work_shares_reject_impossible_sizes():
    with pytest.raises(ValueError, match="workers >= 1"):
        WorkShares(10, 0, 4)
    with pytest.raises(ValueError, match="chunk >= 1"):
        WorkShares(10, 2, 0)


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a niceness per thread is Linux's")
def test_background_thread_lowers_only_the_calling_threads_priority():
    before = _niceness()
    assert before < BACKGROUND_NICENESS, "run the tests without nice 19"
    with ThreadPoolExecutor(2, initializer=background_thread) as pool:
        background = set(pool.map(lambda _: _niceness(), range(8)))
    with ThreadPoolExecutor(1) as pool:
        plain = pool.submit(_niceness).result()
    assert background == {BACKGROUND_NICENESS}
    assert _niceness() == before and plain == before  # the caller and threads made later keep theirs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a niceness per thread is Linux's")
def test_shared_background_threads_are_a_pool_of_their_own_at_the_lowest_priority():
    before = _niceness()
    plain = shared_threads("test-priority", 2)
    background = shared_threads("test-priority", 2, background=True)
    assert background is not plain and background is shared_threads("test-priority", 2, background=True)
    assert set(background.map(lambda _: _niceness(), range(8))) == {BACKGROUND_NICENESS}
    assert set(plain.map(lambda _: _niceness(), range(8))) == {before}

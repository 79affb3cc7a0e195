"""The first evaluation of every candidate against the baseline, on forked workers in spatial order.

Nearby candidates re-search the same patches, so the candidates are taken along a Hilbert curve
through their footprints (:func:`spatial_order`) and each forked worker walks a contiguous share of
that order (:class:`~werkland.forking.WorkShares`): its kept cost surfaces then serve its next
candidates.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import numpy as np

from werkland.forking import WorkShares, forked_pool, inherited
from werkland.interventions.candidates import Candidate
from werkland.interventions.evaluate import Evaluator, Gains

log = logging.getLogger(__name__)

#: Candidates per task of the first evaluation (a worker's tasks walk its share of the spatial order).
FIRST_EVALUATION_CHUNK = 16


def _eval_chunk(_task: int) -> list[tuple[int, Gains]]:
    # in a worker: the evaluator, candidates, order and shares were inherited at the fork, never
    # pickled; each task evaluates the next chunk of this worker's share (none once all are taken)
    ev, cands, order, shares = inherited()
    for gg in ev.graphs.values():  # worker processes already use every core
        gg.n_threads = 1
    ev.guild_threads = 1
    taken = shares.take()
    return [(int(i), ev.evaluate(cands[int(i)])) for i in order[taken.start:taken.stop]]


def spatial_order(cands: Sequence[Candidate], width: int) -> np.ndarray:
    """Candidate indices along a Hilbert curve through their footprints' mean cells (ties: index).

    Parameters
    ----------
    cands : sequence of Candidate
        Candidates (flat cell indices of a raster ``width`` columns wide).
    width : int
        Raster columns.
    """
    if not cands:
        return np.zeros(0, np.int64)
    rc = np.array([(float(np.mean(c.cells // width)), float(np.mean(c.cells % width))) if c.cells.size else (0.0, 0.0)
                   for c in cands])
    x, y = rc[:, 1].astype(np.int64), rc[:, 0].astype(np.int64)
    side = 1
    while side <= max(int(x.max()), int(y.max())):
        side *= 2
    d = np.zeros(len(cands), np.int64)
    s = side // 2
    while s > 0:  # the classic x, y -> d walk of a Hilbert curve, all points at once
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        flip = ry == 0
        swap_back = flip & (rx == 1)
        x = np.where(swap_back, side - 1 - x, x)
        y = np.where(swap_back, side - 1 - y, y)
        x, y = np.where(flip, y, x), np.where(flip, x, y)
        s //= 2
    return np.lexsort((np.arange(len(cands)), d))


def evaluate_all(ev: Evaluator, cands: list[Candidate], n_workers: int) -> list[Gains]:
    """First evaluation of every candidate against the baseline (returned in candidate order).

    Candidates are taken in :func:`spatial_order`. With ``n_workers > 1`` and more than 32
    candidates they run on forked worker processes (each inherits the evaluator), each walking a
    contiguous share of that order 16 at a time (:class:`~werkland.forking.WorkShares`: a worker's
    kept cost surfaces then serve its next candidates, which lie next to them); otherwise in this
    process. The gains do not depend on which process evaluates a candidate, nor in what order.
    """
    t0 = time.perf_counter()
    n = len(cands)
    out: list[Gains | None] = [None] * n
    # in space-filling-curve order of the footprints: nearby candidates re-search the same patches,
    # whose kept cost surfaces (SurfaceCache) then serve them; each result is the candidate's own
    order = spatial_order(cands, ev.W)
    done = 0
    step = max(1, n // 10)
    next_log = step

    def note(k: int) -> None:
        nonlocal done, next_log
        done += k
        if done >= next_log or done == n:
            dt = time.perf_counter() - t0
            log.info("evaluated %d/%d candidates (%.1f candidates/s)", done, n, done / max(dt, 1e-9))
            next_log += step

    if n_workers > 1 and n > 32 and hasattr(os, "fork"):
        shares = WorkShares(n, n_workers, FIRST_EVALUATION_CHUNK)
        with forked_pool(n_workers, inherit=(ev, cands, order, shares)) as pool:
            for res in pool.imap_unordered(_eval_chunk, range(shares.n_takes)):
                for i, g in res:
                    out[i] = g
                if res:
                    note(len(res))
    else:
        for s in range(0, n, FIRST_EVALUATION_CHUNK):
            ch = order[s:s + FIRST_EVALUATION_CHUNK].tolist()
            for i in ch:
                out[i] = ev.evaluate(cands[i])
            note(len(ch))
    return [g for g in out if g is not None]

"""The search kernels' exactness: the bucket queue and the float32 resistance give the binary heap's
costs bit for bit (and the heap's predecessors with float32 resistance), on class-valued rasters
with many equal-cost ties, impassable cells, negative start costs and pruning."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from werkland._kernels.grid_search import (
    cost_search,
    dijkstra,
    label_search,
    min_step_cost,
    search_resistance,
    step_lengths,
)
from werkland._kernels.heap import heap_pop, heap_push, new_heap

CLASSES = np.array([1.0, 2.0, 3.0, 5.0, 10.0, 40.0, 1000.0])


def _raster(seed: int, shape: tuple[int, int] = (90, 110), impassable: float = 0.05) -> np.ndarray:
    """Class-valued resistance (many exact ties) with some impassable cells, flat float64."""
    rng = np.random.default_rng(seed)
    res = CLASSES[rng.integers(0, CLASSES.size, shape)]
    res[rng.random(shape) < impassable] = np.inf
    return res.ravel()


def _heap(res: np.ndarray, shape: tuple[int, int], starts: np.ndarray, start_cost: np.ndarray, bound: float,
          prune: np.ndarray | None = None, limit: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    H, W = shape
    cum = np.full(H * W, np.inf)
    pred = np.full(H * W, -1, np.int64)
    use = prune is not None
    n_t, touched = dijkstra(res, H, W, step_lengths(10.0), starts, start_cost, bound, cum, pred,
                            np.empty(16, np.int64), prune if use else cum, limit, use)
    return touched[:n_t].copy(), cum, pred


def _bucket(res: np.ndarray, shape: tuple[int, int], starts: np.ndarray, start_cost: np.ndarray, bound: float,
            min_step: float, prune: np.ndarray | None = None, limit: float = 0.0) -> tuple[np.ndarray, np.ndarray, bool]:
    H, W = shape
    cum = np.full(H * W, np.inf)
    use = prune is not None
    n_t, touched, fell_back = cost_search(res, H, W, step_lengths(10.0), starts, start_cost, bound, cum,
                                          np.empty(16, np.int64), prune if use else cum, limit, use, min_step)
    return touched[:n_t].copy(), cum, fell_back


def _same_costs(t_heap: np.ndarray, cum_heap: np.ndarray, t_b: np.ndarray, cum_b: np.ndarray) -> None:
    """Same touched set, and bit-identical costs everywhere (untouched cells stay inf in both)."""
    assert np.array_equal(np.sort(t_heap), np.sort(t_b))
    assert np.array_equal(cum_heap, cum_b)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("bound", [300.0, 2500.0, np.inf])
def test_bucket_queue_gives_the_heaps_costs_bit_for_bit(seed, bound):
    shape = (90, 110)
    res = _raster(seed, shape)
    rng = np.random.default_rng(100 + seed)
    starts = rng.choice(np.flatnonzero(np.isfinite(res)), size=7, replace=False)
    zero = np.zeros(starts.size)
    t_h, cum_h, _ = _heap(res, shape, starts, zero, bound)
    t_b, cum_b, fell_back = _bucket(res, shape, starts, zero, bound, min_step_cost(res, step_lengths(10.0)))
    _same_costs(t_h, cum_h, t_b, cum_b)
    assert not fell_back
    # the costs within the bound are final, and some cells lie beyond it (the bound is exercised)
    if np.isfinite(bound):
        assert np.any(np.isfinite(cum_h) & (cum_h > bound))


@pytest.mark.parametrize("seed", [0, 5])
def test_bucket_queue_with_negative_start_costs_and_pruning_matches_the_heap(seed):
    """The corridor search: linked patches seeded with -LCD, pruned where CWD_a + CWD_b - LCD > width."""
    shape = (80, 80)
    res = _raster(seed, shape)
    rng = np.random.default_rng(seed)
    starts = rng.choice(np.flatnonzero(np.isfinite(res)), size=12, replace=False)
    start_cost = -rng.uniform(100.0, 2000.0, starts.size)
    prune = rng.uniform(0.0, 1500.0, res.size)
    width = 400.0
    t_h, cum_h, _ = _heap(res, shape, starts, start_cost, width, prune, width)
    t_b, cum_b, fell_back = _bucket(res, shape, starts, start_cost, width, min_step_cost(res, step_lengths(10.0)),
                                    prune, width)
    _same_costs(t_h, cum_h, t_b, cum_b)
    assert not fell_back


def test_a_too_large_min_step_falls_back_to_the_heap_with_the_same_costs():
    shape = (60, 70)
    res = _raster(3, shape)
    starts = np.flatnonzero(np.isfinite(res))[:3]
    zero = np.zeros(starts.size)
    t_h, cum_h, _ = _heap(res, shape, starts, zero, 1500.0)
    true_step = min_step_cost(res, step_lengths(10.0))
    t_b, cum_b, fell_back = _bucket(res, shape, starts, zero, 1500.0, 8.0 * true_step)
    assert fell_back
    _same_costs(t_h, cum_h, t_b, cum_b)
    # a smaller min_step is always safe
    t_b, cum_b, fell_back = _bucket(res, shape, starts, zero, 1500.0, 0.25 * true_step)
    assert not fell_back
    _same_costs(t_h, cum_h, t_b, cum_b)


def test_float32_resistance_gives_the_same_costs_predecessors_and_order():
    """The heap with a float32 copy: same touched order, costs and predecessors (ties included)."""
    shape = (100, 100)
    res = _raster(7, shape, impassable=0.02)
    r32 = search_resistance(res)
    assert r32.dtype == np.float32
    starts = np.flatnonzero(np.isfinite(res))[::997]
    zero = np.zeros(starts.size)
    t64, cum64, pred64 = _heap(res, shape, starts, zero, 3000.0)
    t32, cum32, pred32 = _heap(r32, shape, starts, zero, 3000.0)
    assert np.array_equal(t64, t32)
    assert np.array_equal(cum64, cum32)
    assert np.array_equal(pred64, pred32)
    # equal-cost ties occur on this raster, so the predecessor check is not vacuous
    reached = np.isfinite(cum64)
    assert np.unique(cum64[reached]).size < reached.sum()


def test_search_resistance_keeps_float64_when_float32_would_round():
    res = np.array([[1.0, 2.0], [np.inf, 1.0 + 1e-12]])
    out = search_resistance(res)
    assert out.dtype == np.float64 and out.shape == (4,)
    assert np.array_equal(out, res.ravel())
    assert min_step_cost(np.full(4, np.inf), step_lengths(10.0)) == 0.0
    assert min_step_cost(np.array([np.inf, 2.0, 5.0]), step_lengths(10.0)) == pytest.approx(20.0)


def test_label_search_costs_equal_the_minimum_over_each_labels_cells():
    shape = (70, 90)
    H, W = shape
    res = _raster(11, shape, impassable=0.0)
    labels = np.zeros(res.size, np.int64)
    labels[np.random.default_rng(0).choice(res.size, 60, replace=False)] = np.arange(1, 61)
    starts = np.flatnonzero(labels == 1)
    lens = step_lengths(10.0)
    cum = np.full(res.size, np.inf)
    labs, costs, n_t, *_, fell_back = label_search(
        res, H, W, lens, starts, 2000.0, labels, 1, cum, np.empty(8, np.int64), np.full(61, np.inf),
        np.full(61, -1, np.int64), min_step_cost(res, lens))
    assert not fell_back and np.all(np.isinf(cum))  # reset before returning
    _, cum_h, _ = _heap(res, shape, starts, np.zeros(starts.size), 2000.0)
    expect = {int(lab): float(cum_h[labels == lab].min()) for lab in range(2, 61)
              if cum_h[labels == lab].min() <= 2000.0}
    assert dict(zip(labs.tolist(), costs.tolist(), strict=True)) == expect
    assert len(expect) >= 3


@pytest.mark.parametrize(
    ("values", "least"),
    [
        ([], None),
        ([np.inf, np.inf], None),
        ([np.inf, 3.0, 7.5], 3.0),
        ([np.inf, 3.0, np.nan], 3.0),  # NaN is not passable
        ([-np.inf, 2.5, 7.0], 2.5),  # nor is -inf
        ([np.nan, np.nan], None),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_min_step_cost_is_the_shortest_step_over_the_cheapest_passable_cell(values, least, dtype):
    """The bucket width: the shortest step times the smallest finite resistance (0 when no cell is
    passable), read from the raster's own minimum without a masked copy; NaN and -inf cells are
    left out as the masked minimum left them out."""
    lens = step_lengths(10.0)
    got = min_step_cost(np.array(values, dtype), lens)
    assert got == (0.0 if least is None else 10.0 * least)
    res = _raster(4).astype(dtype)
    assert min_step_cost(res, lens) == 10.0 * float(res[np.isfinite(res)].min())


class _TwoArrayHeap:
    """The textbook binary heap of two arrays (keys, values) the searches used before the pairs were
    interleaved: a Python port of its sift-up and sift-down, to pin the order of equal keys."""

    def __init__(self) -> None:
        self.k: list[float] = []
        self.v: list[int] = []

    def push(self, key: float, val: int) -> None:
        k, v = self.k, self.v
        k.append(key)
        v.append(val)
        pos = len(k) - 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if k[parent] <= key:
                break
            k[pos], v[pos] = k[parent], v[parent]
            pos = parent
        k[pos], v[pos] = key, val

    def pop(self) -> tuple[float, int]:
        k, v = self.k, self.v
        top = (k[0], v[0])
        key, val = k.pop(), v.pop()
        n = len(k)
        if n:
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= n:
                    break
                if child + 1 < n and k[child + 1] < k[child]:
                    child += 1
                if k[child] >= key:
                    break
                k[pos], v[pos] = k[child], v[child]
                pos = child
            k[pos], v[pos] = key, val
        return top

    def __len__(self) -> int:
        return len(self.k)


@numba.njit(cache=False)
def _run_plain_heap(ops, keys, vals):  # pragma: no cover - compiled
    """Apply ``ops`` (1 push ``(keys[i], vals[i])``, 0 pop) to a compiled plain heap; the pops."""
    heap = new_heap(2)  # grows while pushing
    hn = 0
    out_k = np.empty(ops.shape[0], np.float64)
    out_v = np.empty(ops.shape[0], np.int64)
    n_out = 0
    for i in range(ops.shape[0]):
        if ops[i] == 1:
            heap, hn = heap_push(heap, hn, keys[i], vals[i])
        elif hn > 0:
            out_k[n_out], out_v[n_out], hn = heap_pop(heap, hn)
            n_out += 1
    while hn > 0:
        out_k[n_out], out_v[n_out], hn = heap_pop(heap, hn)
        n_out += 1
    return out_k[:n_out], out_v[:n_out]


@pytest.mark.parametrize("seed", range(6))
def test_plain_heap_pops_equal_keys_in_the_two_array_heaps_order(seed):
    """The interleaved heap pops (key, value) pairs -- equal keys included, whose order the grid
    searches' predecessors follow -- exactly as the two-array heap did, through growth and values up
    to 2**53."""
    rng = np.random.default_rng(seed)
    n = 4000
    ops = (rng.random(n) < 0.6).astype(np.int64)
    keys = rng.choice(np.array([0.5, 1.0, 1.0, 2.0, 3.5, 7.0, np.inf]), n)  # many ties
    vals = rng.integers(0, 2**53, n, dtype=np.int64)
    ref = _TwoArrayHeap()
    expect = []
    for op, key, val in zip(ops, keys, vals, strict=True):
        if op == 1:
            ref.push(float(key), int(val))
        elif len(ref):
            expect.append(ref.pop())
    while len(ref):
        expect.append(ref.pop())
    got_k, got_v = _run_plain_heap(ops, keys, vals)
    assert list(zip(got_k.tolist(), got_v.tolist(), strict=True)) == expect
    # ties with different values are popped, so the order of equal keys is really compared
    assert len({k for k, _ in expect}) < len(expect) // 10


def _dijkstra_with_two_array_heap(res: np.ndarray, shape: tuple[int, int], starts: np.ndarray,
                                  bound: float) -> tuple[list[int], np.ndarray, np.ndarray]:
    """:func:`dijkstra` (zero start costs, no pruning) written out in Python on the two-array heap."""
    H, W = shape
    lens = step_lengths(10.0)
    cum = np.full(H * W, np.inf)
    pred = np.full(H * W, -1, np.int64)
    touched: list[int] = []
    heap = _TwoArrayHeap()
    for c in starts.tolist():
        if res[c] < np.inf and 0.0 < cum[c]:
            if cum[c] == np.inf:
                touched.append(c)
            cum[c] = 0.0
            heap.push(0.0, c)
    moves = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    while len(heap):
        key, v = heap.pop()
        if key > cum[v]:
            continue
        if key > bound:
            break
        r, cc = divmod(v, W)
        for d, (dr, dc) in enumerate(moves):
            rr, c2 = r + dr, cc + dc
            if not (0 <= rr < H and 0 <= c2 < W):
                continue
            u = rr * W + c2
            if not res[u] < np.inf:
                continue
            nkey = key + lens[d] * 0.5 * (float(res[v]) + float(res[u]))
            if nkey < cum[u]:
                if cum[u] == np.inf:
                    touched.append(u)
                cum[u] = nkey
                pred[u] = v
                heap.push(nkey, u)
    return touched, cum, pred


@pytest.mark.parametrize("seed", [11, 12])
def test_dijkstra_predecessors_and_order_equal_the_two_array_heaps(seed):
    """The compiled search's touched order, costs and predecessors -- which trace the link paths --
    equal a search on the two-array heap, on a class raster full of equal-cost ties."""
    shape = (40, 50)
    res = _raster(seed, shape, impassable=0.03)
    starts = np.flatnonzero(np.isfinite(res))[::211]
    t_ref, cum_ref, pred_ref = _dijkstra_with_two_array_heap(res, shape, starts, 900.0)
    t, cum, pred = _heap(res, shape, starts, np.zeros(starts.size), 900.0)
    assert t.tolist() == t_ref
    assert np.array_equal(cum, cum_ref)
    assert np.array_equal(pred, pred_ref)
    reached = np.isfinite(cum)
    assert np.unique(cum[reached]).size < reached.sum()  # ties: the predecessors are not forced

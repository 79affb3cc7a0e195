"""The selection's interaction tests as array operations (:class:`werkland.interventions.select._InteractionIndex`)
against the per-candidate loop they replace, on random gains."""

from __future__ import annotations

import math

import numpy as np
import pytest

from werkland.interventions.evaluate import Gains
from werkland.interventions.search import boxes_meet
from werkland.interventions.select import _InteractionIndex

GUILDS = ["hedgehog", "pollinators", "woodland_birds"]


def _random_gains(rng: np.random.Generator, n_nodes: int) -> Gains:
    g = Gains()
    if rng.random() < 0.1:  # an empty footprint: no seeds, no windows
        return g
    for name in GUILDS:
        k = int(rng.integers(0, 12))
        q = rng.choice(n_nodes + 3, k, replace=False)  # a few ids beyond the graph's nodes
        w = np.where(rng.random(k) < 0.3, 0.0, rng.uniform(0.0, 8.0, k))
        g.seeds[name] = {int(a): float(b) for a, b in zip(q, w, strict=True)}
        g.touched[name] = frozenset(int(x) for x in rng.choice(n_nodes, int(rng.integers(0, 4)), replace=False))
    if rng.random() < 0.9:
        r, c = rng.integers(0, 200, 2)
        g.window = (int(r), int(r + rng.integers(1, 30)), int(c), int(c + rng.integers(1, 30)))
    if rng.random() < 0.8:
        r, c = rng.integers(0, 200, 2)
        g.cs_window = (int(r), int(r + rng.integers(1, 40)), int(c), int(c + rng.integers(1, 40)))
    g.d_cool_access_m2 = float(rng.choice([0.0, 0.0, rng.uniform(-5, 5)]))
    return g


def _loop(last: dict[int, Gains], i: int, gi: Gains, near: dict[str, np.ndarray], lim: float) -> tuple[set[int], set[int]]:
    """The candidate-by-candidate tests (the selection's code before the index): hit and eager sets."""
    hits: set[int] = set()
    eager: set[int] = set()
    for j, gj in last.items():
        if j == i:
            continue
        hit = boxes_meet(gj.window, gi.window) or (
            gi.d_cool_access_m2 != 0 and gj.d_cool_access_m2 != 0 and boxes_meet(gj.cs_window, gi.cs_window))
        for g, sd in gj.seeds.items():
            m = near[g]
            if sd and any(q < m.size and m[q] + wq <= lim for q, wq in sd.items()):
                hit = True
                if gi.touched.get(g) and any(q in gi.touched[g] for q, wq in sd.items() if wq == 0.0):
                    eager.add(j)
                break
        if hit:
            hits.add(j)
    return hits, eager


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p_min", [0.01, 0.0])
def test_interaction_index_equals_the_loop_over_candidates(seed, p_min):
    """Hits (seeds near the pick's, meeting heat or cool-spot windows) and structural interactions
    (the first guild hit has a seed of tie 0 the pick touched) are the loop's, candidate for
    candidate, also after some candidates' gains are replaced; an infinite limit (p_min 0) hits
    every seed."""
    rng = np.random.default_rng(seed)
    n_nodes, n = 40, 150
    last = {j: _random_gains(rng, n_nodes) for j in range(n)}
    index = _InteractionIndex(GUILDS, [last[j] for j in range(n)])
    lim = -math.log(p_min) if p_min > 0 else math.inf
    n_eager = 0
    for step in range(8):
        i = int(rng.integers(0, n))
        gi = _random_gains(rng, n_nodes)
        near = {g: np.where(rng.random(n_nodes) < 0.5, rng.uniform(0.0, 6.0, n_nodes), np.inf) for g in GUILDS}
        hit, eager = index.interacting(gi, near, lim)
        hit[i] = eager[i] = False
        want_hit, want_eager = _loop(last, i, gi, near, lim)
        assert set(np.flatnonzero(hit).tolist()) == want_hit, step
        assert set(np.flatnonzero(eager).tolist()) == want_eager, step
        n_eager += len(want_eager)
        for j in rng.choice(n, 5, replace=False):  # re-evaluated candidates
            last[int(j)] = _random_gains(rng, n_nodes)
            index.set(int(j), last[int(j)])
    assert n_eager > 0


def test_interaction_index_refuses_seeds_in_another_guild_order():
    g = Gains()
    g.seeds = {"pollinators": {1: 0.0}, "hedgehog": {2: 0.5}}
    with pytest.raises(RuntimeError, match="guild order"):
        _InteractionIndex(GUILDS, [g])

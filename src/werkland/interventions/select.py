"""Ranking and budgeted selection.

Each gain is normalised as attainment of a target (storage still needed per park from
``climate/summary.csv``, an ECA and a habitat target per guild, the HM deficit and the unserved
workplace area), combined with weights and divided by cost (:class:`Scorer`). A lazy-greedy (CELF)
budgeted selection (:func:`celf_select`) re-evaluates marginal gains after each pick -- measures
interact: stepping stones are super-additive, cooling overlaps are sub-additive, storage saturates --
re-evaluating eagerly the candidates that share graph nodes with the pick (:func:`select_portfolio`);
the best single affordable measure is kept when it beats the greedy portfolio (Leskovec et al. 2007).
The Pareto front of biodiversity vs climate score per euro marks the efficient measures.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from werkland.interventions.candidates import Candidate
from werkland.interventions.evaluate import Evaluator, Gains

log = logging.getLogger(__name__)


@dataclass
class Scorer:
    """Target-attainment scores (see the module docstring).

    Attributes
    ----------
    guilds : list of str
        The analysed guilds.
    guild_w : numpy.ndarray
        Normalised guild weights.
    eca_target, hab_target : numpy.ndarray
        Per guild, ha.
    hm_target : float
        HM deficit of the parks, HM-weighted ha.
    access_target_m2 : float
        Workplace area in parks not within the cool-spot distance of a cool spot, m².
    need_m3 : numpy.ndarray
        Storage still needed per park, m³.
    w_bio, w_clim, eca_share, water_share, hm_share : float
        Weights of biodiversity and climate; shares of ECA, water and HM in their scores.
    cap : bool
        Cap each attainment at 1.
    """

    guilds: list[str]
    guild_w: np.ndarray
    eca_target: np.ndarray
    hab_target: np.ndarray
    hm_target: float
    access_target_m2: float
    need_m3: np.ndarray
    w_bio: float
    w_clim: float
    eca_share: float
    water_share: float
    hm_share: float
    cap: bool

    @property
    def n_parks(self) -> int:
        """Number of parks."""
        return int(self.need_m3.size)

    @property
    def size(self) -> int:
        """Length of a gains vector (:meth:`vector`)."""
        return 2 * len(self.guilds) + 2 + self.n_parks

    def vector(self, g: Gains) -> np.ndarray:
        """Gains as a vector: [eca per guild, quality per guild, hm, access, retained per park]."""
        ng = len(self.guilds)
        v = np.zeros(2 * ng + 2 + self.n_parks)
        v[:ng] = [g.d_eca_ha.get(k, 0.0) for k in self.guilds]
        v[ng:2 * ng] = [g.d_quality_ha.get(k, 0.0) for k in self.guilds]
        v[2 * ng] = g.d_hm
        v[2 * ng + 1] = g.d_cool_access_m2
        if g.park >= 0:
            v[2 * ng + 2 + g.park] = g.d_retained_m3
        return v

    def _att(self, x: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, float)
        t = np.asarray(t, float)
        r = np.where(t > 0, x / np.where(t > 0, t, 1.0), 0.0)
        return np.minimum(r, 1.0) if self.cap else r

    def parts(self, tot: np.ndarray) -> tuple[float, float]:
        """(biodiversity, climate) attainment of cumulative gains ``tot``."""
        ng = len(self.guilds)
        eca = self._att(tot[:ng], self.eca_target)
        hab = self._att(tot[ng:2 * ng], self.hab_target)
        bio = float(np.sum(self.guild_w * (self.eca_share * eca + (1 - self.eca_share) * hab)))
        heat = self.hm_share * float(self._att(tot[2 * ng], self.hm_target)) + \
            (1 - self.hm_share) * float(self._att(tot[2 * ng + 1], self.access_target_m2))
        ret = tot[2 * ng + 2:]
        tn = float(self.need_m3.sum())
        if tn > 0:
            water = float(np.sum(np.minimum(ret, self.need_m3) if self.cap else np.where(self.need_m3 > 0, ret, 0.0))) / tn
        else:
            water = 0.0
        clim = self.water_share * water + (1 - self.water_share) * heat
        return bio, clim

    def total(self, tot: np.ndarray) -> float:
        """Combined score of cumulative gains."""
        b, c = self.parts(tot)
        return self.w_bio * b + self.w_clim * c


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of points not dominated in (x, y), both maximised.

    A point is dominated when another is at least as good in both and better in one; equal points
    are all kept.

    Examples
    --------
    >>> pareto_front(np.array([1, 2, 0, 2]), np.array([2, 1, 0, 1])).tolist()
    [True, True, False, True]
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    keep = np.ones(x.size, bool)
    for s0 in range(0, x.size, 512):
        xi, yi = x[s0:s0 + 512, None], y[s0:s0 + 512, None]
        dom = (x[None, :] >= xi) & (y[None, :] >= yi) & ((x[None, :] > xi) | (y[None, :] > yi))
        keep[s0:s0 + 512] = ~dom.any(axis=1)
    return keep


def celf_select(
    costs: Sequence[float] | np.ndarray,
    budget: float,
    gain: Callable[[int], float],
    commit: Callable[[int], Iterable[int]],
    *,
    initial: Sequence[float] | np.ndarray | None = None,
    groups: Sequence[str | None] | None = None,
    best_single: bool = True,
    epsilon: float = 0.0,
    gain_many: Callable[[list[int]], Sequence[float]] | None = None,
) -> tuple[list[int], list[float]]:
    """Lazy-greedy (CELF) budgeted selection by marginal gain per euro.

    Parameters
    ----------
    costs : sequence of float
        Cost of each item, EUR (0-cost items are ranked by gain first).
    budget : float
        Budget, EUR; the selection never exceeds it.
    gain : callable
        ``gain(i) -> float``: marginal objective gain of item ``i`` against the current state.
    commit : callable
        ``commit(i) -> iterable of int``: apply item ``i``; returns items whose gains must be
        re-evaluated at once (interacting measures; may be empty).
    initial : sequence of float, optional
        Gains against the empty state (default: ``gain(i)`` for every item).
    groups : sequence of str or None, optional
        Mutually exclusive items share a group key.
    best_single : bool
        Return the best affordable single item instead when its initial gain beats the greedy
        portfolio's total (Leskovec et al. 2007).
    epsilon : float
        Accept a re-evaluated item at once when its gain per euro is at least ``1 - epsilon`` times
        the best (stale) bound left in the queue, instead of re-evaluating the next ones first: each
        step is then a (1 - epsilon)-approximate greedy step (Badanidiyuru & Vondrák 2014, SODA,
        "Fast algorithms for maximizing submodular functions"). 0 = exact lazy greedy. This stops the
        cascade of re-evaluations among many near-equal candidates.
    gain_many : callable, optional
        ``gain_many(items) -> gains``: ``[gain(i) for i in items]`` in one call (the items that a
        commit returned, all against the same state), for a caller that evaluates them together.

    Returns
    -------
    picks : list of int
        Selected items in order.
    marginal : list of float
        Marginal gain of each pick when it was selected.
    """
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon!r}")
    n = len(costs)
    c = np.asarray(costs, float)
    g0 = np.asarray([gain(i) for i in range(n)] if initial is None else initial, float)
    version = np.zeros(n, np.int64)
    rnd = 0

    def key(i: int, gv: float) -> float:
        # heap order: highest gain per euro first; free items with a positive gain before all
        if c[i] > 0:
            return -gv / c[i]
        return -math.inf if gv > 0 else 0.0

    heap = [(key(i, g0[i]), i, 0, 0, float(g0[i])) for i in range(n) if c[i] <= budget + 1e-9]
    heapq.heapify(heap)
    taken: set[str] = set()
    picks: list[int] = []
    marg: list[float] = []
    left = float(budget)
    chosen = np.zeros(n, bool)
    while heap:
        _, i, ver, stamp, gv = heapq.heappop(heap)
        if chosen[i] or ver != version[i]:
            continue
        if c[i] > left + 1e-9:
            continue
        grp = groups[i] if groups is not None else None
        if grp is not None and grp in taken:
            continue
        if stamp != rnd:
            gv = float(gain(i))
            ki = key(i, gv)
            accept = epsilon > 0 and gv > 0 and (not heap or -ki >= (1.0 - epsilon) * -heap[0][0])
            if not accept:
                heapq.heappush(heap, (ki, i, ver, rnd, gv))
                continue
        if gv <= 0:
            break
        picks.append(i)
        marg.append(gv)
        chosen[i] = True
        left -= c[i]
        if grp is not None:
            taken.add(grp)
        rnd += 1
        eager = [j for j in sorted(set(commit(i) or ())) if not chosen[j] and c[j] <= left + 1e-9]
        eager_gains = gain_many(eager) if gain_many is not None else [gain(j) for j in eager]
        for j, gj in zip(eager, map(float, eager_gains), strict=True):
            version[j] += 1
            heapq.heappush(heap, (key(j, gj), j, int(version[j]), rnd, gj))
    if best_single and n:
        afford = np.flatnonzero(c <= budget + 1e-9)
        if afford.size:
            b = int(afford[np.argmax(g0[afford])])
            if g0[b] > sum(marg) + 1e-12:
                return [b], [float(g0[b])]
    return picks, marg


@dataclass
class Scores:
    """Standalone scores and rank of every candidate (its gains against the baseline).

    Attributes
    ----------
    vecs : numpy.ndarray
        Gains vectors (:meth:`Scorer.vector`), one row per candidate.
    s_bio, s_cli, s_tot : numpy.ndarray
        Biodiversity, climate and combined score.
    cost : numpy.ndarray
        Cost, EUR.
    per_keur : numpy.ndarray
        Combined score per 1000 EUR (``inf`` for free measures with a positive score).
    rank : numpy.ndarray
        1 = best score per euro (ties: candidate order).
    pareto : numpy.ndarray
        On the Pareto front of biodiversity vs climate score per euro (positive score only).
    """

    vecs: np.ndarray
    s_bio: np.ndarray
    s_cli: np.ndarray
    s_tot: np.ndarray
    cost: np.ndarray
    per_keur: np.ndarray
    rank: np.ndarray
    pareto: np.ndarray


def score_candidates(scorer: Scorer, cands: Sequence[Candidate], gains: Sequence[Gains]) -> Scores:
    """Scores, rank by score per euro and Pareto front of the candidates' standalone gains."""
    vecs = np.array([scorer.vector(g) for g in gains]) if gains else np.zeros((0, scorer.size))
    parts = [scorer.parts(v) for v in vecs]
    s_bio = np.array([p[0] for p in parts])
    s_cli = np.array([p[1] for p in parts])
    s_tot = scorer.w_bio * s_bio + scorer.w_clim * s_cli
    cost = np.array([c.cost_eur for c in cands], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_keur = np.where(cost > 0, s_tot / (cost / 1000.0), np.where(s_tot > 0, np.inf, 0.0))
        pb = np.where(cost > 0, s_bio / (cost / 1000.0), np.where(s_bio > 0, np.inf, 0.0))
        pc = np.where(cost > 0, s_cli / (cost / 1000.0), np.where(s_cli > 0, np.inf, 0.0))
    order = np.lexsort((np.arange(len(cands)), -per_keur))
    rank = np.empty(len(cands), np.int64)
    rank[order] = np.arange(1, len(cands) + 1)
    pareto = pareto_front(pb, pc) & (s_tot > 0) if len(cands) else np.zeros(0, bool)
    return Scores(vecs, s_bio, s_cli, s_tot, cost, per_keur, rank, pareto)


class _InteractionIndex:
    """Every candidate's last gains as flat arrays, so that the interaction tests of a pick with all
    candidates are a few array operations instead of a loop over each candidate's seeds.

    Per guild (in the evaluator's guild order, which is the order of every :attr:`Gains.seeds`): the
    seed nodes, their ``-ln p`` tie and the candidate of each seed, concatenated; per candidate: its
    heat window, cool-spot window and cool-spot access gain. :meth:`set` replaces a candidate's
    gains; the concatenation is rebuilt on the next test.
    """

    def __init__(self, guilds: list[str], gains: Sequence[Gains]) -> None:
        self.guilds = guilds
        n = len(gains)
        self.n = n
        self._q: dict[str, list[np.ndarray]] = {g: [np.zeros(0, np.int64)] * n for g in guilds}
        self._w: dict[str, list[np.ndarray]] = {g: [np.zeros(0)] * n for g in guilds}
        self._flat: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self.window = np.zeros((n, 4), np.int64)
        self.has_window = np.zeros(n, bool)
        self.cs_window = np.zeros((n, 4), np.int64)
        self.has_cs_window = np.zeros(n, bool)
        self.cool = np.zeros(n)
        for j, gj in enumerate(gains):
            self.set(j, gj)

    def set(self, j: int, gj: Gains) -> None:
        """Candidate ``j``'s gains are now ``gj``."""
        order = list(gj.seeds)
        if order and order != self.guilds[:len(order)]:
            raise RuntimeError(f"seeds of candidate {j} in guild order {order}, not the evaluator's {self.guilds}")
        for g in self.guilds:
            sd = gj.seeds.get(g) or {}
            self._q[g][j] = np.fromiter(sd.keys(), np.int64, len(sd))
            self._w[g][j] = np.fromiter(sd.values(), np.float64, len(sd))
        for box, arr, has in ((gj.window, self.window, self.has_window), (gj.cs_window, self.cs_window, self.has_cs_window)):
            has[j] = box is not None
            if box is not None:
                arr[j] = box
        self.cool[j] = gj.d_cool_access_m2
        self._flat = None

    def _arrays(self, g: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._flat is None:
            self._flat = {}
            for name in self.guilds:
                qs, ws = self._q[name], self._w[name]
                owner = np.repeat(np.arange(self.n, dtype=np.int64), [q.size for q in qs])
                self._flat[name] = (np.concatenate(qs) if qs else np.zeros(0, np.int64),
                                    np.concatenate(ws) if ws else np.zeros(0), owner)
        return self._flat[g]

    @staticmethod
    def _meets(boxes: np.ndarray, has: np.ndarray, b: Any) -> np.ndarray:
        """:func:`~werkland.interventions.search.boxes_meet` of every box with ``b``."""
        if b is None:
            return np.zeros(has.size, bool)
        return has & (boxes[:, 0] < b[1]) & (b[0] < boxes[:, 1]) & (boxes[:, 2] < b[3]) & (b[2] < boxes[:, 3])

    def interacting(self, gi: Gains, near: dict[str, np.ndarray], lim: float) -> tuple[np.ndarray, np.ndarray]:
        """Which candidates a pick with gains ``gi`` comes near, and which of them structurally.

        A candidate is hit when its heat window meets the pick's, when both change cool-spot access
        and their cool-spot windows meet, or when one of its seeds ``q`` (tie ``w``) has
        ``near[g][q] + w <= lim`` in some guild. It interacts structurally when, in the first guild
        where it is hit, the pick touched one of its seeds of tie 0 (a merge or a shared link).
        """
        hit = self._meets(self.window, self.has_window, gi.window)
        if gi.d_cool_access_m2 != 0:
            hit |= (self.cool != 0) & self._meets(self.cs_window, self.has_cs_window, gi.cs_window)
        decided = np.zeros(self.n, bool)
        eager = np.zeros(self.n, bool)
        for g in self.guilds:
            q, w, owner = self._arrays(g)
            m = near[g]
            ok = q < m.size
            close = np.zeros(q.size, bool)
            close[ok] = m[q[ok]] + w[ok] <= lim
            g_hit = np.zeros(self.n, bool)
            g_hit[owner[close]] = True
            touched = gi.touched.get(g)
            if touched:
                on = (w == 0.0) & np.isin(q, np.fromiter(touched, np.int64, len(touched)))
                g_touch = np.zeros(self.n, bool)
                g_touch[owner[on]] = True
                eager |= g_hit & ~decided & g_touch
            decided |= g_hit
        return hit | decided, eager


class _LazyGreedy:
    """Marginal gains and commits of the budgeted selection against an evaluator's changing state.

    A candidate is re-evaluated only when a pick since its last evaluation came near it (graph seeds
    within the p* cut of the pick's, overlapping heat or cool-spot windows, shared footprint cells);
    the others are re-priced from their stored gains (:meth:`Evaluator.reprice`).
    """

    def __init__(
        self, ev: Evaluator, scorer: Scorer, cands: Sequence[Candidate], gains: Sequence[Gains], cost: np.ndarray,
        *, interaction_p: float, eager_max: int,
    ) -> None:
        self.ev, self.scorer, self.cands, self.cost = ev, scorer, cands, cost
        self.interaction_p = interaction_p
        self.eager_max = eager_max
        self.tot = np.zeros(scorer.size)
        self.f_now = 0.0
        self.last: dict[int, Gains] = dict(enumerate(gains))
        self.dirty = np.zeros(len(cands), bool)
        self.n_reprice = 0
        #: gains vector of each pick when it was committed
        self.pick_vec: dict[int, np.ndarray] = {}
        self.index = _InteractionIndex(list(ev.graphs), gains)
        self.cell_owner: dict[int, list[int]] = {}
        for i, c in enumerate(cands):
            for x in c.cells[:: max(1, c.cells.size // 64)].tolist():
                self.cell_owner.setdefault(x, []).append(i)
        self.t0 = time.perf_counter()
        self.n_ev0 = ev.n_evals

    def gain(self, i: int) -> float:
        """Marginal combined score of candidate ``i`` against the current portfolio."""
        if self.dirty[i]:
            gi = self.ev.evaluate(self.cands[i], prev=self.last[i])
            self._evaluated(i, gi)
        else:
            gi = self.ev.reprice(self.last[i])
            self.n_reprice += 1
        return self._marginal(gi)

    def gain_many(self, items: list[int]) -> list[float]:
        """:meth:`gain` of each of ``items`` (all against the current state): the ones a pick made
        dirty evaluated together (:meth:`Evaluator.evaluate_many`), the others re-priced."""
        dirty = [i for i in items if self.dirty[i]]
        fresh = dict(zip(dirty, self.ev.evaluate_many([self.cands[i] for i in dirty], [self.last[i] for i in dirty]),
                         strict=True))
        for i, gi in fresh.items():
            self._evaluated(i, gi)
        return [self._marginal(fresh[i]) if i in fresh else self.gain(i) for i in items]

    def _evaluated(self, i: int, gi: Gains) -> None:
        """Keep candidate ``i``'s fresh gains (no longer dirty)."""
        self.last[i] = gi
        self.index.set(i, gi)
        self.dirty[i] = False

    def _marginal(self, gi: Gains) -> float:
        return self.scorer.total(self.tot + self.scorer.vector(gi)) - self.f_now

    def commit(self, i: int) -> set[int]:
        """Apply pick ``i``; mark the candidates it interacts with and return those to re-rank at once."""
        ev, cands = self.ev, self.cands
        gi = ev.evaluate(cands[i], commit=True)
        dt = time.perf_counter() - self.t0
        log.info("pick %d: %s (%.0f EUR); %d re-evaluations and %d re-pricings in %.1f s", len(self.pick_vec) + 1,
                 cands[i].candidate_id, self.cost[i], ev.n_evals - self.n_ev0, self.n_reprice, dt)
        v = self.scorer.vector(gi)
        self.pick_vec[i] = v
        self.tot += v
        self.f_now = self.scorer.total(self.tot)
        eager = self._interacting(i, gi)
        if len(eager) > self.eager_max:
            # only the best-ranked interacting candidates at once (synergies that could make them the
            # next pick); the others are dirty and re-evaluated when they reach the top of the queue
            eager = set(sorted(eager, key=lambda j: (-self._stale_ratio(j), j))[: self.eager_max])
        return eager

    def _interacting(self, i: int, gi: Gains) -> set[int]:
        """Mark the candidates that interact with pick ``i`` dirty; the structurally interacting ones
        (shared patch or link, shared footprint cells) are returned for re-evaluation at once."""
        ev, p_min = self.ev, self.interaction_p
        # candidates that interact with the pick: graph seeds within the p* cut of the pick's
        # seeds, overlapping heat windows, shared footprint cells -> full re-evaluation
        lim = -math.log(p_min) if p_min > 0 else math.inf
        near = {g: ev.graphs[g].near(gi.seeds.get(g, {}), p_min) for g in self.scorer.guilds}
        fp = set(self.cands[i].cells.tolist())
        owners: set[int] = set()
        for x in fp:
            owners.update(self.cell_owner.get(x, ()))
        hit, eager_mask = self.index.interacting(gi, near, lim)
        if owners:
            hit[np.fromiter(owners, np.int64, len(owners))] = True
        hit[i] = eager_mask[i] = False
        self.dirty[hit] = True
        return {int(j) for j in np.flatnonzero(eager_mask)} | (owners - {i})

    def _stale_ratio(self, j: int) -> float:
        gj = self.scorer.total(self.tot + self.scorer.vector(self.ev.reprice(self.last[j]))) - self.f_now
        return gj / self.cost[j] if self.cost[j] > 0 else math.inf


def select_portfolio(
    ev: Evaluator, scorer: Scorer, cands: Sequence[Candidate], gains: Sequence[Gains], scores: Scores, *,
    budget: float, interaction_p: float, eager_max: int, lazy_epsilon: float, warnings: list[str],
    committed: list[int] | None = None,
) -> tuple[list[int], dict[int, np.ndarray]]:
    """Lazy-greedy budgeted selection with marginal gains re-evaluated on the evaluator's state.

    Parameters
    ----------
    ev : Evaluator
        The region's state; every pick is committed to it.
    scorer : Scorer
        Target-attainment scores.
    cands, gains : sequence
        Candidates and their standalone gains.
    scores : Scores
        Their standalone scores (the first bounds of the lazy greedy).
    budget : float
        EUR.
    interaction_p, eager_max, lazy_epsilon : float, int, float
        See :class:`werkland.params.InterventionParams`.
    warnings : list of str
        Appended to when the budget buys nothing.
    committed : list of int, optional
        Appended to: the candidates committed to ``ev``, in commit order. These are the picks,
        except when the best single affordable measure replaces the greedy portfolio (the greedy
        picks were committed then).

    Returns
    -------
    picks : list of int
        Selected candidates in pick order.
    pick_vec : dict of int to numpy.ndarray
        Marginal gains vector of each pick when it was selected.
    """
    cost = scores.cost
    if not cands:
        return [], {}
    if cost.min() > budget:
        warnings.append(f"budget {budget:,.0f} EUR is smaller than the cheapest measure ({cost.min():,.0f} EUR): nothing selected")
        return [], {}
    greedy = _LazyGreedy(ev, scorer, cands, gains, cost, interaction_p=interaction_p, eager_max=eager_max)
    groups = [c.exclusive_key for c in cands]
    picks, _ = celf_select(cost, budget, greedy.gain, greedy.commit, initial=scores.s_tot, groups=groups,
                           epsilon=lazy_epsilon, gain_many=greedy.gain_many)
    if committed is not None:
        committed.extend(greedy.pick_vec)
    pick_vec = greedy.pick_vec
    if len(picks) == 1 and picks[0] not in pick_vec:
        pick_vec = {picks[0]: scores.vecs[picks[0]]}
    return picks, pick_vec

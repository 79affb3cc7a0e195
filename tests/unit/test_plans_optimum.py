"""The optimum a plan is compared with: the candidates' standalone gains read back from the
interventions stage's candidates.gpkg, and the standalone lazy greedy (interventions.plan_optimum)."""

from __future__ import annotations

import itertools
import shutil

import geopandas as gpd
import numpy as np
import pytest

from werkland._errors import WerklandInputError
from werkland.interventions import run_interventions
from werkland.interventions.candidates import Candidate
from werkland.interventions.engine import build_engine, candidate_pool, first_evaluation
from werkland.interventions.evaluate import Gains
from werkland.interventions.outputs import footprint_polygon
from werkland.interventions.plans import pool_gains_from_candidates, select_standalone

from .test_interventions import ANALYSED, LEGEND, _params, make_region
from .test_interventions_plans import _inputs, _plan_file, _score


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from werkland.tables import load_legend

    return make_region(tmp_path_factory.mktemp("plans_opt"), load_legend(LEGEND))


@pytest.fixture(scope="module")
def stage(region, tmp_path_factory):
    """The interventions stage run once on the region; its engine in the baseline state and its pool."""
    paths, _, _ = region
    out = tmp_path_factory.mktemp("stage")
    params = _params()
    inputs = _inputs(paths, out)
    run_interventions(inputs, params)
    eng = build_engine(inputs, params)
    return inputs, eng, candidate_pool(eng, params, None), params


def test_candidates_file_holds_every_standalone_gain(stage):
    """Read back, the gains vectors equal those of a fresh first evaluation, value for value."""
    inputs, eng, pool, params = stage
    park_ids = [str(x) for x in eng.region.parks["park_id"]]
    read = pool_gains_from_candidates(inputs.out_candidates_gpkg, pool, params.guilds, park_ids)
    fresh = first_evaluation(eng.ev, pool, params)
    assert len(read) == len(pool) >= 10
    n_park = 0
    for a, b in zip(read, fresh, strict=True):
        np.testing.assert_array_equal(eng.scorer.vector(a), eng.scorer.vector(b))
        assert a.park == b.park
        n_park += a.park >= 0
    assert n_park > 0  # water gains are placed on their park
    df = gpd.read_file(inputs.out_candidates_gpkg, layer="candidates")
    for g in ANALYSED:
        assert f"d_quality_ha_{g}" in df.columns
    # the weighted habitat column is the guild-weighted sum of the new per-guild columns
    w = eng.scorer.guild_w
    np.testing.assert_allclose(df["d_habitat_ha"], sum(w[k] * df[f"d_quality_ha_{g}"] for k, g in enumerate(ANALYSED)),
                               rtol=1e-12, atol=1e-15)


def test_stale_or_old_candidates_file_is_one_clear_error(stage, tmp_path):
    inputs, eng, pool, params = stage
    park_ids = [str(x) for x in eng.region.parks["park_id"]]
    with pytest.raises(WerklandInputError, match="holds .* candidates, the configuration generates .* -- fix: re-run"):
        pool_gains_from_candidates(inputs.out_candidates_gpkg, pool[:-1], params.guilds, park_ids)
    renamed = [Candidate("zz", c.type, c.park_id, c.cells, c.size, c.size_unit, c.cost_eur) if k == 0 else c
               for k, c in enumerate(pool)]
    with pytest.raises(WerklandInputError, match="first not found: 'zz'"):
        pool_gains_from_candidates(inputs.out_candidates_gpkg, renamed, params.guilds, park_ids)
    old = tmp_path / "old.gpkg"
    shutil.copy(inputs.out_candidates_gpkg, old)
    df = gpd.read_file(old, layer="candidates").drop(columns=["water_park_id"])
    df.to_file(old, layer="candidates", engine="pyogrio")
    with pytest.raises(WerklandInputError, match=r"missing column\(s\) \['water_park_id'\]"):
        pool_gains_from_candidates(old, pool, params.guilds, park_ids)
    with pytest.raises(WerklandInputError, match="candidates file missing"):
        pool_gains_from_candidates(tmp_path / "none.gpkg", pool, params.guilds, park_ids)


def _brute_greedy(scorer, vecs, cost, groups, budget):
    """Plain greedy (every gain recomputed every step) with the same rules as celf_select."""
    cum = np.zeros(vecs.shape[1])
    left, picks, taken = budget, [], set()
    while True:
        best, bi = None, None
        for i in range(len(cost)):
            if i in picks or cost[i] > left + 1e-9 or (groups[i] is not None and groups[i] in taken):
                continue
            g = scorer.total(cum + vecs[i]) - scorer.total(cum)
            r = g / cost[i] if cost[i] > 0 else (np.inf if g > 0 else 0.0)
            if g > 0 and (best is None or r > best):
                best, bi = r, i
        if bi is None:
            return picks
        picks.append(bi)
        cum = cum + vecs[bi]
        left -= cost[bi]
        if groups[bi] is not None:
            taken.add(groups[bi])


def test_standalone_greedy_equals_plain_greedy_and_respects_budget_and_groups(stage):
    inputs, eng, pool, params = stage
    gains = first_evaluation(eng.ev, pool, params)
    scorer = eng.scorer
    vecs = np.array([scorer.vector(g) for g in gains])
    cost = np.array([c.cost_eur for c in pool])
    groups = [c.exclusive_key for c in pool]
    assert any(g is not None for g in groups)
    for budget in (cost.min(), np.median(cost) * 3, cost.sum() / 4, cost.sum()):
        picks = select_standalone(scorer, pool, gains, float(budget))
        assert cost[picks].sum() <= budget + 1e-6
        keys = [groups[i] for i in picks if groups[i] is not None]
        assert len(keys) == len(set(keys))
        brute = _brute_greedy(scorer, vecs, cost, groups, float(budget))
        single = max((i for i in range(len(pool)) if cost[i] <= budget + 1e-9),
                     key=lambda i: scorer.total(vecs[i]))
        if scorer.total(vecs[single]) > scorer.total(vecs[brute].sum(axis=0)) + 1e-12:
            brute = [single]  # the best-single rule of the stage's selection
        assert sorted(picks) == sorted(brute)
    assert select_standalone(scorer, pool, gains, float(cost.min()) - 1.0) == []


def test_standalone_greedy_is_exact_on_a_small_additive_problem():
    """Without saturation (targets far above the gains), gains add up: on 8 items with costs chosen so
    that ratio order is also the best set, the greedy finds the brute-force optimum."""
    from werkland.interventions.select import Scorer

    sc = Scorer(guilds=["g"], guild_w=np.array([1.0]), eca_target=np.array([1e9]), hab_target=np.array([1e9]),
                hm_target=1e9, access_target_m2=1e9, need_m3=np.array([1e9]), w_bio=1.0, w_clim=0.0,
                eca_share=1.0, water_share=0.5, hm_share=0.5, cap=True)
    vals = np.array([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    cost = np.array([4.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0, 8.0])
    cands = [Candidate(f"c{k}", "t", "p", np.array([k]), 1.0, "item", float(cost[k])) for k in range(8)]
    gains = [Gains(d_eca_ha={"g": float(v)}, d_quality_ha={"g": 0.0}) for v in vals]
    budget = 12.0
    picks = select_standalone(sc, cands, gains, budget)
    best = max((s for r in range(9) for s in itertools.combinations(range(8), r) if cost[list(s)].sum() <= budget),
               key=lambda s: vals[list(s)].sum())
    assert sorted(picks) == sorted(best) == [0, 1, 2]


@pytest.mark.parametrize("mode", ["standalone", "marginal"])
def test_plan_equal_to_its_optimum_scores_100_in_both_modes(tmp_path, region, stage, mode):
    paths, grid, _ = region
    _, _, pool, _ = stage
    picked = [c for c in pool if c.type in ("depaving", "hedgerow", "wadi")][:3]
    rows = [{"measure_id": c.candidate_id, "type": c.type, "cost_eur": c.cost_eur, "size": c.size,
             "geometry": footprint_polygon(c.cells, grid)} for c in picked]
    _, csv1, _, opt1 = _score(tmp_path, paths, _plan_file(tmp_path / "a.gpkg", rows), "a", plan_optimum=mode)
    opt_ids = list(opt1["candidate_id"])
    by_id = {c.candidate_id: c for c in pool}
    opt_cands = [by_id[i] for i in opt_ids if i in by_id]
    assert opt_cands
    rows2 = [{"measure_id": c.candidate_id, "type": c.type, "cost_eur": c.cost_eur, "size": c.size,
              "geometry": footprint_polygon(c.cells, grid)} for c in opt_cands]
    _, csv2, m2, _ = _score(tmp_path, paths, _plan_file(tmp_path / "b.gpkg", rows2), "b", plan_optimum=mode)
    r = csv2.iloc[0]
    assert r["attainment_pct"] == pytest.approx(100.0, abs=1e-9)
    assert r["n_swapped_out"] == 0 and m2["in_optimum"].all()
    assert 0 < csv1.iloc[0]["attainment_pct"] <= 100.0
    assert csv1.iloc[0]["optimum_cost_eur"] <= csv1.iloc[0]["cost_eur"] + 1e-6


def test_standalone_optimum_needs_the_candidates_file(tmp_path, region):
    from werkland.interventions.plans import PlanInputs, run_plan

    paths, grid, _ = region
    plan = _plan_file(tmp_path / "p.gpkg", [{"type": "depaving", "geometry": footprint_polygon(np.array([35 * 60 + 35]), grid)}])
    with pytest.raises(WerklandInputError, match="reads the stage's candidates"):
        run_plan(PlanInputs(_inputs(paths, tmp_path / "u"), "p", plan, tmp_path / "out.gpkg", tmp_path / "p.csv"),
                 _params())
    assert not (tmp_path / "p.csv").exists()


def test_batched_joint_total_equals_the_replay(stage, region):
    """The optimum's joint evaluation with one graph update per batch equals committing the measures
    one by one (the documented tolerance: the PC tolerance of the graph update), and the batches
    respect parks, overlaps and order."""
    import copy

    from werkland.interventions.after import batched_joint_total, joint_batches, replay
    from werkland.interventions.plans import canonical_order

    _, eng, pool, params = stage
    # many measures of one park, some overlapping (same roof, other green-roof kinds), in canonical order
    cands = [pool[i] for i in canonical_order(pool)]
    batches = joint_batches(cands)
    assert sorted(i for b in batches for i in b) == list(range(len(cands)))
    assert len(batches) < len(cands)  # measures were batched
    where = {i: k for k, b in enumerate(batches) for i in b}
    for b in batches:
        assert b == sorted(b) and len({cands[i].park_id for i in b}) == 1
        cells = np.concatenate([cands[i].cells for i in b])
        assert np.unique(cells).size == cells.size  # no overlap inside a batch
    pairs = [(i, j) for i, j in itertools.combinations(range(len(cands)), 2)
             if np.intersect1d(cands[i].cells, cands[j].cells).size]
    assert pairs  # the case of overlapping measures is exercised
    assert all(where[i] < where[j] for i, j in pairs)  # overlapping measures keep their order
    seq = replay(copy.deepcopy(eng.ev), eng.scorer, cands).total
    bat = batched_joint_total(copy.deepcopy(eng.ev), eng.scorer, cands)
    ng = len(eng.scorer.guilds)
    assert np.all(np.abs(seq[:ng]) > 0)
    np.testing.assert_allclose(bat[:ng], seq[:ng], rtol=max(10 * params.pc_tolerance, 1e-9))
    np.testing.assert_allclose(bat[ng:2 * ng], seq[ng:2 * ng], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(bat[2 * ng:], seq[2 * ng:])  # heat and water: the same commits in the same order
    assert np.any(seq[2 * ng:] != 0)
    assert eng.scorer.total(bat) == pytest.approx(eng.scorer.total(seq), rel=1e-6)


def test_plan_measures_equal_to_candidates_reuse_their_gains(tmp_path, region, stage, monkeypatch):
    """A plan drawn from the candidates is not evaluated again, and its standalone gains are the
    candidates' (value for value); a measure with its own geometry is evaluated."""
    import werkland.interventions.plans as plans_mod

    paths, grid, _ = region
    inputs, _, pool, _ = stage
    seen: list[int] = []
    real = plans_mod.first_evaluation

    def counting(ev, cands, params):
        seen.append(len(cands))
        return real(ev, cands, params)

    monkeypatch.setattr(plans_mod, "first_evaluation", counting)
    picked = [c for c in pool if c.type in ("depaving", "hedgerow")][:2]
    rows = [{"measure_id": c.candidate_id, "type": c.type, "geometry": footprint_polygon(c.cells, grid)} for c in picked]
    rows.append({"measure_id": "own", "type": "depaving", "geometry": footprint_polygon(np.array([35 * 60 + 36]), grid)})
    _, _, measures, _ = _score(tmp_path, paths, _plan_file(tmp_path / "c.gpkg", rows), "c")
    assert seen == [1]  # only the measure with its own geometry
    cand = gpd.read_file(inputs.out_candidates_gpkg, layer="candidates").set_index("candidate_id")
    for c in picked:
        m = measures.set_index("measure_id").loc[c.candidate_id]
        for col in ("d_hm", "d_retained_m3", "d_habitat_ha", *[f"d_eca_ha_{g}" for g in ANALYSED]):
            assert m[col] == cand.loc[c.candidate_id, col]

"""Scoring a plan with worker processes (the plan's joint evaluation in a forked process while the
optimum is selected) gives the same outputs as scoring it in one process."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import pandas as pd
import pytest

from werkland.interventions import run_interventions
from werkland.interventions.plans import PlanInputs, run_plan

from .test_interventions import LEGEND, _box_cells, _params, make_region
from .test_interventions_plans import _inputs, _plan_file


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from werkland.tables import load_legend

    return make_region(tmp_path_factory.mktemp("plans_fork"), load_legend(LEGEND))


@pytest.mark.parametrize("mode", ["standalone", "marginal"])
def test_forked_joint_evaluation_equals_in_process(tmp_path, region, mode):
    paths, grid, _ = region
    h = grid.height
    plan = _plan_file(tmp_path / "two.gpkg", [
        {"type": "depaving", "geometry": _box_cells(35, 55, 35, 50, h)},
        {"type": "depaving", "geometry": _box_cells(35, 55, 40, 55, h)},
    ])
    stage = _inputs(paths, tmp_path / "stage")
    run_interventions(stage, _params())
    out = {}
    for nw in (1, 2):
        d = tmp_path / f"w{nw}"
        inputs = PlanInputs(_inputs(paths, d / "unused"), "p", plan, d / "p.gpkg", d / "p.csv",
                            stage.out_candidates_gpkg)
        run_plan(inputs, replace(_params(plan_optimum=mode), n_workers=nw))
        out[nw] = (pd.read_csv(inputs.out_csv), gpd.read_file(inputs.out_gpkg, layer="measures"),
                   gpd.read_file(inputs.out_gpkg, layer="optimum"))
    for a, b in zip(out[1], out[2], strict=True):
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry", errors="ignore")),
                                      pd.DataFrame(b.drop(columns="geometry", errors="ignore")), check_exact=True)
    assert out[1][0].iloc[0]["score"] > 0

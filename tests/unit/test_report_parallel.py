"""The report drawn by worker processes, the PDF page from the base context, the light polygon patches.

Speed is measured in benchmarks (docs/benchmarks.md, "Report"); these tests check that the faster
paths write the same bytes as the plain ones.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from matplotlib.figure import Figure
from shapely.geometry import MultiPolygon, Polygon, box

from tests.conftest import GUILDS, LEGEND
from tests.unit.test_report import CRS_NL, X0, Y0, _build, _params, _snapshot, make_region
from werkland._errors import WerklandInputError
from werkland.layout import REPORT_FIGURES, RegionPaths
from werkland.report import load_region, park_cards, render_figures, selected_measures
from werkland.report.figures import light_polygon_patches
from werkland.report.furniture import png
from werkland.report.methods import provenance
from werkland.report.parallel import TaskPool, default_workers
from werkland.report.render import (
    _base_context,
    _page_context,
    _sections,
    _summary_context,
    template_env,
)

FORK = "fork" in __import__("multiprocessing").get_all_start_methods()


@pytest.mark.skipif(not FORK, reason="worker processes need the fork start method (Linux)")
def test_two_workers_write_the_same_bytes_as_one(tmp_path, monkeypatch):
    """Figures, sections and map drawn in forked workers: every file and the returned summary as in a serial run."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    d = make_region(tmp_path, "synth", full=True)
    serial = _build(tmp_path, "synth", workers=1)
    first = _snapshot(d)
    parallel = _build(tmp_path, "synth", workers=2)
    second = _snapshot(d)
    assert "report/index.html" in first and "report/map.html" in first
    assert all(f"report/{name}" in first for name, _cat in REPORT_FIGURES.values())
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []
    assert serial == parallel


def test_workers_below_one_is_an_input_error(tmp_path):
    make_region(tmp_path, "synth", full=False)
    with pytest.raises(WerklandInputError, match="workers"):
        _build(tmp_path, "synth", workers=0)


def _square(k: int) -> int:
    return k * k


def _fail() -> None:
    raise ValueError("task failed on purpose")


@pytest.mark.parametrize("workers", [1, 2])
def test_task_pool_returns_each_result_and_raises_task_errors(workers):
    if workers > 1 and not FORK:
        pytest.skip("worker processes need the fork start method (Linux)")
    tasks = {f"sq{k}": (lambda k=k: _square(k)) for k in range(6)}
    with TaskPool(tasks, workers) as pool:
        assert pool.parallel == (workers > 1)
        assert [pool.result(f"sq{k}") for k in (5, 0, 3, 1, 2, 4)] == [25, 0, 9, 1, 4, 16]
    with TaskPool({"bad": _fail, "ok": lambda: 1}, workers) as pool:
        assert pool.result("ok") == 1
        with pytest.raises(ValueError, match="on purpose"):
            pool.result("bad")
    assert 1 <= default_workers() <= 2


def test_pdf_page_from_the_base_context_equals_the_full_context(tmp_path, monkeypatch):
    """The summary PDF is printed before the figures exist: its page must not need them."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    make_region(tmp_path, "synth", full=True)
    params = _params()
    data = load_region(RegionPaths(tmp_path, "synth"), LEGEND, GUILDS, params)
    summary = _summary_context(data, selected_measures(data))
    figures = render_figures(data)
    full = _page_context(data, park_cards(data), figures, _sections(figures, params.language),
                         provenance(data, LEGEND, GUILDS, []), "2024-01-02 03:04 UTC", summary)
    base = _base_context(data, "2024-01-02 03:04 UTC", summary)
    template = template_env().get_template("summary_print.html.j2")
    page = template.render(**{**base, "downloads": False})
    assert page == template.render(**{**full, "downloads": False})
    assert "2024-01-02 03:04 UTC" in page


def _polygons() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    geoms = []
    for i in range(60):
        x, y = X0 + rng.uniform(0, 900), Y0 + rng.uniform(0, 900)
        outer = box(x, y, x + rng.uniform(20, 90), y + rng.uniform(20, 90))
        if i % 4 == 0:  # a hole
            c = outer.centroid
            outer = Polygon(outer.exterior.coords, [box(c.x - 5, c.y - 5, c.x + 5, c.y + 5).exterior.coords])
        if i % 7 == 0:
            outer = MultiPolygon([outer, box(x - 40, y - 40, x - 25, y - 20)])
        geoms.append(outer)
    return gpd.GeoDataFrame({"v": rng.uniform(0, 5, len(geoms))}, geometry=geoms, crs=CRS_NL)


def test_light_polygon_patches_draw_like_geopandas():
    import geopandas.plotting as gpp

    original = gpp._PolygonPatch
    gdf = _polygons()
    pngs = []
    for light in (False, True):
        fig = Figure(figsize=(5, 4))
        ax = fig.subplots()
        kwargs = {"ax": ax, "column": "v", "cmap": "Oranges", "vmin": 0, "vmax": 5, "edgecolor": "#7f2704",
                  "linewidth": 0.3, "zorder": 3, "legend": True, "legend_kwds": {"label": "dPC (%)", "shrink": 0.6}}
        if light:
            with light_polygon_patches():
                assert gpp._PolygonPatch is not original
                gdf.plot(**kwargs)
        else:
            gdf.plot(**kwargs)
        pngs.append(png(fig))
    assert gpp._PolygonPatch is original
    assert pngs[0] == pngs[1]


"""Benchmark of scoring a user plan (werkland.interventions.plans.run_plan).

Target: a plan of 200 measures on the generated 4 M-cell region (20 km x 20 km at 10 m, 4 guilds)
scored -- standalone and joint gains, the optimal portfolio at the plan's cost over the stage's
candidates plus the plan's measures, attainment and swaps -- in at most 2 minutes on 2 cores.

Run: ``.venv/bin/python benchmarks/bench_plans.py [--size-km 20] [--measures 200] [--candidates 1000]``
(``--size-km 10``: the 1 M-cell region). The region comes from ``benchmarks/bench_foundation.py``
(written to ``benchmarks/out/plans-<size>km/foundation-generated``); its connectivity and climate
outputs and the interventions stage (whose ``candidates.gpkg`` holds the candidates' standalone
gains) are computed once, untimed. The plan is ``--measures`` generated candidates spread over
types and parks, written as a GeoPackage of their footprints: ``--plan random`` (default) a seeded
random sample of the candidates, so typical sizes; ``--plan largest`` the largest of every type and
park first (``cap_candidates``), an extreme plan whose cost buys most of the candidates.
``--optimum marginal`` times the stage's lazy greedy on marginal gains instead of the default
standalone optimiser (``interventions.plan_optimum``).
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_interventions import GUILDS_TABLE, LEGEND, ROOT, load_config  # noqa: E402

from werkland.climate import run_climate  # noqa: E402
from werkland.connectivity import run_connectivity  # noqa: E402
from werkland.interventions import InterventionInputs, cap_candidates, run_interventions  # noqa: E402
from werkland.interventions.engine import build_engine, candidate_pool  # noqa: E402
from werkland.interventions.outputs import footprint_polygon  # noqa: E402
from werkland.interventions.plans import PlanInputs, run_plan  # noqa: E402
from werkland.layout import RegionPaths  # noqa: E402
from werkland.params import ClimateParams, ConnectivityParams, InterventionParams  # noqa: E402
from werkland.tables import load_guilds, load_legend  # noqa: E402


def prepare(size_km: float, cfg: dict) -> RegionPaths:
    """The generated region with its habitat, connectivity and climate outputs (computed once)."""
    out = ROOT / "benchmarks" / "out" / f"plans-{size_km:g}km"
    src = out / "foundation-generated"
    if not (src / "landcover.tif").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_foundation.py"), "--size-km", f"{size_km:g}",
                        "--polygons", str(int(40000 * (size_km / 20) ** 2)), "--out", str(out)], check=True)
    paths = RegionPaths(out, "region")
    paths.dir.mkdir(parents=True, exist_ok=True)
    for name in ("landcover.tif", "landcover.gpkg", "region.gpkg", "habitat", "resistance"):
        if not (paths.dir / name).exists():
            (shutil.copytree if (src / name).is_dir() else shutil.copy2)(src / name, paths.dir / name)
    table = load_guilds(GUILDS_TABLE, load_legend(LEGEND))
    for g in cfg["guilds"]:
        if not paths.summary(g).exists():
            for sub in ("patches", "graph"):
                (paths.dir / sub).mkdir(exist_ok=True)
            run_connectivity(paths.habitat(g), paths.resistance(g), paths.region_gpkg, paths.patches_gpkg(g),
                             paths.patches_tif(g), paths.links(g), paths.graphml(g), paths.metrics(g),
                             paths.summary(g), None, params=ConnectivityParams.from_config(cfg, table[g], n_threads=2))
    if not paths.climate_summary.exists():
        paths.climate_summary.parent.mkdir(exist_ok=True)
        climate = ClimateParams.from_config(cfg)
        run_climate(paths.landcover_tif, paths.landcover_gpkg, paths.region_gpkg, LEGEND, paths.cooling,
                    {s: paths.runoff(s) for s in climate.storm_names}, paths.climate_summary, params=climate,
                    threads=2)
    return paths


def engine_inputs(paths: RegionPaths, guilds: tuple[str, ...], cfg: dict) -> InterventionInputs:
    return InterventionInputs(
        landcover_tif=paths.landcover_tif, landcover_gpkg=paths.landcover_gpkg, region_gpkg=paths.region_gpkg,
        habitat={g: paths.habitat(g) for g in guilds}, resistance={g: paths.resistance(g) for g in guilds},
        patches={g: paths.patches_tif(g) for g in guilds}, links={g: paths.links(g) for g in guilds},
        barriers_all=None, climate_summary=paths.climate_summary, legend_yaml=LEGEND, guilds_yaml=GUILDS_TABLE,
        catalogue_yaml=ROOT / cfg["interventions"]["catalogue"],
        out_candidates_gpkg=paths.candidates, out_portfolio_csv=paths.portfolio,
        out_park_totals_csv=paths.park_totals,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-km", type=float, default=20.0)
    ap.add_argument("--measures", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--optimum", choices=("standalone", "marginal"), default="standalone")
    ap.add_argument("--plan", choices=("random", "largest"), default="random",
                    help="the plan's measures: a seeded random sample of the candidates (typical sizes) or the "
                         "largest of every type and park first (an extreme plan whose cost buys most candidates)")
    ap.add_argument("--setup-only", action="store_true", help="prepare the region, stage and plan; time nothing")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkland.interventions.after").setLevel(logging.INFO)  # the joint evaluation's split
    cfg = load_config(n_workers=2, max_candidates=a.candidates, max_candidates_per_type_park=200)
    paths = prepare(a.size_km, cfg)
    cfg["interventions"]["plan_optimum"] = a.optimum
    params = InterventionParams.from_config(cfg, guilds=load_guilds(GUILDS_TABLE, load_legend(LEGEND)), n_workers=2)
    inputs = engine_inputs(paths, params.guilds, cfg)
    if not paths.candidates.exists():  # the interventions stage (untimed): the candidates' standalone gains
        paths.candidates.parent.mkdir(exist_ok=True)
        t = time.perf_counter()
        run_interventions(inputs, params)
        print(f"interventions stage (setup, untimed): {time.perf_counter() - t:.1f} s")
    plan_path = paths.dir / "plans" / f"bench_{a.measures}{'' if a.plan == 'largest' else '_random'}.gpkg"
    if not plan_path.exists():  # the plan: generated candidates spread over types and parks (untimed)
        eng = build_engine(inputs, params)
        pool = candidate_pool(eng, params, inputs.user_candidates)
        if a.plan == "largest":
            picked = cap_candidates(pool, a.measures)
        else:
            rng = np.random.default_rng(11)
            picked = [pool[i] for i in sorted(rng.choice(len(pool), size=min(a.measures, len(pool)), replace=False))]
        plan_path.parent.mkdir(exist_ok=True)
        gpd.GeoDataFrame(
            {"measure_id": [f"b{k + 1}" for k in range(len(picked))], "type": [c.type for c in picked]},
            geometry=[footprint_polygon(c.cells, eng.region.grid) for c in picked], crs=eng.region.grid.crs.to_wkt(),
        ).to_file(plan_path, engine="pyogrio")
        del eng
    if a.setup_only:
        return
    out = paths.dir / "plans"
    t0 = time.perf_counter()
    c0 = time.process_time()
    s = run_plan(PlanInputs(inputs, "bench", plan_path, out / "bench.gpkg", out / "bench.csv", paths.candidates),
                 params)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + ru.ru_utime + ru.ru_stime  # evaluation workers are children
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import rasterio

    with rasterio.open(paths.landcover_tif) as ds:
        cells = ds.width * ds.height / 1e6
    print(f"optimum: {a.optimum}; timing {s['timing_s']}")
    print(f"{cells:.2f} M cells, plan of {int(s['n_measures'])} measures ({s['cost_eur']:,.0f} EUR), "
          f"{a.candidates} candidates at most")
    print(f"  score {s['score']:.4f}, optimum {s['optimum_score']:.4f} ({int(s['optimum_n_measures'])} measures), "
          f"attainment {s['attainment_pct']:.1f} %, {int(s['n_swapped_out'])} swapped out")
    print(f"  wall {wall:.1f} s (target <= 120 s: {'OK' if wall <= 120 else 'MISSED'}), CPU {cpu:.1f} s, "
          f"peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()

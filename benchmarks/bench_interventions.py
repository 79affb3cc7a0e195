"""Benchmark of the interventions stage.

Targets: on the generated 20 km x 20 km region at 10 m (4 M cells), 1,000 candidates scored with
marginal gains for 4 guilds (first evaluation + lazy-greedy selection with re-evaluations) in under
5 minutes on 2 cores; on the demo region in under 30 s.

Run: ``.venv/bin/python benchmarks/bench_interventions.py [--skip-generated] [--skip-demo]``

The generated region comes from ``benchmarks/bench_foundation.py`` (``benchmarks/out/foundation-generated``,
created here if absent). The connectivity outputs (patches, links, summaries) and the climate summary
it needs are computed once into ``benchmarks/out/interventions-generated`` (timed separately: they
belong to the connectivity and climate stages). It has no barrier stage: no fauna-passage candidates.
"""

from __future__ import annotations

import argparse
import copy
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from werkland.climate import run_climate
from werkland.config import validate_config
from werkland.connectivity import run_connectivity
from werkland.interventions import InterventionInputs, run_interventions
from werkland.layout import RegionPaths
from werkland.params import ClimateParams, ConnectivityParams, InterventionParams
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
LEGEND = ROOT / "config" / "landcover_classes.yaml"
GUILDS_TABLE = ROOT / "config" / "guilds.yaml"


def load_config(**interventions: Any) -> dict[str, Any]:
    """The demo config (config/config.yaml) validated, with overrides of the interventions section."""
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    cfg = copy.deepcopy(cfg)
    cfg["legend"], cfg["guilds_table"] = str(LEGEND), str(GUILDS_TABLE)
    cfg.setdefault("interventions", {}).update(interventions)
    return validate_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")


def prepare_generated(cfg: dict[str, Any]) -> RegionPaths:
    src = OUT / "foundation-generated"
    if not (src / "landcover.tif").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_foundation.py")], check=True)
    paths = RegionPaths(OUT, "interventions-generated")
    dst = paths.dir
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("landcover.tif", "landcover.gpkg", "region.gpkg", "habitat", "resistance"):
        if not (dst / name).exists():
            (shutil.copytree if (src / name).is_dir() else shutil.copy2)(src / name, dst / name)
    table = load_guilds(GUILDS_TABLE, load_legend(LEGEND))
    for g in cfg["guilds"]:
        if paths.summary(g).exists():
            continue
        t0 = time.perf_counter()
        for sub in ("patches", "graph"):
            (dst / sub).mkdir(exist_ok=True)
        s = run_connectivity(
            paths.habitat(g), paths.resistance(g), paths.region_gpkg, paths.patches_gpkg(g), paths.patches_tif(g),
            paths.links(g), paths.graphml(g), paths.metrics(g), paths.summary(g), None,
            params=ConnectivityParams.from_config(cfg, table[g], n_threads=2),
        )
        print(f"connectivity {g}: {s['n_patches']} patches, {s['n_links']} links, {time.perf_counter() - t0:.1f} s")
    if not paths.climate_summary.exists():
        t0 = time.perf_counter()
        paths.climate_summary.parent.mkdir(exist_ok=True)
        climate = ClimateParams.from_config(cfg)
        run_climate(paths.landcover_tif, paths.landcover_gpkg, paths.region_gpkg, LEGEND, paths.cooling,
                    {s: paths.runoff(s) for s in climate.storm_names}, paths.climate_summary, params=climate,
                    threads=2)
        print(f"climate: {time.perf_counter() - t0:.1f} s")
    return paths


def run(paths: RegionPaths, label: str, target_s: float, cfg: dict[str, Any]) -> dict:
    table = load_guilds(GUILDS_TABLE, load_legend(LEGEND))
    params = InterventionParams.from_config(cfg, guilds=table, n_workers=2)
    out = OUT / f"interventions-{label}-out"
    inputs = InterventionInputs.from_layout(paths, params.guilds, legend_yaml=LEGEND, guilds_yaml=GUILDS_TABLE,
                                            catalogue_yaml=ROOT / cfg["interventions"]["catalogue"])
    inputs = replace(inputs, barriers_all=paths.barriers_all if paths.barriers_all.exists() else None,
                     out_candidates_gpkg=out / "candidates.gpkg", out_portfolio_csv=out / "portfolio.csv",
                     out_park_totals_csv=out / "park_totals.csv",
                     out_after_habitat={g: out / "after" / f"habitat_{g}.tif" for g in params.guilds},
                     out_after_summary_csv=out / "after" / "summary.csv")
    t0 = time.perf_counter()
    s = run_interventions(inputs, params)
    wall = time.perf_counter() - t0
    t = s["timing_s"]
    print(f"\n{label}: {s['n_candidates']} candidates, {s['n_selected']} selected for {s['cost_selected_eur']:,.0f} EUR")
    print(f"  baseline {t['baseline']:.1f} s, candidates {t['candidates']:.1f} s, first evaluation {t['evaluation']:.1f} s "
          f"({s['candidates_per_s']:.1f} candidates/s), selection {t['selection']:.1f} s, outputs and after-state "
          f"{t['outputs']:.1f} s, whole stage {wall:.1f} s")
    scoring = t["evaluation"] + t["selection"]
    print(f"  scoring with marginal gains (first evaluation + budgeted selection): {scoring:.1f} s "
          f"(target < {target_s:.0f} s: {'OK' if scoring < target_s else 'MISSED'}); evaluations {s['evaluations']}")
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-generated", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--log", default=None, help="write the stage's INFO log (progress, rates) to this file")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if a.log:
        fh = logging.FileHandler(a.log, mode="w")
        fh.setFormatter(logging.Formatter("%(relativeCreated)8.0f ms %(name)s: %(message)s"))
        logging.getLogger("werkland.interventions").addHandler(fh)
        logging.getLogger("werkland.interventions").setLevel(logging.INFO)
    if not a.skip_demo:
        demo = RegionPaths(ROOT / "results", "demo")
        if demo.landcover_tif.exists():
            run(demo, "demo", 30.0, load_config(n_workers=2))
        else:
            print("demo: results/demo absent (run `make demo` first); skipped")
    if not a.skip_generated:
        cfg = load_config(n_workers=2, max_candidates=a.candidates, max_candidates_per_type_park=200)
        run(prepare_generated(cfg), "generated", 300.0, cfg)


if __name__ == "__main__":
    main()

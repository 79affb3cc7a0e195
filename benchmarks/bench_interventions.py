"""Benchmark of the interventions stage (issue 7).

Targets: on the generated 20 km x 20 km region at 10 m (4 M cells), 1,000 candidates scored with
marginal gains for 4 guilds (first evaluation + lazy-greedy selection with re-evaluations) in under
5 minutes on 2 cores; on the demo region in under 30 s.

Run: ``.venv/bin/python benchmarks/bench_interventions.py [--skip-generated] [--skip-demo]``

The generated region comes from ``benchmarks/bench_foundation.py`` (``benchmarks/out/foundation-generated``,
created here if absent). Connectivity outputs (patches, links, summaries) are computed once into
``benchmarks/out/interventions-generated`` (timed separately: they belong to the connectivity stage).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
GUILDS = ["hedgehog", "pollinators", "amphibians", "woodland_birds"]


def prepare_generated() -> Path:
    src = OUT / "foundation-generated"
    if not (src / "landcover.tif").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_foundation.py")], check=True)
    dst = OUT / "interventions-generated"
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("landcover.tif", "landcover.gpkg", "region.gpkg", "habitat", "resistance"):
        if not (dst / name).exists():
            (shutil.copytree if (src / name).is_dir() else shutil.copy2)(src / name, dst / name)
    from werkland.connectivity import run_connectivity
    from werkland.tables import load_guilds, load_legend

    legend = load_legend(ROOT / "config" / "landcover_classes.yaml")
    guilds = load_guilds(ROOT / "config" / "guilds.yaml", legend)
    for g in GUILDS:
        if (dst / "graph" / f"{g}_summary.json").exists():
            continue
        t0 = time.perf_counter()
        for sub in ("patches", "graph"):
            (dst / sub).mkdir(exist_ok=True)
        s = run_connectivity(
            dst / "habitat" / f"{g}.tif", dst / "resistance" / f"{g}.tif", dst / "region.gpkg",
            dst / "patches" / f"{g}.gpkg", dst / "patches" / f"{g}.tif", dst / "graph" / f"{g}_links.gpkg",
            dst / "graph" / f"{g}.graphml", dst / "graph" / f"{g}_metrics.csv", dst / "graph" / f"{g}_summary.json",
            None, guild=g, params={**guilds[g].params(), "n_threads": 2},
        )
        print(f"connectivity {g}: {s['n_patches']} patches, {s['n_links']} links, {time.perf_counter() - t0:.1f} s")
    return dst


def run(region: Path, label: str, target_s: float, **extra) -> dict:
    from werkland.interventions import run_interventions

    cfg = yaml.safe_load(open(ROOT / "config" / "config.yaml"))
    params = {**cfg["interventions"], "climate": cfg["climate"], "connectivity": cfg["connectivity"], "n_workers": 2, **extra}
    out = OUT / f"interventions-{label}-out"
    t0 = time.perf_counter()
    s = run_interventions(region, ROOT / "config" / "landcover_classes.yaml", ROOT / "config" / "guilds.yaml",
                          ROOT / "config" / "interventions.yaml", out / "candidates.gpkg", out / "portfolio.csv",
                          out / "park_totals.csv", guilds=GUILDS, params=params)
    wall = time.perf_counter() - t0
    t = s["timing_s"]
    print(f"\n{label}: {s['n_candidates']} candidates, {s['n_selected']} selected for {s['cost_selected_eur']:,.0f} EUR")
    print(f"  baseline {t['baseline']:.1f} s, candidates {t['candidates']:.1f} s, first evaluation {t['evaluation']:.1f} s "
          f"({s['candidates_per_s']:.1f} candidates/s), selection {t['selection']:.1f} s, whole stage {wall:.1f} s")
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
        demo = ROOT / "results" / "demo"
        if (demo / "landcover.tif").exists():
            run(demo, "demo", 30.0)
        else:
            print("demo: results/demo absent (run `make demo` first); skipped")
    if not a.skip_generated:
        region = prepare_generated()
        run(region, "generated", 300.0, max_candidates=a.candidates, max_candidates_per_type_park=200)


if __name__ == "__main__":
    main()

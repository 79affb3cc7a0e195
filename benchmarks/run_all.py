"""Performance curve: the whole workflow on generated regions of 1, 4 and 16 M cells.

For each size a square region at 10 m is generated (``benchmarks/synthetic.py``: Voronoi land cover,
road grid, 16 parks), the real Snakemake workflow runs on it (``species_source: none``: no network),
and Snakemake's own ``benchmark:`` files give per-stage wall time and peak memory (max_rss). The
scaling exponent b of time = a * cells^b is fitted per stage between the sizes run.

Usage::

    .venv/bin/python benchmarks/run_all.py                # 1 and 4 M cells (about 10 minutes)
    .venv/bin/python benchmarks/run_all.py --sizes 1 4 16 # adds the 16 M-cell region
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import make_region  # noqa: E402


def run_size(mcells: float, out: Path, cores: int) -> dict[str, dict[str, float]]:
    """Generate a region of ``mcells`` million cells and run the workflow; return per-rule figures."""
    side_km = math.sqrt(mcells) * 10.0  # 10 m cells: 1 M cells = 10 km x 10 km
    work = out / f"region-{mcells:g}M"
    gen = make_region(work / "input", size_km=side_km, n_polygons=int(10000 * mcells), seed=7)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["regions"] = {
        "bench": {
            "land_cover": [{"type": "vector", "path": str(gen["landcover"]), "class_field": "class"}],
            "parks": {"file": str(gen["parks"]), "id_field": "park_id"},
            "context_buffer_m": side_km * 1000 / 8 * 0.9,
            "clip_lonlat": None,
            "species_source": "none",
        }
    }
    for sub in ("config",):
        target = work / sub
        if not target.exists():
            subprocess.run(["cp", "-r", str(ROOT / sub), str(target)], check=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(work),
         "--cores", str(cores), "--forceall", "--quiet"],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"workflow failed on {mcells} M cells:\n{proc.stderr[-4000:]}")
    rules: dict[str, dict[str, float]] = defaultdict(lambda: {"s": 0.0, "max_rss_mb": 0.0, "jobs": 0})
    for tsv in (work / "results" / "benchmarks").rglob("*.tsv"):
        rule = tsv.parent.name
        with open(tsv, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        r = rules[rule]
        r["s"] += float(row["s"])
        rss = row.get("max_rss", "NA")
        r["max_rss_mb"] = max(r["max_rss_mb"], float(rss) if rss not in ("NA", "-") else 0.0)
        r["jobs"] += 1
    rules["(whole workflow, wall)"] = {"s": wall, "max_rss_mb": max(v["max_rss_mb"] for v in rules.values()), "jobs": 0}
    import rasterio

    with rasterio.open(work / "results" / "bench" / "landcover.tif") as ds:
        rules["(whole workflow, wall)"]["cells"] = ds.width * ds.height
    return dict(rules)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 4], help="region sizes in million cells")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {s: run_size(s, out, a.cores) for s in a.sizes}
    stages = sorted({r for res in results.values() for r in res})
    head = "| stage | " + " | ".join(f"{s:g} M cells: s / peak MB" for s in a.sizes) + " | exponent |"
    print(head)
    print("|" + "---|" * (len(a.sizes) + 2))
    for st in stages:
        cells = [results[s].get(st, {}).get("s") for s in a.sizes]
        cols = [f"{results[s][st]['s']:.1f} / {results[s][st]['max_rss_mb']:.0f}" if st in results[s] else "-" for s in a.sizes]
        expo = "-"
        if len(a.sizes) >= 2 and all(c and c > 0.05 for c in cells):
            x = [math.log(s) for s in a.sizes]
            y = [math.log(c) for c in cells]
            mx, my = sum(x) / len(x), sum(y) / len(y)
            expo = f"{sum((xi - mx) * (yi - my) for xi, yi in zip(x, y, strict=True)) / sum((xi - mx) ** 2 for xi in x):.2f}"
        print(f"| {st} | " + " | ".join(cols) + f" | {expo} |")


if __name__ == "__main__":
    main()

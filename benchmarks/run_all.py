"""Performance curve: the whole workflow on generated regions of 1, 4 and 16 M cells.

For each size a square region at 10 m is generated (``benchmarks/synthetic.py``: Voronoi land cover,
road grid, 16 parks), the real Snakemake workflow runs on it (``species_source: none``: no network),
and Snakemake's own ``benchmark:`` files give per-stage wall time and peak memory (max_rss, and
max_pss, which splits pages shared by forked workers between them). The whole run's peak is sampled
every second over the Snakemake process and all its jobs (summed RSS and summed PSS). The scaling
exponent b of time = a * cells^b is fitted per stage between the sizes given. Each size's figures are
kept in ``<out>/region-<N>M/figures.json``; ``--reuse`` reads them instead of rerunning that size,
so a curve can be assembled from runs made one at a time. The table is also written to
``<out>/curve.md``.

Usage::

    .venv/bin/python benchmarks/run_all.py                # 1 and 4 M cells (about 10 minutes)
    .venv/bin/python benchmarks/run_all.py --sizes 1 4 16 # adds the 16 M-cell region
    .venv/bin/python benchmarks/run_all.py --sizes 1 4 16 --reuse  # table from the sizes already run
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import make_region  # noqa: E402


class _PeakMemory(threading.Thread):
    """Samples the memory of a process and all its descendants every ``interval`` seconds.

    ``rss_mb`` is the peak of the summed resident sets (counts pages shared by forked workers once per
    process, an upper bound); ``pss_mb`` the peak of the summed proportional set sizes (shared pages
    split between their users: the physical memory the run occupied).
    """

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.rss_mb = self.pss_mb = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            rss = pss = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    mi = p.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss += mi.rss
                pss += getattr(mi, "pss", mi.rss)
            self.rss_mb = max(self.rss_mb, rss / 2**20)
            self.pss_mb = max(self.pss_mb, pss / 2**20)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


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
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("snakemake")), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(work),
         "--cores", str(cores), "--forceall", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    peak = _PeakMemory(proc.pid)
    peak.start()
    _, stderr = proc.communicate()
    peak.stop()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"workflow failed on {mcells} M cells:\n{stderr[-4000:]}")
    rules: dict[str, dict[str, float]] = defaultdict(lambda: {"s": 0.0, "max_rss_mb": 0.0, "jobs": 0})
    for tsv in (work / "results" / "benchmarks").rglob("*.tsv"):
        rule = tsv.parent.name
        with open(tsv, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        r = rules[rule]
        r["s"] += float(row["s"])
        rss, pss = row.get("max_rss", "NA"), row.get("max_pss", "NA")
        r["max_rss_mb"] = max(r["max_rss_mb"], float(rss) if rss not in ("NA", "-") else 0.0)
        r["max_pss_mb"] = max(r.get("max_pss_mb", 0.0), float(pss) if pss not in ("NA", "-") else 0.0)
        r["jobs"] += 1
    rules["(whole workflow, wall)"] = {"s": wall, "max_rss_mb": peak.rss_mb, "max_pss_mb": peak.pss_mb, "jobs": 0}
    import rasterio

    with rasterio.open(work / "results" / "bench" / "landcover.tif") as ds:
        rules["(whole workflow, wall)"]["cells"] = ds.width * ds.height
    figures = {k: dict(v) for k, v in rules.items()}
    (work / "figures.json").write_text(json.dumps(figures, indent=1))
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 4], help="region sizes in million cells")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--reuse", action="store_true", help="read a size's figures.json instead of rerunning it")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for s in a.sizes:
        saved = out / f"region-{s:g}M" / "figures.json"
        results[s] = json.loads(saved.read_text()) if a.reuse and saved.exists() else run_size(s, out, a.cores)
    stages = sorted({r for res in results.values() for r in res})
    head = "| stage | " + " | ".join(f"{s:g} M cells: s / peak RSS MB / peak PSS MB" for s in a.sizes) + " | exponent |"
    lines = [head, "|" + "---|" * (len(a.sizes) + 2)]
    for st in stages:
        cells = [results[s].get(st, {}).get("s") for s in a.sizes]
        cols = [f"{results[s][st]['s']:.1f} / {results[s][st]['max_rss_mb']:.0f} / {results[s][st].get('max_pss_mb', 0):.0f}"
                if st in results[s] else "-" for s in a.sizes]
        expo = "-"
        if len(a.sizes) >= 2 and all(c and c > 0.05 for c in cells):
            x = [math.log(results[s].get("(whole workflow, wall)", {}).get("cells") or s * 1e6) for s in a.sizes]
            y = [math.log(c) for c in cells]
            mx, my = sum(x) / len(x), sum(y) / len(y)
            expo = f"{sum((xi - mx) * (yi - my) for xi, yi in zip(x, y, strict=True)) / sum((xi - mx) ** 2 for xi in x):.2f}"
        lines.append(f"| {st} | " + " | ".join(cols) + f" | {expo} |")
    cells = [results[s].get("(whole workflow, wall)", {}).get("cells") for s in a.sizes]
    lines.append("")
    lines.append("cells: " + ", ".join(f"{s:g} M -> {c:,}" for s, c in zip(a.sizes, cells, strict=True) if c))
    print("\n".join(lines))
    (out / "curve.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

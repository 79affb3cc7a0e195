"""Cutting many regions out of one large OSM file at once vs reading the large file for every region.

Generates a synthetic ``.osm.pbf`` (a grid of small closed ``landuse`` ways, streamed as OPL and
converted with ``osmium cat``) and ``--regions`` park boxes, then measures

(a) the cut (:func:`werkland.osm_extract.run_osmium_extract`: ``osmium extract --strategy smart``,
    ``--max-per-pass`` extracts per pass, nested group extracts beyond that) plus one read of each
    region's cut file with werkland's OSM reader (:func:`werkland.landcover.read_osm_pbf`, the three
    layers the land-cover stage reads, with the region's box);
(b) the same reader on the large file with each region's box.

A read of the large file costs the same for every region (GDAL's OSM driver scans the whole file
whatever the box), so (b) reads the large file for ``--full-reads`` regions and scales the mean to
all regions; the feature counts of those regions are checked against their cut files.

Node ids: ``dense`` numbers nodes 1..N; ``spread`` scatters them over 1..1.3e10 in random spatial
order, as in today's OpenStreetMap data, where ``osmium extract`` needs far more memory per extract.

Usage: .venv/bin/python benchmarks/bench_osm_extract.py [--ways 1000000] [--regions 100]
       [--ids dense|spread] [--max-per-pass 4] [--full-reads 3] [--out results/benchmarks/osm_extract.json]

Measured (2 shared cores, 100 regions): 1 M ways, dense ids: (a) 43 s (cut 15 s in 57 passes of 4) vs
(b) 349 s, 8.1x; one pass of all 100 (--max-per-pass 100): 40 s, 8.1x (the reads of the cut files,
0.3 s each, dominate); 4 M ways: 59 s vs 1239 s, 21.1x. With spread ids each extract costs about 3 GB
and 10 s (page faults of osmium's id bit sets), so the cut pays off only for large files (hence
osm_extract.min_file_mb).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

LON0, LAT0 = 4.5, 51.9  # south-west corner of the grid (the Netherlands: RD New is the metric CRS)
CELL_M = 20.0  # side of one grid cell (one closed way), metres
REGION_M = 800.0  # side of a region box (park + context buffer), metres
LANDUSE = ("grass", "industrial", "meadow", "forest", "farmland", "residential", "commercial")


def write_grid_pbf(path: Path, n_ways: int, ids: str, seed: int = 1) -> dict[str, float]:
    """A grid of ``n_ways`` closed square ways sharing corner nodes, written as OPL then converted."""
    side = math.isqrt(n_ways)
    n_ways = side * side
    dlat = CELL_M / 111_200.0
    dlon = CELL_M / (111_320.0 * math.cos(math.radians(LAT0)))
    nn = side + 1
    n_nodes = nn * nn
    rng = np.random.default_rng(seed)
    if ids == "dense":
        node_id = np.arange(1, n_nodes + 1, dtype=np.int64)
    else:  # distinct ids over the range of today's OSM node ids, in random spatial order
        node_id = np.unique(rng.integers(1, 13_000_000_000, size=int(n_nodes * 1.01)))[:n_nodes]
        while len(node_id) < n_nodes:
            node_id = np.unique(np.concatenate([node_id, rng.integers(1, 13_000_000_000, size=n_nodes)]))[:n_nodes]
        node_id = rng.permutation(node_id)
    opl = path.with_suffix("").with_suffix(".opl")
    t0 = time.perf_counter()
    with open(opl, "w", encoding="ascii", buffering=1 << 22) as fh:
        order = np.argsort(node_id, kind="stable")
        chunk = 200_000
        for start in range(0, n_nodes, chunk):
            sel = order[start:start + chunk]
            r, c = np.divmod(sel, nn)
            # jitter (< 0.2 m) and varied metadata as in real data: GDAL refuses PBF blocks that
            # compress too well (its decompression-ratio guard), which a perfectly regular grid does
            lon = LON0 + c * dlon + rng.uniform(-2e-6, 2e-6, len(sel))
            lat = LAT0 + r * dlat + rng.uniform(-2e-6, 2e-6, len(sel))
            cs = rng.integers(1, 150_000_000, len(sel))
            fh.write("".join(f"n{i} v{v} dV c{ch} t20{y2:02d}-0{m}-1{d}T12:00:00Z i{ch % 999_983} u T x{x:.7f} y{y:.7f}\n"
                             for i, x, y, ch, v, y2, m, d in zip(node_id[sel], lon, lat, cs, cs % 7 + 1, cs % 20,
                                                                  cs % 9 + 1, cs % 10, strict=True)))
        for start in range(0, n_ways, chunk):
            k = np.arange(start, min(n_ways, start + chunk))
            r, c = np.divmod(k, side)
            a = node_id[r * nn + c]
            b = node_id[r * nn + c + 1]
            cc = node_id[(r + 1) * nn + c + 1]
            d = node_id[(r + 1) * nn + c]
            lu = np.array(LANDUSE)[(r * 7 + c * 3) % len(LANDUSE)]
            cs = rng.integers(1, 150_000_000, len(k))
            fh.write("".join(f"w{w + 1} v{ch % 5 + 1} dV c{ch} t20{ch % 20:02d}-0{ch % 9 + 1}-1{ch % 10}T12:00:00Z "
                             f"i{ch % 999_983} u Tlanduse={t} Nn{p},n{q},n{s},n{u},n{p}\n"
                             for w, t, p, q, s, u, ch in zip(k, lu, a, b, cc, d, cs, strict=True)))
    t_opl = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(["osmium", "cat", str(opl), "-o", str(path), "--overwrite", "--no-progress"], check=True)
    t_pbf = time.perf_counter() - t0
    opl.unlink()
    return {"ways": n_ways, "nodes": n_nodes, "grid_side": side, "write_opl_s": t_opl, "osmium_cat_s": t_pbf,
            "pbf_mb": path.stat().st_size / 1e6, "east": LON0 + side * dlon, "north": LAT0 + side * dlat}


def region_boxes(n: int, east: float, north: float, seed: int = 2) -> dict[str, tuple[float, float, float, float]]:
    """``n`` region boxes of about REGION_M x REGION_M metres at random places inside the grid."""
    rng = np.random.default_rng(seed)
    bw = REGION_M / (111_320.0 * math.cos(math.radians(LAT0)))
    bh = REGION_M / 111_200.0
    out = {}
    for i in range(n):
        w = LON0 + rng.random() * (east - LON0 - bw)
        s = LAT0 + rng.random() * (north - LAT0 - bh)
        out[f"park-{i:03d}"] = (round(w, 6), round(s, 6), round(w + bw, 6), round(s + bh, 6))
    return out


def _rss_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ways", type=int, default=1_000_000)
    ap.add_argument("--regions", type=int, default=100)
    ap.add_argument("--ids", choices=("dense", "spread"), default="dense")
    ap.add_argument("--max-per-pass", type=int, default=4)
    ap.add_argument("--full-reads", type=int, default=3, help="regions whose box is read from the large file")
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "osm_extract.json"))
    ap.add_argument("--keep", help="keep the generated files in this directory")
    a = ap.parse_args()
    if shutil.which("osmium") is None:
        sys.exit("needs the osmium command (Debian package osmium-tool)")
    from pyproj import CRS

    from werkland.landcover import read_osm_pbf
    from werkland.osm_extract import run_osmium_extract
    from werkland.tables import load_legend

    legend = load_legend(ROOT / "config" / "landcover_classes.yaml")
    rd = CRS.from_epsg(28992)
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="werkland-bench-osm-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        big = tmp / "grid.osm.pbf"
        gen = write_grid_pbf(big, a.ways, a.ids)
        print(f"generated {gen['ways']:,} ways, {gen['nodes']:,} nodes ({a.ids} ids): {gen['pbf_mb']:.1f} MB PBF "
              f"(OPL {gen['write_opl_s']:.1f} s + osmium cat {gen['osmium_cat_s']:.1f} s)", flush=True)
        boxes = region_boxes(a.regions, gen["east"], gen["north"])
        outputs = {rid: tmp / "osm" / f"{rid}.osm.pbf" for rid in boxes}

        t0 = time.perf_counter()
        stats = run_osmium_extract(big, boxes, outputs, max_per_pass=a.max_per_pass, threads=2)
        t_cut = time.perf_counter() - t0
        rss_cut = _rss_children_mb()
        print(f"cut: {t_cut:.1f} s, {stats['passes']} osmium passes, {stats['levels']} levels, "
              f"peak osmium RSS {rss_cut:.0f} MB", flush=True)

        counts_small: dict[str, list[int]] = {}
        t0 = time.perf_counter()
        for rid, box in boxes.items():
            res = read_osm_pbf(outputs[rid], legend=legend, crs=rd, clip_lonlat=box)
            counts_small[rid] = [len(x) for x in res]
        t_small = time.perf_counter() - t0
        print(f"{len(boxes)} reads of the cut files: {t_small:.1f} s", flush=True)

        full_ids = list(boxes)[: max(1, a.full_reads)]
        t_full = []
        for rid in full_ids:
            t0 = time.perf_counter()
            res = read_osm_pbf(big, legend=legend, crs=rd, clip_lonlat=boxes[rid])
            t_full.append(time.perf_counter() - t0)
            full_counts = [len(x) for x in res]
            if full_counts != counts_small[rid]:
                raise SystemExit(f"{rid}: large file gives {full_counts}, cut file {counts_small[rid]}")
            print(f"read of the large file ({rid}): {t_full[-1]:.1f} s, features {full_counts}", flush=True)
        per_full = float(np.mean(t_full))
        t_a = t_cut + t_small
        t_b = per_full * len(boxes)
        mb_small = sum(p.stat().st_size for p in outputs.values()) / 1e6
        result = {
            "ways": gen["ways"], "nodes": gen["nodes"], "node_ids": a.ids, "pbf_mb": round(gen["pbf_mb"], 1),
            "regions": len(boxes), "region_side_m": REGION_M, "max_per_pass": a.max_per_pass,
            "generate_s": round(gen["write_opl_s"] + gen["osmium_cat_s"], 1),
            "cut_s": round(t_cut, 2), "osmium_passes": stats["passes"], "tree_levels": stats["levels"],
            "osmium_peak_rss_mb": round(rss_cut), "cut_files_mb": round(mb_small, 1),
            "reads_of_cut_files_s": round(t_small, 2), "a_cut_plus_reads_s": round(t_a, 2),
            "large_file_reads_measured": len(t_full), "large_file_read_s_each": [round(t, 2) for t in t_full],
            "b_large_file_reads_s": round(t_b, 1), "b_is_extrapolated": len(t_full) < len(boxes),
            "speedup": round(t_b / t_a, 1),
        }
        print()
        print("| measure | value |")
        print("|---|---|")
        print(f"| synthetic PBF | {gen['ways']:,} ways, {gen['nodes']:,} nodes ({a.ids} ids), {gen['pbf_mb']:.1f} MB |")
        print(f"| regions | {len(boxes)} boxes of {REGION_M:.0f} m |")
        print(f"| (a) cut, one job ({stats['passes']} osmium passes, {a.max_per_pass} per pass) | {t_cut:.1f} s "
              f"(peak {rss_cut:.0f} MB) |")
        print(f"| (a) {len(boxes)} reads of the cut files ({mb_small:.1f} MB) | {t_small:.1f} s |")
        print(f"| (a) total | {t_a:.1f} s |")
        print(f"| (b) one read of the large file | {per_full:.1f} s (mean of {len(t_full)}) |")
        print(f"| (b) {len(boxes)} reads of the large file{' (extrapolated)' if len(t_full) < len(boxes) else ''} "
              f"| {t_b:.0f} s |")
        print(f"| speed-up (b) / (a) | {t_b / t_a:.1f} x |")
        # the file keeps one entry per (ways, node ids, regions, max_per_pass): earlier runs of other sizes stay
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        runs = json.loads(out.read_text()).get("runs", []) if out.is_file() else []
        key = ("ways", "node_ids", "regions", "max_per_pass")
        runs = [r for r in runs if tuple(r.get(k) for k in key) != tuple(result[k] for k in key)] + [result]
        out.write_text(json.dumps({"benchmark": "osm_extract", "runs": runs}, indent=1) + "\n")
        print(f"\nwrote {out}")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

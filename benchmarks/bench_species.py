"""Benchmark of the species stage: cleaning + assignment + counting of 1,000,000 synthetic GBIF records.

Region: 20 x 20 km in EPSG:28992 with 100 business parks (10 x 10 grid, 36 ha each), a 10 m land-cover
raster (4 M cells) and 4 guild patch rasters. Records: 1,000,000 with realistic column types (object
strings from pools), 2,000 species in guild and non-guild families, GBIF issue strings, uncertainty
values incl. defaults and missing, ~3 % duplicates, ~2 % outside the region, absences and fossils.
Target: < 60 s on 2 cores. Network and file reading are not part of the measurement.

Usage: .venv/bin/python benchmarks/bench_species.py [--records 1000000] [--parks 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import box

from werkland import species
from werkland.config import validate_config
from werkland.params.species import SpeciesParams
from werkland.raster.io import Grid
from werkland.species.gbif import RECORD_COLUMNS
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[1]
X0, Y0, SIZE = 80000.0, 440000.0, 20000.0
GUILDS = ["hedgehog", "pollinators", "amphibians", "woodland_birds"]


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_inputs(n_records: int, n_parks: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    crs = CRS.from_epsg(28992)
    region = box(X0, Y0, X0 + SIZE, Y0 + SIZE)
    k = int(np.ceil(np.sqrt(n_parks)))
    step = SIZE / k
    parks = [box(X0 + i * step + 500, Y0 + j * step + 500, X0 + i * step + 1100, Y0 + j * step + 1100)
             for i in range(k) for j in range(k)][:n_parks]
    parks_gdf = gpd.GeoDataFrame({"park_id": [f"P{i:03d}" for i in range(len(parks))]}, geometry=parks, crs=crs)
    parks_gdf["area_m2"] = parks_gdf.area
    grid = Grid(2000, 2000, Affine(10.0, 0, X0, 0, -10.0, Y0 + SIZE), crs)
    lc = rng.integers(1, 23, size=grid.shape, dtype=np.uint8)
    patches = {}
    for gi, g in enumerate(GUILDS):
        arr = np.zeros(grid.shape, np.int32)
        blocks = rng.integers(0, 2000 - 40, size=(400, 2))
        for pid, (r, c) in enumerate(blocks, start=1):
            arr[r:r + 20 + gi * 5, c:c + 20 + gi * 5] = pid
        patches[g] = (arr, grid)

    # records
    n = n_records
    fam_pool = np.array(["Apidae", "Andrenidae", "Syrphidae", "Paridae", "Picidae", "Bufonidae", "Erinaceidae",
                         "Turdidae", "Asteraceae", "Poaceae", "Vespidae", "Carabidae"], dtype=object)
    cls_of = {"Apidae": "Insecta", "Andrenidae": "Insecta", "Syrphidae": "Insecta", "Paridae": "Aves", "Picidae": "Aves",
              "Bufonidae": "Amphibia", "Erinaceidae": "Mammalia", "Turdidae": "Aves", "Asteraceae": "Magnoliopsida",
              "Poaceae": "Liliopsida", "Vespidae": "Insecta", "Carabidae": "Insecta"}
    n_sp = 2000
    sp_fam = rng.integers(0, len(fam_pool), n_sp)
    sp_names = np.array([f"Genus{f} species{i}" for i, f in enumerate(sp_fam)], dtype=object)
    sp_keys = np.arange(1_000_000, 1_000_000 + n_sp, dtype=np.float64)
    w = 1.0 / np.arange(1, n_sp + 1) ** 1.1
    sp = rng.choice(n_sp, size=n, p=w / w.sum())
    # 70 % in parks, 28 % elsewhere in the region, 2 % outside
    which = rng.random(n)
    x = rng.uniform(X0, X0 + SIZE, n)
    y = rng.uniform(Y0, Y0 + SIZE, n)
    inpark = which < 0.70
    pk = rng.integers(0, len(parks), inpark.sum())
    b = np.array([p.bounds for p in parks])
    x[inpark] = rng.uniform(b[pk, 0], b[pk, 2])
    y[inpark] = rng.uniform(b[pk, 1], b[pk, 3])
    out = which > 0.98
    x[out] += SIZE * 1.5
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    lat, lon = np.round(lat, 6), np.round(lon, 6)
    dates = np.array([f"2021-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)], dtype=object)
    who = np.array([f"observer {i}" for i in range(5000)], dtype=object)
    issues_pool = np.array(["", "", "", "", "", "", "", "", "", "COORDINATE_ROUNDED;GEODETIC_DATUM_ASSUMED_WGS84",
                            "COUNTRY_COORDINATE_MISMATCH", "TAXON_MATCH_FUZZY"] + [""] * 20, dtype=object)
    unc_pool = np.array([5, 10, 10, 25, 30, 50, 70.7, 100, 250, 999, np.nan, 7.1, 15, 20])
    df = pd.DataFrame({
        "gbifID": np.arange(n).astype(str).astype(object),
        "datasetKey": rng.choice(np.array([f"ds-{i}" for i in range(40)], dtype=object), n),
        "occurrenceStatus": np.where(rng.random(n) < 0.005, "ABSENT", "PRESENT").astype(object),
        "basisOfRecord": np.where(rng.random(n) < 0.003, "FOSSIL_SPECIMEN", "HUMAN_OBSERVATION").astype(object),
        "decimalLatitude": lat,
        "decimalLongitude": lon,
        "coordinateUncertaintyInMeters": rng.choice(unc_pool, n),
        "coordinatePrecision": np.where(rng.random(n) < 0.01, 0.01, np.nan),
        "eventDate": rng.choice(dates, n),
        "year": np.where(rng.random(n) < 0.01, 2010.0, 2021.0),
        "recordedBy": rng.choice(who, n),
        "kingdom": "Animalia",
        "class": np.array([cls_of[f] for f in fam_pool], dtype=object)[sp_fam[sp]],
        "family": fam_pool[sp_fam[sp]],
        "familyKey": np.float64(1000) + sp_fam[sp],
        "species": sp_names[sp],
        "speciesKey": np.where(rng.random(n) < 0.01, np.nan, sp_keys[sp]),
        "license": rng.choice(np.array(["CC0_1_0", "CC_BY_4_0", "CC_BY_NC_4_0"], dtype=object), n),
        "issues": rng.choice(issues_pool, n),
        "iucnRedListCategory": rng.choice(np.array(["LC", "LC", "LC", "NT", "EN", None], dtype=object), n),
    })
    dup = rng.choice(n, size=int(0.03 * n), replace=False)
    src = rng.choice(n, size=dup.size)
    for c in ("speciesKey", "species", "family", "familyKey", "class", "decimalLatitude", "decimalLongitude", "eventDate", "recordedBy"):
        df.loc[dup, c] = df[c].to_numpy()[src]
    for c in RECORD_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan if RECORD_COLUMNS[c] == "float" else None
    return {"records": df[list(RECORD_COLUMNS)], "region": region, "parks": parks_gdf, "crs": crs,
            "landcover": (lc, grid), "patches": patches}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--parks", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0 = time.perf_counter()
    inp = make_inputs(a.records, a.parks, a.seed)
    t_gen = time.perf_counter() - t0
    rss_before = _rss_mb("VmRSS:")
    legend_table = load_legend(ROOT / "config" / "landcover_classes.yaml")
    legend = {c.code: c.name for c in legend_table.classes}
    taxa = species.guild_taxa(load_guilds(ROOT / "config" / "guilds.yaml", legend_table))
    cfg = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                          ROOT / "workflow" / "schemas" / "config.schema.yaml")
    params = SpeciesParams.from_config(cfg, {"species_source": "file", "species_file": ""})
    t1 = time.perf_counter()
    clean, log, _ = species.process_records(inp["records"], region=inp["region"], parks=inp["parks"], crs=inp["crs"],
                                            landcover=inp["landcover"], legend=legend, patches=inp["patches"],
                                            guild_taxa=taxa, params=params)
    t2 = time.perf_counter()
    counts = species.count_species(clean, inp["parks"]["park_id"].tolist(), list(taxa), params)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(log.to_string(index=False))
    print(f"\nrecords {a.records:,}, parks {a.parks}, kept {len(clean):,}, count rows {len(counts)}")
    print("| stage | wall time (s) |")
    print("|---|---|")
    print(f"| generate synthetic inputs (not measured) | {t_gen:.2f} |")
    print(f"| cleaning + assignment (park sjoin, patches, land cover, guilds) | {t2 - t1:.2f} |")
    print(f"| counting (per park x guild, estimators) | {t3 - t2:.2f} |")
    print(f"| **total measured** | **{t3 - t1:.2f}** |")
    print(f"peak RSS {peak:.0f} MB (inputs alone {rss_before:.0f} MB; stage adds ~{peak - rss_before:.0f} MB)")
    print("target: < 60 s ->", "OK" if t3 - t1 < 60 else "TOO SLOW")


if __name__ == "__main__":
    main()

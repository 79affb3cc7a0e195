"""Benchmark of the species stage on 1,000,000 records: table reading, cached name matching, cleaning,
assignment, counting, habitat validation (Boyce) and the period comparison.

Region: 20 x 20 km in EPSG:28992 with 100 business parks (10 x 10 grid, 36 ha each), a 10 m land-cover
raster (4 M cells), 4 guild patch rasters and 4 guild suitability rasters (table-like: one value per
land-cover class). Records: 1,000,000 with realistic column types (object strings from pools), 2,000
species in guild and non-guild families, GBIF issue strings, uncertainty values incl. defaults and
missing, ~3 % duplicates, ~2 % outside the region, absences and fossils; years 2015..2024.

Two paths are measured:

* ``--source gbif``: the normalised GBIF record frame (generated in memory) -> cleaning -> counting.
* ``--source table`` (default): the same records written as an NDFF-style CSV (not measured), then
  :func:`werkland.species.table.read_occurrence_table` (reading + name matching against a warm
  ``taxa.json`` cache: 2,000 distinct names, no network; the cache is filled beforehand by an
  offline matcher, not measured) -> cleaning -> counting.

Both then run the habitat validation (continuous Boyce index with 200 bootstrap replicates, 4 guilds)
and the comparison of two periods (2015-2019 vs 2020-2024, 100 parks + region x 5 guilds, 200
bootstrap replicates). Target: < 60 s on 2 cores for reading + matching + cleaning + counting + Boyce.

Usage: .venv/bin/python benchmarks/bench_species.py [--records 1000000] [--parks 100] [--seed 1]
       [--source table|gbif]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
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
from werkland.params.species_evidence import SpeciesEvidenceParams
from werkland.raster.io import Grid, write_raster
from werkland.species.coverage import compare_periods
from werkland.species.evidence import habitat_validation
from werkland.species.gbif import RECORD_COLUMNS
from werkland.species.names import resolve_names
from werkland.species.table import load_table_mapping, read_occurrence_table
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
    dates = np.array([f"{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)], dtype=object)
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
        "eventDate": rng.choice(dates, n),  # year prefixed below
        "year": np.where(rng.random(n) < 0.01, 2010.0, rng.integers(2015, 2025, n).astype(np.float64)),
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
    df["eventDate"] = df["year"].astype(int).astype(str).astype(object) + "-" + df["eventDate"]
    dup = rng.choice(n, size=int(0.03 * n), replace=False)
    src = rng.choice(n, size=dup.size)
    for c in ("speciesKey", "species", "family", "familyKey", "class", "decimalLatitude", "decimalLongitude", "eventDate", "recordedBy"):
        df.loc[dup, c] = df[c].to_numpy()[src]
    for c in RECORD_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan if RECORD_COLUMNS[c] == "float" else None
    # suitability per guild: one value per land-cover class (as the shipped tables), 0 for a third
    habitat = {}
    for g in GUILDS:
        lut = np.round(rng.choice([0.0, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0], size=256), 2).astype(np.float32)
        habitat[g] = (lut[lc], grid)
    taxonomy = pd.DataFrame({"name": sp_names, "family": fam_pool[sp_fam], "class": [cls_of[f] for f in fam_pool[sp_fam]],
                             "familyKey": 1000 + sp_fam, "speciesKey": sp_keys.astype(np.int64)})
    return {"records": df[list(RECORD_COLUMNS)], "region": region, "parks": parks_gdf, "crs": crs,
            "landcover": (lc, grid), "patches": patches, "habitat": habitat, "taxonomy": taxonomy,
            "xy": Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)}


def write_table(inp: dict, path: Path) -> None:
    """The generated records as an NDFF-style CSV (RD coordinates, Dutch column names)."""
    df = inp["records"]
    x, y = inp["xy"]
    x = np.where(np.isfinite(df["decimalLongitude"].to_numpy(dtype=float)), x, np.nan)
    name = df["species"].where(df["speciesKey"].notna(), "")
    out = pd.DataFrame({
        "id": df["gbifID"], "wetenschappelijke_naam": name, "x": np.round(x, 1), "y": np.round(y, 1),
        "nauwkeurigheid": df["coordinateUncertaintyInMeters"], "datum": df["eventDate"], "jaar": df["year"],
        "aantal": np.where(df["occurrenceStatus"] == "ABSENT", 0, 1), "waarnemer": df["recordedBy"],
        "bron": df["datasetKey"], "licentie": df["license"].str.replace("_", " ").str.replace(" 4 0", " 4.0"),
    })
    out.to_csv(path, index=False)


def offline_matcher(taxonomy: pd.DataFrame):
    """Answers of ``GET /v1/species/match`` for the generated names (fills the cache; no network)."""
    rows = {r.name: r for r in taxonomy.itertuples(index=False)}

    def match(name: str) -> dict:
        r = rows.get(name) or next((v for k, v in rows.items() if k.lower() == name.lower()), None)
        if r is None:
            return {"matchType": "NONE"}
        return {"matchType": "EXACT", "confidence": 99, "usageKey": int(r.speciesKey), "scientificName": r.name,
                "canonicalName": r.name, "rank": "SPECIES", "status": "ACCEPTED", "kingdom": "Animalia",
                "class": r[2], "family": r.family, "familyKey": int(r.familyKey), "genus": r.name.split()[0],
                "species": r.name, "speciesKey": int(r.speciesKey)}
    return match


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--parks", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--source", choices=["table", "gbif"], default="table")
    a = ap.parse_args()
    t0 = time.perf_counter()
    inp = make_inputs(a.records, a.parks, a.seed)
    legend_table = load_legend(ROOT / "config" / "landcover_classes.yaml")
    legend = {c.code: c.name for c in legend_table.classes}
    taxa = species.guild_taxa(load_guilds(ROOT / "config" / "guilds.yaml", legend_table))
    cfg = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                          ROOT / "workflow" / "schemas" / "config.schema.yaml")
    cfg["species"]["periods"] = {"baseline": [2015, 2019], "follow_up": [2020, 2024]}
    params = SpeciesParams.from_config(cfg, {"species_source": "file", "species_file": ""})
    ev = SpeciesEvidenceParams.from_config(cfg)
    tmp = Path(tempfile.mkdtemp(prefix="bench_species_"))
    times: dict[str, float] = {}
    if a.source == "table":
        table = tmp / "ndff_export.csv"
        write_table(inp, table)
        cache = tmp / "taxa.json"
        resolve_names(inp["taxonomy"]["name"], cache, matcher=offline_matcher(inp["taxonomy"]))  # warm cache
        mapping = load_table_mapping({"preset": "ndff", "columns": {"area_m2": None, "km_square": None,
                                                                    "validation": None}})
        t_gen = time.perf_counter() - t0
        rss_before = _rss_mb("VmRSS:")

        def no_network(name: str) -> dict:
            raise AssertionError(f"name {name!r} not cached")

        t1 = time.perf_counter()
        records, info = read_occurrence_table(table, mapping, names_cache=cache, matcher=no_network)
        times["read table + match names (cached)"] = time.perf_counter() - t1
    else:
        records = inp["records"]
        t_gen = time.perf_counter() - t0
        rss_before = _rss_mb("VmRSS:")
    t1 = time.perf_counter()
    clean, log, _ = species.process_records(records, region=inp["region"], parks=inp["parks"], crs=inp["crs"],
                                            landcover=inp["landcover"], legend=legend, patches=inp["patches"],
                                            guild_taxa=taxa, params=params)
    times["cleaning + assignment (park sjoin, patches, land cover, guilds)"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    counts = species.count_species(clean, inp["parks"]["park_id"].tolist(), list(taxa), params)
    times["counting (per park x guild, estimators)"] = time.perf_counter() - t1
    occ = gpd.GeoDataFrame(clean[["speciesKey", "year", "park_id", "guild"]],
                           geometry=gpd.points_from_xy(clean["x"], clean["y"]), crs=inp["crs"])
    tifs = {}
    for g, (arr, grid) in inp["habitat"].items():
        tifs[g] = tmp / f"{g}.tif"
        write_raster(tifs[g], arr, grid, nodata=-1.0)
    t1 = time.perf_counter()
    val, _curve = habitat_validation(occ, tifs, inp["region"], inp["crs"], ev)
    times[f"habitat validation (Boyce, 4 guilds x {ev.bootstrap_replicates} bootstrap, 4 M cells each)"] = (
        time.perf_counter() - t1)
    measured = sum(times.values())
    t1 = time.perf_counter()
    periods = compare_periods(clean, inp["parks"]["park_id"].tolist(), list(taxa),
                              [(p.name, p.year_min, p.year_max) for p in ev.periods],
                              n_boot=ev.bootstrap_replicates, seed=ev.bootstrap_seed, min_records=ev.periods_min_records)
    t_periods = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(tmp, ignore_errors=True)
    print(log.to_string(index=False))
    print(val.to_string(index=False))
    print(periods["verdict"].value_counts().to_string())
    print(f"\nsource {a.source}, records {a.records:,}, parks {a.parks}, kept {len(clean):,}, count rows {len(counts)}, "
          f"period rows {len(periods)}")
    print("| stage | wall time (s) |")
    print("|---|---|")
    print(f"| generate synthetic inputs{' + write CSV + warm name cache' if a.source == 'table' else ''} "
          f"(not measured) | {t_gen:.2f} |")
    for k, v in times.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **total measured** | **{measured:.2f}** |")
    print(f"| period comparison ({len(periods):,} rows, {ev.bootstrap_replicates} bootstrap; reported apart) | "
          f"{t_periods:.2f} |")
    print(f"peak RSS {peak:.0f} MB (inputs alone {rss_before:.0f} MB; stages add ~{peak - rss_before:.0f} MB)")
    print("target: < 60 s ->", "OK" if measured < 60 else "TOO SLOW")


if __name__ == "__main__":
    main()

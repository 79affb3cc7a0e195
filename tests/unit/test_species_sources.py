"""Monitoring tables (NDFF and waarneming.nl presets), GBIF Backbone name matching, and the species
source defects: a refresh that loses the cache, basis_of_record not applied to files, a stale
citation.txt, and a traceback on a GBIF outage.

Name matching replays vcrpy cassettes: ``tests/data/cassettes/species_match_v2.yaml`` (hand-written,
see its header) and pygbif's own ``test_name_backbone*.yaml`` in ``../shared/data`` (skipped when
absent). Exports are generated here in both preset layouts (CSV, XLSX, GeoPackage); the rule each
row must meet is designed into the row. No live network.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import vcr
import yaml
from pyproj import CRS, Transformer
from shapely.geometry import Point, box

from tests.unit.test_gbif import FakeSleep, Replay, js, paging_route
from tests.unit.test_species import FIXTURE, GUILDS, LEGEND, species_params
from tests.unit.test_species import region_inputs as region_inputs  # noqa: F401  (fixture)
from werkland import species
from werkland._errors import WerklandInputError
from werkland.layout import RegionPaths
from werkland.species import gbif, names
from werkland.species.table import load_table_mapping, read_occurrence_table

ROOT = Path(__file__).resolve().parents[2]
CASSETTE = ROOT / "tests" / "data" / "cassettes" / "species_match_v2.yaml"
SHARED_CASSETTES = ROOT.parent / "shared" / "data" / "gbif_recorded" / "pygbif_cassettes"
needs_shared = pytest.mark.skipif(not SHARED_CASSETTES.exists(),
                                  reason=f"{SHARED_CASSETTES} not present (../shared/data is not beside the project)")
TO_LL = Transformer.from_crs(28992, 4326, always_xy=True)


def replay_names():
    return vcr.use_cassette(str(CASSETTE), record_mode="none", allow_playback_repeats=True)


def no_network(name: str) -> dict:
    raise AssertionError(f"GBIF asked for {name!r} although it is cached")


# --------------------------------------------------------------------------------------------
# generated exports: (row, expected rule) -- 'keep:<park>' for kept records

NDFF_ROWS = [
    # id, name, x, y, nauwkeurigheid, km_hok, datum, aantal, status, expected
    ("n1", "Bombus terrestris", 84500, 445500, "10", "", "03-05-2021", "2", "Goedgekeurd", "keep:P1"),
    ("n2", "Bombus terrestris", 84600, 445600, "25", "", "04-05-2021", "1", "Goedgekeurd", "keep:P1"),
    ("n3", "Parus major", 84700, 445700, "5", "", "05-05-2021", "1", "goedgekeurd", "keep:P1"),
    ("n4", "Erinaceus europaeus", 85800, 446800, "10", "", "06-06-2022", "1", "Goedgekeurd", "keep:P2"),
    ("n5", "Bufo bufo", 85700, 446700, "10", "", "07-03-2022", "3", "Goedgekeurd", "keep:P2"),
    ("n6", "Bufo bufoo", 84500, 445600, "10", "", "07-03-2022", "1", "Goedgekeurd", "name_not_matched_exactly"),
    ("n7", "Bombus onbekendus", 84500, 445700, "10", "", "07-05-2022", "1", "Goedgekeurd", "name_not_matched_exactly"),
    ("n8", "Xyzzy plugh", 84500, 445800, "10", "", "07-05-2022", "1", "Goedgekeurd", "name_not_matched_exactly"),
    ("n9", "Parus major", "", "", "", "084-445", "08-05-2022", "1", "Goedgekeurd", "uncertainty_too_large"),
    ("n10", "Parus major", "", "", "", "", "09-05-2022", "1", "Goedgekeurd", "coordinates_invalid"),
    ("n11", "Bombus terrestris", 84800, 445800, "10", "", "10-05-2022", "0", "Goedgekeurd", "absence"),
    ("n12", "Bombus terrestris", 84900, 445900, "10", "", "11-05-2022", "1", "Afgekeurd", "not_validated"),
    ("n13", "Andrena flavipes", 84500, 445900, "10", "", "12-05-2010", "1", "Goedgekeurd", "year_out_of_range"),
    ("n14", "Apidae", 84600, 445900, "10", "", "13-05-2022", "1", "Goedgekeurd", "not_identified_to_species"),
    ("n15", "Bombus terrestris", 90000, 450000, "10", "", "14-05-2022", "1", "Goedgekeurd", "outside_region"),
]


def ndff_frame() -> pd.DataFrame:
    return pd.DataFrame([r[:9] for r in NDFF_ROWS], columns=["id", "wetenschappelijke_naam", "x", "y", "nauwkeurigheid",
                                                             "km_hok", "datum", "aantal", "validatiestatus"]).assign(
        waarnemer="obs NDFF", bron="Meetnet test", licentie="CC BY 4.0")


def waarneming_frame() -> pd.DataFrame:
    rows = []
    for r in NDFF_ROWS:
        if r[2] == "":
            continue  # waarneming.nl exports always carry coordinates
        lon, lat = TO_LL.transform(float(r[2]), float(r[3]))
        d = r[6].split("-")
        status = {"Goedgekeurd": "Goedgekeurd (handmatig)", "goedgekeurd": "Approved (automatic)", "Afgekeurd": "Niet beoordeeld"}[r[8]]
        rows.append({"id": r[0], "scientific name": r[1], "date": f"{d[2]}-{d[1]}-{d[0]}", "number": r[7],
                     "lat": round(lat, 7), "lng": round(lon, 7), "accuracy": r[4], "observer": "obs W",
                     "validation status": status, "expected": r[9]})
    return pd.DataFrame(rows)


def expected_counts(expected: list[str]) -> pd.Series:
    return pd.Series([e for e in expected if not e.startswith("keep")]).value_counts()


def run_table(region_inputs: dict, spec: dict, **overrides) -> tuple[dict, dict]:  # noqa: F811
    tmp = region_inputs["tmp"]
    out = tmp / "out"
    outs = {"occ": out / "occurrences.gpkg", "counts": out / "counts.csv", "cit": out / "citation.json",
            "log": out / "cleaning_log.csv", "txt": out / "citation.txt", "names": out / "names.csv"}
    params = dataclasses.replace(species_params("table", **overrides), table=spec)
    with replay_names():
        res = species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND,
                                  GUILDS, outs["occ"], outs["counts"], outs["cit"], outs["log"], params=params,
                                  cache_dir=tmp / "cache", out_citation_txt=outs["txt"], out_names_csv=outs["names"])
    return res, outs


def check_log(outs: dict, expected: list[str]) -> pd.DataFrame:
    log = pd.read_csv(outs["log"])
    got = log.set_index("rule")["removed"]
    for rule, n in expected_counts(expected).items():
        assert got[rule] == n, rule
    n_keep = sum(e.startswith("keep") for e in expected)
    assert log["remaining"].iloc[0] == len(expected) and log["remaining"].iloc[-1] == n_keep
    assert got.drop("input").sum() == len(expected) - n_keep
    return log


# --------------------------------------------------------------------------------------------
# presets on generated exports


def test_ndff_csv_preset_end_to_end(region_inputs: dict) -> None:  # noqa: F811
    path = region_inputs["tmp"] / "ndff_export.csv"
    ndff_frame().to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    res, outs = run_table(region_inputs, {"path": str(path), "preset": "ndff"})
    expected = [r[9] for r in NDFF_ROWS]
    check_log(outs, expected)
    assert res["mode"] == "table" and res["records_clean"] == sum(e.startswith("keep") for e in expected)
    occ = gpd.read_file(outs["occ"], layer="occurrences")
    want = [e.split(":")[1] for e in expected if e.startswith("keep")]
    assert sorted(occ["park_id"]) == sorted(want)
    # guild membership by taxon works through the backbone classification
    by_species = occ.set_index("gbifID")["guild"].to_dict()
    assert by_species["n1"] == "pollinators" and by_species["n3"] == "woodland_birds"
    assert by_species["n4"] == "hedgehog" and by_species["n5"] == "amphibians"
    assert occ.loc[occ["gbifID"] == "n1", "speciesKey"].iloc[0] == 1340278
    assert (occ["eventDate"] == ["2021-05-03", "2021-05-04", "2021-05-05", "2022-06-06", "2022-03-07"]).all()
    counts = pd.read_csv(outs["counts"])
    p1 = counts[(counts["park_id"] == "P1") & (counts["guild"] == "all")].iloc[0]
    assert p1["records"] == 3 and p1["species"] == 2
    # names: listed with match type and whether counted; fuzzy / higher rank never counted
    nm = pd.read_csv(outs["names"])
    tab = nm[nm["source"] == "table"].set_index("name")
    assert tab.loc["Bufo bufoo", "matchType"] == "FUZZY" and not tab.loc["Bufo bufoo", "counted"]
    assert tab.loc["Bombus onbekendus", "matchType"] == "HIGHERRANK" and not tab.loc["Bombus onbekendus", "counted"]
    assert tab.loc["Xyzzy plugh", "matchType"] == "NONE"
    assert tab.loc["Bombus terrestris", "records"] == 5 and tab.loc["Bombus terrestris", "counted"]
    assert "above species level" in tab.loc["Apidae", "reason"]
    assert set(nm.loc[nm["source"] == "guild", "matchType"]) == {"EXACT"} and nm.loc[nm["source"] == "guild", "counted"].all()
    cit = json.loads(outs["cit"].read_text())
    assert cit["mode"] == "table" and cit["table"]["located_by"] == {"xy": 13, "geometry": 0, "km_square": 1, "none": 1}
    assert any("Bufo bufoo" in w for w in res["warnings"])
    assert "monitoring-scheme export" in outs["txt"].read_text()
    # the cache: deterministic, provenance, answers reused without GBIF
    cache = region_inputs["tmp"] / "cache" / "taxa.json"
    data = json.loads(cache.read_text())
    assert list(data["names"]) == sorted(data["names"])
    assert data["names"]["Bufo bufoo"]["matchType"] == "FUZZY" and data["names"]["Bufo bufoo"]["confidence"] == 94
    assert data["names"]["Bufo bufo"]["source"] == names.PYGBIF_SOURCE
    before = cache.read_bytes()
    m = names.resolve_names(ndff_frame()["wetenschappelijke_naam"], cache, matcher=no_network)
    assert cache.read_bytes() == before and len(m) == 9


def test_km_squares_assigned_only_where_uncertainty_allows(region_inputs: dict) -> None:  # noqa: F811
    path = region_inputs["tmp"] / "ndff_export.csv"
    ndff_frame().to_csv(path, sep=";", index=False)
    res, outs = run_table(region_inputs, {"path": str(path), "preset": "ndff"}, uncertainty_cap_m=1000.0,
                          uncertainty_rel_factor=2.0)
    occ = gpd.read_file(outs["occ"], layer="occurrences")
    row = occ[occ["gbifID"] == "n9"].iloc[0]
    assert row["park_id"] == "P1" and row["coordinateUncertaintyInMeters"] == pytest.approx(707.1, abs=0.1)
    assert abs(row.geometry.x - 84500) < 1 and abs(row.geometry.y - 445500) < 1


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_waarneming_preset_csv_and_xlsx(region_inputs: dict, fmt: str) -> None:  # noqa: F811
    df = waarneming_frame()
    path = region_inputs["tmp"] / f"waarneming.{fmt}"
    if fmt == "csv":
        df.drop(columns="expected").to_csv(path, index=False)
    else:
        df.drop(columns="expected").to_excel(path, index=False, engine="openpyxl")
    res, outs = run_table(region_inputs, {"path": str(path), "preset": "waarneming"})
    check_log(outs, df["expected"].tolist())
    occ = gpd.read_file(outs["occ"], layer="occurrences")
    assert (occ["license"] == "CC_BY_NC_4_0").all() and occ["cc_by_nc"].all()
    assert set(occ["datasetKey"]) == {"waarneming.nl / observation.org export"}
    n1 = occ[occ["gbifID"] == "n1"].iloc[0]
    assert abs(n1.geometry.x - 84500) < 0.5 and abs(n1.geometry.y - 445500) < 0.5


def test_ndff_geopackage_polygons_and_points(region_inputs: dict) -> None:  # noqa: F811
    crs = CRS.from_epsg(28992)
    geoms = [box(84500, 445500, 84600, 445600),  # 1 ha square in P1: radius 70.7 m, kept
             box(84200, 445200, 85200, 446200),  # the whole km square: radius 707 m, too coarse
             Point(85800, 446800),  # exact point in P2
             None]  # no location at all
    gdf = gpd.GeoDataFrame({"wetenschappelijke_naam": ["Bombus terrestris", "Parus major", "Erinaceus europaeus", "Bufo bufo"],
                            "datum": ["2021-05-01", "2021-05-02", "2021-05-03", "2021-05-04"],
                            "aantal": [1, 2, 1, 1], "validatiestatus": ["Goedgekeurd"] * 4},
                           geometry=gpd.GeoSeries(geoms, crs=crs))
    path = region_inputs["tmp"] / "ndff.gpkg"
    gdf.to_file(path, layer="waarnemingen", engine="pyogrio")
    res, outs = run_table(region_inputs, {"path": str(path), "preset": "ndff", "layer": "waarnemingen"})
    check_log(outs, ["keep:P1", "uncertainty_too_large", "keep:P2", "coordinates_invalid"])
    occ = gpd.read_file(outs["occ"], layer="occurrences").set_index("species")
    assert occ.loc["Bombus terrestris", "coordinateUncertaintyInMeters"] == pytest.approx(70.71, abs=0.01)
    assert abs(occ.loc["Bombus terrestris"].geometry.x - 84550) < 0.5
    assert json.loads(outs["cit"].read_text())["table"]["located_by"] == {"xy": 0, "geometry": 3, "km_square": 0, "none": 1}


def test_reader_takes_a_preset_name_or_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "ndff.csv"
    ndff_frame().to_csv(path, sep=";", index=False)
    a, info = species.read_occurrence_table(path, "ndff")
    b, _ = read_occurrence_table(path, {"preset": "ndff", "columns": {"observer": None}})
    assert len(a) == len(NDFF_ROWS) and info["located_by"]["km_square"] == 1 and "names" in info
    assert (a["recordedBy"] == "obs NDFF").all() and b["recordedBy"].isna().all()
    assert a["validated"].tolist() == [r[8].lower() == "goedgekeurd" for r in NDFF_ROWS]
    assert a["occurrenceStatus"].tolist() == ["ABSENT" if r[7] == "0" else "PRESENT" for r in NDFF_ROWS]
    assert (a["license"] == "CC_BY_4_0").all() and (a["nameMatchType"] == "").all()


def test_table_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(WerklandInputError, match="preset 'ndf' not found.*did you mean 'ndff'"):
        load_table_mapping({"path": "x.csv", "preset": "ndf"})
    with pytest.raises(WerklandInputError, match="unknown column field 'scientific'"):
        load_table_mapping({"path": "x.csv", "columns": {"scientific": "naam"}})
    with pytest.raises(WerklandInputError, match="no scientific_name"):
        load_table_mapping({"path": "x.csv", "columns": {"x": "x"}})
    path = tmp_path / "t.csv"
    pd.DataFrame({"naam": ["Bufo bufo"], "X": [1], "Y": [2]}).to_csv(path, index=False)
    m = load_table_mapping({"path": str(path), "columns": {"scientific_name": "naem", "x": "X", "y": "Y"}, "crs": "EPSG:28992"})
    with pytest.raises(WerklandInputError, match="'naem' .*not in the table.*did you mean 'naam'"):
        read_occurrence_table(path, m)
    m = load_table_mapping({"path": str(path), "columns": {"scientific_name": "naam"}})
    with pytest.raises(WerklandInputError, match="no location columns"):
        read_occurrence_table(path, m)
    m = load_table_mapping({"path": str(path), "columns": {"scientific_name": "naam", "x": "X", "y": "Y"}})
    with pytest.raises(WerklandInputError, match="need the table's crs"):
        read_occurrence_table(path, m)


def test_reader_is_vectorised_and_names_are_matched_once(tmp_path: Path) -> None:
    """200,000 rows, 2,000 distinct names, names cached: one pass, no GBIF call, a few seconds."""
    rng = np.random.default_rng(7)
    n, k = 200_000, 2_000
    pool = np.array([f"Genus{i // 10} species{i}" for i in range(k)])
    df = pd.DataFrame({"naam": pool[rng.integers(0, k, n)], "x": rng.uniform(84000, 86000, n).round(1),
                       "y": rng.uniform(445000, 447000, n).round(1), "datum": "2021-05-01", "nauwkeurigheid": "10"})
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    cache = tmp_path / "taxa.json"
    entries = {}
    for i, nm in enumerate(pool):
        body = {"usageKey": 10_000 + i, "matchType": "EXACT" if i % 100 else "FUZZY", "confidence": 99, "rank": "SPECIES",
                "scientificName": nm, "genus": nm.split()[0], "genusKey": 5_000 + i // 10, "species": nm, "speciesKey": 10_000 + i}
        entries[nm] = {**names.parse_match(body), "source": "test", "retrieved": "2026-01-01"}
    names.write_name_cache(cache, entries)
    m = load_table_mapping({"path": str(path), "columns": {"scientific_name": "naam", "x": "x", "y": "y", "date": "datum",
                                                          "uncertainty_m": "nauwkeurigheid"}, "crs": "EPSG:28992"})
    t0 = time.perf_counter()
    recs, info = read_occurrence_table(path, m, names_cache=cache, matcher=no_network)
    dt = time.perf_counter() - t0
    assert len(recs) == n and info["names"] == k
    idx = df["naam"].str.replace("Genus", "").str.split(" species").str[1].astype(int).to_numpy()
    exact = idx % 100 != 0
    assert np.array_equal(recs["speciesKey"].to_numpy()[exact], 10_000 + idx[exact])
    assert recs["speciesKey"].to_numpy()[~exact].tolist() == [np.nan] * int((~exact).sum()) or np.isnan(recs["speciesKey"].to_numpy()[~exact]).all()
    assert (recs["nameMatchType"].to_numpy()[~exact] == "FUZZY").all()
    assert dt < 20, f"{n} rows took {dt:.1f} s"


# --------------------------------------------------------------------------------------------
# names


def test_resolve_names_replayed_match_types_and_cache(tmp_path: Path) -> None:
    cache = tmp_path / "taxa.json"
    with replay_names():
        m = names.resolve_names(["Bufo bufo", "Bufo  bufo ", None, "", "Bufo bufoo", "Bombus onbekendus", "Xyzzy plugh"], cache,
                                matcher=names.pygbif_matcher(max_retries=0))
    assert list(m.index) == ["Bombus onbekendus", "Bufo bufo", "Bufo bufoo", "Xyzzy plugh"]
    assert m.loc["Bufo bufo", "matchType"] == "EXACT" and m.loc["Bufo bufo", "usageKey"] == 2422455
    assert m.loc["Bufo bufo", "family"] == "Bufonidae" and m.loc["Bufo bufo", "speciesKey"] == 2422455
    assert m.loc["Bombus onbekendus", "rank"] == "GENUS" and m.loc["Bombus onbekendus", "confidence"] == 90
    assert m["accepted"].tolist() == [False, True, False, False]
    reasons = names.flag_matches(m, {"Bufo bufo": "genus"})
    assert reasons["Bufo bufoo"] == "match type FUZZY" and "expected GENUS" in reasons["Bufo bufo"]
    first = cache.read_text()
    names.resolve_names(["Bufo bufo"], cache, matcher=no_network)  # cached: no request
    assert cache.read_text() == first


@needs_shared
def test_shared_pygbif_cassettes_through_the_v1_client(tmp_path: Path) -> None:
    """pygbif's own recorded v1 answers (EXACT Helianthus annuus, NONE 'Aso') replayed through the client matcher."""
    def same_name(r1, r2) -> None:
        assert dict(r1.query).get("name") == dict(r2.query).get("name")

    my_vcr = vcr.VCR(record_mode="none")
    my_vcr.register_matcher("name", same_name)
    client = gbif.GbifClient(gbif.DEFAULT_BASE_URL, max_retries=0, sleep=FakeSleep())
    cache = tmp_path / "taxa.json"
    with my_vcr.use_cassette(str(SHARED_CASSETTES / "test_name_backbone.yaml"), match_on=["method", "host", "path", "name"]):
        m = names.resolve_names(["Helianthus annuus"], cache, matcher=names.client_matcher(client), source=names.CLIENT_SOURCE)
    with my_vcr.use_cassette(str(SHARED_CASSETTES / "test_name_backbone_multiple_matches.yaml"),
                             match_on=["method", "host", "path", "name"]):
        m2 = names.resolve_names(["Aso"], cache, matcher=names.client_matcher(client), source=names.CLIENT_SOURCE)
    h = m.loc["Helianthus annuus"]
    assert h["matchType"] == "EXACT" and h["usageKey"] == 9206251 and h["confidence"] == 99 and h["family"] == "Asteraceae"
    assert m2.loc["Aso", "matchType"] == "NONE" and "too little confidence" in m2.loc["Aso", "note"]
    assert not m2.loc["Aso", "accepted"]
    assert set(json.loads(cache.read_text())["names"]) == {"Aso", "Helianthus annuus"}


def test_guild_taxa_matched_and_a_fuzzy_guild_taxon_is_not_counted(region_inputs: dict, tmp_path: Path) -> None:  # noqa: F811
    g = yaml.safe_load(GUILDS.read_text())
    g["guilds"]["amphibians"]["gbif_taxa"] = [{"rank": "species", "name": "Bufo bufoo", "key": 2422455}]
    guilds_yaml = tmp_path / "guilds.yaml"
    guilds_yaml.write_text(yaml.safe_dump(g))
    out = tmp_path / "o"
    with replay_names():
        res = species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND,
                                  guilds_yaml, out / "occ.gpkg", out / "counts.csv", out / "cit.json", out / "log.csv",
                                  params=species_params("file", file_path=str(FIXTURE), resolve_names=True),
                                  cache_dir=tmp_path / "cache")
    nm = pd.read_csv(out / "names.csv")
    assert len(nm) == 13 and (nm["source"] == "guild").all()
    bad = nm[nm["name"] == "Bufo bufoo"].iloc[0]
    assert bad["matchType"] == "FUZZY" and not bad["counted"]
    assert any("Bufo bufoo is not used" in w for w in res["warnings"])
    occ = gpd.read_file(out / "occ.gpkg", layer="occurrences")
    assert not occ["guild"].fillna("").str.contains("amphibians").any()  # the fuzzy taxon matched no record
    assert occ["guild"].fillna("").str.contains("pollinators").any()


# --------------------------------------------------------------------------------------------
# defects


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_failed_refresh_keeps_the_complete_cache(tmp_path: Path) -> None:
    replay = Replay()
    try:
        geom = gbif.QueryGeometry("POLYGON((4 52,5 52,5 53,4 53,4 52))", False, 5)
        recs = [{"key": i, "decimalLatitude": 52.5, "decimalLongitude": 4.5, "speciesKey": 7} for i in range(5)]
        replay.routes[("GET", "occurrence/search")] = paging_route(recs)
        client = gbif.GbifClient(replay.base, max_retries=0, timeout=(2.0, 2.0), sleep=FakeSleep())
        first = gbif.fetch_occurrences("api", geometry=geom, filters={}, cache_dir=tmp_path, client=client)
        assert len(first.records) == 5
        cache = gbif.QueryCache(tmp_path)
        before = sorted(p.read_bytes() for p in cache.search_dir(first.query_hash).glob("*.json"))
        # GBIF fails half-way through the refresh: the first page comes, the second is a 503
        more = recs + [{"key": 100 + i, "decimalLatitude": 52.5, "decimalLongitude": 4.5, "speciesKey": 8} for i in range(400)]
        good = paging_route(more)
        replay.routes[("GET", "occurrence/search")] = lambda q: good(q) if int(q.get("offset", 0)) == 0 else (503, "text/plain", b"down")
        with pytest.raises(WerklandInputError, match="GBIF is unreachable.*complete cached copy.*exists -- fix: .*species_source: auto"):
            gbif.fetch_occurrences("api", geometry=geom, filters={}, cache_dir=tmp_path, client=client, refresh=True)
        assert cache.is_complete(first.query_hash)
        assert sorted(p.read_bytes() for p in cache.search_dir(first.query_hash).glob("*.json")) == before
        assert not list((tmp_path / ".staging").glob("*"))
        auto = gbif.fetch_occurrences("auto", geometry=geom, filters={}, cache_dir=tmp_path, client=client, refresh=True)
        assert auto.mode == "cache" and auto.records.equals(first.records)
        # a refresh that completes replaces the copy
        replay.routes[("GET", "occurrence/search")] = good
        new = gbif.fetch_occurrences("api", geometry=geom, filters={}, cache_dir=tmp_path, client=client, refresh=True)
        assert new.mode == "api" and len(new.records) == 405 and cache.is_complete(new.query_hash)
        again = gbif.fetch_occurrences("auto", geometry=geom, filters={}, cache_dir=tmp_path,
                                       client=gbif.GbifClient(f"http://127.0.0.1:{_closed_port()}/v1/", max_retries=0))
        assert again.mode == "cache" and len(again.records) == 405
    finally:
        replay.close()


def test_basis_of_record_and_taxon_filters_apply_to_files(region_inputs: dict) -> None:  # noqa: F811
    fx = pd.read_csv(FIXTURE, sep="\t", dtype=str, keep_default_na=False)
    fx.loc[fx["gbifID"].isin(fx.loc[fx["expected_rule"] == "keep", "gbifID"].tail(3)), "basisOfRecord"] = "PRESERVED_SPECIMEN"
    path = region_inputs["tmp"] / "gbif_table.tsv"
    fx.to_csv(path, sep="\t", index=False)
    tmp = region_inputs["tmp"]
    out = tmp / "o"
    p = species_params("file", file_path=str(path), basis_of_record=("HUMAN_OBSERVATION",))
    res = species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND, GUILDS,
                              out / "occ.gpkg", out / "counts.csv", out / "cit.json", out / "log.csv", params=p, cache_dir=tmp / "c")
    log = pd.read_csv(out / "log.csv").set_index("rule")
    n_keep = int((fx["expected_rule"] == "keep").sum())
    assert log.loc["basis_of_record", "removed"] == 3 and res["records_clean"] == n_keep - 3
    assert "basis_of_record" in log.loc["basis_of_record", "description"]
    # taxon_keys: only Apidae (4334) records stay
    p2 = dataclasses.replace(p, basis_of_record=tuple(gbif.DEFAULT_BASIS_OF_RECORD), taxon_keys=(4334,))
    res2 = species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND, GUILDS,
                               out / "occ.gpkg", out / "counts.csv", out / "cit.json", out / "log.csv", params=p2, cache_dir=tmp / "c")
    log2 = pd.read_csv(out / "log.csv").set_index("rule")
    occ = gpd.read_file(out / "occ.gpkg", layer="occurrences")
    assert log2.loc["taxon_keys", "removed"] > 0 and res2["records_clean"] == len(occ) > 0
    # by key, as GBIF's taxonKey filter: the fixture's Vespula record carries familyKey 4334 too
    assert set(occ["order"]) == {"Hymenoptera"} and "Andrenidae" not in set(occ["family"])


def test_citation_txt_is_a_declared_output_and_never_stale(region_inputs: dict) -> None:  # noqa: F811
    paths = RegionPaths("results", "r")
    assert paths.citation_txt in paths.stage_outputs("species", ["hedgehog"], ["T10"])
    rule = (ROOT / "workflow" / "rules" / "species.smk").read_text()
    assert "citation_txt=LAYOUT.citation_txt.as_posix()" in rule and "snakemake.output.citation_txt" in (
        ROOT / "scripts" / "species.py").read_text()
    assert "out_citation_txt=paths.citation_txt" in (ROOT / "src" / "werkland" / "pipeline.py").read_text()
    out = region_inputs["tmp"] / "o"
    out.mkdir()
    stale = {n: out / n for n in ("occ.gpkg", "counts.csv", "cit.json", "log.csv", "cit.txt", "names.csv")}
    for f in stale.values():
        f.write_text("old run")
    p = dataclasses.replace(species_params("table"), table={"path": str(out / "missing.csv"), "preset": "ndff"})
    with pytest.raises(WerklandInputError, match="monitoring table not found"):
        species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND, GUILDS,
                            stale["occ.gpkg"], stale["counts.csv"], stale["cit.json"], stale["log.csv"], params=p,
                            cache_dir=out / "c", out_citation_txt=stale["cit.txt"], out_names_csv=stale["names.csv"])
    assert not any(f.exists() for f in stale.values())


def test_gbif_outage_in_api_mode_is_one_line(region_inputs: dict, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    from werkland.runner import run_step

    tmp = region_inputs["tmp"]
    p = species_params("api", api_base_url=f"http://127.0.0.1:{_closed_port()}/v1/", max_retries=0)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with pytest.raises(SystemExit) as exc:
            run_step(None, species.run_species, region_inputs["region"], region_inputs["landcover"], region_inputs["patches"],
                     LEGEND, GUILDS, tmp / "o" / "occ.gpkg", tmp / "o" / "counts.csv", tmp / "o" / "cit.json",
                     tmp / "o" / "log.csv", params=p, cache_dir=tmp / "c")
    finally:  # run_step replaced the root handlers (one writes to the captured stderr)
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    line = [x for x in err if x.startswith("werkland error:")]
    assert len(line) == 1 and "GBIF is unreachable" in line[0] and "-- fix: " in line[0] and "species_source: auto" in line[0]
    assert "Traceback" not in "\n".join(err)


def test_names_outage_for_a_table_is_one_line(region_inputs: dict) -> None:  # noqa: F811
    import requests

    def down(name: str) -> dict:
        raise requests.ConnectionError("no route to host")

    path = region_inputs["tmp"] / "ndff_export.csv"
    ndff_frame().to_csv(path, sep=";", index=False)
    tmp = region_inputs["tmp"]
    p = dataclasses.replace(species_params("table"), table={"path": str(path), "preset": "ndff"})
    with pytest.raises(gbif.GbifOutageError, match="name matching is unreachable.*-- fix: .*taxa.json"):
        species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND, GUILDS,
                            tmp / "o" / "occ.gpkg", tmp / "o" / "counts.csv", tmp / "o" / "cit.json", tmp / "o" / "log.csv",
                            params=p, cache_dir=tmp / "c", name_matcher=down)


def test_retry_against_local_server_honours_retry_after_and_gives_up(tmp_path: Path) -> None:
    replay = Replay()
    try:
        replay.routes[("GET", "species/match")] = [(429, "text/plain", b"slow down"), (502, "text/plain", b"bad gateway"),
                                                   js({"usageKey": 1, "matchType": "EXACT", "confidence": 99, "rank": "KINGDOM",
                                                       "kingdom": "Animalia", "kingdomKey": 1})]
        sl = FakeSleep()
        client = gbif.GbifClient(replay.base, max_retries=3, backoff_s=1.0, sleep=sl, timeout=(2.0, 2.0))
        m = names.resolve_names(["Animalia"], tmp_path / "taxa.json", matcher=names.client_matcher(client))
        assert m.loc["Animalia", "usageKey"] == 1 and replay.hits("species/match") == 3
        assert sl.calls[0] == 2.0 and 1.0 <= sl.calls[1] <= 1.25  # Retry-After first, then back-off
        replay.routes[("GET", "species/match")] = [(503, "text/plain", b"down")]
        with pytest.raises(gbif.GbifOutageError, match="Xus"):
            names.resolve_names(["Xus"], tmp_path / "taxa.json", matcher=names.client_matcher(client))
        assert replay.hits("species/match") == 3 + 4
    finally:
        replay.close()


def test_names_report_section_lists_names_not_counted(region_inputs: dict) -> None:  # noqa: F811
    from types import SimpleNamespace

    from werkland.report import section_registry, species_names_section

    assert section_registry.SECTION_BUILDERS["species_names"] is species_names_section.build
    path = region_inputs["tmp"] / "ndff_export.csv"
    ndff_frame().to_csv(path, sep=";", index=False)
    _, outs = run_table(region_inputs, {"path": str(path), "preset": "ndff"})
    paths = RegionPaths(region_inputs["tmp"] / "results", "r")
    paths.species_names.parent.mkdir(parents=True)
    paths.species_names.write_bytes(outs["names"].read_bytes())
    en = species_names_section.build(SimpleNamespace(paths=paths, language="en"))
    nl = species_names_section.build(SimpleNamespace(paths=paths, language="nl"))
    assert en is not None and nl is not None and en.key == "species_names" and en.title != nl.title
    for name in ("Bufo bufoo", "Bombus onbekendus", "Xyzzy plugh", "Apidae"):
        assert f"<em>{name}</em>" in en.html
    assert "<em>Bombus terrestris</em>" not in en.html and "FUZZY" in en.html and "HIGHERRANK" in en.html
    assert "14 of 14 guild taxa" in en.html and "niet meegeteld" in nl.html
    # header only (species stage off): no section
    paths.species_names.write_text(",".join(species.stage.NAMES_COLUMNS) + "\n")
    assert species_names_section.build(SimpleNamespace(paths=paths, language="en")) is None

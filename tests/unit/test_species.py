"""Tests of werkland.species: cleaning rules, assignment, guild matching, counts, citation, empty outputs.

The handmade fixture ``tests/data/gbif/records_small_simple_csv.tsv`` (GBIF SIMPLE_CSV layout, tab
separated) carries two extra columns the reader ignores: ``expected_rule`` (the cleaning rule that must
remove the record, or ``keep``) and ``expected_park``. Expected numbers are derived from those columns,
not typed into the tests.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import box

from werkland import species
from werkland._errors import WerklandInputError
from werkland.config import validate_config
from werkland.params.species import SpeciesParams
from werkland.raster.io import Grid, write_gpkg, write_raster
from werkland.species import richness

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "gbif" / "records_small_simple_csv.tsv"
GUILDS = ROOT / "config" / "guilds.yaml"
LEGEND = ROOT / "config" / "landcover_classes.yaml"
SHARED = ROOT.parent / "shared" / "data"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

REGION = box(84000, 445000, 86500, 447500)
PARKS = {"P1": box(84200, 445200, 85200, 446200), "P2": box(85600, 446600, 86000, 447000), "P3": box(84000, 447000, 84400, 447400)}


@pytest.fixture()
def region_inputs(tmp_path: Path) -> dict:
    """region.gpkg, landcover.tif and patch rasters for a 2.5 km box in EPSG:28992."""
    crs = CRS.from_epsg(28992)
    gpkg = tmp_path / "region.gpkg"
    write_gpkg(gpd.GeoDataFrame({"name": ["r"]}, geometry=[REGION], crs=crs), gpkg, "region")
    parks = gpd.GeoDataFrame({"park_id": list(PARKS), "name": list(PARKS)}, geometry=list(PARKS.values()), crs=crs)
    parks["area_m2"] = parks.area
    write_gpkg(parks, gpkg, "parks", mode="a")
    grid = Grid(250, 250, Affine(10.0, 0, 84000.0, 0, -10.0, 447500.0), crs)
    lc = np.full(grid.shape, 13, np.uint8)  # grass
    lc[:, :50] = 1  # building west of x = 84500
    write_raster(tmp_path / "landcover.tif", lc, grid, nodata=0)
    patches = {}
    for g in ("hedgehog", "pollinators", "amphibians", "woodland_birds"):
        arr = np.zeros(grid.shape, np.int32)
        if g == "amphibians":
            arr[50:100, 160:200] = 7  # x 85600..86000, y 446500..447000: covers P2
        write_raster(tmp_path / f"{g}.tif", arr, grid, nodata=None)
        patches[g] = tmp_path / f"{g}.tif"
    return {"region": gpkg, "landcover": tmp_path / "landcover.tif", "patches": patches, "crs": crs, "tmp": tmp_path}


def _run(region_inputs: dict, source: str = "file", params: dict | None = None, **kw) -> tuple[dict, dict]:
    tmp = region_inputs["tmp"]
    outs = {
        "occ": tmp / "out" / "occurrences.gpkg",
        "counts": tmp / "out" / "counts.csv",
        "cit": tmp / "out" / "citation.json",
        "log": tmp / "out" / "cleaning_log.csv",
    }
    p = {"file_path": str(FIXTURE)} if source == "file" else {}
    p.update(params or {})
    res = species.run_species(
        region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND, GUILDS,
        outs["occ"], outs["counts"], outs["cit"], outs["log"], params=species_params(source, **p),
        cache_dir=tmp / "cache", **kw,
    )
    return res, outs


def species_params(source: str = "file", **overrides) -> SpeciesParams:
    """The demo config's species settings (schema defaults filled) with a source and overrides.

    Guild-taxa matching is off unless asked for (tests never reach the live GBIF API; the name tests
    replay cassettes).
    """
    cfg = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA)
    base = SpeciesParams.from_config(cfg, {"species_source": source, "species_file": ""})
    overrides.setdefault("resolve_names", False)
    return dataclasses.replace(base, **overrides)


def _fixture() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, sep="\t", dtype=str, keep_default_na=False)


def test_cleaning_log_counts_each_rule(region_inputs: dict) -> None:
    res, outs = _run(region_inputs)
    log = pd.read_csv(outs["log"])
    fx = _fixture()
    expected = fx["expected_rule"].value_counts()
    got = log.set_index("rule")["removed"]
    for rule, n in expected.items():
        if rule == "keep":
            continue
        assert got[rule] == n, rule
    assert got.drop("input").sum() == len(fx) - expected["keep"]
    assert log["remaining"].iloc[-1] == expected["keep"] == res["records_clean"]
    assert log["remaining"].iloc[0] == len(fx)
    # remaining decreases by exactly 'removed' at each step
    assert (log["remaining"].shift(1).iloc[1:] - log["remaining"].iloc[1:] == log["removed"].iloc[1:]).all()


def test_assignment_park_patch_landcover_guild(region_inputs: dict) -> None:
    res, outs = _run(region_inputs)
    occ = gpd.read_file(outs["occ"], layer="occurrences")
    fx = _fixture()
    keep = fx[fx["expected_rule"] == "keep"]
    assert sorted(occ["gbifID"].astype(str)) == sorted(keep["gbifID"])
    m = occ.merge(keep[["gbifID", "expected_park"]], on="gbifID")
    assert (m["park_id"].fillna("") == m["expected_park"]).all()
    assert occ.crs.to_epsg() == 28992
    # every point lies in its park polygon
    for pid, geom in PARKS.items():
        sel = occ[occ["park_id"] == pid]
        assert sel.within(geom.buffer(1e-6)).all()
    # land cover: building west of x = 84500, grass east of it
    west = occ.geometry.x < 84500
    assert (occ.loc[west, "landcover_class"] == "building").all()
    assert (occ.loc[~west, "landcover_class"] == "grass").all()
    # amphibian patch 7 covers P2 only
    in_p2 = occ["park_id"] == "P2"
    assert (occ.loc[in_p2, "patch_id_amphibians"] == 7).all()
    assert (occ.loc[~in_p2 & (occ.geometry.x < 85500), "patch_id_amphibians"] == 0).all()
    assert (occ["patch_id_hedgehog"] == 0).all()
    # guild membership: names authoritative, keys only when the name is empty
    fam = occ["family"].fillna("")
    assert (occ.loc[fam == "Apidae", "guild"].str.contains("pollinators")).all()
    assert not occ.loc[fam == "Vespidae", "guild"].str.contains("pollinators").any()
    assert occ.loc[occ["species"] == "Andrena flavipes", "guild"].str.contains("pollinators").all()
    assert (occ.loc[occ["species"] == "Bufo bufo", "guild"] == "amphibians").all()
    assert (occ.loc[occ["species"] == "Parus major", "guild"] == "woodland_birds").all()
    assert (occ.loc[occ["species"] == "Erinaceus europaeus", "guild"] == "hedgehog").all()
    assert any("Vespidae" not in w and "4334" in w for w in res["warnings"])


def test_counts_per_park_and_guild(region_inputs: dict) -> None:
    _, outs = _run(region_inputs, params={"rarefy_m": 4})
    counts = pd.read_csv(outs["counts"], keep_default_na=False, na_values=[""])
    fx = _fixture()
    keep = fx[fx["expected_rule"] == "keep"]
    assert set(counts["park_id"]) == {*PARKS, species.REGION_ROW}
    assert set(counts["guild"]) == {"all", "hedgehog", "pollinators", "amphibians", "woodland_birds"}
    for pid in PARKS:
        ab = keep[keep["expected_park"] == pid].groupby("speciesKey").size().to_numpy()
        row = counts[(counts["park_id"] == pid) & (counts["guild"] == "all")].iloc[0]
        assert row["records"] == ab.sum()
        assert row["species"] == len(ab)
        assert row["singletons"] == int(np.sum(ab == 1))
        assert row["doubletons"] == int(np.sum(ab == 2))
        if len(ab):
            assert row["chao1"] == pytest.approx(richness.chao1(ab))
            assert row["coverage"] == pytest.approx(richness.sample_coverage(ab))
            if 4 <= 2 * ab.sum():
                assert row["rarefied_richness"] == pytest.approx(richness.richness_at(ab, 4))
        else:
            assert row["records"] == 0 and np.isnan(row["chao1"])
    reg = counts[(counts["park_id"] == species.REGION_ROW) & (counts["guild"] == "all")].iloc[0]
    assert reg["records"] == len(keep)
    p1 = counts[(counts["park_id"] == "P1") & (counts["guild"] == "pollinators")].iloc[0]
    assert p1["top_species"].startswith("Bombus terrestris (4)")
    p2 = counts[(counts["park_id"] == "P2") & (counts["guild"] == "all")].iloc[0]
    assert p2["iucn_threatened_species"] == 1  # Bufo bufo flagged EN in the fixture
    assert p2["cc_by_nc_records"] == int(((keep["expected_park"] == "P2") & (keep["license"] == "CC_BY_NC_4_0")).sum())
    assert (counts["status"] == "ok").all()


def test_citation_file_mode(region_inputs: dict) -> None:
    _, outs = _run(region_inputs)
    cit = json.loads(outs["cit"].read_text())
    fx = _fixture()
    keep = fx[fx["expected_rule"] == "keep"]
    assert cit["status"] == "ok" and cit["mode"] == "file"
    assert {d["datasetKey"]: d["records_clean"] for d in cit["datasets"]} == keep.groupby("datasetKey").size().to_dict()
    assert cit["cc_by_nc_records"] == int((keep["license"] == "CC_BY_NC_4_0").sum()) > 0
    assert "derived dataset" in cit["derived_dataset_instruction"]
    assert cit["access_date"] and cit["query"]["file"].endswith(FIXTURE.name)
    assert "CC BY-NC" in outs["cit"].with_suffix(".txt").read_text()


def test_national_red_list_join(region_inputs: dict) -> None:
    csv = region_inputs["tmp"] / "rode_lijst.csv"
    csv.write_text("scientificName,category\nBufo bufo (Linnaeus 1758),KW\nParus major,GE\n")
    _, outs = _run(region_inputs, params={"national_red_list_csv": str(csv)})
    occ = gpd.read_file(outs["occ"], layer="occurrences")
    assert (occ.loc[occ["species"] == "Bufo bufo", "national_red_list_category"] == "KW").all()
    assert occ.loc[occ["species"] == "Bombus terrestris", "national_red_list_category"].isna().all()
    counts = pd.read_csv(outs["counts"])
    reg = counts[(counts["park_id"] == species.REGION_ROW) & (counts["guild"] == "all")].iloc[0]
    assert reg["national_red_list_species"] == 2


def test_auto_without_gbif_or_cache_writes_valid_empty_outputs(region_inputs: dict) -> None:
    # a closed port on 127.0.0.1: connection refused at once
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    res, outs = _run(region_inputs, source="auto", params={"api_base_url": f"http://127.0.0.1:{port}/v1/", "max_retries": 0})
    assert res["status"] == "no_data"
    assert "GBIF unreachable and no cache" in res["message"]
    cit = json.loads(outs["cit"].read_text())
    assert cit["status"] == "no_data" and "no cache" in cit["message"]
    counts = pd.read_csv(outs["counts"])
    assert len(counts) == (len(PARKS) + 1) * 5 and (counts["records"] == 0).all()
    assert (counts["status"] == "no_data").all() and counts["message"].str.contains("unreachable").all()
    occ = gpd.read_file(outs["occ"], layer="occurrences")
    assert len(occ) == 0 and "park_id" in occ.columns and "patch_id_pollinators" in occ.columns
    log = pd.read_csv(outs["log"])
    assert log["removed"].sum() == 0 and "unreachable" in log["description"].iloc[0]


class _Handler(BaseHTTPRequestHandler):
    pages: list[dict] = []
    seen: list[dict] = []

    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:
        u = urlparse(self.path)
        q = dict(parse_qsl(u.query))
        type(self).seen.append(q)
        recs = type(self).pages
        off, lim = int(q.get("offset", 0)), int(q.get("limit", 20))
        body = {"offset": off, "limit": lim, "count": len(recs), "endOfRecords": off + lim >= len(recs),
                "results": recs[off:off + lim], "facets": []}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _fixture_as_search_results() -> list[dict]:
    fx = _fixture()
    fx = fx[fx["expected_rule"].isin(["keep", "duplicate", "uncertainty_too_large"])]
    out = []
    for r in fx.to_dict("records"):
        d = {k: v for k, v in r.items() if v != "" and not k.startswith("expected")}
        d["key"] = int(d.pop("gbifID"))
        d["issues"] = d.pop("issue", "").split(";") if r["issue"] else []
        for k in ("decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters"):
            d[k] = float(d[k])
        for k in ("speciesKey", "familyKey", "year"):
            d[k] = int(d[k])
        out.append(d)
    return out


def test_api_source_via_local_server_then_cache(region_inputs: dict) -> None:
    _Handler.pages = _fixture_as_search_results()
    _Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{srv.server_address[1]}/v1/"
    try:
        res, outs = _run(region_inputs, source="api", params={"api_base_url": base, "max_retries": 0})
    finally:
        srv.shutdown()
        srv.server_close()
    assert res["status"] == "ok" and res["mode"] == "api"
    q = _Handler.seen[-1]
    assert q["occurrenceStatus"] == "PRESENT" and q["hasGeospatialIssue"] == "false" and q["geometry"].startswith("POLYGON((")
    assert q["year"] == "2015,*"
    # the geometry sent covers the region
    from shapely import wkt

    g = wkt.loads(q["geometry"])
    tr = Transformer.from_crs(28992, 4326, always_xy=True)
    corners = [tr.transform(x, y) for x, y in REGION.exterior.coords]
    from shapely.geometry import Point

    assert all(g.buffer(1e-9).contains(Point(c)) for c in corners)
    first = json.loads(outs["cit"].read_text())
    n_keep = int((_fixture()["expected_rule"] == "keep").sum())
    assert res["records_clean"] == n_keep
    # rerun with the server gone: served from the cache, identical outputs
    counts1 = outs["counts"].read_text()
    res2, outs2 = _run(region_inputs, source="auto", params={"api_base_url": base, "max_retries": 0})
    assert res2["mode"] == "cache" and res2["records_clean"] == n_keep
    assert outs2["counts"].read_text() == counts1
    assert json.loads(outs2["cit"].read_text())["query_sha256"] == first["query_sha256"]


def test_bad_inputs(region_inputs: dict, tmp_path: Path) -> None:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["species"]["no_such_param"] = 1
    with pytest.raises(WerklandInputError, match="species: unknown key 'no_such_param'"):
        validate_config(cfg, SCHEMA)
    with pytest.raises(WerklandInputError, match="needs a file"):
        _run(region_inputs, source="file", params={"file_path": None})
    with pytest.raises(WerklandInputError, match="unknown species source"):
        _run(region_inputs, source="carrier-pigeon")
    doc = yaml.safe_load(Path(GUILDS).read_text())
    first = next(iter(doc["guilds"]))
    doc["guilds"][first]["gbif_taxa"] = [{"rank": "tribe", "name": "Bombini"}]
    bad = tmp_path / "guilds.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(WerklandInputError, match="rank"):
        species.run_species(region_inputs["region"], region_inputs["landcover"], region_inputs["patches"], LEGEND, bad,
                            tmp_path / "o.gpkg", tmp_path / "c.csv", tmp_path / "c.json", tmp_path / "l.csv",
                            params=species_params("file", file_path=str(FIXTURE)), cache_dir=tmp_path / "cache")
    with pytest.raises(WerklandInputError, match="region"):
        species.read_region(tmp_path / "missing.gpkg")


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (real GBIF files) is not present beside the project")
def test_real_dwca_zip_runs_end_to_end(region_inputs: dict) -> None:
    """The real DwC-A download (Florida snails) lies outside the region: everything is clipped, outputs stay valid."""
    z = SHARED / "gbif_recorded" / "downloads" / "0319331-200613084148143_DWCA.zip"
    res, outs = _run(region_inputs, params={"file_path": str(z), "year_min": None})
    assert res["status"] == "empty" and res["records_raw"] == 258
    cit = json.loads(outs["cit"].read_text())
    assert cit["doi"] == "10.15468/dl.wfjquc" and "doi.org/10.15468/dl.wfjquc" in cit["text"]
    log = pd.read_csv(outs["log"])
    assert log.set_index("rule").loc["outside_region", "removed"] > 0


def test_source_none_writes_explained_empty_outputs(tmp_path):
    """species_source: none -> valid empty outputs whose message says the stage is off."""
    import json

    from werkland.species.gbif import NO_SOURCE_MESSAGE, fetch_occurrences

    res = fetch_occurrences("none", geometry=None, filters={}, cache_dir=tmp_path)
    assert res.status == "no_data" and res.message == NO_SOURCE_MESSAGE and len(res.records) == 0
    assert not any(tmp_path.iterdir())  # nothing fetched, nothing cached
    assert "switched off" in json.dumps(res.message)

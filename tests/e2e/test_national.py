"""National runs: every park of one register is a region, national land cover is read per region.

The data are generated (benchmarks/national_data.py): a parks register with three parks tens of
kilometres apart, a vector land-cover layer over 60 x 60 km with a value that has no mapping
outside the regions, and (with osmium-tool) an OSM extract over the same area. The real workflow
runs every park as a region (``regions_from_parks``): the whole chain with ``execution: pipeline``
on the vector layer (about 35 s), the land-cover stage with per-stage jobs on the OSM file. Each
region must hold only the land cover around its park and read only its window of the national
file; a shared OSM file is cut once for all regions. The example config/examples/netherlands.yaml
must validate and plan one job chain per park.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import yaml

from werkland.config import slugify, validate_config

from .workflow_runner import ROOT, base_config, make_workdir, run_workflow

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
EXAMPLE = ROOT / "config" / "examples" / "netherlands.yaml"

_spec = importlib.util.spec_from_file_location("national_data", ROOT / "benchmarks" / "national_data.py")
assert _spec is not None and _spec.loader is not None
nd = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(nd)

#: Three parks far apart (RD New); the second id has a leading zero that must survive.
PARKS = [
    nd.Park("12345678", "Noordpolder", (105_000.0, 475_000.0, 105_600.0, 475_400.0)),
    nd.Park("01234567", "Middenweg", (130_000.0, 450_000.0, 130_800.0, 450_500.0)),
    nd.Park("87654321", "Zuidhaven", (155_000.0, 425_000.0, 155_500.0, 425_600.0)),
]
EXTENT = (100_000.0, 420_000.0, 160_000.0, 480_000.0)  # 60 x 60 km
BUFFER_M = 200.0
RES_M = 20.0
ID_FIELD = "RIN_NUMMER"


def _unmapped_boxes() -> list[tuple[float, float, float, float]]:
    """Squares with a value that has no mapping: a block far from every park, and one square in the
    outer corner of each region's read box (read through the spatial filter, but outside the region:
    a buffered rectangle has round corners)."""
    boxes = [(100_000.0 + 100.0 * i, 420_000.0, 100_100.0 + 100.0 * i, 420_100.0) for i in range(20)]
    for pk in PARKS:
        x0, y0, _, _ = pk.box
        boxes.append((x0 - BUFFER_M - 10.0, y0 - BUFFER_M - 10.0, x0 - BUFFER_M + 10.0, y0 - BUFFER_M + 10.0))
    return boxes


def _national_config(parks_file: Path, land_cover: list[dict]) -> dict:
    cfg = base_config()  # 20 m cells, 200 m context, species none
    cfg["regions"] = {}
    cfg["regions_from_parks"] = {"file": str(parks_file), "id_field": ID_FIELD, "land_cover": land_cover}
    cfg["region_defaults"].update(resolution_m=RES_M, context_buffer_m=BUFFER_M)
    return cfg


def _job_counts(text: str) -> dict[str, int]:
    """Snakemake's "Job stats" table (job name -> count)."""
    counts: dict[str, int] = {}
    block = text.split("Job stats:", 1)[1] if "Job stats:" in text else ""
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def _landcover_targets() -> list[str]:
    return [f"results/{slugify(pk.id)}/landcover.gpkg" for pk in PARKS]


def _near_park(pk: nd.Park, bounds: np.ndarray, slack: float = 1.0) -> bool:
    x0, y0, x1, y1 = pk.box
    r = BUFFER_M + slack
    return bool(bounds[0] >= x0 - r and bounds[1] >= y0 - r and bounds[2] <= x1 + r and bounds[3] <= y1 + r)


def test_example_config_validates():
    cfg = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    valid = validate_config(copy.deepcopy(cfg), SCHEMA)
    assert valid["execution"] == "pipeline"
    assert valid["regions"] == {}
    parks = valid["regions_from_parks"]
    assert parks["file"].startswith("data/") and parks["id_field"] == "RIN_NUMMER"
    assert parks["land_cover"] == [{"type": "osm", "path": "data/netherlands-latest.osm.pbf"}]
    assert valid["osm_extract"]["enabled"] is True
    # the BGT alternative the file describes validates too
    bgt = copy.deepcopy(cfg)
    bgt["regions_from_parks"]["land_cover"] = [{"type": "bgt", "path": "data/bgt_provincie.zip"}]
    validate_config(bgt, SCHEMA)


@pytest.mark.slow
def test_example_config_dry_run_plans_one_chain_per_park(tmp_path):
    work = make_workdir(tmp_path, base_config())  # copies config/, with config/examples/
    nd.write_parks_register(work / "data" / "ibis_bedrijventerreinen.gpkg", PARKS, id_field=ID_FIELD)
    # a dry run reads no geodata from the OSM file, only its size decides whether it is cut
    (work / "data" / "netherlands-latest.osm.pbf").write_bytes(b"\0" * 4096)
    regions = {slugify(pk.id) for pk in PARKS}
    assert regions == {"12345678", "01234567", "87654321"}

    def planned(config_file: Path) -> tuple[dict[str, int], set[str]]:
        proc = run_workflow(work, "-n", "--configfile", str(config_file), "--replace-workflow-config")
        text = proc.stdout + proc.stderr
        found = set(re.findall(r"\bresults/([a-z0-9][a-z0-9-]*)/pipeline\.json", text))
        return _job_counts(text), found

    # as shipped: the small stand-in file is below osm_extract.min_file_mb, so it is not cut
    counts, found = planned(work / "config" / "examples" / "netherlands.yaml")
    assert found == regions
    assert counts.get("region_pipeline") == 3 and counts.get("overview") == 1
    assert not any(k.startswith("osm_extract") for k in counts), counts
    # a national-size file is cut once for all parks (here: the size threshold lowered)
    cfg = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    cfg["osm_extract"]["min_file_mb"] = 0
    small = work / "config" / "examples" / "netherlands_small.yaml"
    small.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    counts, found = planned(small)
    assert found == regions
    assert counts.get("region_pipeline") == 3
    assert counts.get("osm_extract_netherlands-latest") == 1, counts


@pytest.mark.slow
def test_national_vector_layer_runs_end_to_end_reading_each_window(tmp_path):
    data = tmp_path / "data"
    parks_file = nd.write_parks_register(data / "ibis.gpkg", PARKS, id_field=ID_FIELD)
    national = data / "national_landcover.gpkg"
    written = nd.write_grid_landcover(national, EXTENT, 100.0, unmapped=_unmapped_boxes())
    assert written["features"] >= 360_000 and written["unmapped"] == 23
    source = {"type": "vector", "path": str(national), "class_field": "klasse", "mapping": dict(nd.CLASS_MAPPING)}
    cfg = _national_config(parks_file, [source])
    cfg["execution"] = "pipeline"  # one job per park, as in config/examples/netherlands.yaml
    work = make_workdir(tmp_path, cfg)
    proc = run_workflow(work)  # every stage of every park, and the overview
    assert _job_counts(proc.stdout + proc.stderr).get("region_pipeline") == 3
    assert (work / "results" / "report.html").is_file()

    full = pyogrio.read_dataframe(national)
    keep = full["klasse"].map(nd.CLASS_MAPPING).notna().to_numpy()  # null-mapped and unmapped are not kept
    geoms = full.geometry.values
    for pk in PARKS:
        rid = slugify(pk.id)
        res = work / "results" / rid
        for rel in ("pipeline.json", "report/index.html", "barriers/all_guilds.gpkg", "interventions/candidates.gpkg"):
            assert (res / rel).is_file(), (rid, rel)
        lc = gpd.read_file(res / "landcover.gpkg", layer="landcover")
        parks = gpd.read_file(res / "region.gpkg", layer="parks")
        region = gpd.read_file(res / "region.gpkg", layer="region").geometry.iloc[0]
        assert list(parks["park_id"]) == [pk.id]  # the leading zero is kept
        read = lc[lc["source"] != "fill"]  # the rest: holes left by values mapped to null, filled with grass
        assert len(read) > 0 and set(read["source"]) == {"vector"} and set(read["source_file"]) == {national.name}
        assert set(read["class"]) == {c for c in nd.CLASS_MAPPING.values() if c}
        assert _near_park(pk, lc.total_bounds), (rid, lc.total_bounds)
        assert abs(lc["area_m2"].sum() - region.area) < 1e-3 * region.area
        # only the window was read: the count the stage logs lies between the features that meet
        # the region and those that meet its box widened by 50 m (of 360,000 in the file)
        log_text = (work / "results" / "logs" / "region_pipeline" / f"{rid}.log").read_text(encoding="utf-8")
        m = re.search(rf"vector_{re.escape(national.name)}_read=(\d+)", log_text)
        assert m, log_text[-2000:]
        n_read = int(m.group(1))
        lo = int((shapely.intersects(geoms, region) & keep).sum())
        grown = shapely.box(*np.asarray(region.bounds) + np.array([-50.0, -50.0, 50.0, 50.0]))
        hi = int((shapely.intersects(geoms, grown) & keep).sum())
        assert 0 < lo <= n_read <= hi < written["features"] / 100, (rid, lo, n_read, hi)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("osmium") is None, reason="needs osmium-tool (osmium) to write and cut the OSM file")
def test_national_osm_file_is_cut_once_for_all_parks(tmp_path):
    data = tmp_path / "data"
    parks_file = nd.write_parks_register(data / "ibis.gpkg", PARKS, id_field=ID_FIELD)
    pbf = data / "national.osm.pbf"
    nd.write_grid_osm(pbf, EXTENT, 250.0)
    cfg = _national_config(parks_file, [{"type": "osm", "path": str(pbf)}])
    cfg["osm_extract"] = {"min_file_mb": 0}  # the generated file is small; a national one is cut by default
    work = make_workdir(tmp_path, cfg)
    proc = run_workflow(work, *_landcover_targets())

    counts = _job_counts(proc.stdout + proc.stderr)
    assert counts.get("osm_extract_national") == 1 and counts.get("landcover") == 3, counts
    assert [p.name for p in (work / "results" / "logs" / "osm_extract").iterdir()] == ["national.log"]
    for pk in PARKS:
        rid = slugify(pk.id)
        cut = work / "resources" / "osm" / f"{rid}.osm.pbf"
        assert cut.is_file() and cut.stat().st_size < pbf.stat().st_size / 20
        lc = gpd.read_file(work / "results" / rid / "landcover.gpkg", layer="landcover")
        read = lc[lc["source"] != "fill"]
        assert len(read) > 0 and set(read["source"]) == {"osm"} and set(read["source_file"]) == {cut.name}
        assert _near_park(pk, lc.total_bounds), (rid, lc.total_bounds)

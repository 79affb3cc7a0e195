"""End-to-end: the real workflow on small regions (demo extract; Delft when ../shared exists)."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
import rasterio

from ..conftest import shared_file
from ..output_manifest import compare
from .workflow_runner import ROOT, base_config, make_workdir, run_workflow

MANIFESTS = ROOT / "tests" / "data" / "manifest"

pytestmark = pytest.mark.slow


def test_demo_region_runs_end_to_end(tmp_path):
    cfg = base_config()
    work = make_workdir(tmp_path, cfg)
    run_workflow(work)
    res = work / "results" / "demo"
    with rasterio.open(res / "landcover.tif") as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0 and ds.crs.to_epsg() == 32635
        assert ds.res == (20.0, 20.0)
        assert ds.compression is not None and ds.colormap(1)
    for guild in cfg["guilds"]:
        with rasterio.open(res / "habitat" / f"{guild}.tif") as ds:
            h = ds.read(1)
            assert ds.dtypes[0] == "float32"
            inside = h != ds.nodata
            assert inside.any() and (h[inside] >= 0).all() and (h[inside] <= 1).all()
        with rasterio.open(res / "resistance" / f"{guild}.tif") as ds:
            r = ds.read(1)
            assert (r[r != ds.nodata] >= 1).all()
    lc = gpd.read_file(res / "landcover.gpkg", layer="landcover")
    assert {"class", "source", "area_m2"} <= set(lc.columns)
    # the whole chain ran: connectivity, barriers, climate, species (off), interventions, report
    for rel in ("graph/hedgehog_summary.json", "barriers/all_guilds.gpkg", "climate/summary.csv",
                "species/counts.csv", "interventions/candidates.gpkg", "report/index.html", "report/map.html"):
        assert (res / rel).exists(), rel
    # the guilds' connectivity jobs read the barrier segments and probe groups the barrier_probes job
    # built (its grid, from landcover.tif, is the grid of their rasters), and the file is gone after
    for guild in cfg["guilds"]:
        log = (work / "results" / "logs" / "connectivity" / f"demo_{guild}.log").read_text()
        assert "barrier segments and probe groups shared by the guilds" in log, guild
    assert not list((res / "graph").glob("*_barrier_probes.npz"))
    # Snakemake's own report zip (report() outputs with captions)
    run_workflow(work, "--report", "report.zip")
    import zipfile

    with zipfile.ZipFile(work / "report.zip") as zf:
        names = zf.namelist()
    assert any(n.endswith("index.html") for n in names) and any(n.endswith(".png") for n in names)
    # every output keeps the values it had before the package restructuring (stored manifest)
    assert compare(res, MANIFESTS / "demo_20m.json") == []
    # a forced rerun writes every file byte for byte the same (no timings, dates or random ids)
    first = {p.relative_to(res).as_posix(): p.read_bytes() for p in sorted(res.rglob("*")) if p.is_file()}
    proc = run_workflow(work, "--forceall")
    assert "Finished" in proc.stderr
    second = {p.relative_to(res).as_posix(): p.read_bytes() for p in sorted(res.rglob("*")) if p.is_file()}
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


def test_corrupt_input_fails_cleanly(tmp_path):
    cfg = base_config()
    bad = tmp_path / "corrupt.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf" * 100)
    cfg["regions"] = {"broken": {"land_cover": [{"type": "osm", "path": str(bad)}]}}
    work = make_workdir(tmp_path, cfg)
    proc = run_workflow(work, check=False)
    assert proc.returncode != 0
    assert "werkland error:" in proc.stderr and "corrupt.osm.pbf" in proc.stderr and "fix:" in proc.stderr
    assert not (work / "results" / "broken" / "landcover.tif").exists()
    assert not (work / "results" / "broken" / "region.gpkg").exists()


def test_bad_config_fails_at_parse_time(tmp_path):
    cfg = base_config()
    cfg["region_defaults"]["crs"] = "WGS84"
    work = make_workdir(tmp_path, cfg)
    proc = run_workflow(work, "--dry-run", check=False)
    assert proc.returncode != 0
    assert "region_defaults.crs" in proc.stdout + proc.stderr


def _dry_run_blocks(work) -> list[tuple[str, str]]:
    """(rule, printed block) of every job of a dry run."""
    out = run_workflow(work, "--dry-run", "--forceall").stdout
    return [(block.split(":", 1)[0].strip(), block)
            for block in re.split(r"\n\s*rule ", out)[1:]]  # group jobs are printed indented


def _dry_run_jobs(work) -> dict[tuple[str, str], dict[str, int]]:
    """(rule, guild) -> threads and priority of the guild jobs of a dry run (Snakemake prints
    ``threads`` only above 1 and ``priority`` only above 0)."""
    jobs: dict[tuple[str, str], dict[str, int]] = {}
    for rule, block in _dry_run_blocks(work):
        wc = next((ln for ln in block.splitlines() if "wildcards:" in ln), "")
        if rule in ("connectivity", "barriers", "barrier_probes") and "guild=" in wc:
            guild = wc.split("guild=")[1].split(",")[0].strip()
            got = {}
            for key, default in (("threads", 1), ("priority", 0)):
                line = next((ln for ln in block.splitlines() if ln.strip().startswith(f"{key}:")), "")
                got[key] = int(line.split(":")[1]) if line else default
            jobs[(rule, guild)] = got
    return jobs


def _dry_run_threads(work) -> dict[tuple[str, str], int]:
    """(rule, guild) -> threads of the guild jobs of a dry run."""
    return {k: v["threads"] for k, v in _dry_run_jobs(work).items()}


def test_longest_reach_guild_jobs_take_two_threads_the_others_one(tmp_path):
    """Two short-reach guild jobs run side by side on 2 cores; the longest-reach guild's jobs (the
    critical path, searches on both threads) take both."""
    cfg = base_config()
    work = make_workdir(tmp_path, cfg)
    jobs = _dry_run_threads(work)
    assert {g for _, g in jobs} == set(cfg["guilds"]) and len(jobs) == 2 * len(cfg["guilds"]) + 1
    assert {k: v for k, v in jobs.items() if v == 2} == {("connectivity", "woodland_birds"): 2,
                                                          ("barriers", "woodland_birds"): 2}
    # the four guilds have the same barrier classes: their segments and probe groups are built once,
    # by one one-thread job in the first guild's name
    assert [k for k in jobs if k[0] == "barrier_probes"] == [("barrier_probes", cfg["guilds"][0])]
    # with woodland birds left out, the longest reach is shared by hedgehog and amphibians
    cfg["guilds"] = ["hedgehog", "pollinators", "amphibians"]
    work2 = make_workdir(tmp_path / "b", cfg)
    jobs = _dry_run_threads(work2)
    assert {g for (_, g), v in jobs.items() if v == 2} == {"hedgehog", "amphibians"}
    assert jobs[("connectivity", "pollinators")] == jobs[("barriers", "pollinators")] == 1


def test_connectivity_jobs_go_before_barrier_jobs_and_the_longest_reach_first(tmp_path):
    """Priorities: the longest-reach guild's connectivity job 3 (more than two short-reach jobs
    together, so it starts whenever both cores are free), the other connectivity jobs 1, the barrier
    jobs 0 (Snakemake would otherwise start the barrier jobs first, which delete the large probe
    minima)."""
    jobs = _dry_run_jobs(make_workdir(tmp_path, base_config()))
    prio = {k: v["priority"] for k, v in jobs.items()}
    assert prio[("connectivity", "woodland_birds")] == 3
    assert {prio[("connectivity", g)] for g in ("hedgehog", "pollinators", "amphibians")} == {1}
    assert {v for (rule, _), v in prio.items() if rule != "connectivity"} == {0}


def _dry_run_inputs(work, rule: str) -> list[str]:
    """The input files of ``rule``'s first job in a dry run."""
    for name, block in _dry_run_blocks(work):
        if name == rule:
            line = next((ln for ln in block.splitlines() if ln.strip().startswith("input:")), "input:")
            return [f.strip() for f in line.split(":", 1)[1].split(",") if f.strip()]
    raise AssertionError(f"no {rule} job in the dry run")


@pytest.mark.parametrize("source", ["none", "auto"])
def test_species_job_waits_for_the_patches_only_when_records_can_come(tmp_path, source):
    """With species_source none the species job reads no patch raster, so it does not wait for the
    connectivity jobs (it runs beside them instead of on the critical path); with records it does."""
    cfg = base_config()
    cfg["region_defaults"]["species_source"] = source
    inputs = _dry_run_inputs(make_workdir(tmp_path, cfg), "species")
    patches = [f for f in inputs if "/patches/" in f]
    assert len(patches) == (0 if source == "none" else len(cfg["guilds"])), inputs
    assert any(f.endswith("region.gpkg") for f in inputs)


@pytest.mark.shared
def test_delft_example_config(tmp_path):
    pbf = shared_file("delft-schieoevers-osm", "tudelft_core_bbox.osm.pbf")
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "examples" / "delft.yaml").read_text())
    cfg["regions"]["delft-schieoevers"]["land_cover"][0]["path"] = str(pbf)
    cfg["region_defaults"]["species_source"] = "none"
    work = make_workdir(tmp_path, cfg)
    run_workflow(work)
    res = work / "results" / "delft-schieoevers"
    with rasterio.open(res / "landcover.tif") as ds:
        assert ds.crs.to_epsg() == 28992
    parks = gpd.read_file(res / "region.gpkg", layer="parks")
    assert parks["park_id"].tolist() == ["osm242823156"]
    assert compare(res, MANIFESTS / "delft.json") == []

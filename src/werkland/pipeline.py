"""One job per region: every stage of a region in one process (national fan-out).

With thousands of regions the per-stage rules make a DAG of about fifteen jobs per region, and
Snakemake needs minutes just to plan it. ``execution: pipeline`` in the config instead runs one
``region_pipeline`` job per region that calls the same stage functions, with the same parameters
(:mod:`werkland.config`), in the same order, writing the same files under ``results/{region}/``. The
DAG then has one job per region plus the overview, and a region's chain is one cluster job.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from werkland import config as wconfig
from werkland.raster.io import write_json
from werkland.tables import load_guilds, load_legend

log = logging.getLogger(__name__)


def run_region_pipeline(
    region: str,
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    out_done_json: str | os.PathLike[str],
    *,
    results_dir: str | os.PathLike[str] = "results",
    threads: int = 2,
    cache_dir: str | os.PathLike[str] = "resources/gbif",
) -> dict[str, float]:
    """Run every stage of one region; write ``out_done_json`` with the time of each stage.

    Parameters
    ----------
    region : str
        Region id (the ``{region}`` of the per-stage rules).
    settings : mapping
        The region's effective settings (:func:`werkland.config.region_settings`).
    config : mapping
        The validated workflow config.
    out_done_json : path-like
        Written last: stage timings (s), so the job's completion is one file.
    results_dir : path-like
        Root of the outputs (``results``).
    threads : int
        Threads for the stages that use two.
    cache_dir : path-like
        GBIF cache root.

    Returns
    -------
    dict
        Stage -> wall time in seconds.
    """
    from werkland.barriers import combine_barriers, run_barriers
    from werkland.climate import run_climate
    from werkland.connectivity import run_connectivity
    from werkland.habitat import run_habitat
    from werkland.interventions import run_interventions
    from werkland.landcover import run_landcover
    from werkland.report import build_region_report
    from werkland.species import run_species

    out = Path(results_dir) / region
    legend_path, guilds_path = config["legend"], config["guilds_table"]
    guilds = list(config["guilds"])
    table = load_guilds(guilds_path, load_legend(legend_path))
    storms = [s["name"] for s in config["climate"]["storms"]]
    timings: dict[str, float] = {}

    def stage(name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        log.info("%s: stage %s", region, name)
        result = func(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 3)
        return result

    def g(sub: str, guild: str, ext: str) -> Path:
        return out / sub / f"{guild}{ext}"

    stage("landcover", run_landcover, settings["land_cover"], legend_path, out / "region.gpkg",
          out / "landcover.gpkg", out / "landcover.tif", crs_setting=settings["crs"],
          resolution_m=settings["resolution_m"], context_buffer_m=settings["context_buffer_m"],
          parks_spec=settings["parks"], clip_lonlat=settings.get("clip_lonlat"), fill_class=settings.get("fill_class"))
    stage("habitat", run_habitat, out / "landcover.tif", legend_path, guilds_path,
          {x: g("habitat", x, ".tif") for x in guilds}, {x: g("resistance", x, ".tif") for x in guilds},
          tile_cells=config["habitat"]["tile_cells"])
    for x in guilds:
        params = {**wconfig.connectivity_params(config, table[x]), "n_threads": threads}
        stage(f"connectivity_{x}", run_connectivity, g("habitat", x, ".tif"), g("resistance", x, ".tif"),
              out / "region.gpkg", g("patches", x, ".gpkg"), g("patches", x, ".tif"), out / "graph" / f"{x}_links.gpkg",
              out / "graph" / f"{x}.graphml", out / "graph" / f"{x}_metrics.csv", out / "graph" / f"{x}_summary.json",
              g("corridors", x, ".tif"), guild=x, params=params, convention=config["connectivity"]["convention"])
    for x in guilds:
        params = {**wconfig.barrier_params(config, table[x]), "n_threads": threads,
                  "patches_gpkg": str(g("patches", x, ".gpkg"))}
        stage(f"barriers_{x}", run_barriers, out / "landcover.gpkg", g("resistance", x, ".tif"), g("patches", x, ".tif"),
              out / "graph" / f"{x}_links.gpkg", out / "graph" / f"{x}_summary.json", g("barriers", x, ".gpkg"),
              guild=x, params=params)
    stage("barriers_combine", combine_barriers, {x: g("barriers", x, ".gpkg") for x in guilds},
          wconfig.barrier_guild_weights(config), out / "barriers" / "all_guilds.gpkg")
    stage("climate", run_climate, out / "landcover.tif", out / "landcover.gpkg", out / "region.gpkg", legend_path,
          out / "climate" / "cooling.tif", {s: out / "climate" / f"runoff_{s}.tif" for s in storms},
          out / "climate" / "summary.csv", params=dict(config["climate"]), threads=threads)
    stage("species", run_species, out / "region.gpkg", out / "landcover.tif",
          {x: g("patches", x, ".tif") for x in guilds}, legend_path, guilds_path, out / "species" / "occurrences.gpkg",
          out / "species" / "counts.csv", out / "species" / "citation.json", out / "species" / "cleaning_log.csv",
          source=settings.get("species_source", "auto"), params=wconfig.species_params(config, settings),
          cache_dir=cache_dir)
    iparams = wconfig.intervention_params(config, threads)
    stage("interventions", run_interventions, out, legend_path, guilds_path, config["interventions"]["catalogue"],
          out / "interventions" / "candidates.gpkg", out / "interventions" / "portfolio.csv",
          out / "interventions" / "park_totals.csv", guilds=guilds, params=iparams,
          user_candidates=iparams.get("user_candidates") or None)
    sources = [s["path"] for s in settings["land_cover"]]
    stage("report", build_region_report, region, out, legend_path, guilds_path, dict(config),
          out / "report" / "index.html", language=config["report"]["language"], extra_inputs=sources)
    write_json({"region": region, "stage_seconds": timings}, out_done_json)
    return timings

"""One job per region: every stage of a region in one process (national fan-out).

With thousands of regions the per-stage rules make a DAG of about fifteen jobs per region, and
Snakemake needs minutes just to plan it. ``execution: pipeline`` in the config instead runs one
``region_pipeline`` job per region that calls the same stage functions, with the same typed
parameters (:mod:`werkland.params`), in the same order, writing the same files
(:class:`werkland.layout.RegionPaths`). The DAG then has one job per region plus the overview, and a
region's chain is one cluster job.

The currents stage runs only when ``currents.enabled`` is true, as in the per-stage workflow; the
barrier ranking then reads its current map.

``pipeline.json`` records which stages ran and the outputs they wrote; it carries no wall-clock
times, so a rerun writes the same bytes. Stage times go to the log and to
``results/benchmarks/region_pipeline/{region}_stages.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from werkland.barriers import (
    combine_barriers,
    run_barrier_probes,
    run_barriers,
    run_connectivity_with_probes,
)
from werkland.climate import run_climate
from werkland.climate.stage import HydrologyOutputs
from werkland.currents import CurrentsFiles, run_currents
from werkland.habitat import run_habitat
from werkland.interventions import InterventionInputs, run_interventions
from werkland.interventions.plans import PlanInputs, run_plan
from werkland.landcover import run_landcover
from werkland.layout import STAGES, RegionPaths
from werkland.params import (
    BarrierParams,
    ClimateParams,
    CurrentsParams,
    HabitatParams,
    HydrologyInputs,
    InterventionParams,
    LandcoverParams,
    ReportParams,
    SpeciesEvidenceParams,
    SpeciesParams,
    barrier_guild_weights,
    barrier_probe_owners,
)
from werkland.params.report import region_source_files
from werkland.raster.io import write_json
from werkland.report import build_region_report
from werkland.species import run_species
from werkland.species.evidence import run_species_evidence
from werkland.tables import Guild, load_guilds, load_legend

log = logging.getLogger(__name__)


class _StageClock:
    """Runs the stages of one region in order and keeps their wall times (for the log only)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        log.info("%s: stage %s", self.region, name)
        result = func(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - t0, 3)
        log.info("%s: stage %s done in %.1f s", self.region, name, self.seconds[name])
        return result


def run_region_pipeline(
    region: str,
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    out_done_json: str | os.PathLike[str],
    *,
    results_dir: str | os.PathLike[str] = "results",
    threads: int,
    cache_dir: str | os.PathLike[str] = "resources/gbif",
    timings_json: str | os.PathLike[str] | None = None,
) -> dict[str, float]:
    """Run every stage of one region; write ``out_done_json`` last.

    Parameters
    ----------
    region : str
        Region id (the ``{region}`` of the per-stage rules).
    settings : mapping
        The region's effective settings (:func:`werkland.config.region_settings`).
    config : mapping
        The validated workflow config.
    out_done_json : path-like
        Written last (the job's completion marker): the region, the stages in order and every file
        they wrote, relative to the region's folder. No timings.
    results_dir : path-like
        Root of the outputs (``results``).
    threads : int
        Threads for the stages that use two.
    cache_dir : path-like
        GBIF cache root.
    timings_json : path-like, optional
        Where the stage wall times (s) are written (``results/benchmarks/...``).

    Returns
    -------
    dict
        Stage -> wall time in seconds.
    """
    paths = RegionPaths(results_dir, region)
    guilds = list(config["guilds"])
    storms = [s["name"] for s in config["climate"]["storms"]]
    table = load_guilds(config["guilds_table"], load_legend(config["legend"]))
    clock = _StageClock(region)
    currents = currents_enabled(config)
    _landcover_and_habitat(clock, paths, settings, config, guilds)
    _connectivity_and_barriers(clock, paths, config, guilds, table, threads, currents)
    _climate_and_species(clock, paths, settings, config, guilds, storms, threads, cache_dir)
    _interventions_and_report(clock, paths, settings, config, guilds, table, threads)
    done = {
        "region": region,
        "stages": [s for s in STAGES if currents or s != "currents"],
        "outputs": [
            p.relative_to(paths.dir).as_posix()
            for s in STAGES
            if currents or s != "currents"
            for p in paths.stage_outputs(s, guilds, storms, currents=currents,
                                         pdf=ReportParams.from_config(config).pdf,
                                         plans=list(settings.get("plans") or {}))
        ],
    }
    if timings_json is not None:
        write_json({"region": region, "stage_seconds": clock.seconds}, timings_json)
    write_json(done, out_done_json)
    return clock.seconds


def currents_enabled(config: Mapping[str, Any]) -> bool:
    """Whether the config switches the currents stage on (``currents.enabled``, default false)."""
    return bool((config.get("currents") or {}).get("enabled", False))


def _landcover_and_habitat(clock: _StageClock, paths: RegionPaths, settings: Mapping[str, Any],
                           config: Mapping[str, Any], guilds: list[str]) -> None:
    legend = config["legend"]
    clock("landcover", run_landcover, LandcoverParams.from_region(settings, where=f"config: regions.{paths.region}"),
          legend, paths.region_gpkg, paths.landcover_gpkg, paths.landcover_tif)
    clock("habitat", run_habitat, paths.landcover_tif, legend, config["guilds_table"],
          {g: paths.habitat(g) for g in guilds}, {g: paths.resistance(g) for g in guilds},
          params=HabitatParams.from_config(config))


def _connectivity_and_barriers(clock: _StageClock, paths: RegionPaths, config: Mapping[str, Any],
                               guilds: list[str], table: Mapping[str, Guild], threads: int,
                               currents: bool = False) -> None:
    # guilds with the same barrier classes, segment length and radii share one set of segments and
    # probe groups, built once (as the per-stage workflow's barrier_probes rule)
    params = {g: BarrierParams.from_config(config, table[g], n_threads=threads) for g in guilds}
    owners = barrier_probe_owners(params)
    uses = Counter(owners.values())
    shared = {o for o, n in uses.items() if n > 1}
    for o in sorted(shared, key=guilds.index):
        clock(f"barrier_probes_{o}", run_barrier_probes, paths.landcover_gpkg, paths.landcover_tif,
              paths.barrier_probes(o), params=params[o])
    for g in guilds:
        clock(f"connectivity_{g}", run_connectivity_with_probes, paths.landcover_gpkg, paths.habitat(g),
              paths.resistance(g), paths.region_gpkg, paths.patches_gpkg(g), paths.patches_tif(g), paths.links(g),
              paths.graphml(g), paths.metrics(g), paths.summary(g), paths.corridors(g),
              params=params[g], out_probe_minima=paths.probe_minima(g),
              barrier_probes=paths.barrier_probes(owners[g]) if owners[g] in shared else None,
              out_distances=paths.graph_distances(g))
    for o in shared:
        paths.barrier_probes(o).unlink()  # an intermediate, as the per-stage workflow's temp() file
    if currents:
        source = config["currents"]["source_raster"] or None
        for g in guilds:
            files = dataclasses.replace(CurrentsFiles.of(paths, g), source=None if source is None else Path(source))
            clock(f"currents_{g}", run_currents, files,
                  CurrentsParams.from_config(config, table[g], n_threads=threads))
    for g in guilds:
        clock(f"barriers_{g}", run_barriers, paths.landcover_gpkg, paths.resistance(g), paths.patches_tif(g),
              paths.patches_gpkg(g), paths.links(g), paths.summary(g), paths.barriers(g),
              params=params[g], current_tif=paths.current(g) if currents else None,
              probe_minima=paths.probe_minima(g), graph_distances=paths.graph_distances(g))
        paths.probe_minima(g).unlink()  # intermediates, as the per-stage workflow's temp() files
        paths.graph_distances(g).unlink()
    clock("barriers_combine", combine_barriers, {g: paths.barriers(g) for g in guilds},
          barrier_guild_weights(config), paths.barriers_all)


def _climate_and_species(clock: _StageClock, paths: RegionPaths, settings: Mapping[str, Any],
                         config: Mapping[str, Any], guilds: list[str], storms: list[str], threads: int,
                         cache_dir: str | os.PathLike[str]) -> None:
    clock("climate", run_climate, paths.landcover_tif, paths.landcover_gpkg, paths.region_gpkg, config["legend"],
          paths.cooling, {s: paths.runoff(s) for s in storms}, paths.climate_summary,
          params=ClimateParams.from_config(config), threads=threads,
          hydrology=HydrologyInputs.from_region(settings, where=f"config: regions.{paths.region}"),
          out_hydrology=HydrologyOutputs(paths.soil_group, paths.ghg, paths.infiltration, paths.flow_accumulation,
                                         {s: paths.ponding(s) for s in storms}),
          where=f"config: regions.{paths.region}")
    clock("species", run_species, paths.region_gpkg, paths.landcover_tif, {g: paths.patches_tif(g) for g in guilds},
          config["legend"], config["guilds_table"], paths.occurrences, paths.counts, paths.citation,
          paths.cleaning_log, params=SpeciesParams.from_config(config, settings), cache_dir=cache_dir,
          out_citation_txt=paths.citation_txt, out_names_csv=paths.species_names)
    clock("species_evidence", run_species_evidence, paths.occurrences, {g: paths.habitat(g) for g in guilds},
          paths.region_gpkg, paths.habitat_validation, paths.habitat_pe_curve, paths.species_periods,
          params=SpeciesEvidenceParams.from_config(config))


def _interventions_and_report(clock: _StageClock, paths: RegionPaths, settings: Mapping[str, Any],
                              config: Mapping[str, Any], guilds: list[str], table: Mapping[str, Guild],
                              threads: int) -> None:
    inputs = InterventionInputs.from_layout(
        paths, guilds, legend_yaml=config["legend"], guilds_yaml=config["guilds_table"],
        catalogue_yaml=config["interventions"]["catalogue"],
        user_candidates=config["interventions"]["user_candidates"] or None,
        storms=[s["name"] for s in config["climate"]["storms"]])
    iparams = InterventionParams.from_config(config, guilds=table, n_workers=threads)
    clock("interventions", run_interventions, inputs, iparams)  # writes interventions/after/ too
    for name, plan in (settings.get("plans") or {}).items():
        clock(f"plans_{name}", run_plan, PlanInputs(inputs, name, plan, paths.plan_gpkg(name), paths.plan_csv(name),
                                                      paths.candidates),
              iparams)
    sources = region_source_files(settings, paths.region, config["interventions"]["catalogue"])
    clock("report", build_region_report, paths, config["legend"], config["guilds_table"],
          ReportParams.from_config(config), extra_inputs=sources, workers=max(1, int(threads)))

"""The interventions engine of one region: the set-up steps shared by every use of it.

The interventions stage (:func:`~werkland.interventions.run_interventions`), the after-state of its
portfolio (:mod:`~werkland.interventions.after`) and the scoring of user plans
(:mod:`~werkland.interventions.plans`) run the same steps on the same files: load the tables, read
the region and the climate stage's hydrology, build the baseline guild graphs, the
:class:`~werkland.interventions.evaluate.Evaluator` and the target
:class:`~werkland.interventions.select.Scorer`, generate the candidates and evaluate them against the
baseline. :func:`build_engine` composes them into an :class:`Engine` in its baseline state.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError
from werkland.interventions.candidates import (
    Candidate,
    CandidateContext,
    cap_candidates,
    generate_candidates,
    read_user_candidates,
)
from werkland.interventions.catalogue import Catalogue, load_catalogue
from werkland.interventions.evaluate import Evaluator, Gains
from werkland.interventions.first_evaluation import evaluate_all
from werkland.interventions.guild_graph import SURFACE_CACHE_MB, GuildGraph
from werkland.interventions.inputs import (
    InterventionInputs,
    RegionData,
    read_climate_summary,
    read_guild_graph,
    read_region,
)
from werkland.interventions.search import SearcherPool, SurfaceCache
from werkland.interventions.select import Scorer
from werkland.interventions.siting import Hydrology, park_runon, read_hydrology
from werkland.params import ClimateParams, ConnectivityParams, InterventionParams
from werkland.raster.io import release_free_memory
from werkland.tables import Guild, Legend, load_guilds, load_legend

#: FFT threads of the evaluator's baseline urban-cooling run.
COOLING_WORKERS = 2


def load_tables(inputs: InterventionInputs, params: InterventionParams) -> tuple[Legend, dict[str, Guild], Catalogue]:
    """Legend, the analysed guilds (in order) and the catalogue (checked against the whole guild table)."""
    legend = load_legend(inputs.legend_yaml)
    all_guilds = load_guilds(inputs.guilds_yaml, legend)
    unknown = [g for g in params.guilds if g not in all_guilds]
    if unknown:
        raise WerklandInputError(f"guilds {unknown} are not in {inputs.guilds_yaml}", path="config: guilds",
                                 fix=f"use guilds from: {', '.join(all_guilds)}")
    guilds = {g: all_guilds[g] for g in params.guilds}
    return legend, guilds, load_catalogue(inputs.catalogue_yaml, legend, all_guilds)


def design_storm_mm(climate: ClimateParams, storm: str) -> float:
    """Depth (mm) of the design storm of ``d_retained_m3``."""
    storms = {s.name: s.depth_mm for s in climate.storms}
    if storm not in storms:
        raise WerklandInputError(f"design storm {storm!r} is not a climate storm", path="config: interventions.design_storm",
                                 fix=f"use one of {sorted(storms)}")
    return float(storms[storm])


def load_hydrology(
    inputs: InterventionInputs, params: InterventionParams, region: RegionData, climate_summary: pd.DataFrame,
    warnings: list[str],
) -> Hydrology | None:
    """The climate stage's soil, groundwater and flow rasters (None when none is given).

    Says in ``warnings`` which fallbacks apply: no soil or groundwater (infiltrating measures are
    proposed everywhere), no elevation (siting by distance to green and water, no run-on).
    """
    given = (inputs.soil_group, inputs.ghg, inputs.infiltration, inputs.flow_accumulation)
    if all(p is None for p in given) and not inputs.ponding:
        return None
    storm = params.design_storm
    hy = read_hydrology(
        inputs.soil_group, inputs.ghg, inputs.infiltration, inputs.flow_accumulation, inputs.ponding.get(storm),
        region.grid, clearance_m=params.groundwater_clearance_m, warnings=warnings,
        runon_m3=park_runon(climate_summary, list(region.parks["park_id"]), storm),
    )
    if not hy.checks_infiltration:
        warnings.append("no soil or groundwater data: infiltrating measures (wadis, rain gardens) are not checked "
                        "against soil and groundwater")
    if not hy.has_elevation:
        warnings.append("no elevation model: wadis, rain gardens and ponds are placed by distance to green and "
                        "water, and storage gains count no run-on")
    return hy


def baseline_graphs(
    inputs: InterventionInputs, params: InterventionParams, region: RegionData,
) -> tuple[dict[str, GuildGraph], dict[str, list[np.ndarray]]]:
    """The baseline patch graph and least-cost link paths of every analysed guild.

    The guilds are read on up to ``params.n_workers`` threads at once (one: on the calling thread):
    one guild's all-pairs distances (compiled, off the GIL, on both cores) overlap another's reading
    of its rasters and links. Each graph is built from its own files alone, so it does not depend on
    the threads; the dictionaries keep the guilds' configured order.
    """
    # search work arrays lent to every guild's graph: as many sets as searches run at once (the
    # selection evaluates up to n_workers guilds side by side, each searching on n_workers threads,
    # on n_workers cores: one set more than cores keeps them busy while a search's results are read)
    search_pool = SearcherPool(region.codes.shape, region.grid.res_m, limit=params.n_workers + 1)
    # one memory budget for every guild's kept cost surfaces (per process: each evaluation worker
    # fills its own copy)
    surface_cache = SurfaceCache(int(SURFACE_CACHE_MB * 2**20))

    def read(conn: ConnectivityParams) -> tuple[GuildGraph, list[np.ndarray]]:
        return read_guild_graph(inputs, conn, region, pc_tol=params.pc_tolerance, search_pool=search_pool,
                                surface_cache=surface_cache)

    threads = min(params.n_workers, len(params.connectivity))
    if threads <= 1:
        read_back = [read(conn) for conn in params.connectivity]
    else:
        with ThreadPoolExecutor(threads) as pool:
            read_back = list(pool.map(read, params.connectivity))
    graphs = {conn.guild: gg for conn, (gg, _) in zip(params.connectivity, read_back, strict=True)}
    link_paths = {conn.guild: paths for conn, (_, paths) in zip(params.connectivity, read_back, strict=True)}
    return graphs, link_paths


def candidate_pool(eng: Engine, params: InterventionParams, user_candidates: Path | None) -> list[Candidate]:
    """Generated candidates (capped) and/or the user's; the generators' notes go to ``eng.warnings``.

    Parameters
    ----------
    eng : Engine
        The region's engine (its candidate context, catalogue and warnings).
    params : InterventionParams
        Candidate caps and the user-candidate mode.
    user_candidates : Path or None
        The optional user candidate layer (:func:`~werkland.interventions.read_user_candidates`).

    Raises
    ------
    WerklandInputError
        A bad user layer or user ids that clash with generated ids.
    """
    if eng.link_paths_released:
        raise RuntimeError("candidate_pool after Engine.release_link_paths: generate the candidates first")
    ctx, catalogue, user = eng.ctx, eng.catalogue, user_candidates
    cands: list[Candidate] = []
    if not (user and params.user_candidates_mode == "replace"):
        cands = generate_candidates(ctx, catalogue, max_per_type_park=params.max_candidates_per_type_park)
        if params.max_candidates is not None and len(cands) > params.max_candidates:
            n_gen = len(cands)
            cands = cap_candidates(cands, params.max_candidates)
            eng.warnings.append(f"{n_gen} candidates generated; {len(cands)} kept (interventions.max_candidates): "
                                "the largest of every type and park first, round-robin over types and parks")
    if user:
        ucs = read_user_candidates(user, ctx, catalogue)
        have = {c.candidate_id for c in cands}
        clash = [c.candidate_id for c in ucs if c.candidate_id in have]
        if clash:
            raise WerklandInputError(f"user candidate ids {clash[:5]} clash with generated ids", path=str(user),
                                     fix="rename them")
        cands += ucs
    return cands


def make_scorer(
    params: InterventionParams, graphs: dict[str, GuildGraph], region: RegionData, ev: Evaluator,
    climate_summary: pd.DataFrame, climate: ClimateParams, warnings: list[str],
) -> Scorer:
    """Targets (ECA and habitat per guild, HM deficit, unserved workplaces, storage per park) and weights."""
    gsel = params.guilds
    w = np.array([params.guild_weights[g] for g in gsel], float)
    w = w / w.sum()
    eca0 = np.array([graphs[g].eca0_ha for g in gsel])
    q0 = np.array([graphs[g].q0 for g in gsel])
    eca_t = np.where(eca0 > 0, eca0 * params.eca_target_pct / 100, 1.0)
    hab_t = np.where(q0 > 0, q0 * params.habitat_target_pct / 100, 1.0)
    for g, e in zip(gsel, eca0, strict=True):
        if e <= 0:
            warnings.append(f"{g}: baseline ECA is 0 (no patches); ECA and habitat targets set to 1 ha")
    need, hm_def = park_targets(climate_summary, region, ev, climate, warnings)
    unserved = float((ev.workplace & ~ev.served).sum()) * region.grid.cell_area_m2
    return Scorer(list(gsel), w, eca_t, hab_t, hm_def, unserved, need, params.weights["biodiversity"],
                  params.weights["climate"], params.bio_eca_share, params.climate_water_share, params.heat_hm_share,
                  params.cap_attainment)


def park_targets(
    summary: pd.DataFrame, region: RegionData, ev: Evaluator, cp: ClimateParams, warnings: list[str],
) -> tuple[np.ndarray, float]:
    """Storage still needed per park (m³) and the parks' HM deficit (HM-weighted ha).

    The climate stage's figures per park; a park missing from its table gets the figures of the
    evaluator's baseline.
    """
    parks = region.parks
    n = len(parks)
    pi = region.park_index.ravel()
    cell_m2 = ev.cell_m2
    hm = np.nan_to_num(ev.hm.ravel(), nan=0.0)
    area = np.bincount(pi, minlength=n + 1)[1:] * cell_m2
    hm_mean = np.bincount(pi, weights=hm, minlength=n + 1)[1:] * cell_m2 / np.maximum(area, 1e-9)
    sealed = np.nan_to_num(ev.bio.sealed, nan=0.0)[ev.codes.ravel()]
    need = np.maximum(0.0, cp.storage_norm_mm * np.bincount(pi, weights=sealed, minlength=n + 1)[1:] * cell_m2 / 1000
                      - ev.park_storage_m3)
    m = dict(zip(summary["park_id"], summary["storage_needed_m3"], strict=True))
    need = np.array([float(m.get(p, nd)) for p, nd in zip(parks["park_id"], need, strict=True)])
    hmm = dict(zip(summary["park_id"], summary["hm_mean"], strict=True))
    am = dict(zip(summary["park_id"], summary["area_m2"], strict=True))
    hm_mean = np.array([float(hmm.get(p, h)) for p, h in zip(parks["park_id"], hm_mean, strict=True)])
    area = np.array([float(am.get(p, a)) for p, a in zip(parks["park_id"], area, strict=True)])
    hm_def = float(np.sum(np.maximum(0.0, cp.hm_threshold - hm_mean) * area) / 1e4)
    if need.sum() <= 0:
        warnings.append("no park needs more storage: water retention earns no score")
    if hm_def <= 0:
        warnings.append(f"every park's mean HM is >= {cp.hm_threshold}: the HM gain earns no score")
    return np.asarray(need, float), hm_def


def first_evaluation(ev: Evaluator, cands: list[Candidate], params: InterventionParams) -> list[Gains]:
    """Standalone gains of every candidate against the baseline."""
    for gg in ev.graphs.values():  # one candidate at a time in this process: its searches on threads
        gg.n_threads = params.n_workers
    return evaluate_all(ev, cands, params.n_workers) if cands else []



# --- the engine ---------------------------------------------------------------------------------


@dataclass
class Engine:
    """The interventions engine of one region in its baseline state.

    Attributes
    ----------
    legend, guilds, catalogue : Legend, dict of str to Guild, Catalogue
        Tables (the analysed guilds, in order).
    region : RegionData
        Land cover, parks and vector layers.
    graphs : dict of str to GuildGraph
        Baseline patch graph per guild (the evaluator's).
    ev : Evaluator
        The evaluator (baseline until something is committed).
    scorer : Scorer
        Target-attainment scores (the targets of the interventions stage).
    ctx : CandidateContext
        The candidates' context (generation, footprints of geometries); its notes go to ``warnings``.
    storm_mm : float
        Depth of the design storm, mm.
    hydrology : Hydrology or None
        The climate stage's soil, groundwater and flow rasters (as the interventions stage reads them).
    warnings : list of str
        Remarks of the set-up.
    link_paths_released : bool
        :meth:`release_link_paths` was called (generating candidates again raises).
    """

    legend: Legend
    guilds: dict[str, Guild]
    catalogue: Catalogue
    region: RegionData
    graphs: dict[str, GuildGraph]
    ev: Evaluator
    scorer: Scorer
    ctx: CandidateContext
    storm_mm: float
    hydrology: Hydrology | None
    warnings: list[str]
    link_paths_released: bool = False

    @property
    def link_paths(self) -> dict[str, list[np.ndarray]]:
        """Least-cost link cells per guild, cheapest first (held by :attr:`ctx`, which generates the
        candidates from them; empty after :meth:`release_link_paths`)."""
        return self.ctx.link_paths

    def release_link_paths(self) -> None:
        """Free the baseline's least-cost link paths once the candidates are generated.

        Only the candidate generators read them (hedgerows and stepping stones along links); the
        evaluation and selection never do, and the paths are small arrays in the heap (about 110 MB
        at 4 M cells: woodland birds' 98,507 links), which the forked evaluation workers would
        inherit and the parent would hold to the end. Generating candidates afterwards raises.
        """
        self.ctx.drop_link_paths()
        self.link_paths_released = True
        release_free_memory()


def build_engine(inputs: InterventionInputs, params: InterventionParams) -> Engine:
    """The engine of the interventions stage for one region, in the baseline state.

    Same tables, graphs, evaluator and targets as :func:`werkland.interventions.run_interventions`
    (its outputs in ``inputs`` are not used).

    Raises
    ------
    WerklandInputError
        A missing or unreadable input.
    """
    warnings: list[str] = []
    inputs.check(params.guilds)
    legend, guilds, catalogue = load_tables(inputs, params)
    storm_mm = design_storm_mm(params.climate, params.design_storm)
    region = read_region(inputs, warnings)
    climate_summary = read_climate_summary(inputs.climate_summary)
    hydrology = load_hydrology(inputs, params, region, climate_summary, warnings)
    # the evaluator's land-cover baseline (suitability tables, edge bands, urban cooling, runoff)
    # needs no graph: it is built on this thread while the guild graphs are read beside it
    with ThreadPoolExecutor(1) as side:
        reading = side.submit(baseline_graphs, inputs, params, region)
        ev = Evaluator(region.codes, region.grid, legend, guilds, {}, catalogue, params.climate, region.park_index,
                       storm_mm, workers=COOLING_WORKERS, hydrology=hydrology)
        graphs, link_paths = reading.result()
    ev.graphs.update(graphs)
    scorer = make_scorer(params, graphs, region, ev, climate_summary, params.climate, warnings)
    ctx = CandidateContext.build(
        region.codes, region.grid, legend, guilds, region.parks, region.park_index, landcover=region.landcover,
        lines=region.lines, link_paths=link_paths, barriers=region.barriers, green_area=ev.bio.green_area,
        notes=warnings, hydrology=hydrology,
    )
    return Engine(legend, guilds, catalogue, region, graphs, ev, scorer, ctx, storm_mm, hydrology,
                  warnings)

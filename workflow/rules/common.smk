# Validation, region sheet, wildcard constraints and input functions. Rules live elsewhere.
# Parse time stays cheap: only YAML/TSV tables are read here, never geodata.

import os

from werkland.config import region_settings, validate_config
from werkland.layout import REPORT_FIGURES, STAGES, RegionPaths, style_targets
from werkland.osm_extract import apply_osm_extracts, osm_extract_settings, plan_osm_extracts
from werkland.osm_extract import extent_settings as osm_extent_settings
from werkland.params import (
    BarrierParams,
    ClimateParams,
    ConnectivityParams,
    CurrentsParams,
    HabitatParams,
    InterventionParams,
    LandcoverParams,
    ReportParams,
    SpeciesParams,
)
from werkland.params import barrier_guild_weights as werkland_barrier_guild_weights
from werkland.params import barrier_probe_owners
from werkland.params.climate import HydrologyInputs
from werkland.params.report import region_source_files
from werkland.params.species import species_table_inputs
from werkland.params.species_evidence import SpeciesEvidenceParams
from werkland.tables import load_guilds, load_legend

validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
REGIONS = region_settings(config)
# Large OSM files shared by regions are cut once (rules/osm_extract.smk); the regions then read their cut file.
OSM_EXTRACTS = plan_osm_extracts(REGIONS, config)
REGIONS = apply_osm_extracts(REGIONS, config, plan=OSM_EXTRACTS)
GUILDS = list(config["guilds"])
STORMS = [storm["name"] for storm in config["climate"]["storms"]]
# Every path of results/{region}/ as a rule pattern (werkland.layout is the one data contract).
LAYOUT = RegionPaths("results", "{region}")


# guild: only the configured guilds, so barriers/{guild}.gpkg never matches all_guilds.gpkg
wildcard_constraints:
    region="[a-z0-9][a-z0-9-]*",
    guild="|".join(GUILDS),


def region_cfg(wildcards):
    """The region's effective settings (defaults, table and regions: merged)."""
    return REGIONS[wildcards.region]


def landcover_source_paths(wildcards):
    return [src["path"] for src in REGIONS[wildcards.region]["land_cover"]]


def landcover_mapping_files(wildcards):
    """Mapping files of the region's BGT sources (the shipped config/mappings/bgt.yaml when none is given)."""
    sources = REGIONS[wildcards.region]["land_cover"]
    return sorted(
        {
            src.get("mapping") or "config/mappings/bgt.yaml"
            for src in sources
            if src["type"] == "bgt"
        }
    )


def landcover_params(wildcards):
    """LandcoverParams of a region (sources, parks, CRS, grid, clip box) as a plain dict."""
    region = wildcards.region
    return LandcoverParams.from_region(REGIONS[region], where=f"config: regions.{region}").as_dict()


def habitat_params(wildcards):
    """HabitatParams (the habitat section) as a plain dict."""
    return HabitatParams.from_config(config).as_dict()


_GUILD_TABLE = {}


def guild_table():
    """The guild table (config/guilds.yaml), read once."""
    if not _GUILD_TABLE:
        _GUILD_TABLE.update(load_guilds(config["guilds_table"], load_legend(config["legend"])))
    return _GUILD_TABLE


_LINK_BOUND = {}


def guild_link_bound(guild):
    """A guild's link bound (ConnectivityParams.link_bound, cost-weighted m), computed once."""
    if guild not in _LINK_BOUND:
        _LINK_BOUND[guild] = ConnectivityParams.from_config(
            config, guild_table()[guild], n_threads=1
        ).link_bound
    return _LINK_BOUND[guild]


def guild_threads(wildcards):
    """Threads of a guild's connectivity and barrier jobs: 2 for the guild(s) with the longest link
    bound of the analysed ones, whose bounded searches fill both threads and whose jobs are the
    critical path, 1 for the others, so that two of their jobs (mostly one-threaded reading,
    metrics and writing) run side by side. Outputs do not depend on the thread count. The two
    jobs' memory adds up (each job's peak at 4 and 16 M cells: docs/cluster.md); where memory is
    the limit, --set-threads connectivity=2 barriers=2 runs them one at a time."""
    longest = max(guild_link_bound(g) for g in GUILDS)
    return 2 if guild_link_bound(wildcards.guild) >= longest else 1


def connectivity_priority(wildcards):
    """Scheduling priority of a guild's connectivity job (barriers and the other rules: 0).

    Snakemake's scheduler, among jobs of equal priority, prefers those that delete the largest temp
    files: the barrier jobs, which delete the probe minima. At 15.8 M cells it started two short-reach
    barrier jobs before the last short-reach connectivity job, which then ran alone for 60 s, the
    second core idle. The connectivity jobs are the long ones and unlock the rest: 1 for the
    short-reach guilds, 3 for the longest-reach guild's (more than two short-reach jobs together), so
    that it starts whenever both cores are free. Outputs do not depend on the order."""
    return 3 if guild_threads(wildcards) == 2 else 1


def barrier_params(wildcards, threads):
    """BarrierParams of a guild (barriers section, its resistance table and kernel) as a plain dict."""
    return BarrierParams.from_config(
        config, guild_table()[wildcards.guild], n_threads=threads
    ).as_dict()


def barrier_probe_owner(guild):
    """The guild whose barrier segments and probe groups ``guild`` shares (werkland.params.barrier_probe_owners)."""
    if not _PROBE_OWNERS:
        _PROBE_OWNERS.update(
            barrier_probe_owners(
                {
                    g: BarrierParams.from_config(config, guild_table()[g], n_threads=1)
                    for g in GUILDS
                }
            )
        )
    return _PROBE_OWNERS[guild]


_PROBE_OWNERS = {}


def connectivity_barrier_probes(wildcards):
    """The shared barrier segments and probe groups the guild's connectivity job reads."""
    owner = barrier_probe_owner(wildcards.guild)
    return RegionPaths(LAYOUT.root, wildcards.region).barrier_probes(owner).as_posix()


def barrier_guild_weights(wildcards):
    """Weight of each analysed guild in the multi-guild barrier rank."""
    return werkland_barrier_guild_weights(config)


def species_params(wildcards):
    """SpeciesParams of a region (its source and file, the species section) as a plain dict."""
    return SpeciesParams.from_config(config, REGIONS[wildcards.region]).as_dict()


def species_table_files(wildcards):
    """The monitoring table of a region with species_source table, and its preset file (else none)."""
    return species_table_inputs(REGIONS[wildcards.region])


def species_patches(wildcards):
    """The guilds' patch rasters the species rule counts records in; none when the region's species
    source is none (no records: the rule then waits for no connectivity job)."""
    if SpeciesParams.from_config(config, REGIONS[wildcards.region]).source == "none":
        return []
    return expand(LAYOUT.patches_tif("{guild}").as_posix(), guild=GUILDS, region=wildcards.region)


def species_evidence_params(wildcards):
    """SpeciesEvidenceParams (periods, Boyce and bootstrap keys of the species section) as a plain dict."""
    return SpeciesEvidenceParams.from_config(config).as_dict()


def climate_params(wildcards):
    """ClimateParams (the climate section) as a plain dict."""
    return ClimateParams.from_config(config).as_dict()


def climate_hydrology(wildcards):
    """HydrologyInputs of a region (its optional soil, groundwater and elevation inputs)."""
    region = wildcards.region
    return HydrologyInputs.from_region(REGIONS[region], where=f"config: regions.{region}")


def climate_hydrology_params(wildcards):
    """HydrologyInputs of a region as a plain dict."""
    return climate_hydrology(wildcards).as_dict()


def climate_hydrology_files(wildcards):
    """The region's soil map, groundwater and elevation files and their mapping tables ([] when none)."""
    return climate_hydrology(wildcards).files()


def intervention_params(wildcards, threads):
    """InterventionParams (interventions section, climate section, each guild's kernel) as a plain dict."""
    return InterventionParams.from_config(config, guilds=guild_table(), n_workers=threads).as_dict()


def intervention_user_candidates(wildcards):
    """The optional user candidate layer (interventions.user_candidates): [] when none."""
    path = config["interventions"]["user_candidates"]
    return [path] if path else []


def currents_enabled():
    """The circuit-theory stage runs only when switched on (currents.enabled)."""
    return bool((config.get("currents") or {}).get("enabled", False))


def currents_source(wildcards):
    """The optional Omniscape source raster (currents.source_raster): [] when none."""
    path = config["currents"]["source_raster"]
    return [path] if path else []


def barriers_current(wildcards):
    """The guild's current map for the barrier ranking when currents.enabled: [] when off."""
    if not currents_enabled():
        return []
    return [RegionPaths(LAYOUT.root, wildcards.region).current(wildcards.guild).as_posix()]


def currents_params(wildcards, threads):
    """CurrentsParams of a guild (currents section, its corridor width) as a plain dict."""
    return CurrentsParams.from_config(
        config, guild_table()[wildcards.guild], n_threads=threads
    ).as_dict()


def stage_outputs(region):
    """Every file the per-stage rules write for a region, up to the report (werkland.layout)."""
    paths = RegionPaths(LAYOUT.root, region)
    stages = [s for s in STAGES if s != "report" and (s != "currents" or currents_enabled())]
    plans = region_plan_names(region)
    return [
        p.as_posix()
        for stage in stages
        for p in paths.stage_outputs(stage, GUILDS, STORMS, plans=plans)
    ]


def region_plan_names(region):
    """Names of the user plans of a region (regions.<id>.plans), in config order."""
    return list(REGIONS[region].get("plans") or {})


def intervention_engine_inputs(wildcards):
    """The interventions rule's named inputs for a region: the plans rule replays the same engine
    on the same files."""

    def resolve(value):
        if callable(value):
            return resolve(value(wildcards))
        if isinstance(value, str):
            return str(value).replace("{region}", wildcards.region)
        return [resolve(v) for v in value]

    return {name: resolve(value) for name, value in rules.interventions.input.items()}


def plan_file(wildcards):
    """The plan file of results/{region}/plans/{plan}.* (regions.<id>.plans.<plan>)."""
    plans = REGIONS[wildcards.region].get("plans") or {}
    return plans[wildcards.plan]


def all_outputs():
    if config["execution"] == "pipeline":
        paths = [RegionPaths(LAYOUT.root, region).pipeline_json.as_posix() for region in REGIONS]
        return paths + overview_targets()
    paths = [path for region in REGIONS for path in stage_outputs(region)]
    paths += [path for region in REGIONS for path in report_targets(region)]
    return paths + overview_targets()


# --- report -----------------------------------------------------------------------------------
# .qml styles written beside the stage outputs (rule patterns, results/{region}/...).
REPORT_STYLES = [
    LAYOUT.qml(target).as_posix()
    for target in style_targets(GUILDS, STORMS, currents=currents_enabled())
]


def report_inputs(wildcards):
    """The stage outputs the report reads (RegionPaths.report_inputs) that some rule of this workflow produces."""
    paths = [
        p.as_posix()
        for p in RegionPaths(LAYOUT.root, wildcards.region).report_inputs(
            GUILDS, STORMS, plans=region_plan_names(wildcards.region)
        )
    ]
    return [
        path
        for path in paths
        if any(r.is_producer(path) for r in workflow.rules if r.name not in ("report", "overview"))
    ]


def report_sources(wildcards):
    """The region's input files (land cover, soil and water, species table, plans, catalogue): hashed in the methods section."""
    return region_source_files(
        REGIONS[wildcards.region], wildcards.region, config["interventions"]["catalogue"]
    )


def report_results_root(wildcards, output):
    """The results root of a report job (results/{region}/report/index.html -> results)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(output.html)))


def report_params(wildcards):
    """ReportParams of the run (language, guilds, storms, kernel convention, budget, config as run) as a plain dict."""
    return ReportParams.from_config(config).as_dict()


def report_targets(region):
    """Files of a region's report and its QGIS styles (for rule all)."""
    return [
        p.as_posix()
        for p in RegionPaths(LAYOUT.root, region).stage_outputs(
            "report", GUILDS, STORMS, currents=currents_enabled(), pdf=REPORT_PDF
        )
    ]


# report.pdf resolved once at parse time (auto: a Chromium is installed here); the rule then declares
# report/summary.pdf and fails with a clear error when the job finds no Chromium.
REPORT_PDF = ReportParams.from_config(config).pdf


def report_pdf_output():
    """{'pdf': results/{region}/report/summary.pdf} when report.pdf is on, else {}."""
    return {"pdf": LAYOUT.report_summary_pdf.as_posix()} if REPORT_PDF else {}


def overview_targets():
    """The regional overview, when the run has several regions."""
    return ["results/report.html"] if len(REGIONS) > 1 else []

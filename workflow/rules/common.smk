# Validation, region sheet, wildcard constraints and input functions. Rules live elsewhere.
# Parse time stays cheap: only YAML/TSV tables are read here, never geodata.

import os

from werkland.config import barrier_guild_weights as werkland_barrier_guild_weights
from werkland.config import barrier_params as werkland_barrier_params
from werkland.config import connectivity_params, region_settings, validate_config
from werkland.config import intervention_params as werkland_intervention_params
from werkland.config import species_params as werkland_species_params
from werkland.report_i18n import FIGURES as REPORT_FIGURES
from werkland.report_i18n import report_files, stage_files
from werkland.styles import style_targets
from werkland.layout import RegionPaths
from werkland.tables import load_guilds, load_legend

validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
REGIONS = region_settings(config)
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


def landcover_params(key):
    def get(wildcards):
        return REGIONS[wildcards.region].get(key)

    return get


_GUILD_TABLE = {}


def guild_table():
    """The guild table (config/guilds.yaml), read once."""
    if not _GUILD_TABLE:
        _GUILD_TABLE.update(load_guilds(config["guilds_table"], load_legend(config["legend"])))
    return _GUILD_TABLE


def guild_params(wildcards):
    return connectivity_params(config, guild_table()[wildcards.guild])


def barrier_params(wildcards):
    return werkland_barrier_params(config, guild_table()[wildcards.guild])


def barrier_guild_weights(wildcards):
    return werkland_barrier_guild_weights(config)


def species_params(wildcards):
    return werkland_species_params(config, REGIONS[wildcards.region])


def intervention_params(wildcards, threads):
    return werkland_intervention_params(config, threads)


def stage_outputs(region):
    out = [
        f"results/{region}/landcover.tif",
        f"results/{region}/landcover.gpkg",
    ]
    out += expand("results/{region}/habitat/{guild}.tif", region=region, guild=GUILDS)
    out += expand("results/{region}/resistance/{guild}.tif", region=region, guild=GUILDS)
    out.append(f"results/{region}/climate/summary.csv")
    out += expand("results/{region}/graph/{guild}_summary.json", region=region, guild=GUILDS)
    out.append(f"results/{region}/species/counts.csv")
    out.append(f"results/{region}/barriers/all_guilds.gpkg")
    out.append(f"results/{region}/interventions/candidates.gpkg")
    return out


def all_outputs():
    if config["execution"] == "pipeline":
        paths = [f"results/{region}/pipeline.json" for region in REGIONS]
        return paths + overview_targets()
    paths = [path for region in REGIONS for path in stage_outputs(region)]
    paths += [path for region in REGIONS for path in report_targets(region)]
    return paths + overview_targets()


# --- report -----------------------------------------------------------------------------------
# .qml styles written beside the stage outputs (paths relative to results/{region}).
REPORT_STYLES = [target.qml for target in style_targets(GUILDS, STORMS)]


def report_inputs(wildcards):
    """The stage outputs of a region that some rule of this workflow produces."""
    return [
        path
        for path in stage_files(wildcards.region, GUILDS, STORMS)
        if any(r.is_producer(path) for r in workflow.rules if r.name not in ("report", "overview"))
    ]


def report_sources(wildcards):
    """Land-cover sources and the intervention catalogue: hashed in the methods section."""
    paths = [src["path"] for src in REGIONS[wildcards.region]["land_cover"]]
    catalogue = config["interventions"]["catalogue"]
    if os.path.exists(catalogue):
        paths.append(catalogue)
    return paths


def report_region_dir(wildcards, output):
    return os.path.dirname(os.path.dirname(output.html))


def report_targets(region):
    """Files of a region's report (for rule all)."""
    return report_files(region) + [f"results/{region}/{qml}" for qml in REPORT_STYLES]


def overview_targets():
    """The regional overview, when the run has several regions."""
    return ["results/report.html"] if len(REGIONS) > 1 else []

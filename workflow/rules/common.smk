# Validation, region sheet, wildcard constraints and input functions. Rules live elsewhere.
# Parse time stays cheap: only YAML/TSV tables are read here, never geodata.

from werkland.config import region_settings, validate_config
from werkland.tables import load_guilds, load_legend

validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
REGIONS = region_settings(config)
GUILDS = list(config["guilds"])
STORMS = [storm["name"] for storm in config["climate"]["storms"]]


wildcard_constraints:
    region="[a-z0-9][a-z0-9-]*",
    guild="[a-z][a-z0-9_]*",


def region_cfg(wildcards):
    return REGIONS[wildcards.region]


def landcover_source_paths(wildcards):
    return [src["path"] for src in REGIONS[wildcards.region]["land_cover"]]


def landcover_params(key):
    def get(wildcards):
        return REGIONS[wildcards.region].get(key)

    return get


_GUILD_TABLE = {}


def guild_params(wildcards):
    """The guild's parameters (config/guilds.yaml) plus the connectivity settings."""
    if not _GUILD_TABLE:
        legend = load_legend(config["legend"])
        _GUILD_TABLE.update(load_guilds(config["guilds_table"], legend))
    params = _GUILD_TABLE[wildcards.guild].params()
    params["p_floor"] = config["connectivity"]["p_floor"]
    params["corridor_width"] = config["connectivity"]["corridor_width_cost"]
    return params


def species_params(wildcards):
    """Species settings; the region's species_file becomes the file source's path."""
    params = dict(config["species"])
    species_file = REGIONS[wildcards.region].get("species_file")
    params["file_path"] = species_file or None
    return params


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
    return out


def all_outputs():
    return [path for region in REGIONS for path in stage_outputs(region)]

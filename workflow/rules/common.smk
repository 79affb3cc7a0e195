# Validation, region sheet, wildcard constraints and input functions. Rules live elsewhere.
# Parse time stays cheap: only YAML/TSV tables are read here, never geodata.

from werkland.config import region_settings, validate_config
from werkland.runner import configure_logging

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


def stage_outputs(region):
    out = [
        f"results/{region}/landcover.tif",
        f"results/{region}/landcover.gpkg",
    ]
    out += expand("results/{region}/habitat/{guild}.tif", region=region, guild=GUILDS)
    out += expand("results/{region}/resistance/{guild}.tif", region=region, guild=GUILDS)
    out.append(f"results/{region}/climate/summary.csv")
    return out


def all_outputs():
    return [path for region in REGIONS for path in stage_outputs(region)]

"""Snakemake adapter of rule ``climate``: heat mitigation and design-storm runoff per park.

Calls :func:`werkland.climate.run_climate`. Expected rule shape::

    input:  landcover_tif="results/{region}/landcover.tif",
            landcover_gpkg="results/{region}/landcover.gpkg",
            region="results/{region}/region.gpkg",
            legend="config/landcover_classes.yaml"
    output: cooling="results/{region}/climate/cooling.tif",
            runoff=[... "results/{region}/climate/runoff_<storm>.tif" per storm ...],
            summary="results/{region}/climate/summary.csv"
    log:    "results/logs/climate/{region}.log"
    params: climate=<dict, keys of werkland.climate.DEFAULT_PARAMS>

Each runoff output is matched to its storm by the file name ``runoff_<storm>.tif``.
"""

import logging
import sys
from pathlib import Path

from werkland.climate import run_climate

_log = open(snakemake.log[0], "w")  # noqa: SIM115 - lives as long as the job
sys.stderr = _log
logging.basicConfig(
    stream=_log, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)

run_climate(
    snakemake.input.landcover_tif,
    snakemake.input.landcover_gpkg,
    snakemake.input.region,
    snakemake.input.legend,
    snakemake.output.cooling,
    {Path(p).stem.removeprefix("runoff_"): p for p in snakemake.output.runoff},
    snakemake.output.summary,
    params=dict(snakemake.params.climate or {}),
    threads=snakemake.threads,
)

"""Species records from GBIF for one region: occurrences, counts per park and guild, citation.

pygbif calls logging.basicConfig() at import, so it is imported before run_step sets up logging.
"""

from pathlib import Path

import pygbif  # noqa: F401  (import first: it configures logging at import)

from werkland.params.species import SpeciesParams
from werkland.runner import run_step
from werkland.species import run_species

run_step(
    snakemake.log[0],
    run_species,
    snakemake.input.region,
    snakemake.input.landcover,
    {Path(p).stem: p for p in snakemake.input.patches},
    snakemake.input.legend,
    snakemake.input.guilds,
    snakemake.output.occurrences,
    snakemake.output.counts,
    snakemake.output.citation,
    snakemake.output.cleaning_log,
    params=SpeciesParams.from_dict(snakemake.params.p),
    cache_dir=snakemake.params.cache_dir,
)

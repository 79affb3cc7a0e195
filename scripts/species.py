"""Species records (GBIF or a monitoring table) for one region: occurrences, counts, names, citation.

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
    out_citation_txt=snakemake.output.citation_txt,
    out_names_csv=snakemake.output.names,
)

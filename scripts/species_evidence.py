"""Species evidence for one region: habitat maps validated against records, periods compared."""

from pathlib import Path

from werkland.params.species_evidence import SpeciesEvidenceParams
from werkland.runner import run_step
from werkland.species.evidence import run_species_evidence

run_step(
    snakemake.log[0],
    run_species_evidence,
    snakemake.input.occurrences,
    {Path(p).stem: p for p in snakemake.input.habitat},
    snakemake.input.region,
    snakemake.output.validation,
    snakemake.output.pe_curve,
    snakemake.output.periods,
    params=SpeciesEvidenceParams.from_dict(snakemake.params.p),
)

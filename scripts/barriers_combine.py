"""Combine the per-guild barrier rankings into one multi-guild rank (guild weights from config)."""

from werkland.barriers import combine_barriers
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    combine_barriers,
    dict(zip(snakemake.params.guilds, snakemake.input.guild_layers, strict=True)),
    dict(snakemake.params.weights),
    snakemake.output.barriers,
)

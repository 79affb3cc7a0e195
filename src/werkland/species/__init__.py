"""Species records: GBIF occurrences fetched (API with cache, download or file), cleaned, assigned to
parks, habitat patches and land cover, counted with richness estimators, and cited.

Public API: :func:`run_species`, :func:`process_records`, :func:`count_species`,
:func:`build_citation`, :func:`citation_text`, :func:`guild_taxa`, :func:`read_region`,
:func:`load_national_red_list`, :func:`read_occurrence_table` (monitoring tables, module
:mod:`~werkland.species.table`), :func:`resolve_names` (GBIF Backbone names, module
:mod:`~werkland.species.names`), and the modules :mod:`~werkland.species.gbif` (the GBIF client) and
:mod:`~werkland.species.richness` (richness estimators).
"""

from werkland.species import gbif, names, richness
from werkland.species.citation import build_citation, citation_text
from werkland.species.counts import COUNT_COLUMNS, count_species
from werkland.species.names import resolve_names
from werkland.species.records import (
    ALL_GUILDS,
    REGION_ROW,
    guild_taxa,
    load_national_red_list,
    process_records,
    read_region,
)
from werkland.species.stage import run_species
from werkland.species.table import read_occurrence_table

__all__ = [
    "ALL_GUILDS",
    "COUNT_COLUMNS",
    "REGION_ROW",
    "build_citation",
    "citation_text",
    "count_species",
    "gbif",
    "guild_taxa",
    "load_national_red_list",
    "names",
    "process_records",
    "read_occurrence_table",
    "read_region",
    "resolve_names",
    "richness",
    "run_species",
]

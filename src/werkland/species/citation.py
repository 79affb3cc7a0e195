"""GBIF data citation of a region's records (DOI or dataset list, licences, derived-dataset instruction)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from werkland.species import gbif

log = logging.getLogger(__name__)

_LIC_RANK = {"CC0_1_0": 0, "CC_BY_4_0": 1, "CC_BY_NC_4_0": 2}
DERIVED_DATASET_INSTRUCTION = (
    "The published numbers come from a filtered subset of GBIF-mediated data: register a GBIF derived dataset "
    "(https://www.gbif.org/derived-dataset/register, API POST /v1/derivedDataset) listing the datasets and record "
    "counts below and a public copy of the cleaned occurrences, and cite its DOI (10.15468/dd.*) with the results."
)


TABLE_CITATION_INSTRUCTION = (
    "The records come from a monitoring-scheme export, not from GBIF: cite the scheme and its data holders as "
    "their terms of use require (e.g. NDFF: 'NDFF (<year>) Verspreidingsgegevens ..., geraadpleegd <date>'; "
    "waarneming.nl: 'Waarneming.nl / Observation.org, <date>') and respect their licences."
)


def build_citation(fetch: gbif.FetchResult, raw: pd.DataFrame, clean: pd.DataFrame, source: str) -> dict[str, Any]:
    """Citation record for ``species/citation.json``: DOI or datasets with counts and licences.

    Parameters
    ----------
    fetch : werkland.gbif.FetchResult
    raw, clean : pandas.DataFrame
        Records before and after cleaning.
    source : str
        Configured source.
    """
    datasets: list[dict[str, Any]] = []
    if len(raw):
        r = raw.assign(_lr=raw["license"].map(_LIC_RANK).fillna(3))
        agg = r.groupby("datasetKey", dropna=False).agg(records_raw=("gbifID", "size"), lr=("_lr", "max"))
        lic_of = r.sort_values("_lr").groupby("datasetKey", dropna=False)["license"].last()
        kept = clean.groupby("datasetKey", dropna=False).size() if len(clean) else pd.Series(dtype=np.int64)
        for k, a in agg.sort_values("records_raw", ascending=False).iterrows():
            datasets.append({"datasetKey": None if pd.isna(k) else str(k), "records_raw": int(a["records_raw"]),
                             "records_clean": int(kept.get(k, 0)), "license": str(lic_of.get(k)),
                             "url": None if pd.isna(k) else f"https://www.gbif.org/dataset/{k}"})
    licences = {str(k): int(v) for k, v in clean["license"].value_counts().items()} if len(clean) else {}
    nc = int(clean["cc_by_nc"].sum()) if len(clean) else 0
    doi = fetch.doi
    cit: dict[str, Any] = {
        "status": fetch.status,
        "message": fetch.message,
        "source": source,
        "mode": fetch.mode,
        "doi": doi,
        "doi_url": f"https://doi.org/{doi}" if doi else None,
        "download_key": fetch.download_key,
        "gbif_citation": fetch.citation,
        "access_date": fetch.access_date,
        "query": fetch.query,
        "query_sha256": fetch.query_hash,
        "count_reported_by_gbif": fetch.count_reported,
        "records_raw": int(len(raw)),
        "records_clean": int(len(clean)),
        "datasets": datasets,
        "n_datasets": len(datasets),
        "licences_clean_records": licences,
        "cc_by_nc_records": nc,
        "commercial_use_note": (f"{nc} cleaned record(s) are CC BY-NC 4.0: not for commercial use of the records; "
                                "check with the rights holders before commercial publication" if nc else
                                "no CC BY-NC records among the cleaned records"),
        "derived_dataset_instruction": DERIVED_DATASET_INSTRUCTION,
        "caveats": "presence-only data; sampling effort is uneven (roads, towns, reserves) and business parks are "
                   "rarely visited; compare parks only at a common number of records or coverage",
    }
    if fetch.mode == "table":
        cit["table"] = {k: v for k, v in fetch.meta.items() if k in ("format", "member", "rows", "located_by", "crs", "names")}
        cit["derived_dataset_instruction"] = TABLE_CITATION_INSTRUCTION
    cit["text"] = citation_text(cit)
    return cit


def citation_text(cit: Mapping[str, Any]) -> str:
    """Plain-text citation for reports."""
    if cit["status"] == "no_data":
        return f"No GBIF species data: {cit['message']}"
    lines = []
    if cit.get("mode") == "table":
        q = cit.get("query") or {}
        preset = f", preset {q['preset']}" if q.get("preset") else ""
        lines.append(f"Monitoring-table records: {q.get('table')}{preset}, read {cit.get('access_date')}; "
                     f"names matched to the GBIF Backbone Taxonomy; query sha256 {cit['query_sha256'][:12]}.")
        lines.append(_datasets_line(cit))
        lines.append(TABLE_CITATION_INSTRUCTION)
        lines.append(cit["commercial_use_note"])
        return "\n".join(lines)
    if cit.get("doi"):
        lines.append(cit.get("gbif_citation") or f"GBIF.org GBIF Occurrence Download https://doi.org/{cit['doi']}")
    else:
        how = "a GBIF occurrence file" if cit["mode"] == "file" else "the GBIF occurrence search API"
        lines.append(f"GBIF.org ({cit.get('access_date')}) occurrence data accessed via {how}; query sha256 {cit['query_sha256'][:12]}.")
        if cit.get("gbif_citation"):
            lines.append(cit["gbif_citation"])
        lines.append(_datasets_line(cit))
        lines.append(DERIVED_DATASET_INSTRUCTION)
    lines.append(cit["commercial_use_note"])
    return "\n".join(lines)


def _datasets_line(cit: Mapping[str, Any]) -> str:
    """The citation line naming the first 20 datasets with their clean record counts and licences."""
    return (f"Data from {cit['n_datasets']} dataset(s): "
            + "; ".join(f"{d['datasetKey']} ({d['records_clean']} records, {d['license']})" for d in cit["datasets"][:20])
            + (" ..." if cit["n_datasets"] > 20 else ""))


# --------------------------------------------------------------------------------------------
# outputs

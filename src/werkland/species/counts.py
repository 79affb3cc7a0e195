"""Species counts per park and guild with richness estimators (:func:`count_species`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from werkland.params.species import SpeciesParams
from werkland.species import richness
from werkland.species.records import ALL_GUILDS, REGION_ROW

log = logging.getLogger(__name__)

COUNT_COLUMNS = [
    "park_id", "guild", "records", "species", "singletons", "doubletons", "chao1", "chao1_se", "chao1_lcl", "chao1_ucl",
    "chao1_variant", "coverage", "rarefied_m", "rarefied_richness", "rarefied_coverage", "top_species",
    "iucn_threatened_species", "national_red_list_species", "cc_by_nc_records", "status", "message",
]


def count_species(
    clean: pd.DataFrame,
    park_ids: list[str],
    guilds: list[str],
    params: SpeciesParams,
    *,
    status: str = "ok",
    message: str = "",
) -> pd.DataFrame:
    """Per park (and the whole region, ``park_id = "__region__"``) and per guild (and ``all``) counts.

    Parameters
    ----------
    clean : pandas.DataFrame
        Output of :func:`process_records`.
    park_ids : list of str
        All parks (parks without records get rows with zeros).
    guilds : list of str
        Guild names (``in_<guild>`` columns).
    params : SpeciesParams
        ``rarefy_m``, ``rarefy_min_records``, ``top_n``.
    status, message : str
        Written to every row (e.g. ``no_data`` and why).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COUNT_COLUMNS`; ``rarefied_*`` at a common number of records per guild (the
        smallest park sample with at least ``rarefy_min_records`` records, unless ``rarefy_m`` is an
        integer), extrapolated up to twice a park's sample and ``nan`` beyond.
    """
    rows: list[dict[str, Any]] = []
    top_n = int(params.top_n)
    names = clean.groupby("speciesKey")["species"].first() if len(clean) else pd.Series(dtype=object)
    for g in [ALL_GUILDS, *guilds]:
        sub = clean if g == ALL_GUILDS or not len(clean) else clean[clean[f"in_{g}"].to_numpy()]
        sub_p = sub[sub["park_id"].notna()] if len(sub) else sub
        if len(sub_p):
            ab = sub_p.groupby(["park_id", "speciesKey"], sort=False).size()
            per_park = {str(k): v.droplevel(0) for k, v in ab.groupby(level=0, sort=False)}
        else:
            per_park = {}
        region_ab = sub.groupby("speciesKey").size() if len(sub) else pd.Series(dtype=np.int64)
        m_common = _common_m(per_park, params)
        park_rows = {str(k): v for k, v in sub_p.groupby("park_id", sort=False)} if len(sub_p) else {}
        for pid in [*park_ids, REGION_ROW]:
            grp = region_ab if pid == REGION_ROW else per_park.get(pid, pd.Series(dtype=np.int64))
            x = grp.to_numpy(dtype=np.int64)
            row: dict[str, Any] = {"park_id": pid, "guild": g, **richness.summarise(x, m_common)}
            top = grp.sort_values(ascending=False, kind="stable").head(top_n)
            row["top_species"] = "; ".join(f"{names.get(k, k)} ({int(v)})" for k, v in top.items())
            gsel = sub if pid == REGION_ROW else park_rows.get(pid, sub_p.iloc[:0])
            row["iucn_threatened_species"] = int(gsel.loc[gsel["iucn_threatened"], "speciesKey"].nunique()) if len(gsel) else 0
            row["national_red_list_species"] = (int(gsel.loc[gsel["national_red_list_category"].notna(), "speciesKey"].nunique())
                                                if len(gsel) else 0)
            row["cc_by_nc_records"] = int(gsel["cc_by_nc"].sum()) if len(gsel) else 0
            row["chao1_variant"] = "iNEXT bias-corrected"
            row["status"] = status
            row["message"] = message
            rows.append(row)
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def _common_m(per_park: Mapping[str, pd.Series], params: SpeciesParams) -> int | None:
    m = params.rarefy_m
    if m not in (None, "auto"):
        return int(m)
    ns = [int(v.sum()) for v in per_park.values() if int(v.sum()) >= int(params.rarefy_min_records)]
    return min(ns) if ns else None


# --------------------------------------------------------------------------------------------
# citation

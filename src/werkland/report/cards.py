"""The per-park summary cards: every number read from a stage output, with its source file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from werkland.report.i18n import STRINGS, tr
from werkland.report.load import RegionData

#: Measures listed per park card.
TOP_MEASURES = 5
#: Messages of the species stage (in English) that a Dutch report translates.
_SPECIES_MESSAGES = ("gbif_no_data", "gbif_switched_off")
_NO_SPECIES = "no species data"


def as_float(v: Any) -> float:
    """Float of a table value (NaN for missing / non-numeric)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x


def _species_message(msg: str, language: str) -> str:
    """A species-stage message ``"no species data: <why>"`` (English) in the report language."""
    if language == "en":
        return msg
    why = msg.split(":", 1)[1].strip() if ":" in msg else ""
    for key in _SPECIES_MESSAGES:
        english = STRINGS[key]["en"]
        if why.startswith(english):
            why = tr(key, language) + why[len(english):]
            break
    return tr("no_species", language, why=why or tr("no_species_default", language))


def species_reason(data: RegionData) -> str | None:
    """Why there are no species numbers (None when the counts are usable)."""
    lang = data.language
    if not data.counts.ok:
        if data.citation.ok and data.citation.value.get("status") == "no_data":
            message = data.citation.value.get("message") or ""
            if lang != "en" and message.lower().startswith(_NO_SPECIES):
                return _species_message(message, lang)
            return tr("no_species", lang, why=message or tr("no_species_default", lang))
        return data.counts.reason
    df = data.counts.value
    if df.empty:
        return tr("no_species", lang, why=tr("no_species_default", lang))
    status = str(df["status"].iloc[0]) if "status" in df.columns else "ok"
    if status not in ("no_data", "empty"):
        return None
    msg = str(df["message"].iloc[0]) if "message" in df.columns and pd.notna(df["message"].iloc[0]) else ""
    if status == "no_data":
        msg = msg or tr("no_species_default", lang)
        return _species_message(msg, lang) if msg.lower().startswith(_NO_SPECIES) else tr("no_species", lang, why=msg)
    return tr("no_species", lang, why=msg or tr("no_records_cleaning", lang))


def _measure_rows(data: RegionData, park_id: str) -> tuple[list[dict[str, Any]], str]:
    """Top measures of a park (selected first, by rank) and the reason when there are none."""
    lang = data.language
    if not data.candidates.ok:
        return [], data.candidates.reason
    c = data.candidates.value
    if c.empty:
        return [], tr("no_candidates", lang)
    if "park_id" not in c.columns:
        return [], tr("no_park_id", lang)
    sub = c[c["park_id"].astype(str) == park_id].copy()
    if sub.empty:
        return [], tr("no_candidates_park", lang)
    sel = sub["selected"].astype(bool) if "selected" in sub.columns else pd.Series(False, index=sub.index)
    rank = (pd.to_numeric(sub["rank"], errors="coerce") if "rank" in sub.columns
            else pd.Series(np.arange(len(sub)), index=sub.index))
    sub = sub.assign(_sel=~sel, _rank=rank.fillna(np.inf)).sort_values(["_sel", "_rank"], kind="stable")
    sub = sub.head(TOP_MEASURES)
    eca_cols = [f"d_eca_ha_{g}" for g in data.guilds if f"d_eca_ha_{g}" in sub.columns]
    rows = []
    for _, r in sub.iterrows():
        rows.append(
            {
                "candidate_id": str(r.get("candidate_id", "")),
                "type": str(r.get("type", "")),
                "rank": as_float(r.get("rank")),
                "selected": bool(r.get("selected", False)),
                "size": as_float(r.get("size")),
                "cost_eur": as_float(r.get("cost_eur")),
                "d_eca_ha": float(sum(as_float(r[c_]) for c_ in eca_cols)) if eca_cols else float("nan"),
                "d_habitat_ha": as_float(r.get("d_habitat_ha")),
                "d_hm": as_float(r.get("d_hm")),
                "d_retained_m3": as_float(r.get("d_retained_m3")),
            }
        )
    return rows, ""


def _sealed_group(data: RegionData, clim: pd.DataFrame | None, pid: str) -> dict[str, Any]:
    if clim is not None and pid in clim.index and "sealed_share" in clim.columns:
        return {"sealed_share": as_float(clim.loc[pid, "sealed_share"]), "source": "climate/summary.csv", "reason": ""}
    reason = data.climate.reason or tr("park_not_in", data.language, park=pid, file="climate/summary.csv")
    return {"sealed_share": float("nan"), "source": "climate/summary.csv", "reason": reason}


def _habitat_ha(data: RegionData, park: Any) -> dict[str, float]:
    """Habitat area (ha) of every guild in the park: cells with suitability >= the guild's threshold."""
    hab: dict[str, float] = {}
    # the park's mask over its bounding window only, per grid, shared by the guilds of this park
    park_masks: dict[tuple[Any, ...], tuple[tuple[slice, slice], np.ndarray] | None] = {}
    for g, guild in data.guilds.items():
        h = data.habitat[g]
        if not h.ok:
            hab[g] = float("nan")
            continue
        arr, grid = h.value
        key = (grid.shape, tuple(grid.transform))
        if key not in park_masks:
            # the cells of the park's bounding box plus one cell (a margin against rounding at cell edges)
            win = grid.window_of(park.geometry, margin_cells=1)
            park_masks[key] = None if win is None else (win, grid.mask_of(park.geometry, win))
        pm = park_masks[key]
        n = 0
        if pm is not None:
            win, mask = pm
            sub = arr[win]
            m = mask & np.isfinite(sub)
            # float64 threshold: a float32 raster is compared exactly as its float64 values
            n = int(np.count_nonzero(m & (sub >= np.float64(guild.suitability_threshold))))
        hab[g] = float(n * grid.cell_area_m2 / 1e4)
    return hab


def _connectivity(data: RegionData, park: Any) -> dict[str, dict[str, float]]:
    """ECA of the region and dPC of the patches touching the park, per guild."""
    con: dict[str, dict[str, float]] = {}
    for g in data.guilds:
        s = data.summary[g]
        eca = as_float(s.value.get("ECA_ha")) if s.ok else float("nan")
        dpc = float("nan")
        pt = data.patches[g]
        if pt.ok and "dPC" in pt.value.columns:
            touching = pt.value[pt.value.intersects(park.geometry)] if len(pt.value) else pt.value
            dpc = float(pd.to_numeric(touching["dPC"], errors="coerce").fillna(0).sum())
        con[g] = {"eca_ha": eca, "dpc_park": dpc}
    return con


def _first_reason(loaded: dict[str, Any]) -> str:
    return next(iter(loaded.values())).reason if loaded else ""


def _species_group(data: RegionData, counts: pd.DataFrame | None, sp_reason: str | None, pid: str) -> dict[str, Any]:
    sp: dict[str, Any] = {"source": "species/counts.csv", "reason": sp_reason or ""}
    if sp_reason is not None or counts is None:
        return sp
    row = counts[(counts["park_id"].astype(str) == pid) & (counts["guild"].astype(str) == "all")]
    if row.empty:
        sp["reason"] = tr("park_not_in", data.language, park=pid, file="species/counts.csv")
        return sp
    r = row.iloc[0]
    for k in ("records", "species", "chao1", "chao1_se", "coverage"):
        sp[k] = as_float(r.get(k))
    if sp["records"] == 0:
        sp["reason"] = tr("no_records_park", data.language)
    return sp


def _climate_groups(
    data: RegionData, clim: pd.DataFrame | None, pid: str, reason: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    ro: dict[str, Any] = {"storms": {}, "source": "climate/summary.csv", "reason": reason}
    heat: dict[str, Any] = {"source": "climate/summary.csv", "reason": reason}
    if clim is not None and pid in clim.index:
        crow = clim.loc[pid]
        for s in data.params.storm_names:
            if f"excess_{s}_m3" in clim.columns:
                ro["storms"][s] = {"excess_m3": as_float(crow[f"excess_{s}_m3"]),
                                   "excess_mm": as_float(crow.get(f"excess_{s}_mm"))}
        ro["storage_needed_m3"] = as_float(crow.get("storage_needed_m3"))
        for k in ("hm_mean", "hm_below_threshold_share", "buildings_near_cool_spot_share"):
            heat[k] = as_float(crow.get(k))
    return ro, heat


def park_cards(data: RegionData) -> list[dict[str, Any]]:
    """The numbers of every park's summary card, each read from a stage output.

    Returns
    -------
    list of dict
        Per park: ``park_id``, ``name``, ``area_ha`` and the groups ``sealed``, ``habitat``,
        ``connectivity``, ``species``, ``runoff``, ``heat``, ``measures``; every group has ``source``
        (the file) and ``reason`` (why it is empty, or "").
    """
    cards: list[dict[str, Any]] = []
    clim = data.climate.value if data.climate.ok else None
    if clim is not None and "park_id" in clim.columns:
        clim = clim.set_index(clim["park_id"].astype(str))
    counts = data.counts.value if data.counts.ok else None
    sp_reason = species_reason(data)
    hab_reason = "" if any(data.habitat[g].ok for g in data.guilds) else _first_reason(data.habitat)
    con_reason = "" if any(data.summary[g].ok for g in data.guilds) else _first_reason(data.summary)
    for _, park in data.parks.iterrows():
        pid = str(park["park_id"])
        card: dict[str, Any] = {
            "park_id": pid,
            "name": str(park.get("name", "") or ""),
            "area_ha": as_float(park.get("area_m2")) / 1e4,
        }
        card["sealed"] = _sealed_group(data, clim, pid)
        card["habitat"] = {"habitat_ha": _habitat_ha(data, park), "source": "habitat/{guild}.tif", "reason": hab_reason}
        card["connectivity"] = {"guilds": _connectivity(data, park),
                                "source": "graph/{guild}_summary.json, patches/{guild}.gpkg", "reason": con_reason}
        card["species"] = _species_group(data, counts, sp_reason, pid)
        card["runoff"], card["heat"] = _climate_groups(data, clim, pid, card["sealed"]["reason"])
        rows, why = _measure_rows(data, pid)
        card["measures"] = {"rows": rows, "source": "interventions/candidates.gpkg", "reason": why}
        cards.append(card)
    return cards

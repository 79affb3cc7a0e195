"""The region summary that opens the report: what to do, where first, and from which baseline.

:func:`region_summary` gathers, from the stage outputs of a region:

* the recommended portfolio across all parks (``interventions/portfolio.csv`` in pick order, with
  the type, park and place of each measure from ``interventions/candidates.gpkg``): the top
  measures, the total cost and the gains in ECA per guild, habitat area, retained water and heat
  mitigation (the portfolio's marginal gains summed; the standalone gains of the selected
  candidates when the portfolio has no gain columns), and the per-park totals
  (``interventions/park_totals.csv``);
* the region's baseline in five figures: runoff excess over the natural reference (the first
  design storm, summed over the parks), the hot area share (HM below the threshold, area-weighted
  over the parks), ECA per guild, species recorded in the region and the barriers ranked;
* the region before and after the selected portfolio (``interventions/after/summary.csv``): ECA
  and habitat area per guild, runoff and heat mitigation;
* the comparison of the intervention plans named in the configuration
  (:attr:`werkland.params.ReportParams.plans`; ``plans/{name}.csv`` of each);

and :func:`action_map` draws the one map of where to act first (the selected measures numbered in
pick order, the ten best-ranked barriers, the parks). Every number keeps its source file; a missing
input becomes a reason in the report language.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from werkland.report.before_after_section import summary_rows
from werkland.report.cards import as_float
from werkland.report.figures import rank_column
from werkland.report.furniture import MEASURE_COLOURS, faint_landcover, frame, placeholder, png
from werkland.report.i18n import measure_name, tr
from werkland.report.load import RegionData

log = logging.getLogger(__name__)

__all__ = ["PLAN_COLUMNS", "TOP_MEASURES", "action_map", "plan_csv", "region_summary", "selected_measures"]

#: Measures listed in the summary (the whole portfolio is in ``measures.xlsx``).
TOP_MEASURES = 10
#: Measures numbered on the map of where to act first.
MAP_MEASURES = 10
#: Barriers drawn on that map.
MAP_BARRIERS = 10
#: Columns every plan table has (the plans stage's contract).
PLAN_COLUMNS: tuple[str, ...] = ("n_measures", "cost_eur", "score", "optimum_score", "attainment_pct")


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce") if col in df.columns else pd.Series(np.nan, index=df.index)


def selected_measures(data: RegionData) -> pd.DataFrame | None:
    """The selected measures in pick order, one row each, with type, park, size, cost, gains and geometry.

    Starts from ``portfolio.csv`` (its order and marginal gains) and takes what it lacks from the
    candidate layer (type, label, park, size and its unit, geometry); without a portfolio the
    selected candidates in ``select_order`` (else rank) order. None when neither is readable.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``order``, ``candidate_id``, ``type``, ``label``, ``park_id``, ``size``,
        ``size_unit``, ``cost_eur``, ``d_eca_ha_<guild>``, ``d_habitat_ha``, ``d_hm``,
        ``d_retained_m3`` and ``geometry`` (shapely, the region CRS; None when unknown).
    """
    cands = data.candidates.value if data.candidates.ok else None
    port = data.portfolio.value if data.portfolio.ok else None
    if cands is not None and "candidate_id" in cands.columns:
        cands = cands.assign(candidate_id=cands["candidate_id"].astype(str))
    if port is not None and len(port) and "candidate_id" in port.columns:
        rows = pd.DataFrame(port).copy()
        rows["candidate_id"] = rows["candidate_id"].astype(str)
        if "order" not in rows.columns:
            rows["order"] = np.arange(1, len(rows) + 1)
        if cands is not None:
            extra = [c for c in cands.columns if c not in rows.columns or c == "candidate_id"]
            rows = rows.merge(pd.DataFrame(cands[extra]), on="candidate_id", how="left")
    elif cands is not None and len(cands) and "selected" in cands.columns:
        rows = pd.DataFrame(cands[cands["selected"].astype(bool).to_numpy()]).copy()
        key = "select_order" if "select_order" in rows.columns else "rank" if "rank" in rows.columns else None
        if key is not None:
            rows = rows.sort_values(key, kind="stable")
        rows["order"] = np.arange(1, len(rows) + 1)
    elif port is not None or cands is not None:
        return pd.DataFrame(columns=["order", "candidate_id", "type", "park_id", "cost_eur", "geometry"])
    else:
        return None
    for col in ("type", "label", "park_id", "size_unit"):
        rows[col] = rows[col].fillna("").astype(str) if col in rows.columns else ""
    if "geometry" not in rows.columns:
        rows["geometry"] = None
    return rows.reset_index(drop=True)


def _portfolio(data: RegionData, measures: pd.DataFrame | None) -> dict[str, Any]:
    lang = data.language
    out: dict[str, Any] = {"rows": [], "n": 0, "reason": "", "source": "interventions/portfolio.csv, candidates.gpkg"}
    if measures is None:
        out["reason"] = data.portfolio.reason or data.candidates.reason
        return out
    if measures.empty:
        out["reason"] = tr("portfolio_empty", lang) if data.candidates.ok and len(data.candidates.value) \
            else tr("no_candidates", lang)
        return out
    out["n"] = len(measures)
    out["cost_eur"] = float(_numeric(measures, "cost_eur").sum())
    out["eca_ha"] = {g: float(_numeric(measures, f"d_eca_ha_{g}").sum(min_count=1)) for g in data.guilds}
    for k in ("d_habitat_ha", "d_retained_m3", "d_hm"):
        out[k] = float(_numeric(measures, k).sum(min_count=1))
    names = {str(p): (str(n) or str(p)) for p, n in zip(data.parks["park_id"], data.parks["name"], strict=True)}
    for _, r in measures.head(TOP_MEASURES).iterrows():
        pid = str(r.get("park_id", ""))
        out["rows"].append({
            "order": int(r["order"]), "candidate_id": str(r["candidate_id"]),
            "type": measure_name(str(r.get("type") or ""), lang),
            "park_id": pid, "park": names.get(pid, pid or tr("outside_parks", lang)),
            "cost_eur": as_float(r.get("cost_eur")),
            "d_eca_ha": float(sum(as_float(r.get(f"d_eca_ha_{g}")) for g in data.guilds)) if data.guilds else math.nan,
            "d_habitat_ha": as_float(r.get("d_habitat_ha")), "d_retained_m3": as_float(r.get("d_retained_m3")),
            "d_hm": as_float(r.get("d_hm")),
        })
    return out


def _park_totals(data: RegionData) -> list[dict[str, Any]]:
    p = data.paths.park_totals
    if not p.is_file():
        return []
    try:
        df = pd.read_csv(p, dtype={"park_id": str})
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", p, exc)
        return []
    rows = []
    for _, r in df.iterrows():
        rows.append({"park_id": str(r.get("park_id", "")), "name": "" if pd.isna(r.get("name")) else str(r.get("name")),
                     "n_selected": as_float(r.get("n_selected")), "cost_eur": as_float(r.get("cost_selected_eur")),
                     "d_retained_m3": as_float(r.get("d_retained_m3")), "storage_needed_m3": as_float(r.get("storage_needed_m3"))})
    return rows


def _baseline(data: RegionData) -> list[dict[str, Any]]:
    """The five baseline figures: key, label, value (text) and source; missing ones carry a reason."""
    lang = data.language
    out: list[dict[str, Any]] = []
    storms = data.params.storm_names
    clim = data.climate.value if data.climate.ok else None
    # 1 runoff excess over natural
    item: dict[str, Any] = {"key": "runoff", "label": tr("base_runoff", lang, storm=storms[0] if storms else "-"),
                            "source": "climate/summary.csv", "value": math.nan, "unit": "m³", "digits": 0}
    if clim is not None and storms and f"excess_{storms[0]}_m3" in clim.columns:
        item["value"] = float(_numeric(clim, f"excess_{storms[0]}_m3").sum(min_count=1))
    else:
        item["reason"] = data.climate.reason or tr("no_storms", lang)
    out.append(item)
    # 2 hot area share (area-weighted over the parks)
    item = {"key": "hot", "label": tr("base_hot", lang), "source": "climate/summary.csv", "value": math.nan,
            "percent": True}
    if clim is not None and "hm_below_threshold_share" in clim.columns:
        share = _numeric(clim, "hm_below_threshold_share")
        area = _numeric(clim, "area_m2") if "area_m2" in clim.columns else pd.Series(1.0, index=clim.index)
        ok = share.notna() & area.notna() & (area > 0)
        if ok.any():
            item["value"] = float((share[ok] * area[ok]).sum() / area[ok].sum())
    else:
        item["reason"] = data.climate.reason
    out.append(item)
    # 3 ECA per guild
    eca = {g.label: as_float(data.summary[gid].value.get("ECA_ha")) if data.summary[gid].ok else math.nan
           for gid, g in data.guilds.items()}
    item = {"key": "eca", "label": tr("base_eca", lang), "source": "graph/{guild}_summary.json", "per_guild": eca}
    if not any(data.summary[g].ok for g in data.guilds):
        item["reason"] = next(iter(data.summary.values())).reason if data.summary else tr("no_guilds", lang)
    out.append(item)
    # 4 species recorded in the region
    item = {"key": "species", "label": tr("base_species", lang), "source": "species/counts.csv", "value": math.nan,
            "digits": 0}
    counts = data.counts.value if data.counts.ok else None
    if counts is not None and {"park_id", "guild", "species"} <= set(counts.columns):
        row = counts[(counts["park_id"].astype(str) == "__region__") & (counts["guild"].astype(str) == "all")]
        if len(row):
            item["value"] = as_float(row["species"].iloc[0])
            item["records"] = as_float(row["records"].iloc[0]) if "records" in row.columns else math.nan
    if not math.isfinite(item["value"]):
        item["reason"] = data.counts.reason or tr("no_species", lang, why=tr("no_species_default", lang))
    out.append(item)
    # 5 barriers ranked
    item = {"key": "barriers", "label": tr("base_barriers", lang), "source": "barriers/all_guilds.gpkg",
            "value": math.nan, "digits": 0}
    if data.barriers.ok:
        item["value"] = float(len(data.barriers.value))
    else:
        item["reason"] = data.barriers.reason
    out.append(item)
    for entry in out:
        entry.setdefault("reason", "")
    return out


def plan_csv(data: RegionData, name: str) -> Path:
    """The table of plan ``name`` (:meth:`werkland.layout.RegionPaths.plan_csv`, ``plans/{name}.csv``)."""
    return data.paths.plan_csv(name)


def _plans(data: RegionData) -> dict[str, Any]:
    names = data.params.plans.get(data.region, [])
    rows = []
    for name in names:
        p = plan_csv(data, name)
        row: dict[str, Any] = {"name": name, "source": p.relative_to(data.paths.dir).as_posix()}
        if not p.is_file():
            row["reason"] = data.missing(p)
        else:
            try:
                df = pd.read_csv(p)
            except (OSError, ValueError) as exc:
                row["reason"] = tr("unreadable", data.language, name=p.name, why=str(exc).splitlines()[0])
            else:
                absent = [c for c in PLAN_COLUMNS if c not in df.columns]
                if df.empty or absent:
                    row["reason"] = tr("plan_columns", data.language, cols=", ".join(absent) or "-")
                else:
                    row.update({c: as_float(df[c].iloc[0]) for c in PLAN_COLUMNS})
        row.setdefault("reason", "")
        rows.append(row)
    return {"rows": rows, "configured": bool(names)}


def region_summary(data: RegionData, measures: pd.DataFrame | None = None) -> dict[str, Any]:
    """Everything the region summary shows (plain values; the page formats them).

    Parameters
    ----------
    data : RegionData
        The loaded region.
    measures : pandas.DataFrame, optional
        :func:`selected_measures` of ``data`` when already computed.

    Returns
    -------
    dict
        ``portfolio`` (``n``, ``cost_eur``, ``eca_ha`` per guild, ``d_habitat_ha``,
        ``d_retained_m3``, ``d_hm``, ``rows`` of the top measures, ``reason``), ``park_totals``,
        ``baseline`` (five items), ``plans`` (``rows``, ``configured``), ``before_after`` (the
        whole region before and after the selected portfolio, from
        ``interventions/after/summary.csv``: :func:`werkland.report.before_after_section.summary_rows`)
        and ``parks`` (id, name, anchor of its card, its ``totals`` row or None) for the links to the
        park cards.
    """
    measures = selected_measures(data) if measures is None else measures
    totals = {r["park_id"]: r for r in _park_totals(data)}
    return {
        "portfolio": _portfolio(data, measures),
        "park_totals": list(totals.values()),
        "baseline": _baseline(data),
        "plans": _plans(data),
        "before_after": summary_rows(data),
        "parks": [{"park_id": str(p), "name": str(n) or str(p), "anchor": f"park-{p}", "totals": totals.get(str(p))}
                  for p, n in zip(data.parks["park_id"], data.parks["name"], strict=True)],
    }


def action_map(data: RegionData, measures: pd.DataFrame | None) -> tuple[bytes, bool, str]:
    """The map of where to act first: selected measures numbered in pick order, the best-ranked barriers.

    Returns
    -------
    png : bytes
        The PNG (a placeholder naming the reason when there is nothing to show).
    ok : bool
        Whether it shows measures or barriers.
    reason : str
        Why it is empty ("" when ``ok``).
    """
    lang = data.language
    title = tr("act_first_map", lang)
    geoms = None
    if measures is not None and len(measures) and "geometry" in measures.columns:
        keep = measures["geometry"].notna().to_numpy()
        if keep.any():
            import geopandas as gpd

            geoms = gpd.GeoDataFrame(measures[keep].head(MAP_MEASURES), geometry="geometry", crs=data.crs)
    bars = None
    if data.barriers.ok and len(data.barriers.value):
        b = data.barriers.value
        rc = rank_column(b)
        rank = pd.to_numeric(b[rc], errors="coerce") if rc else pd.Series(np.arange(1, len(b) + 1), index=b.index)
        bars = b.assign(_r=rank.to_numpy()).sort_values("_r", kind="stable").head(MAP_BARRIERS)
    if geoms is None and bars is None:
        reason = data.candidates.reason or data.barriers.reason or tr("portfolio_empty", lang)
        if data.candidates.ok and not len(data.candidates.value):
            reason = tr("no_candidates", lang)
        return png(placeholder(title, reason)), False, reason
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.6))
    ax = fig.subplots()
    faint_landcover(ax, data)
    handles: list[Any] = []
    if bars is not None:
        bars.plot(ax=ax, color="#b2182b", linewidth=3.0, zorder=6)
        handles.append(Line2D([], [], color="#b2182b", linewidth=3.0, label=tr("act_barriers", lang, n=len(bars))))
        for _, r in bars.iterrows():
            if r.geometry is None or r.geometry.is_empty or not np.isfinite(r["_r"]):
                continue
            pt = r.geometry.representative_point()
            ax.annotate(f"B{int(r['_r'])}", (pt.x, pt.y), fontsize=7, color="#67000d", zorder=23,
                        bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "alpha": 0.85, "edgecolor": "#67000d"})
    if geoms is not None:
        types = list(dict.fromkeys(geoms["type"].astype(str)))
        colours = {t: MEASURE_COLOURS[i % len(MEASURE_COLOURS)] for i, t in enumerate(types)}
        for t in types:
            sub = geoms[(geoms["type"].astype(str) == t).to_numpy()]
            sub.plot(ax=ax, color=colours[t], edgecolor="black", linewidth=1.2, markersize=40, zorder=8)
            handles.append(Patch(facecolor=colours[t], edgecolor="black", label=measure_name(t, lang)))
        for _, r in geoms.iterrows():
            if r.geometry is None or r.geometry.is_empty:
                continue
            pt = r.geometry.representative_point()
            ax.annotate(str(int(r["order"])), (pt.x, pt.y), fontsize=8, fontweight="bold", color="black", zorder=24,
                        xytext=(4, 4), textcoords="offset points",
                        bbox={"boxstyle": "circle,pad=0.15", "facecolor": "#ffffb3", "edgecolor": "black"})
    handles.append(Line2D([], [], color="black", linestyle="--", label=tr("park", lang)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title=tr("act_legend", lang), title_fontsize=8)
    frame(ax, data)
    ax.set_title(title)
    return png(fig), True, ""


def _fmt_guilds(values: Mapping[str, float], digits: int = 2) -> str:
    return "; ".join(f"{k} {v:,.{digits}f} ha" if math.isfinite(v) else f"{k} -" for k, v in values.items())


def baseline_text(item: Mapping[str, Any]) -> str:
    """One baseline figure as text (``-`` when missing)."""
    if "per_guild" in item:
        return _fmt_guilds(item["per_guild"])
    v = as_float(item.get("value"))
    if not math.isfinite(v):
        return "-"
    if item.get("percent"):
        return f"{100 * v:,.1f} %"
    unit = item.get("unit", "")
    return f"{v:,.{int(item.get('digits', 2))}f} {unit}".strip()


def guild_names(data: RegionData) -> Sequence[str]:
    """Guild labels in configured order."""
    return [g.label for g in data.guilds.values()]

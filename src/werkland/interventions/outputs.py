"""The stage's outputs: candidates with their gains and scores, the portfolio, the per-park totals.

Column names and order are the data contract of ``interventions/candidates.gpkg`` (layer
``candidates``), ``interventions/portfolio.csv`` and ``interventions/park_totals.csv``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio.features import shapes
from shapely.geometry import shape

from werkland.interventions.candidates import Candidate
from werkland.interventions.catalogue import Catalogue
from werkland.interventions.evaluate import Gains
from werkland.interventions.select import Scorer, Scores
from werkland.raster.io import Grid, write_gpkg


def footprint_polygon(cells: np.ndarray, grid: Grid) -> Any:
    """The footprint cells as a MultiPolygon (4-connected parts)."""
    if cells.size == 0:
        return shapely.MultiPolygon()
    r, c = cells // grid.width, cells % grid.width
    r0, c0 = int(r.min()), int(c.min())
    m = np.zeros((int(r.max()) - r0 + 1, int(c.max()) - c0 + 1), np.uint8)
    m[r - r0, c - c0] = 1
    tr = grid.transform * Affine.translation(c0, r0)
    polys = [shape(g) for g, _ in shapes(m, mask=m > 0, connectivity=4, transform=tr)]
    return shapely.MultiPolygon(polys)


def candidate_columns(guilds: Sequence[str]) -> list[str]:
    """Attribute columns of ``candidates.gpkg``, in order."""
    return (["candidate_id", "type", "label", "park_id", "size", "size_unit", "cost_eur", "n_cells"]
            + [f"d_eca_ha_{gn}" for gn in guilds]
            + ["d_habitat_ha", "d_hm", "d_cool_access_m2", "d_retained_m3", "score_bio", "score_climate", "score",
               "score_per_keur", "rank", "selected", "select_order", "pareto", "source", "exclusive_key", "cost_source",
               "note", "siting_note"]
            + [f"d_quality_ha_{gn}" for gn in guilds] + ["water_park_id"])


def portfolio_columns(guilds: Sequence[str]) -> list[str]:
    """Columns of ``portfolio.csv``, in order."""
    return (["order", "candidate_id", "type", "park_id", "size", "size_unit", "cost_eur", "cum_cost_eur"]
            + [f"d_eca_ha_{gn}" for gn in guilds] + ["d_habitat_ha", "d_hm", "d_cool_access_m2", "d_retained_m3",
                                                    "marginal_score"]
            + [f"cum_d_eca_ha_{gn}" for gn in guilds]
            + ["cum_d_habitat_ha", "cum_d_hm", "cum_d_retained_m3", "cum_score_bio", "cum_score_climate", "cum_score"])


def write_candidates(
    path: str | os.PathLike[str], cands: Sequence[Candidate], gains: Sequence[Gains], scores: Scores,
    picks: Sequence[int], catalogue: Catalogue, guild_w: np.ndarray, guilds: Sequence[str], grid: Grid,
    park_ids: Sequence[str],
) -> None:
    """Write every candidate with its standalone gains, scores, rank and selection, best rank first.

    Besides the weighted ``d_habitat_ha`` each guild's quality-area gain is written
    (``d_quality_ha_<guild>``, ha), and ``water_park_id``: the park whose runoff the measure's retained
    water counts against (the park of most of its cells; "" outside every park). With these columns
    the file holds every standalone gain the selection uses (a plan's optimiser reads them back).

    Parameters
    ----------
    path : path-like
        ``candidates.gpkg`` (layer ``candidates``; geometry = footprint cells).
    guild_w : numpy.ndarray
        Normalised guild weights (``d_habitat_ha`` is their weighted sum of quality-area gains).
    guilds : sequence of str
        The analysed guilds.
    park_ids : sequence of str
        The parks' ids in park-index order (``Gains.park`` positions).

    Other parameters: the candidates, their gains and :class:`Scores`, the picks in order, the
    catalogue and the raster grid.
    """
    sel_order = {i: k + 1 for k, i in enumerate(picks)}
    rows = []
    for i, c in enumerate(cands):
        g = gains[i]
        typ = catalogue.types[c.type]
        row = {
            "candidate_id": c.candidate_id, "type": c.type, "label": typ.label, "park_id": c.park_id,
            "size": round(c.size, 3), "size_unit": c.size_unit, "cost_eur": round(c.cost_eur, 2), "n_cells": int(c.cells.size),
        }
        for gn in guilds:
            row[f"d_eca_ha_{gn}"] = g.d_eca_ha.get(gn, 0.0)
        row["d_habitat_ha"] = float(np.dot(guild_w, [g.d_quality_ha.get(gn, 0.0) for gn in guilds]))
        row.update({
            "d_hm": g.d_hm, "d_cool_access_m2": g.d_cool_access_m2, "d_retained_m3": g.d_retained_m3,
            "score_bio": scores.s_bio[i], "score_climate": scores.s_cli[i], "score": scores.s_tot[i],
            "score_per_keur": scores.per_keur[i] if np.isfinite(scores.per_keur[i]) else 1e12,
            "rank": int(scores.rank[i]), "selected": i in sel_order, "select_order": sel_order.get(i, 0),
            "pareto": bool(scores.pareto[i]), "source": c.source, "exclusive_key": c.exclusive_key or "",
            "cost_source": typ.cost_source, "note": c.note, "siting_note": c.siting_note,
        })
        for gn in guilds:
            row[f"d_quality_ha_{gn}"] = g.d_quality_ha.get(gn, 0.0)
        row["water_park_id"] = "" if g.park < 0 else str(park_ids[g.park])
        rows.append(row)
    df = pd.DataFrame(rows, columns=candidate_columns(guilds))
    geoms = [footprint_polygon(c.cells, grid) for c in cands]
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=grid.crs.to_wkt()), crs=grid.crs.to_wkt())
    gdf = gdf.sort_values("rank", kind="stable").reset_index(drop=True)
    write_gpkg(gdf, path, "candidates")


def portfolio_table(
    cands: Sequence[Candidate], gains: Sequence[Gains], scores: Scores, picks: Sequence[int],
    pick_vec: dict[int, np.ndarray], scorer: Scorer, guild_w: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray, float]:
    """The selected measures in pick order with their marginal and cumulative gains.

    Returns
    -------
    portfolio : pandas.DataFrame
        The rows of ``portfolio.csv``.
    cum : numpy.ndarray
        Cumulative gains vector of the portfolio (:meth:`Scorer.vector`).
    cum_cost : float
        Its cost, EUR.
    """
    guilds = scorer.guilds
    ng = len(guilds)
    cost = scores.cost
    port_rows = []
    cum = np.zeros(scores.vecs.shape[1])
    cum_cost = 0.0
    for k, i in enumerate(picks, start=1):
        v = pick_vec.get(i, scores.vecs[i])
        before = scorer.total(cum)
        cum = cum + v
        cum_cost += cost[i]
        b, cl = scorer.parts(cum)
        r = {"order": k, "candidate_id": cands[i].candidate_id, "type": cands[i].type, "park_id": cands[i].park_id,
             "size": round(cands[i].size, 3), "size_unit": cands[i].size_unit, "cost_eur": round(cost[i], 2),
             "cum_cost_eur": round(cum_cost, 2)}
        for j, gn in enumerate(guilds):
            r[f"d_eca_ha_{gn}"] = v[j]
        r["d_habitat_ha"] = float(np.dot(guild_w, v[ng:2 * ng]))
        r["d_hm"] = v[2 * ng]
        r["d_cool_access_m2"] = v[2 * ng + 1]
        r["d_retained_m3"] = float(v[2 * ng + 2:].sum()) if cands[i].park_id else gains[i].d_retained_m3
        r["marginal_score"] = scorer.total(cum) - before
        for j, gn in enumerate(guilds):
            r[f"cum_d_eca_ha_{gn}"] = cum[j]
        r["cum_d_habitat_ha"] = float(np.dot(guild_w, cum[ng:2 * ng]))
        r["cum_d_hm"] = cum[2 * ng]
        r["cum_d_retained_m3"] = float(cum[2 * ng + 2:].sum())
        r["cum_score_bio"], r["cum_score_climate"], r["cum_score"] = b, cl, scorer.total(cum)
        port_rows.append(r)
    return pd.DataFrame(port_rows, columns=portfolio_columns(guilds)), cum, cum_cost


def park_totals_table(
    port: pd.DataFrame, parks: Any, cands: Sequence[Candidate], need: np.ndarray, guilds: Sequence[str],
) -> pd.DataFrame:
    """Per park (and "(outside parks)" when candidates lie outside every park): candidates, selected
    measures, their cost and gains, storage still needed and its attainment."""
    prow = []
    ids = list(parks["park_id"]) + ([""] if any(c.park_id == "" for c in cands) else [])
    for pi, pid in enumerate(ids):
        sel = port[port["park_id"] == pid]
        r = {"park_id": pid if pid else "(outside parks)",
             "name": str(parks["name"].iloc[pi]) if pid and "name" in parks.columns and pd.notna(parks["name"].iloc[pi]) else "",
             "n_candidates": sum(1 for c in cands if c.park_id == pid), "n_selected": len(sel),
             "cost_selected_eur": float(sel["cost_eur"].sum())}
        for gn in guilds:
            r[f"d_eca_ha_{gn}"] = float(sel[f"d_eca_ha_{gn}"].sum())
        r["d_habitat_ha"] = float(sel["d_habitat_ha"].sum())
        r["d_hm"] = float(sel["d_hm"].sum())
        r["d_cool_access_m2"] = float(sel["d_cool_access_m2"].sum())
        r["d_retained_m3"] = float(sel["d_retained_m3"].sum())
        if pid:
            r["storage_needed_m3"] = float(need[pi])
            r["water_attainment"] = float(min(1.0, r["d_retained_m3"] / need[pi])) if need[pi] > 0 else 0.0
        else:
            r["storage_needed_m3"] = 0.0
            r["water_attainment"] = 0.0
        prow.append(r)
    return pd.DataFrame(prow)


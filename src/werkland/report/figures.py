"""The report figures: one map or plot per key of :data:`werkland.layout.REPORT_FIGURES`.

Every builder takes the :class:`~werkland.report.load.RegionData` and returns a
:class:`FigureResult`; without its inputs it draws a placeholder that says why.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.transforms import IdentityTransform

from werkland._errors import WerklandInputError
from werkland.layout import REPORT_FIGURES
from werkland.report.cards import as_float, species_reason
from werkland.report.furniture import (
    GUILD_COLOURS,
    MEASURE_COLOURS,
    empty_panel,
    faint_landcover,
    frame,
    grid_axes,
    imshow,
    landcover_cmap,
    panel_height,
    placeholder,
    png,
)
from werkland.report.i18n import measure_name, tr
from werkland.report.load import LinkLines, RegionData
from werkland.species import richness

log = logging.getLogger(__name__)


@dataclass
class FigureResult:
    """A rendered figure and whether it shows data (else ``reason`` says why it is empty)."""

    key: str
    png: bytes
    ok: bool
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def _empty(key: str, data: RegionData, reason: str) -> FigureResult:
    return FigureResult(key, png(placeholder(tr(key, data.language), reason)), False, reason)


# --------------------------------------------------------------------------------------------
# maps


def fig_landcover(data: RegionData) -> FigureResult:
    """Land-cover map with the legend of ``config/landcover_classes.yaml``."""
    if not data.landcover.ok:
        return _empty("map_landcover", data, data.landcover.reason)
    arr, grid = data.landcover.value
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    cmap, norm = landcover_cmap(data.legend)
    imshow(ax, arr, grid, mask_value=0, cmap=cmap, norm=norm, zorder=1)
    present = set(np.unique(arr).tolist())
    handles: list[Any] = [Patch(facecolor=c.colour, edgecolor="#555555", label=c.name.replace("_", " "))
               for c in data.legend.classes if c.code in present]
    handles.append(Line2D([], [], color="black", linestyle="--", label=tr("park", data.language)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    frame(ax, data)
    ax.set_title(tr("map_landcover", data.language))
    return FigureResult("map_landcover", png(fig), True)


def fig_habitat(data: RegionData) -> FigureResult:
    """Habitat suitability per guild (0..1)."""
    lang = data.language
    if not any(data.habitat[g].ok for g in data.guilds):
        reason = next(iter(data.habitat.values())).reason if data.habitat else tr("no_guilds", lang)
        return _empty("map_habitat", data, reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, panel_height(n, 4.6)))
    axes = grid_axes(fig, n)
    im = None
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        h = data.habitat[g]
        if not h.ok:
            empty_panel(ax, guild.label, h.reason)
            continue
        arr, grid = h.value
        im = imshow(ax, arr, grid, mask_invalid=True, cmap="YlGn", vmin=0, vmax=1, zorder=2)
        frame(ax, data)
        ax.set_title(guild.label, fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, label=tr("suitability_axis", lang))
    fig.suptitle(tr("map_habitat", lang))
    return FigureResult("map_habitat", png(fig), True)


def draw_links(ax: Any, links: LinkLines) -> None:
    """Draw the links in dark blue, width ``0.3 + 2 p_direct``, from their vertices.

    The same LineCollection (segments, widths, style, order) as
    ``GeoDataFrame.plot(color="#08306b", linewidth=..., alpha=0.8, zorder=4)`` of the layer, without
    the copies of every geometry that geopandas makes to build it.
    """
    if not links.segments:
        return
    lines = LineCollection(links.segments, linewidth=links.linewidths, alpha=0.8, zorder=4, color="#08306b")
    ax.add_collection(lines, autolim=True)
    ax.autoscale_view()


class _PathOnly:
    """What a PatchCollection reads of each patch: the path and the (identity) patch transform.

    geopandas builds one :class:`matplotlib.patches.PathPatch` per polygon only to hand the
    collection ``patch.get_transform().transform_path(patch.get_path())``; for a new patch that
    transform is the identity, so the collection gets the very same path from this stand-in, without
    the cost of a full artist per polygon (about a fifth of the patch map at 19,000 patches).
    """

    __slots__ = ("_path",)

    def __init__(self, path: Path) -> None:
        self._path = path

    def get_path(self) -> Path:
        return self._path

    def get_transform(self) -> IdentityTransform:
        return IdentityTransform()


def polygon_path(polygon: Any) -> _PathOnly:
    """A (Multi)Polygon as geopandas' ``_PolygonPatch`` draws it: one compound path, rings as given."""
    parts = [polygon] if polygon.geom_type == "Polygon" else polygon.geoms
    paths = []
    for part in parts:
        paths.append(Path(np.asarray(part.exterior.coords)[:, :2], closed=True))
        paths.extend(Path(np.asarray(ring.coords)[:, :2], closed=True) for ring in part.interiors)
    return _PathOnly(Path.make_compound_path(*paths))


@contextlib.contextmanager
def light_polygon_patches() -> Iterator[None]:
    """Within the block, ``GeoDataFrame.plot`` of polygons builds its collection from :func:`polygon_path`.

    The collection, and so the drawing, is the same (geopandas passes no style to the per-polygon
    patch); without geopandas' ``_PolygonPatch`` (another geopandas version) nothing is changed.
    """
    import geopandas.plotting as gpp

    original = getattr(gpp, "_PolygonPatch", None)
    if original is None:
        yield
        return

    def patch(polygon: Any, **kwargs: Any) -> Any:
        return original(polygon, **kwargs) if kwargs else polygon_path(polygon)

    gpp._PolygonPatch = patch
    try:
        yield
    finally:
        gpp._PolygonPatch = original


def _patch_panel(ax: Any, data: RegionData, g: str, label: str) -> bool:
    """One guild's patches by dPC and its links; False when there is nothing to draw."""
    p = data.patches[g]
    if not p.ok:
        empty_panel(ax, label, p.reason)
        return False
    pg = p.value
    if pg.empty:
        empty_panel(ax, label, tr("no_patches", data.language))
        return False
    faint_landcover(ax, data)
    dpc = pd.to_numeric(pg.get("dPC", pd.Series(0.0, index=pg.index)), errors="coerce").fillna(0.0)
    vmax = max(float(dpc.max()), 1e-9)
    with light_polygon_patches():
        pg.assign(_dpc=dpc).plot(ax=ax, column="_dpc", cmap="Oranges", vmin=0, vmax=vmax, edgecolor="#7f2704",
                                 linewidth=0.3, zorder=3, legend=True,
                                 legend_kwds={"label": "dPC (%)", "shrink": 0.6})
    lk = data.links[g]
    if lk.ok and len(lk.value):
        draw_links(ax, lk.value)
    frame(ax, data)
    s = data.summary[g]
    eca = f", ECA {s.value.get('ECA_ha', float('nan')):.2f} ha" if s.ok else ""
    ax.set_title(f"{label}{eca}", fontsize=9)
    return True


def fig_patches(data: RegionData) -> FigureResult:
    """Habitat patches coloured by dPC (%) and links by dispersal probability, per guild."""
    lang = data.language
    if not any(data.patches[g].ok for g in data.guilds):
        return _empty("map_patches", data, next(iter(data.patches.values())).reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, panel_height(n, 4.6)))
    axes = grid_axes(fig, n)
    any_data = False
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        any_data = _patch_panel(ax, data, g, guild.label) or any_data
    fig.suptitle(f"{tr('map_patches', lang)} ({tr('links_width', lang)})")
    return FigureResult("map_patches", png(fig), any_data, "" if any_data else tr("no_patches", lang))


def fig_corridors(data: RegionData) -> FigureResult:
    """Normalised least-cost corridors per guild (0 = on the least-cost path)."""
    lang = data.language
    if not any(data.corridors[g].ok for g in data.guilds):
        return _empty("map_corridors", data, next(iter(data.corridors.values())).reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, panel_height(n, 4.6)))
    axes = grid_axes(fig, n)
    any_data = False
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        c = data.corridors[g]
        if not c.ok:
            empty_panel(ax, guild.label, c.reason)
            continue
        arr, grid = c.value
        if not np.isfinite(arr).any():
            empty_panel(ax, guild.label, tr("no_links", lang))
            continue
        any_data = True
        faint_landcover(ax, data)
        vmax = float(np.nanmax(arr)) or 1.0
        im = imshow(ax, arr, grid, mask_invalid=True, cmap="magma", vmin=0, vmax=vmax, zorder=2, alpha=0.85)
        fig.colorbar(im, ax=ax, shrink=0.6, label=tr("corridor_axis", lang))
        frame(ax, data)
        ax.set_title(guild.label, fontsize=10)
    fig.suptitle(tr("map_corridors", lang))
    return FigureResult("map_corridors", png(fig), any_data, "" if any_data else tr("no_links", lang))


def rank_column(df: pd.DataFrame) -> str | None:
    """The barrier rank column: the multi-guild rank when present, else the first ``rank*`` column."""
    for c in ("multi_rank", "rank", "rank_all", "multi_guild_rank", "rank_multi"):
        if c in df.columns:
            return c
    cols = [c for c in df.columns if str(c).startswith("rank")]
    return cols[0] if cols else None


def fig_barriers(data: RegionData) -> FigureResult:
    """Barrier segments coloured by their multi-guild rank; the top 5 labelled."""
    lang = data.language
    b = data.barriers
    if not b.ok:
        return _empty("map_barriers", data, b.reason)
    gdf = b.value
    if gdf.empty:
        return _empty("map_barriers", data, tr("no_barriers", lang))
    rc = rank_column(gdf)
    rank = pd.to_numeric(gdf[rc], errors="coerce") if rc else pd.Series(np.arange(1, len(gdf) + 1), index=gdf.index)
    rank = rank.fillna(np.inf)
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    faint_landcover(ax, data)
    groups = [(tr("rank_over_50", lang), rank > 50, "#999999", 0.8),
              (tr("rank_11_50", lang), (rank > 10) & (rank <= 50), "#ef8a62", 1.6),
              (tr("rank_1_10", lang), rank <= 10, "#b2182b", 2.6)]
    handles = []
    for label, sel, colour, lw in groups:
        if sel.any():
            gdf[sel.to_numpy()].plot(ax=ax, color=colour, linewidth=lw, zorder=6)
        handles.append(Line2D([], [], color=colour, linewidth=lw, label=label))
    top = gdf.assign(_r=rank.to_numpy()).sort_values("_r").head(5)
    for _, r in top.iterrows():
        if r.geometry is None or r.geometry.is_empty or not np.isfinite(r["_r"]):
            continue
        pt = r.geometry.representative_point()
        ax.annotate(f"{int(r['_r'])}", (pt.x, pt.y), fontsize=8, fontweight="bold", color="#67000d", zorder=23,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.85, "edgecolor": "#67000d"})
    handles.append(Line2D([], [], color="black", linestyle="--", label=tr("park", lang)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    frame(ax, data)
    ax.set_title(tr("map_barriers", lang))
    return FigureResult("map_barriers", png(fig), True)


def _guild_of_record(v: Any, guilds: Sequence[str]) -> str:
    s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    for token in re.split(r"[;,| ]+", s):
        if token in guilds:
            return token
    return "other"


def fig_species(data: RegionData) -> FigureResult:
    """Cleaned GBIF records coloured by guild."""
    lang = data.language
    why = species_reason(data)
    occ = data.occurrences
    if not occ.ok or occ.value.empty:
        reason = why or occ.reason or tr("no_species", lang, why=tr("zero_records", lang))
        return _empty("map_species", data, reason)
    gdf = occ.value
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    faint_landcover(ax, data)
    guilds = list(data.guilds)
    cat = (gdf["guild"].map(lambda v: _guild_of_record(v, guilds)) if "guild" in gdf.columns
           else pd.Series("other", index=gdf.index))
    handles = []
    for i, g in enumerate([*guilds, "other"]):
        sel = (cat == g).to_numpy()
        if not sel.any():
            continue
        colour = GUILD_COLOURS[i % len(GUILD_COLOURS)] if g != "other" else "#555555"
        gdf[sel].plot(ax=ax, color=colour, markersize=9, alpha=0.8, zorder=8, edgecolor="white", linewidth=0.3)
        label = data.guilds[g].label if g in data.guilds else g
        handles.append(Line2D([], [], marker="o", color="none", markerfacecolor=colour,
                              label=f"{label} ({int(sel.sum())})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    frame(ax, data)
    ax.set_title(f"{tr('map_species', lang)}: {len(gdf)} {tr('records', lang)}")
    return FigureResult("map_species", png(fig), True)


def fig_climate(data: RegionData) -> FigureResult:
    """Heat mitigation index and runoff of the first design storm."""
    lang = data.language
    storms = data.params.storm_names
    ro = data.runoff.get(storms[0]) if storms else None
    if not data.cooling.ok and (ro is None or not ro.ok):
        return _empty("map_climate", data, data.cooling.reason)
    fig = Figure(figsize=(12, 5.4))
    ax1, ax2 = fig.subplots(1, 2)
    if data.cooling.ok:
        arr, grid = data.cooling.value
        im = imshow(ax1, arr, grid, mask_invalid=True, cmap="RdYlBu", vmin=0, vmax=1, zorder=2)
        fig.colorbar(im, ax=ax1, shrink=0.7, label=tr("hm_axis", lang))
        frame(ax1, data)
        ax1.set_title(tr("hm_title", lang), fontsize=10)
    else:
        empty_panel(ax1, tr("hm_short", lang), data.cooling.reason)
    if ro is not None and ro.ok:
        arr, grid = ro.value
        im = imshow(ax2, arr, grid, mask_invalid=True, cmap="Blues", vmin=0, zorder=2)
        fig.colorbar(im, ax=ax2, shrink=0.7, label=tr("runoff_axis", lang))
        frame(ax2, data)
        ax2.set_title(tr("runoff_storm", lang, storm=storms[0]), fontsize=10)
    else:
        empty_panel(ax2, tr("runoff_panel", lang), ro.reason if ro is not None else tr("no_storms", lang))
    fig.suptitle(tr("map_climate", lang))
    return FigureResult("map_climate", png(fig), True)


def fig_interventions(data: RegionData) -> FigureResult:
    """Candidates by type; the selected ones outlined."""
    lang = data.language
    c = data.candidates
    if not c.ok or c.value.empty:
        return _empty("map_interventions", data, c.reason if not c.ok else tr("no_candidates", lang))
    gdf = c.value
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    faint_landcover(ax, data)
    types = sorted(gdf["type"].astype(str).unique()) if "type" in gdf.columns else ["candidate"]
    tcol = gdf["type"].astype(str) if "type" in gdf.columns else pd.Series("candidate", index=gdf.index)
    sel = gdf["selected"].astype(bool) if "selected" in gdf.columns else pd.Series(False, index=gdf.index)
    handles = []
    for i, t in enumerate(types):
        colour = MEASURE_COLOURS[i % len(MEASURE_COLOURS)]
        m = (tcol == t).to_numpy()
        unsel = m & ~sel.to_numpy()
        chosen = m & sel.to_numpy()
        if unsel.any():
            gdf[unsel].plot(ax=ax, color=colour, alpha=0.3, linewidth=1.0, markersize=12, zorder=6)
        if chosen.any():
            gdf[chosen].plot(ax=ax, color=colour, edgecolor="black", linewidth=1.8, markersize=30, zorder=7)
        handles.append(Patch(facecolor=colour, edgecolor="none", label=measure_name(t, lang)))
    handles.append(Patch(facecolor="none", edgecolor="black", linewidth=1.8, label=tr("selected", lang)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    frame(ax, data)
    ax.set_title(f"{tr('map_interventions', lang)}: {int(sel.sum())} / {len(gdf)} {tr('selected', lang)}")
    return FigureResult("map_interventions", png(fig), True)


# --------------------------------------------------------------------------------------------
# plots


def fig_dpc(data: RegionData) -> FigureResult:
    """Stacked bars of dPC = dPC_intra + dPC_flux + dPC_connector for the 15 most important patches per guild."""
    lang = data.language
    ok = [g for g in data.guilds if data.metrics[g].ok and len(data.metrics[g].value)]
    if not ok:
        first = next(iter(data.metrics.values()))
        return _empty("plot_dpc", data, first.reason if not first.ok else tr("no_patches", lang))
    n = len(data.guilds)
    fig = Figure(figsize=(10, panel_height(n, 3.8)))
    axes = grid_axes(fig, n)
    parts = (("dPC_intra", "#fdae6b", tr("dpc_intra", lang)), ("dPC_flux", "#e6550d", tr("dpc_flux", lang)),
             ("dPC_connector", "#7f2704", tr("dpc_connector", lang)))
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        m = data.metrics[g]
        if not m.ok or m.value.empty:
            empty_panel(ax, guild.label, m.reason or tr("no_patches", lang))
            continue
        df = m.value.copy()
        df["dPC"] = pd.to_numeric(df["dPC"], errors="coerce").fillna(0)
        df = df.sort_values("dPC", ascending=False).head(15).iloc[::-1]
        y = np.arange(len(df))
        left = np.zeros(len(df))
        for col, colour, label in parts:
            v = pd.to_numeric(df.get(col, pd.Series(0.0, index=df.index)), errors="coerce").fillna(0).to_numpy()
            ax.barh(y, v, left=left, color=colour, label=label)
            left = left + v
        ax.set_yticks(y)
        ax.set_yticklabels([tr("patch_n", lang, patch=int(p)) for p in df["patch_id"]], fontsize=7)
        ax.set_xlabel(tr("dpc_axis", lang))
        ax.set_title(guild.label, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(tr("plot_dpc", lang))
    return FigureResult("plot_dpc", png(fig), True)


def rarefaction_curves(
    occ: pd.DataFrame, parks: Sequence[str], *, max_curves: int = 6, language: str = "en"
) -> dict[str, dict[str, Any]]:
    """Rarefaction/extrapolation curves (iNEXT formulas of :mod:`werkland.species.richness`) for the region and parks.

    Returns
    -------
    dict
        Curve label (``region``, ``park <id>`` in ``language``) -> ``{"n", "m", "S", "coverage"}``
        with ``m`` from 1 to 2n.
    """
    out: dict[str, dict[str, Any]] = {}
    key = "speciesKey" if "speciesKey" in occ.columns else "species"
    groups: list[tuple[str, pd.DataFrame]] = [(tr("curve_region", language), occ)]
    if "park_id" in occ.columns:
        pid = occ["park_id"].astype(str)
        by_n = sorted(((p, int((pid == p).sum())) for p in parks), key=lambda t: -t[1])
        groups += [(tr("curve_park", language, park=p), occ[(pid == p).to_numpy()])
                   for p, k in by_n[: max_curves - 1] if k > 0]
    for name, sub in groups:
        x = sub.groupby(key).size().to_numpy()
        n = int(x.sum())
        if n == 0:
            continue
        ms = np.unique(np.linspace(1, 2 * n, num=min(2 * n, 120)).round().astype(int))
        out[name] = {
            "n": n,
            "m": ms,
            "S": np.array([richness.richness_at(x, m) for m in ms]),
            "coverage": float(richness.sample_coverage(x)),
        }
    return out


def fig_rarefaction(data: RegionData) -> FigureResult:
    """Species richness against the number of records: rarefied (solid) and extrapolated to 2n (dashed)."""
    lang = data.language
    why = species_reason(data)
    occ = data.occurrences
    if why is not None or not occ.ok or occ.value.empty:
        reason = why or occ.reason or tr("no_species", lang, why=tr("zero_records", lang))
        return _empty("plot_rarefaction", data, reason)
    curves = rarefaction_curves(occ.value, data.parks["park_id"].astype(str).tolist(), language=lang)
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for i, (name, c) in enumerate(curves.items()):
        colour = GUILD_COLOURS[i % len(GUILD_COLOURS)]
        inter = c["m"] <= c["n"]
        label = tr("curve_legend", lang, name=name, n=c["n"], coverage=f"{100 * c['coverage']:.1f}")
        ax.plot(c["m"][inter], c["S"][inter], color=colour, label=label)
        ax.plot(c["m"][~inter], c["S"][~inter], color=colour, linestyle="--")
        ax.plot([c["n"]], [np.interp(c["n"], c["m"], c["S"])], "o", color=colour)
    ax.set_xlabel(tr("records", lang))
    ax.set_ylabel(tr("observed", lang))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"{tr('plot_rarefaction', lang)} {tr('curve_note', lang)}", fontsize=10)
    return FigureResult("plot_rarefaction", png(fig), True)


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df.get(col, pd.Series(np.nan, index=df.index)), errors="coerce")


def _flag(df: pd.DataFrame, col: str) -> pd.Series:
    return df[col].astype(bool) if col in df.columns else pd.Series(False, index=df.index)


def fig_pareto(data: RegionData) -> FigureResult:
    """Cost vs combined score, and biodiversity vs climate score with the Pareto front."""
    lang = data.language
    c = data.candidates
    if not c.ok or c.value.empty:
        return _empty("plot_pareto", data, c.reason if not c.ok else tr("no_candidates", lang))
    df = pd.DataFrame(c.value.drop(columns="geometry", errors="ignore"))
    cost, score = _numeric(df, "cost_eur"), _numeric(df, "score")
    sb, sc = _numeric(df, "score_bio"), _numeric(df, "score_climate")
    sel, par = _flag(df, "selected"), _flag(df, "pareto")
    fig = Figure(figsize=(12, 5))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(cost[~sel] / 1000, score[~sel], s=14, color="#bdbdbd", label=tr("candidate", lang))
    ax1.scatter(cost[sel] / 1000, score[sel], s=22, color="#d95f02", label=tr("selected", lang))
    ax1.set_xlabel(tr("cost_axis", lang))
    ax1.set_ylabel(tr("score_axis", lang))
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.scatter(sb, sc, s=14, color="#bdbdbd", label=tr("candidate", lang))
    front = pd.DataFrame({"b": sb[par], "c": sc[par]}).sort_values("b")
    if len(front):
        ax2.plot(front["b"], front["c"], "-o", color="#1b9e77", markersize=5, label=tr("pareto_front", lang))
    ax2.scatter(sb[sel], sc[sel], s=22, facecolor="none", edgecolor="#d95f02", label=tr("selected", lang))
    ax2.set_xlabel(tr("bio_score", lang))
    ax2.set_ylabel(tr("climate_score", lang))
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.suptitle(tr("plot_pareto", lang))
    return FigureResult("plot_pareto", png(fig), True)


_SCORES = ("score", "score_bio", "score_climate")


def _portfolio_curve(p: pd.DataFrame) -> pd.DataFrame | None:
    out = pd.DataFrame(index=p.index)
    cum_cost = next((c for c in ("cum_cost_eur", "cumulative_cost_eur") if c in p.columns), None)
    out["cost_eur"] = pd.to_numeric(p[cum_cost] if cum_cost else p["cost_eur"].cumsum(), errors="coerce")
    for s in _SCORES:
        cum = next((c for c in (f"cum_{s}", f"cumulative_{s}") if c in p.columns), None)
        if cum:
            out[s] = pd.to_numeric(p[cum], errors="coerce")
        elif s in p.columns:
            out[s] = pd.to_numeric(p[s], errors="coerce").cumsum()
    return out.reset_index(drop=True) if len(out.columns) > 1 else None


def _selected_curve(candidates: Any) -> pd.DataFrame | None:
    c = pd.DataFrame(candidates.drop(columns="geometry", errors="ignore"))
    c = c[c["selected"].astype(bool)]
    if "rank" in c.columns:
        c = c.sort_values("rank", kind="stable")
    if c.empty:
        return None
    out = pd.DataFrame({"cost_eur": pd.to_numeric(c["cost_eur"], errors="coerce").cumsum()})
    for s in _SCORES:
        if s in c.columns:
            out[s] = pd.to_numeric(c[s], errors="coerce").cumsum()
    return out.reset_index(drop=True)


def budget_curve(data: RegionData) -> pd.DataFrame | None:
    """Cumulative cost and gains of the selected measures in selection order.

    Uses ``portfolio.csv`` (its ``cum_*`` columns, or cumulative sums of ``cost_eur`` and the score
    columns) and falls back to the selected candidates ordered by rank.
    """
    if data.portfolio.ok and len(data.portfolio.value) and "cost_eur" in data.portfolio.value.columns:
        curve = _portfolio_curve(data.portfolio.value)
        if curve is not None:
            return curve
    if data.candidates.ok and len(data.candidates.value) and "selected" in data.candidates.value.columns:
        return _selected_curve(data.candidates.value)
    return None


def fig_budget(data: RegionData) -> FigureResult:
    """Cumulative gain of the selected portfolio against the money spent, with the budget line."""
    lang = data.language
    curve = budget_curve(data)
    if curve is None or curve.empty:
        if not data.candidates.ok and not data.portfolio.ok:
            reason = data.candidates.reason
        elif data.candidates.ok and data.candidates.value.empty:
            reason = tr("no_candidates", lang)
        else:
            reason = tr("portfolio_empty", lang)
        return _empty("plot_budget", data, reason)
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    x = np.concatenate([[0.0], curve["cost_eur"].to_numpy(dtype=float)]) / 1000
    for s, colour, key in (("score", "#333333", "score_total"), ("score_bio", "#1b9e77", "bio_score"),
                           ("score_climate", "#2171b5", "climate_score")):
        if s in curve.columns:
            ax.step(x, np.concatenate([[0.0], curve[s].to_numpy(dtype=float)]), where="post", color=colour,
                    label=tr(key, lang))
    budget = as_float(data.params.budget_eur)
    if np.isfinite(budget):
        ax.axvline(budget / 1000, color="#b2182b", linestyle=":",
                   label=tr("budget_line", lang, keur=f"{budget / 1000:,.0f}"))
    ax.set_xlabel(tr("cum_cost_axis", lang))
    ax.set_ylabel(tr("cum_gain_axis", lang))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(tr("plot_budget", lang))
    return FigureResult("plot_budget", png(fig), True)


FIGURE_BUILDERS: dict[str, Callable[[RegionData], FigureResult]] = {
    "map_landcover": fig_landcover,
    "map_habitat": fig_habitat,
    "map_patches": fig_patches,
    "map_corridors": fig_corridors,
    "map_barriers": fig_barriers,
    "map_species": fig_species,
    "map_climate": fig_climate,
    "map_interventions": fig_interventions,
    "plot_dpc": fig_dpc,
    "plot_rarefaction": fig_rarefaction,
    "plot_pareto": fig_pareto,
    "plot_budget": fig_budget,
}


def render_figure(data: RegionData, key: str) -> FigureResult:
    """The figure ``key`` of :data:`REPORT_FIGURES`; when it fails, a placeholder naming the error."""
    try:
        return FIGURE_BUILDERS[key](data)
    except (WerklandInputError, KeyError, ValueError, TypeError) as exc:
        log.warning("figure %s failed: %s", key, exc)
        reason = tr("figure_failed", data.language, error=f"{type(exc).__name__}: {exc}")
        return _empty(key, data, reason)


def log_figure(result: FigureResult) -> None:
    """Log whether a rendered figure shows data, else why not."""
    log.info("figure %s: %s", result.key, "ok" if result.ok else result.reason)


def render_figures(data: RegionData) -> dict[str, FigureResult]:
    """Every figure of :data:`REPORT_FIGURES`; a failing figure becomes a placeholder naming the error."""
    out: dict[str, FigureResult] = {}
    for key in REPORT_FIGURES:
        out[key] = render_figure(data, key)
        log_figure(out[key])
    return out

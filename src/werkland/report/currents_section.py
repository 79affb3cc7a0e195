"""Report section of the circuit-theory stage: current, pinch-point and normalised-current maps.

:func:`build` returns ``None`` when the currents stage is switched off (``currents.enabled`` false)
or none of its maps exists for any guild. Otherwise it gives, per guild, one figure of three
panels:

* cumulative current (``currents/{guild}_current.tif``) on a logarithmic colour scale from the 2nd to
  the 98th percentile of the positive cells (current spans orders of magnitude);
* pinch points (``currents/{guild}_pinchpoints.tif``), scaled the same way;
* Omniscape normalised current (``currents/{guild}_normalized.tif``) on a diverging logarithmic scale
  centred on 1 (0.1 .. 10: blue impeded, white as expected, red channelised);

each over the faint land cover with the region outline, parks, scale bar and north arrow. Cells
without current (0 or nodata) are left transparent. Below the reading guide a table lists per guild
the links with an effective resistance and the link with the lowest ``cwd_to_r_eff`` (the narrowest
single route), read from ``currents/{guild}_links.gpkg``.

The text is in English and Dutch (``data.language``); every inserted value is escaped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
from markupsafe import escape
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from werkland.report.furniture import empty_panel, map_panel, png
from werkland.report.load import RegionData, read_raster_masked
from werkland.report.section_html import table_html, text
from werkland.report.sections import ReportSection, SectionFigure

log = logging.getLogger(__name__)

__all__ = ["build", "current_norm"]

#: Values sampled at most for a colour range (regular stride: deterministic).
_SAMPLE = 2_000_000
#: Range of the normalised-current scale (log-symmetric around 1).
NORMALIZED_RANGE = (0.1, 10.0)

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Circuit theory: current and pinch points", "nl": "Circuittheorie: stroom en knelpunten"},
    "guide": {
        "en": (
            "<p>The resistance map of each guild is treated as an electrical circuit: animals are "
            "modelled as current that takes <em>every</em> route between habitat patches, more of it "
            "where resistance is low. Unlike a least-cost path this shows alternatives and bottlenecks.</p>"
            "<ul>"
            "<li><strong>Current</strong>: cumulative current (A) of 1 A sent between each pair of linked "
            "patches. Bright bands are well-used routes; dark is little movement. The colour scale is "
            "logarithmic.</li>"
            "<li><strong>Pinch points</strong>: the same current confined to each link's least-cost "
            "corridor. A bright, narrow spot is a place where movement is squeezed through one passage: "
            "losing it cuts the link, improving it helps most.</li>"
            "<li><strong>Normalised current</strong> (Omniscape): current divided by the current the "
            "same sources would give on a landscape without resistance. Red (&gt; 1): movement is "
            "channelised here; white (about 1): as expected; blue (&lt; 1): movement is impeded.</li>"
            "</ul>"
            "<p>The barrier layers (<code>barriers/{guild}.gpkg</code>) rank segments also by the "
            "current crossing them (<code>current_crossing</code>, <code>current_rank</code>); the links "
            "with their effective resistance are in <code>currents/{guild}_links.gpkg</code> "
            "(<code>cwd_to_r_eff</code>: low = one narrow route, high = many parallel routes).</p>"
        ),
        "nl": (
            "<p>De weerstandskaart van elke soortgroep wordt behandeld als een elektrisch circuit: dieren "
            "worden gemodelleerd als stroom die <em>alle</em> routes tussen leefgebieden neemt, meer waar "
            "de weerstand laag is. Anders dan een kleinste-kostenpad toont dit alternatieven en "
            "knelpunten.</p>"
            "<ul>"
            "<li><strong>Stroom</strong>: cumulatieve stroom (A) van 1 A tussen elk paar verbonden "
            "leefgebieden. Heldere banen zijn veelgebruikte routes; donker is weinig beweging. De "
            "kleurschaal is logaritmisch.</li>"
            "<li><strong>Knelpunten</strong>: dezelfde stroom, beperkt tot de kleinste-kostencorridor van "
            "elke verbinding. Een heldere, smalle plek is een doorgang waar alle beweging doorheen moet: "
            "verlies ervan verbreekt de verbinding, verbetering helpt het meest.</li>"
            "<li><strong>Genormaliseerde stroom</strong> (Omniscape): stroom gedeeld door de stroom die "
            "dezelfde bronnen zouden geven in een landschap zonder weerstand. Rood (&gt; 1): beweging "
            "wordt hier gekanaliseerd; wit (ongeveer 1): zoals verwacht; blauw (&lt; 1): beweging wordt "
            "belemmerd.</li>"
            "</ul>"
            "<p>De barrièrelagen (<code>barriers/{guild}.gpkg</code>) rangschikken segmenten ook naar de "
            "stroom die ze kruist (<code>current_crossing</code>, <code>current_rank</code>); de "
            "verbindingen met hun effectieve weerstand staan in <code>currents/{guild}_links.gpkg</code> "
            "(<code>cwd_to_r_eff</code>: laag = één smalle route, hoog = veel parallelle routes).</p>"
        ),
    },
    "current": {"en": "Current (A)", "nl": "Stroom (A)"},
    "pinchpoints": {"en": "Pinch points (A)", "nl": "Knelpunten (A)"},
    "normalized": {"en": "Normalised current", "nl": "Genormaliseerde stroom"},
    "caption": {
        "en": "{guild}: cumulative current, pinch points and Omniscape normalised current.",
        "nl": "{guild}: cumulatieve stroom, knelpunten en genormaliseerde Omniscape-stroom.",
    },
    "no_current": {"en": "no current in this map", "nl": "geen stroom in deze kaart"},
    "table_guild": {"en": "Guild", "nl": "Soortgroep"},
    "table_links": {"en": "Links with R_eff", "nl": "Verbindingen met R_eff"},
    "table_narrowest": {
        "en": "Narrowest link (lowest cwd_to_r_eff)",
        "nl": "Smalste verbinding (laagste cwd_to_r_eff)",
    },
    "link": {"en": "patch {a} – {b}: {ratio}", "nl": "leefgebied {a} – {b}: {ratio}"},
    "none": {"en": "–", "nl": "–"},
}


def _t(key: str, language: str, **kw: Any) -> str:
    return text(TEXT, key, language, **kw)


def _enabled(data: RegionData) -> bool:
    section = data.params.config_as_run.get("currents") or {}
    return bool(section.get("enabled", False)) if isinstance(section, Mapping) else False


def current_norm(values: np.ndarray, *, low: float = 2.0, high: float = 98.0) -> LogNorm | None:
    """Logarithmic colour scale from the ``low`` to the ``high`` percentile of the positive values.

    Returns None when no value is positive and finite. A degenerate range is widened to one decade
    below the largest value.
    """
    flat = np.asarray(values).ravel()
    if flat.size > _SAMPLE:
        flat = flat[:: int(math.ceil(flat.size / _SAMPLE))]
    flat = flat[np.isfinite(flat) & (flat > 0)].astype(np.float64)
    if flat.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(flat, [low, high]))
    if not hi > lo:
        hi = float(flat.max())
        lo = min(lo, hi / 10.0)
    return LogNorm(vmin=lo, vmax=hi, clip=True)


@dataclass(frozen=True)
class _Panel:
    key: str
    path: Path
    cmap: str
    diverging: bool = False


def _draw_panel(ax: Any, fig: Figure, data: RegionData, panel: _Panel) -> bool:
    """One map panel; an empty panel with the reason when the raster is missing or has no current."""
    lang = data.language
    title = _t(panel.key, lang)
    if not panel.path.is_file():
        empty_panel(ax, title, data.missing(panel.path))
        return False
    arr, grid = read_raster_masked(panel.path)
    arr = np.where(np.isfinite(arr) & (arr > 0), arr, np.nan)
    norm = LogNorm(*NORMALIZED_RANGE, clip=True) if panel.diverging else current_norm(arr)
    if norm is None or not np.any(np.isfinite(arr)):
        empty_panel(ax, title, _t("no_current", lang))
        return False
    map_panel(ax, fig, data, arr, grid, title, colorbar={"shrink": 0.7, "orientation": "horizontal", "pad": 0.08},
              cmap=panel.cmap, norm=norm)
    return True


def _guild_figure(data: RegionData, guild: str, label: str) -> SectionFigure:
    p = data.paths
    panels = (
        _Panel("current", p.current(guild), "magma"),
        _Panel("pinchpoints", p.pinchpoints(guild), "inferno"),
        _Panel("normalized", p.normalized_current(guild), "RdBu_r", diverging=True),
    )
    fig = Figure(figsize=(15, 5.6))
    axes = fig.subplots(1, 3)
    for ax, panel in zip(axes, panels, strict=True):
        _draw_panel(ax, fig, data, panel)
    fig.suptitle(label)
    return SectionFigure(title=label, png=png(fig), caption=_t("caption", data.language, guild=label))


def _links_row(data: RegionData, guild: str, label: str) -> str:
    """A table row: the guild, its links with an effective resistance and its narrowest link."""
    lang = data.language
    path = data.paths.current_links(guild)
    n_text, narrow = _t("none", lang), _t("none", lang)
    if path.is_file():
        try:
            df = pyogrio.read_dataframe(path, layer="links", read_geometry=False,
                                        columns=["from_id", "to_id", "r_eff", "cwd_to_r_eff"])
        except Exception as exc:  # GDAL errors have their own classes
            log.warning("cannot read %s: %s", path, exc)
            df = None
        if df is not None:
            reff = np.asarray(df["r_eff"], dtype=np.float64)
            ratio = np.asarray(df["cwd_to_r_eff"], dtype=np.float64)
            n_text = f"{int(np.isfinite(reff).sum())} / {len(df)}"
            ok = np.flatnonzero(np.isfinite(ratio))
            if ok.size:
                i = int(ok[np.argmin(ratio[ok])])
                narrow = _t("link", lang, a=int(df["from_id"].iloc[i]), b=int(df["to_id"].iloc[i]),
                            ratio=f"{ratio[i]:.3g}")
    return f"<tr><td>{escape(label)}</td><td>{escape(n_text)}</td><td>{escape(narrow)}</td></tr>"


def build(data: RegionData) -> ReportSection | None:
    """The circuit-theory section of a region's report, or None (stage off, or no currents map).

    Parameters
    ----------
    data : werkland.report.load.RegionData
        The loaded region (its ``params.config_as_run`` says whether the stage ran).

    Returns
    -------
    ReportSection or None
    """
    if not _enabled(data):
        return None
    p = data.paths
    maps = [f(g) for g in data.guilds for f in (p.current, p.pinchpoints, p.normalized_current)]
    if not any(path.is_file() for path in maps):
        log.info("currents section left out: no currents map under %s", p.dir)
        return None
    lang = data.language
    figures = tuple(_guild_figure(data, g, guild.label) for g, guild in data.guilds.items())
    rows = [_links_row(data, g, guild.label) for g, guild in data.guilds.items()]
    table = table_html([_t(k, lang) for k in ("table_guild", "table_links", "table_narrowest")], rows)
    return ReportSection(key="currents", title=_t("title", lang), html=_t("guide", lang) + table,
                         figures=figures)

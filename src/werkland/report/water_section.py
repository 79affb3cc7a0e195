"""Report section "Soil and water": the hydrology inputs, run-on per park and the water-led siting.

:func:`build` reads the climate stage's hydrology rasters (``climate/soil_group.tif``,
``ghg_m.tif``, ``flow_accumulation.tif``, ``ponding_<storm>.tif``), the run-on columns of
``climate/summary.csv`` (``runon_<storm>_m3``) and the ``siting_note`` of the candidates, and gives

* a methods paragraph naming what was known (soil, groundwater, elevation) and which fallback
  applied where an input was not given;
* one map figure of four panels: hydrologic soil group, GHG (m below the surface), flow
  accumulation (upslope area, log scale) and ponding of the design storm, each over the faint
  land cover with the region outline and parks;
* "water from outside the park": per park and storm the run-on from upslope next to the rain
  falling on the park itself (m³), when an elevation model was given;
* counts of the candidates placed at low points, checked for infiltration, or replaced by a
  retention variant.

Without any of the three inputs the section is a short list of the fallbacks that applied. Text in
English and Dutch (``data.language``); every inserted value is escaped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import escape
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
from matplotlib.figure import Figure

from werkland.report.furniture import empty_panel, map_panel, png
from werkland.report.load import RegionData, read_raster_masked
from werkland.report.section_html import text
from werkland.report.sections import ReportSection, SectionFigure

log = logging.getLogger(__name__)

__all__ = ["HydrologyMaps", "TEXT", "build", "load_maps", "runon_table"]

#: Colours of the hydrologic soil groups A..D (sandy/free draining to clay/shallow groundwater).
SOIL_COLOURS = ("#f6e8c3", "#dfc27d", "#a6611a", "#543005")
#: Upper end of the GHG colour scale, m below the surface.
GHG_MAX_M = 3.0
#: Parks shown at most in the run-on figure (the largest run-on first).
MAX_PARKS = 25

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Soil and water", "nl": "Bodem en water"},
    "intro": {
        "en": "<p>Where rain can soak away and where water gathers decide where wadis, rain gardens and "
              "ponds work. This section shows the soil, groundwater and terrain data the climate stage "
              "used, and how the interventions were sited on them.</p>",
        "nl": "<p>Waar regen kan wegzakken en waar water samenkomt bepaalt waar wadi's, regentuinen en "
              "poelen werken. Deze sectie toont de bodem-, grondwater- en hoogtegegevens die de "
              "klimaatstap gebruikte, en hoe de maatregelen daarop zijn geplaatst.</p>",
    },
    "sources": {"en": "Sources and fallbacks", "nl": "Bronnen en terugvalopties"},
    "soil_yes": {
        "en": "Soil: a soil map gave the hydrologic soil group (A-D) per cell; curve numbers and the "
              "infiltration check use it ({share} of the region known).",
        "nl": "Bodem: een bodemkaart gaf de hydrologische bodemgroep (A-D) per cel; de curve numbers en "
              "de infiltratietoets gebruiken die ({share} van het gebied bekend).",
    },
    "soil_no": {
        "en": "Soil: no soil map was given. Fallback: one soil group for the whole region "
              "(<code>climate.soil_group</code> = {group}); the soil does not stop any infiltrating measure.",
        "nl": "Bodem: er is geen bodemkaart opgegeven. Terugval: één bodemgroep voor het hele gebied "
              "(<code>climate.soil_group</code> = {group}); de bodem houdt geen infiltrerende maatregel tegen.",
    },
    "gw_yes": {
        "en": "Groundwater: the mean highest groundwater level (GHG) is known for {share} of the region; "
              "infiltrating measures need it at least their bottom depth + {clearance} m below the surface "
              "(<code>interventions.groundwater_clearance_m</code>).",
        "nl": "Grondwater: de gemiddeld hoogste grondwaterstand (GHG) is bekend voor {share} van het "
              "gebied; infiltrerende maatregelen vragen die minstens hun bodemdiepte + {clearance} m onder "
              "maaiveld (<code>interventions.groundwater_clearance_m</code>).",
    },
    "gw_no": {
        "en": "Groundwater: no groundwater map was given. Fallback: infiltrating measures are not checked "
              "against the groundwater level; check the GHG on site before building a wadi.",
        "nl": "Grondwater: er is geen grondwaterkaart opgegeven. Terugval: infiltrerende maatregelen worden "
              "niet aan de grondwaterstand getoetst; controleer de GHG ter plaatse vóór de aanleg van een wadi.",
    },
    "elev_yes": {
        "en": "Elevation: an elevation model routed the runoff downhill (flow accumulation, ponding in "
              "depressions, run-on into the parks); wadis, rain gardens and ponds were placed at the low "
              "points with the largest upslope area, and their storage counts the run-on reaching them.",
        "nl": "Hoogte: een hoogtemodel leidde de afstroming bergafwaarts (stroomaccumulatie, water in "
              "laagtes, toestroming naar de terreinen); wadi's, regentuinen en poelen zijn op de laagste "
              "punten met het grootste bovenstroomse gebied geplaatst, en hun berging telt het water dat hen "
              "bereikt.",
    },
    "elev_no": {
        "en": "Elevation: no elevation model was given. Fallback: runoff stays on the cell where it falls "
              "(no routing, no run-on from outside the parks); wadis and rain gardens are placed next to "
              "existing green, ponds close to water, and storage counts the park's pooled runoff.",
        "nl": "Hoogte: er is geen hoogtemodel opgegeven. Terugval: afstroming blijft op de cel waar de "
              "regen valt (geen routering, geen toestroming van buiten de terreinen); wadi's en regentuinen "
              "liggen naast bestaand groen, poelen dicht bij water, en berging telt de gezamenlijke "
              "afstroming van het terrein.",
    },
    "none_given": {
        "en": "<p>No soil map, groundwater map or elevation model was given for this region, so the "
              "following fallbacks applied:</p>",
        "nl": "<p>Voor dit gebied is geen bodemkaart, grondwaterkaart of hoogtemodel opgegeven; daarom "
              "golden deze terugvalopties:</p>",
    },
    "missing": {
        "en": "The climate stage's hydrology files are missing ({files}); re-run the climate stage.",
        "nl": "De hydrologiebestanden van de klimaatstap ontbreken ({files}); draai de klimaatstap opnieuw.",
    },
    "siting": {
        "en": "Siting of the candidates: {low} placed at a low point, {checked} infiltrating measures "
              "checked and allowed, {variant} replaced by a retention variant (no infiltration) because of "
              "the soil or groundwater. The reason is in the column <code>siting_note</code> of "
              "<code>interventions/candidates.gpkg</code>.",
        "nl": "Plaatsing van de kandidaten: {low} op een laag punt, {checked} infiltrerende maatregelen "
              "getoetst en toegestaan, {variant} vervangen door een bergingsvariant (zonder infiltratie) "
              "vanwege bodem of grondwater. De reden staat in de kolom <code>siting_note</code> van "
              "<code>interventions/candidates.gpkg</code>.",
    },
    "maps": {"en": "Soil, groundwater, flow accumulation and ponding",
             "nl": "Bodem, grondwater, stroomaccumulatie en water op maaiveld"},
    "maps_caption": {
        "en": "Soil group A (free draining) to D (hardly infiltrates or shallow groundwater); GHG in m "
              "below the surface (dark = shallow); upslope area per cell (log scale: the bright lines "
              "are where water concentrates); standing water in the {storm} storm.",
        "nl": "Bodemgroep A (goed doorlatend) tot D (nauwelijks infiltratie of ondiep grondwater); GHG in "
              "m onder maaiveld (donker = ondiep); bovenstrooms oppervlak per cel (logaritmisch: de lichte "
              "lijnen zijn waar water samenkomt); water op maaiveld bij de bui {storm}.",
    },
    "p_soil": {"en": "Hydrologic soil group", "nl": "Hydrologische bodemgroep"},
    "p_ghg": {"en": "GHG (m below surface)", "nl": "GHG (m onder maaiveld)"},
    "p_acc": {"en": "Upslope area (m²)", "nl": "Bovenstrooms oppervlak (m²)"},
    "p_pond": {"en": "Ponding, {storm} (mm)", "nl": "Water op maaiveld, {storm} (mm)"},
    "no_input": {"en": "not given", "nl": "niet opgegeven"},
    "runon": {"en": "Water from outside the park", "nl": "Water van buiten het terrein"},
    "runon_caption": {
        "en": "Per park and storm: run-on flowing in from upslope outside the park next to the rain "
              "falling on the park itself (m³). Where run-on is large, storage at the park's low points "
              "catches more than its own rain, and neighbours upslope share the problem.",
        "nl": "Per terrein en bui: toestroming van bovenstrooms buiten het terrein naast de regen die op "
              "het terrein zelf valt (m³). Waar de toestroming groot is vangt berging op de laagste punten "
              "meer dan de eigen regen, en delen de bovenstroomse buren het probleem.",
    },
    "own_rain": {"en": "rain on the park, {storm}", "nl": "regen op het terrein, {storm}"},
    "runon_bar": {"en": "run-on from outside, {storm}", "nl": "toestroming van buiten, {storm}"},
    "m3": {"en": "m³", "nl": "m³"},
    "no_runon": {
        "en": "The climate summary has no run-on (no elevation model, or an older climate stage).",
        "nl": "De klimaatsamenvatting bevat geen toestroming (geen hoogtemodel, of een oudere klimaatstap).",
    },
}


def _t(key: str, lang: str, **kw: Any) -> str:
    return text(TEXT, key, lang, **{k: escape(v) for k, v in kw.items()})


@dataclass
class HydrologyMaps:
    """The hydrology rasters of a region (None = file missing) and what they hold.

    Attributes
    ----------
    soil, ghg, acc, pond : tuple of (numpy.ndarray, Grid) or None
        Soil group (float, NaN = unknown), GHG (m), flow accumulation (m²), ponding of the design
        storm (mm).
    missing : list of str
        Files that do not exist (relative to the region folder).
    """

    soil: tuple[np.ndarray, Any] | None
    ghg: tuple[np.ndarray, Any] | None
    acc: tuple[np.ndarray, Any] | None
    pond: tuple[np.ndarray, Any] | None
    missing: list[str]

    @staticmethod
    def _share(m: tuple[np.ndarray, Any] | None, known: Any) -> float:
        if m is None:
            return 0.0
        arr = m[0]
        return float(np.count_nonzero(known(arr))) / max(arr.size, 1)

    @property
    def soil_share(self) -> float:
        """Share of cells with a known soil group."""
        return self._share(self.soil, lambda a: np.isfinite(a) & (a > 0))

    @property
    def ghg_share(self) -> float:
        """Share of cells with a known GHG."""
        return self._share(self.ghg, np.isfinite)

    @property
    def has_elevation(self) -> bool:
        """Flow accumulation known somewhere."""
        return self._share(self.acc, np.isfinite) > 0


def _design_storm(data: RegionData) -> str | None:
    storms = data.params.storm_names
    cfg = data.params.config_as_run.get("interventions", {}) if isinstance(data.params.config_as_run, dict) else {}
    name = cfg.get("design_storm") if isinstance(cfg, dict) else None
    return name if name in storms else (storms[0] if storms else None)


def load_maps(data: RegionData) -> HydrologyMaps:
    """Read the climate stage's hydrology rasters of the region (missing files listed)."""
    p = data.paths
    storm = _design_storm(data)
    files: dict[str, Path | None] = {
        "soil": p.soil_group, "ghg": p.ghg, "acc": p.flow_accumulation,
        "pond": p.ponding(storm) if storm is not None else None,
    }
    out: dict[str, tuple[np.ndarray, Any] | None] = {}
    missing = []
    for key, path in files.items():
        if path is None or not path.is_file():
            out[key] = None
            if path is not None:
                missing.append(path.relative_to(p.dir).as_posix())
            continue
        try:
            arr, grid = read_raster_masked(path)
        except Exception as exc:  # unreadable: treated as missing, logged
            log.warning("cannot read %s: %s", path, exc)
            out[key] = None
            missing.append(path.relative_to(p.dir).as_posix())
            continue
        if key == "soil":
            arr = np.where(arr > 0, arr, np.nan)  # 0 = unknown
        out[key] = (arr, grid)
    return HydrologyMaps(out["soil"], out["ghg"], out["acc"], out["pond"], missing)


def runon_table(data: RegionData) -> pd.DataFrame | None:
    """Per park and storm: ``own_rain_m3`` (storm depth x park area) and ``runon_m3``; None without run-on.

    Rows: ``park_id``, ``label``, ``storm``, ``own_rain_m3``, ``runon_m3`` (finite run-on only).
    """
    if not data.climate.ok:
        return None
    s = data.climate.value
    if "park_id" not in s.columns or "area_m2" not in s.columns:
        return None
    names = dict(zip(data.parks["park_id"], data.parks["name"], strict=True)) if "name" in data.parks else {}
    rows = []
    for storm in data.params.storms:
        col = f"runon_{storm.name}_m3"
        if col not in s.columns:
            continue
        for pid, area, ro in zip(s["park_id"].astype(str), pd.to_numeric(s["area_m2"], errors="coerce"),
                                 pd.to_numeric(s[col], errors="coerce"), strict=True):
            if not math.isfinite(ro):
                continue
            label = names.get(pid) or pid
            rows.append({"park_id": pid, "label": str(label), "storm": storm.name,
                         "own_rain_m3": float(storm.depth_mm) * float(area) / 1000.0, "runon_m3": float(ro)})
    return pd.DataFrame(rows) if rows else None


def _map_figure(data: RegionData, maps: HydrologyMaps, storm: str | None) -> Figure:
    lang = data.language
    fig = Figure(figsize=(12, 10.5))
    axes = fig.subplots(2, 2).ravel()
    not_given = _t("no_input", lang)
    # soil group: categorical A..D
    ax = axes[0]
    if maps.soil is not None and maps.soil_share > 0:
        cmap = ListedColormap(list(SOIL_COLOURS))
        cmap.set_bad((1, 1, 1, 0))
        cb = map_panel(ax, fig, data, maps.soil[0], maps.soil[1], _t("p_soil", lang),
                       colorbar={"shrink": 0.7, "ticks": [1, 2, 3, 4]}, cmap=cmap,
                       norm=BoundaryNorm([0.5, 1.5, 2.5, 3.5, 4.5], 4))
        cb.ax.set_yticklabels(["A", "B", "C", "D"])
    else:
        empty_panel(ax, _t("p_soil", lang), not_given)
    # GHG
    ax = axes[1]
    if maps.ghg is not None and maps.ghg_share > 0:
        map_panel(ax, fig, data, maps.ghg[0], maps.ghg[1], _t("p_ghg", lang), colorbar={"shrink": 0.7, "label": "m"},
                  cmap="viridis", vmin=0, vmax=GHG_MAX_M)
    else:
        empty_panel(ax, _t("p_ghg", lang), not_given)
    # flow accumulation (log) and ponding
    ax = axes[2]
    if maps.acc is not None and maps.has_elevation:
        arr = maps.acc[0]
        pos = arr[np.isfinite(arr) & (arr > 0)]
        map_panel(ax, fig, data, np.where(arr > 0, arr, np.nan), maps.acc[1], _t("p_acc", lang),
                  colorbar={"shrink": 0.7, "label": "m²"}, cmap="cividis",
                  norm=LogNorm(vmin=float(pos.min()), vmax=max(float(pos.max()), float(pos.min()) * 10)))
    else:
        empty_panel(ax, _t("p_acc", lang), not_given)
    ax = axes[3]
    title = _t("p_pond", lang, storm=storm or "-")
    if maps.pond is not None and np.isfinite(maps.pond[0]).any():
        arr = maps.pond[0]
        wet = np.where(arr > 0, arr, np.nan)
        vmax = float(np.nanmax(wet)) if np.isfinite(wet).any() else 1.0
        map_panel(ax, fig, data, wet, maps.pond[1], title, colorbar={"shrink": 0.7, "label": "mm"}, cmap="Blues",
                  vmin=0, vmax=max(vmax, 1.0))
    else:
        empty_panel(ax, title, not_given)
    fig.suptitle(_t("maps", lang))
    return fig


def _runon_figure(data: RegionData, table: pd.DataFrame) -> Figure:
    lang = data.language
    storms = list(dict.fromkeys(table["storm"]))
    total = table.groupby("park_id")["runon_m3"].max().sort_values(ascending=False, kind="stable")
    parks = list(total.index[:MAX_PARKS])
    labels = {r.park_id: r.label for r in table.itertuples()}
    n, k = len(parks), len(storms)
    fig = Figure(figsize=(10, 1.2 + 0.32 * n * k + 0.2 * n))
    ax = fig.subplots()
    h = 0.8 / max(k, 1)
    blues = ["#6baed6", "#2171b5", "#08306b", "#4292c6"]
    greys = ["#d9d9d9", "#bdbdbd", "#969696", "#737373"]
    y = np.arange(n, dtype=float)
    for j, storm in enumerate(storms):
        sub = table[table["storm"] == storm].set_index("park_id")
        own = np.array([float(sub["own_rain_m3"].get(p, 0.0)) for p in parks])
        ro = np.array([float(sub["runon_m3"].get(p, 0.0)) for p in parks])
        yy = y + (j - (k - 1) / 2) * h
        ax.barh(yy, own, height=h, color=greys[j % 4], label=_t("own_rain", lang, storm=storm))
        ax.barh(yy, ro, left=own, height=h, color=blues[j % 4], label=_t("runon_bar", lang, storm=storm))
    ax.set_yticks(y)
    ax.set_yticklabels([labels[p] for p in parks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(_t("m3", lang))
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(_t("runon", lang), fontsize=11)
    return fig


def _siting_counts(data: RegionData) -> tuple[int, int, int] | None:
    if not data.candidates.ok or "siting_note" not in data.candidates.value.columns:
        return None
    notes = data.candidates.value["siting_note"].fillna("").astype(str)
    return (int(notes.str.contains("at a low point").sum()),
            int(notes.str.startswith("infiltration allowed").sum()),
            int(notes.str.contains("retention variant proposed").sum()))


def _config_value(data: RegionData, section: str, key: str, default: Any) -> Any:
    cfg = data.params.config_as_run if isinstance(data.params.config_as_run, dict) else {}
    sec = cfg.get(section, {})
    return sec.get(key, default) if isinstance(sec, dict) else default


def build(data: RegionData) -> ReportSection:
    """The "Soil and water" section of a region's report (see the module docstring)."""
    lang = data.language
    title = _t("title", lang)
    maps = load_maps(data)
    storm = _design_storm(data)
    group = str(_config_value(data, "climate", "soil_group", "B"))
    clearance = f"{float(_config_value(data, 'interventions', 'groundwater_clearance_m', 0.5)):g}"
    has_soil, has_gw, has_elev = maps.soil_share > 0, maps.ghg_share > 0, maps.has_elevation
    items = [
        _t("soil_yes", lang, share=f"{maps.soil_share:.0%}") if has_soil else _t("soil_no", lang, group=group),
        _t("gw_yes", lang, share=f"{maps.ghg_share:.0%}", clearance=clearance) if has_gw else _t("gw_no", lang),
        _t("elev_yes", lang) if has_elev else _t("elev_no", lang),
    ]
    fallback_list = "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    missing = ""
    if maps.missing:
        missing = f"<p>{_t('missing', lang, files=', '.join(maps.missing))}</p>"
    if not (has_soil or has_gw or has_elev):
        return ReportSection("water", title, _t("none_given", lang) + fallback_list + missing)
    html = [_t("intro", lang), f"<h3>{escape(_t('sources', lang))}</h3>", fallback_list, missing]
    counts = _siting_counts(data)
    if counts is not None:
        html.append(f"<p>{_t('siting', lang, low=counts[0], checked=counts[1], variant=counts[2])}</p>")
    figures = [SectionFigure(_t("maps", lang), png(_map_figure(data, maps, storm)),
                             _t("maps_caption", lang, storm=storm or "-"))]
    table = runon_table(data) if has_elev else None
    if table is not None:
        figures.append(SectionFigure(_t("runon", lang), png(_runon_figure(data, table)), _t("runon_caption", lang)))
    elif has_elev:
        html.append(f"<p>{_t('no_runon', lang)}</p>")
    return ReportSection("water", title, "".join(html), tuple(figures))

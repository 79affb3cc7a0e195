"""Report section "Before and after": the region with and without the selected portfolio.

Reads the interventions stage's after-state (``interventions/after/summary.csv`` and
``interventions/after/habitat_{guild}.tif``, :meth:`werkland.layout.RegionPaths.after_summary` and
:meth:`~werkland.layout.RegionPaths.after_habitat`) and the baseline habitat
(``habitat/{guild}.tif``), and gives

* per guild for the whole region: quality-weighted habitat area and ECA before and after (the
  ``(region)`` rows of the summary);
* per park: mean heat mitigation (HM), design-storm runoff and habitat per guild before and after;
* a small-multiples figure: one panel per indicator (habitat per guild and park, ECA per guild,
  HM per park, runoff per park), bars before and after;
* maps per guild: suitability before, after and the difference.

Every number is the value of ``after/summary.csv`` (``data-key``/``data-value`` attributes carry
it unrounded). :func:`summary_rows` gives the region figures for the region summary at the top of
the report. Without the summary file the section says why it is empty. Text in English and Dutch
(``data.language``); every inserted value is escaped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from werkland.report.furniture import empty_panel, grid_axes, map_panel, panel_height, png
from werkland.report.load import RegionData, read_raster_masked
from werkland.report.section_html import data_cell, fmt_value, raw_value, table_html, text
from werkland.report.sections import ReportSection, SectionFigure

log = logging.getLogger(__name__)

__all__ = ["AfterSummary", "TEXT", "build", "indicator_figure", "maps_figure", "read_after_summary", "summary_rows"]

#: Park id of the whole-region rows of ``after/summary.csv`` (:data:`werkland.interventions.after.REGION_ROW`).
REGION_ROW = "(region)"
#: Parks drawn at most in the small-multiples figure (those with the most measures; the tables list all).
MAX_PARKS = 20
#: Columns the section reads from ``after/summary.csv``.
REQUIRED = (
    "park_id", "guild", "habitat_ha_before", "habitat_ha_after", "eca_ha_before", "eca_ha_after",
    "hm_mean_before", "hm_mean_after", "design_storm", "runoff_m3_before", "runoff_m3_after",
    "n_measures", "cost_eur",
)
_NUMERIC = tuple(c for c in REQUIRED if c not in ("park_id", "guild", "design_storm"))
BEFORE_COLOUR, AFTER_COLOUR = "#bdbdbd", "#1b9e77"
#: Colour bar of the suitability maps.
_COLORBAR = {"fraction": 0.035, "pad": 0.02}

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Before and after the measures", "nl": "Vóór en na de maatregelen"},
    "intro": {
        "en": "The {n} selected measures ({cost}) applied together to the region, computed with the same "
              "model that chose them: habitat and connectivity (ECA) per guild, heat mitigation and "
              "runoff of the {storm} design storm per park, before and after.",
        "nl": "De {n} gekozen maatregelen ({cost}) samen toegepast op de regio, berekend met hetzelfde "
              "model dat ze koos: leefgebied en samenhang (ECA) per soortgroep, hittemitigatie en "
              "afstroming bij de ontwerpbui {storm} per terrein, vóór en na.",
    },
    "missing": {
        "en": "not computed in this run: {path} is missing (run the rule {rule})",
        "nl": "niet berekend in deze run: {path} ontbreekt (draai de regel {rule})",
    },
    "unreadable": {"en": "{path} is unreadable ({why})", "nl": "{path} is onleesbaar ({why})"},
    "columns": {
        "en": "{path} lacks the column(s) {cols} (re-run the rule {rule})",
        "nl": "in {path} ontbreken de kolom(men) {cols} (draai de regel {rule} opnieuw)",
    },
    "no_region": {
        "en": "{path} has no rows for the whole region (re-run the rule {rule})",
        "nl": "{path} heeft geen regels voor de hele regio (draai de regel {rule} opnieuw)",
    },
    "region_table": {"en": "Per guild, whole region", "nl": "Per soortgroep, hele regio"},
    "park_table": {"en": "Per park", "nl": "Per terrein"},
    "col_guild": {"en": "guild", "nl": "soortgroep"},
    "col_park": {"en": "park", "nl": "terrein"},
    "col_measures": {"en": "measures", "nl": "maatregelen"},
    "habitat_ha": {"en": "habitat (ha)", "nl": "leefgebied (ha)"},
    "eca_ha": {"en": "ECA (ha)", "nl": "ECA (ha)"},
    "hm": {"en": "mean HM (0-1, higher = cooler)", "nl": "gemiddelde HM (0-1, hoger = koeler)"},
    "runoff": {"en": "runoff {storm} (m³)", "nl": "afstroming {storm} (m³)"},
    "before": {"en": "before", "nl": "vóór"},
    "after": {"en": "after", "nl": "na"},
    "change": {"en": "change", "nl": "verschil"},
    "region_note": {
        "en": "Habitat is the quality-weighted habitat area (ha, suitability × area of the habitat "
              "patches); ECA the equivalent connected area of the guild's network. Heat mitigation (HM) "
              "and runoff of a park are the same on each of its guild rows of {path}.",
        "nl": "Leefgebied is de kwaliteitsgewogen oppervlakte leefgebied (ha, geschiktheid × oppervlak "
              "van de leefgebiedplekken); ECA de equivalente verbonden oppervlakte van het netwerk van de "
              "soortgroep. Hittemitigatie (HM) en afstroming van een terrein zijn gelijk op elk van zijn "
              "regels in {path}.",
    },
    "fig_bars": {"en": "Habitat, connectivity, heat and runoff before and after",
                 "nl": "Leefgebied, samenhang, hitte en afstroming vóór en na"},
    "fig_bars_caption": {
        "en": "One panel per indicator: habitat (ha) per guild and park, ECA (ha) per guild for the whole "
              "region, mean heat mitigation HM (higher = cooler) per park and runoff of the design storm "
              "(m³) per park. Grey: before, green: after the selected measures.",
        "nl": "Eén paneel per indicator: leefgebied (ha) per soortgroep en terrein, ECA (ha) per "
              "soortgroep voor de hele regio, gemiddelde hittemitigatie HM (hoger = koeler) per terrein en "
              "afstroming bij de ontwerpbui (m³) per terrein. Grijs: vóór, groen: na de gekozen maatregelen.",
    },
    "fig_bars_cut": {
        "en": " The {n} parks with the most measures are drawn; the table lists all {total}.",
        "nl": " De {n} terreinen met de meeste maatregelen zijn getekend; de tabel noemt alle {total}.",
    },
    "p_habitat": {"en": "Habitat {guild} (ha)", "nl": "Leefgebied {guild} (ha)"},
    "p_eca": {"en": "ECA per guild, whole region (ha)", "nl": "ECA per soortgroep, hele regio (ha)"},
    "p_hm": {"en": "Mean heat mitigation HM (higher = cooler)", "nl": "Gemiddelde hittemitigatie HM (hoger = koeler)"},
    "p_runoff": {"en": "Runoff, {storm} (m³)", "nl": "Afstroming, {storm} (m³)"},
    "no_parks": {"en": "no parks in the summary", "nl": "geen terreinen in de samenvatting"},
    "fig_maps": {"en": "Habitat suitability before and after, per guild",
                 "nl": "Geschiktheid leefgebied vóór en na, per soortgroep"},
    "fig_maps_caption": {
        "en": "Per guild: suitability (0-1) before ({before}) and after the selected measures ({after}), and "
              "the difference (green = better, purple = worse, unchanged cells transparent). {cells} cells "
              "changed.",
        "nl": "Per soortgroep: geschiktheid (0-1) vóór ({before}) en na de gekozen maatregelen ({after}), en "
              "het verschil (groen = beter, paars = slechter, ongewijzigde cellen doorzichtig). {cells} cellen "
              "veranderd.",
    },
    "m_before": {"en": "{guild}: before", "nl": "{guild}: vóór"},
    "m_after": {"en": "{guild}: after", "nl": "{guild}: na"},
    "m_diff": {"en": "{guild}: difference", "nl": "{guild}: verschil"},
    "raster_missing": {"en": "{path} is missing", "nl": "{path} ontbreekt"},
    "grid_differs": {"en": "the after raster's grid differs from the baseline's",
                     "nl": "het raster na de maatregelen heeft een ander grid dan de uitgangssituatie"},
    "sum_title": {"en": "Before and after the measures", "nl": "Vóór en na de maatregelen"},
    "sum_eca": {"en": "ECA (ha)", "nl": "ECA (ha)"},
    "sum_habitat": {"en": "habitat (ha)", "nl": "leefgebied (ha)"},
    "sum_runoff": {"en": "runoff of the parks (m³)", "nl": "afstroming van de terreinen (m³)"},
    "sum_hm": {"en": "mean heat mitigation HM, whole region", "nl": "gemiddelde hittemitigatie HM, hele regio"},
    "sum_indicator": {"en": "indicator", "nl": "indicator"},
}

_RULE = "interventions"


def _t(key: str, lang: str, **kw: Any) -> str:
    return text(TEXT, key, lang, **kw)


def _h(key: str, lang: str, **kw: Any) -> Markup:
    """Text of ``key`` as HTML: the text escaped, the ``kw`` values (file names, rules, storms) in
    ``<code translate="no">`` (a :class:`~markupsafe.Markup` value is inserted as is)."""
    return Markup(_fill(_t(key, lang, **{k: f"\x00{i}\x00" for i, k in enumerate(kw)}), list(kw.values())))


def _fill(template: str, values: list[Any]) -> str:
    """Escape ``template`` and put ``values`` (escaped, in ``<code translate="no">``) at its ``\\x00i\\x00`` marks."""
    parts = str(escape(template)).split("\x00")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            v = values[int(part)]
            out.append(str(v) if isinstance(v, Markup) else f'<code translate="no">{escape(v)}</code>')
        else:
            out.append(part)
    return "".join(out)


@dataclass
class AfterSummary:
    """``interventions/after/summary.csv`` split for the report.

    Attributes
    ----------
    table : pandas.DataFrame
        Every row (``park_id`` and ``guild`` as text, the numeric columns as floats).
    region : pandas.DataFrame
        The ``(region)`` rows, indexed by guild.
    parks : pandas.DataFrame
        One row per park (its first guild row: the heat and water figures repeat per guild).
    guilds : list of str
        Guilds in file order.
    storm : str
        The design storm of the runoff columns.
    """

    table: pd.DataFrame
    region: pd.DataFrame
    parks: pd.DataFrame
    guilds: list[str]
    storm: str

    def habitat(self, park_id: str, guild: str, when: str) -> float:
        """``habitat_ha_<when>`` of a park (or :data:`REGION_ROW`) and guild (NaN when absent)."""
        t = self.table
        row = t[(t["park_id"] == park_id) & (t["guild"] == guild)]
        return float(row[f"habitat_ha_{when}"].iloc[0]) if len(row) else math.nan


def read_after_summary(data: RegionData) -> tuple[AfterSummary | None, Markup]:
    """Read ``interventions/after/summary.csv`` of the region.

    Returns
    -------
    summary : AfterSummary or None
        None when the file is missing, unreadable or incomplete.
    reason : markupsafe.Markup
        Why it is None, as HTML in the report language (empty otherwise).
    """
    lang = data.language
    path = data.paths.after_summary
    rel = f"{data.region}/{path.relative_to(data.paths.dir).as_posix()}"
    if not path.is_file():
        return None, _h("missing", lang, path=rel, rule=_RULE)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, _h("unreadable", lang, path=rel, why=why)
    absent = [c for c in REQUIRED if c not in df.columns]
    if absent:
        return None, _h("columns", lang, path=rel, cols=", ".join(absent), rule=_RULE)
    for c in _NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    if "name" not in df.columns:
        df["name"] = ""
    region = df[df["park_id"] == REGION_ROW]
    if region.empty:
        return None, _h("no_region", lang, path=rel, rule=_RULE)
    guilds = list(dict.fromkeys(df["guild"]))
    parks = df[df["park_id"] != REGION_ROW].drop_duplicates("park_id", keep="first").reset_index(drop=True)
    storm = str(region["design_storm"].iloc[0])
    return AfterSummary(df, region.drop_duplicates("guild").set_index("guild"), parks, guilds, storm), Markup("")


def _guild_label(data: RegionData, g: str) -> str:
    return data.guilds[g].label if g in data.guilds else g


def _park_name(row: Any) -> str:
    name = str(row["name"]).strip()
    return name or str(row["park_id"])


# --- the region summary ---------------------------------------------------------------------------


def summary_rows(data: RegionData) -> dict[str, Any]:
    """The before/after figures of the whole region for the region summary.

    Returns
    -------
    dict
        ``title``, ``head`` (column headings), ``source``, ``reason`` (HTML, empty when the rows are
        there) and ``rows``: each ``key``, ``label`` (text), ``code`` (guild label or storm, shown
        untranslated), ``before``, ``after``, ``digits``, ``unit`` -- the values of the ``(region)``
        rows of ``after/summary.csv`` (runoff: the sum over the parks; HM: the whole-region mean).
    """
    lang = data.language
    s, reason = read_after_summary(data)
    out: dict[str, Any] = {
        "title": _t("sum_title", lang),
        "head": [_t("sum_indicator", lang), _t("before", lang), _t("after", lang), _t("change", lang)],
        "source": "interventions/after/summary.csv", "reason": reason, "rows": [],
    }
    if s is None:
        return out
    for g in s.guilds:
        r = s.region.loc[g]
        label = _guild_label(data, g)
        out["rows"].append({"key": f"eca_ha:{g}", "label": _t("sum_eca", lang), "code": label,
                            "before": float(r["eca_ha_before"]), "after": float(r["eca_ha_after"]), "digits": 3,
                            "unit": "ha"})
    for g in s.guilds:
        r = s.region.loc[g]
        out["rows"].append({"key": f"habitat_ha:{g}", "label": _t("sum_habitat", lang),
                            "code": _guild_label(data, g), "before": float(r["habitat_ha_before"]),
                            "after": float(r["habitat_ha_after"]), "digits": 3, "unit": "ha"})
    r = s.region.iloc[0]
    out["rows"].append({"key": "runoff_m3", "label": _t("sum_runoff", lang), "code": s.storm,
                        "before": float(r["runoff_m3_before"]), "after": float(r["runoff_m3_after"]), "digits": 0,
                        "unit": "m³"})
    out["rows"].append({"key": "hm_mean", "label": _t("sum_hm", lang), "code": "",
                        "before": float(r["hm_mean_before"]), "after": float(r["hm_mean_after"]), "digits": 4,
                        "unit": ""})
    for row in out["rows"]:
        row["change"] = row["after"] - row["before"]
    return out


# --- tables --------------------------------------------------------------------------------------


def _region_table(data: RegionData, s: AfterSummary) -> str:
    lang = data.language
    b, a, d = _t("before", lang), _t("after", lang), _t("change", lang)
    hab, eca = _t("habitat_ha", lang), _t("eca_ha", lang)
    head = [_t("col_guild", lang)] + [f"{x}, {y}" for x in (hab, eca) for y in (b, a, d)]
    rows = []
    for g in s.guilds:
        r = s.region.loc[g]
        cells = [f'<td translate="no">{escape(_guild_label(data, g))}</td>']
        for col, digits in (("habitat_ha", 3), ("eca_ha", 3)):
            before, after = float(r[f"{col}_before"]), float(r[f"{col}_after"])
            cells.append(data_cell(f"after:region:{g}:{col}_before", before, digits))
            cells.append(data_cell(f"after:region:{g}:{col}_after", after, digits))
            cells.append(f'<td class="num">{escape(fmt_value(after - before, digits=digits))}</td>')
        rows.append(f'<tr data-guild="{escape(g)}">{"".join(cells)}</tr>')
    return f"<h3>{escape(_t('region_table', lang))}</h3>\n" + table_html(head, rows, "before-after region")


def _park_table(data: RegionData, s: AfterSummary) -> str:
    lang = data.language
    b, a = _t("before", lang), _t("after", lang)
    head = [escape(_t("col_park", lang)), escape(_t("col_measures", lang))]
    for key in ("hm", "runoff"):
        for y in (b, a):
            label = _h(key, lang, storm=s.storm) if key == "runoff" else escape(_t(key, lang))
            head.append(Markup(f"{label}, {escape(y)}"))
    for g in s.guilds:
        for y in (b, a):
            head.append(Markup(f'{escape(_t("habitat_ha", lang))} <span translate="no">'
                               f'{escape(_guild_label(data, g))}</span>, {escape(y)}'))
    rows = []
    for _, r in s.parks.iterrows():
        pid = str(r["park_id"])
        cells = [f'<td><a href="#park-{escape(pid)}">{escape(_park_name(r))}</a></td>',
                 f'<td class="num">{escape(fmt_value(r["n_measures"], digits=0))}</td>']
        for col, digits in (("hm_mean", 4), ("runoff_m3", 0)):
            cells.append(data_cell(f"after:{pid}:{col}_before", r[f"{col}_before"], digits))
            cells.append(data_cell(f"after:{pid}:{col}_after", r[f"{col}_after"], digits))
        for g in s.guilds:
            for when in ("before", "after"):
                cells.append(data_cell(f"after:{pid}:{g}:habitat_ha_{when}", s.habitat(pid, g, when), 3))
        rows.append(f'<tr data-park="{escape(pid)}">{"".join(cells)}</tr>')
    return f"<h3>{escape(_t('park_table', lang))}</h3>\n" + table_html(head, rows, "before-after parks")


# --- figures -------------------------------------------------------------------------------------


def _shown_parks(s: AfterSummary) -> pd.DataFrame:
    """The parks drawn: all, or the :data:`MAX_PARKS` with the most measures (file order on ties)."""
    p = s.parks
    if len(p) <= MAX_PARKS:
        return p
    order = np.argsort(-p["n_measures"].fillna(0).to_numpy(), kind="stable")[:MAX_PARKS]
    return p.iloc[np.sort(order)]


def _bars(ax: Any, labels: list[str], before: np.ndarray, after: np.ndarray, title: str, lang: str) -> None:
    y = np.arange(len(labels), dtype=float)
    h = 0.38
    ax.barh(y - h / 2, np.nan_to_num(before), height=h, color=BEFORE_COLOUR, label=_t("before", lang))
    ax.barh(y + h / 2, np.nan_to_num(after), height=h, color=AFTER_COLOUR, label=_t("after", lang))
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def indicator_figure(data: RegionData, s: AfterSummary) -> Figure:
    """The small multiples: habitat per guild and park, ECA per guild, HM and runoff per park, before/after."""
    lang = data.language
    parks = _shown_parks(s)
    names = [_park_name(r) for _, r in parks.iterrows()]
    n = len(s.guilds) + 3
    per_row = max(2.8, 0.32 * max(len(names), len(s.guilds)) + 1.2)
    fig = Figure(figsize=(11, panel_height(n, per_row)))
    axes = grid_axes(fig, n)
    for ax, g in zip(axes, s.guilds, strict=False):
        title = _t("p_habitat", lang, guild=_guild_label(data, g))
        if not names:
            empty_panel(ax, title, _t("no_parks", lang))
            continue
        before = np.array([s.habitat(str(p), g, "before") for p in parks["park_id"]])
        after = np.array([s.habitat(str(p), g, "after") for p in parks["park_id"]])
        _bars(ax, names, before, after, title, lang)
    k = len(s.guilds)
    _bars(axes[k], [_guild_label(data, g) for g in s.guilds],
          s.region.loc[s.guilds, "eca_ha_before"].to_numpy(float), s.region.loc[s.guilds, "eca_ha_after"].to_numpy(float),
          _t("p_eca", lang), lang)
    for ax, col, title in ((axes[k + 1], "hm_mean", _t("p_hm", lang)),
                           (axes[k + 2], "runoff_m3", _t("p_runoff", lang, storm=s.storm))):
        if not names:
            empty_panel(ax, title, _t("no_parks", lang))
            continue
        _bars(ax, names, parks[f"{col}_before"].to_numpy(float), parks[f"{col}_after"].to_numpy(float), title, lang)
    axes[0].legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


@dataclass
class _GuildMaps:
    before: tuple[np.ndarray, Any] | None
    after: tuple[np.ndarray, Any] | None
    reason_before: str
    reason_after: str


def _guild_maps(data: RegionData, g: str) -> _GuildMaps:
    lang = data.language
    before = data.habitat[g].value if g in data.habitat and data.habitat[g].ok else None
    why_before = "" if before is not None else (data.habitat[g].reason if g in data.habitat else
                                                _t("raster_missing", lang, path=data.paths.habitat(g).name))
    path = data.paths.after_habitat(g)
    after, why_after = None, ""
    if not path.is_file():
        why_after = _t("raster_missing", lang, path=f"interventions/after/{path.name}")
    else:
        try:
            after = read_raster_masked(path)
        except Exception as exc:  # unreadable: shown as the panel's reason, logged
            log.warning("cannot read %s: %s", path, exc)
            why_after = _t("unreadable", lang, path=path.name, why=type(exc).__name__)
    return _GuildMaps(before, after, why_before, why_after)


def maps_figure(data: RegionData, guilds: list[str]) -> tuple[Figure, int]:
    """Per guild (rows): suitability before, after and their difference; and the number of changed cells."""
    lang = data.language
    fig = Figure(figsize=(13, 4.4 * max(len(guilds), 1)))
    axes = fig.subplots(max(len(guilds), 1), 3, squeeze=False)
    changed = 0
    for row, g in zip(axes, guilds, strict=False):
        label = _guild_label(data, g)
        m = _guild_maps(data, g)
        titles = (_t("m_before", lang, guild=label), _t("m_after", lang, guild=label), _t("m_diff", lang, guild=label))
        for ax, layer, why, title in ((row[0], m.before, m.reason_before, titles[0]),
                                      (row[1], m.after, m.reason_after, titles[1])):
            if layer is None:
                empty_panel(ax, title, why)
                continue
            map_panel(ax, fig, data, layer[0], layer[1], title, colorbar=_COLORBAR, cmap="YlGn", vmin=0.0,
                      vmax=1.0).ax.tick_params(labelsize=7)
        if m.before is None or m.after is None:
            empty_panel(row[2], titles[2], m.reason_before or m.reason_after)
            continue
        if m.before[0].shape != m.after[0].shape:
            empty_panel(row[2], titles[2], _t("grid_differs", lang))
            continue
        diff = m.after[0].astype(np.float64) - m.before[0].astype(np.float64)
        diff[~np.isfinite(diff) | (diff == 0)] = np.nan
        changed += int(np.count_nonzero(np.isfinite(diff)))
        lim = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
        map_panel(row[2], fig, data, diff, m.after[1], titles[2], colorbar=_COLORBAR, cmap="PiYG",
                  norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)).ax.tick_params(labelsize=7)
    return fig, changed


# --- the section ---------------------------------------------------------------------------------


def build(data: RegionData) -> ReportSection:
    """The before/after section; without ``after/summary.csv`` it names the missing file as its reason."""
    lang = data.language
    s, reason = read_after_summary(data)
    if s is None:
        return ReportSection("before_after", _t("title", lang), reason=reason)
    r = s.region.iloc[0]
    rel = "interventions/after/summary.csv"
    intro = _h("intro", lang,
               n=Markup(f'<span data-key="after:region:n_measures" data-value="{escape(raw_value(r["n_measures"]))}">'
                        f'{escape(fmt_value(r["n_measures"], digits=0))}</span>'),
               cost=Markup(f'<span data-key="after:region:cost_eur" data-value="{escape(raw_value(r["cost_eur"]))}">'
                           f'{escape(fmt_value(r["cost_eur"], "EUR", 0))}</span>'), storm=s.storm)
    html = "\n".join([
        f"<p>{intro}</p>",
        _region_table(data, s),
        _park_table(data, s),
        f'<p class="note">{_h("region_note", lang, path=rel)}</p>',
    ])
    maps, cells = maps_figure(data, s.guilds)
    bars_caption = _t("fig_bars_caption", lang)
    if len(s.parks) > MAX_PARKS:
        bars_caption += _t("fig_bars_cut", lang, n=MAX_PARKS, total=len(s.parks))
    maps_caption = _h("fig_maps_caption", lang, before="habitat/{guild}.tif",
                      after="interventions/after/habitat_{guild}.tif", cells=Markup(escape(f"{cells:,d}")))
    figures = (
        SectionFigure(_t("fig_bars", lang), png(indicator_figure(data, s)), bars_caption),
        SectionFigure(_t("fig_maps", lang), png(maps), maps_caption),
    )
    return ReportSection("before_after", _t("title", lang), html=html, figures=figures)

"""Report section of the species evidence: habitat maps checked against records, periods compared.

Reads ``species/habitat_validation.csv``, ``species/habitat_pe_curve.csv`` and
``species/periods.csv`` (:func:`werkland.species.evidence.run_species_evidence`) and shows:

* a table per guild: presences, continuous Boyce index with its 90 % bootstrap interval and the
  status (``supported``, ``not_supported`` = suitability table not supported by records,
  ``too_few`` presences, ``undefined``);
* one figure with the predicted-to-expected (P/E) curve of every guild: P/E per moving window against
  the window's mean suitability, the windows used in the correlation marked, the line P/E = 1 (no
  better than random);
* when periods are configured, one chart per park (and the whole region) with records: richness at
  the common coverage of both periods per guild, with 95 % intervals and the verdict; parks where no
  guild has enough records in both periods are listed instead of drawn.

:func:`build` returns ``None`` when none of the three files exists (the step did not run). Text in
English and Dutch; every inserted value is escaped.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import escape
from matplotlib.figure import Figure

from werkland.report.furniture import png
from werkland.report.load import RegionData
from werkland.report.section_html import table_html, text
from werkland.report.sections import ReportSection, SectionFigure

log = logging.getLogger(__name__)

__all__ = ["TEXT", "build"]

#: Parks charted at most (the rest are named in a sentence).
MAX_PARK_CHARTS = 60

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Species evidence: habitat maps and change between periods",
              "nl": "Soortgegevens: toets van de habitatkaarten en verandering tussen perioden"},
    "boyce_guide": {
        "en": ("<p>Each guild's habitat suitability map is checked against the cleaned records of its "
               "taxa with the <strong>continuous Boyce index</strong> (Hirzel et al. 2006): a window of "
               "one tenth of the suitability range moves along the map's values; in each window the share "
               "of records is divided by the share of the map (P/E). A good map has P/E rising with "
               "suitability: the index (a rank correlation, -1..1) is then close to 1. Below {threshold} "
               "the suitability table is <em>not supported by the records</em>; with fewer than {min_n} "
               "records the index is not reliable. Records are presence-only and cluster where people "
               "look, so a low index can also mean biased recording.</p>"),
        "nl": ("<p>De habitatgeschiktheidskaart van elke soortgroep is getoetst aan de opgeschoonde "
               "waarnemingen van haar taxa met de <strong>continue Boyce-index</strong> (Hirzel e.a. 2006): "
               "een venster van een tiende van het geschiktheidsbereik schuift langs de kaartwaarden; per "
               "venster wordt het aandeel waarnemingen gedeeld door het aandeel van de kaart (P/E). Bij een "
               "goede kaart stijgt P/E met de geschiktheid en ligt de index (een rangcorrelatie, -1..1) "
               "dicht bij 1. Onder {threshold} wordt de geschiktheidstabel <em>niet gesteund door de "
               "waarnemingen</em>; met minder dan {min_n} waarnemingen is de index onbetrouwbaar. "
               "Waarnemingen zijn alleen aanwezigheden en liggen waar mensen kijken: een lage index kan "
               "ook op scheve waarneeminspanning wijzen.</p>"),
    },
    "cols": {"en": "guild|presences|Boyce index|90 % interval|status",
             "nl": "soortgroep|waarnemingen|Boyce-index|90 %-interval|status"},
    "supported": {"en": "supported", "nl": "gesteund"},
    "not_supported": {"en": "suitability table not supported by records",
                      "nl": "geschiktheidstabel niet gesteund door waarnemingen"},
    "too_few": {"en": "too few records", "nl": "te weinig waarnemingen"},
    "undefined": {"en": "undefined", "nl": "niet te bepalen"},
    "pe_title": {"en": "Predicted-to-expected curves", "nl": "Verhouding waargenomen/verwacht (P/E)"},
    "pe_caption": {"en": "P/E per moving window against mean suitability; filled dots enter the index, "
                         "dashed line P/E = 1 (random).",
                   "nl": "P/E per schuivend venster tegen gemiddelde geschiktheid; gevulde punten tellen "
                         "mee in de index, stippellijn P/E = 1 (willekeurig)."},
    "suitability": {"en": "habitat suitability", "nl": "habitatgeschiktheid"},
    "no_curve": {"en": "no records", "nl": "geen waarnemingen"},
    "periods_none": {"en": "<p>No periods are configured (<code>species.periods</code>), so no change "
                           "between periods is assessed.</p>",
                     "nl": "<p>Er zijn geen perioden ingesteld (<code>species.periods</code>); verandering "
                           "tussen perioden is niet beoordeeld.</p>"},
    "periods_guide": {
        "en": ("<p>Species richness of <strong>{a}</strong> ({a_years}) and <strong>{b}</strong> "
               "({b_years}) is compared at a <strong>common sample coverage</strong> (iNEXT; Chao &amp; "
               "Jost 2012, Chao et al. 2014): the lower of both periods' coverages extrapolated to twice "
               "their records. Bars: 95 % bootstrap intervals. <em>Increase</em> or <em>decrease</em> only "
               "when the intervals do not overlap (a cautious rule: <em>no detectable change</em> does not "
               "prove that nothing changed). Fewer than {min_n} records in a period: insufficient data.</p>"),
        "nl": ("<p>De soortenrijkdom van <strong>{a}</strong> ({a_years}) en <strong>{b}</strong> "
               "({b_years}) is vergeleken bij een <strong>gelijke steekproefdekking</strong> (iNEXT; Chao "
               "&amp; Jost 2012, Chao e.a. 2014): de laagste van de dekkingen van beide perioden, "
               "geëxtrapoleerd naar tweemaal hun aantal waarnemingen. Strepen: 95 %-bootstrapintervallen. "
               "<em>Toename</em> of <em>afname</em> alleen als de intervallen niet overlappen (een "
               "voorzichtige regel: <em>geen aantoonbare verandering</em> bewijst niet dat er niets "
               "veranderde). Minder dan {min_n} waarnemingen in een periode: onvoldoende gegevens.</p>"),
    },
    "increase": {"en": "increase", "nl": "toename"},
    "decrease": {"en": "decrease", "nl": "afname"},
    "no_detectable_change": {"en": "no detectable change", "nl": "geen aantoonbare verandering"},
    "insufficient_data": {"en": "insufficient data", "nl": "onvoldoende gegevens"},
    "no_interval": {"en": "no interval", "nl": "geen interval"},
    "richness": {"en": "species at the common coverage C*", "nl": "soorten bij gelijke dekking C*"},
    "park_chart": {"en": "Park {p}", "nl": "Park {p}"},
    "region_chart": {"en": "Whole region", "nl": "Hele regio"},
    "park_caption": {"en": "Richness at the common coverage C* of each guild per period, 95 % intervals; "
                           "C* and the verdict above each pair.",
                     "nl": "Rijkdom bij de gelijke dekking C* van elke soortgroep per periode, "
                           "95 %-intervallen; C* en het oordeel boven elk paar."},
    "no_data_parks": {"en": "<p>Not enough records in both periods for any guild: {parks}.</p>",
                      "nl": "<p>Voor geen enkele soortgroep genoeg waarnemingen in beide perioden: {parks}.</p>"},
    "more_parks": {"en": "<p>{n} further parks with data are in <code>species/periods.csv</code>.</p>",
                   "nl": "<p>Nog {n} parken met gegevens staan in <code>species/periods.csv</code>.</p>"},
    "missing": {"en": "The species evidence files are missing ({what}).",
                "nl": "De bestanden met soortgegevens ontbreken ({what})."},
}


def _t(key: str, lang: str, **kw: Any) -> str:
    return text(TEXT, key, lang, **kw)


def _read(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, keep_default_na=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def _num(v: Any, fmt: str = ".2f") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else format(f, fmt)


def build(data: RegionData) -> ReportSection | None:
    """The species evidence section, or ``None`` when the step wrote none of its files."""
    p = data.paths
    files = (p.habitat_validation, p.habitat_pe_curve, p.species_periods)
    if not any(f.exists() for f in files):
        return None
    lang = data.language
    val, curve, periods = (_read(f) for f in files)
    if val is None or curve is None or periods is None:
        missing = ", ".join(escape(f.name) for f, d in zip(files, (val, curve, periods), strict=True) if d is None)
        return ReportSection("species_evidence", _t("title", lang), reason=_t("missing", lang, what=missing))
    threshold, min_n, min_records = _settings(data)
    html = [_t("boyce_guide", lang, threshold=escape(threshold), min_n=escape(min_n)), _boyce_table(val, lang)]
    figures = [SectionFigure(_t("pe_title", lang), _pe_figure(val, curve, lang), _t("pe_caption", lang))]
    if len(periods) == 0:
        html.append(_t("periods_none", lang))
    else:
        html_p, figs = _period_parts(periods, lang, min_records)
        html += html_p
        figures += figs
    return ReportSection("species_evidence", _t("title", lang), "".join(html), tuple(figures))


def _settings(data: RegionData) -> tuple[str, str, str]:
    """Boyce threshold, minimum presences and minimum records per period of the run (the config as
    run; the schema defaults when a caller passes none)."""
    cfg = getattr(data.params, "config_as_run", None) or {}
    sp = cfg.get("species", {}) if isinstance(cfg, dict) else {}
    return (str(sp.get("boyce_threshold", 0.3)), str(sp.get("boyce_min_presences", 30)),
            str(sp.get("periods_min_records", 20)))


def _boyce_table(val: pd.DataFrame, lang: str) -> str:
    rows = []
    for r in val.itertuples(index=False):
        status = str(r.status)
        label = _t(status, lang) if status in TEXT else status
        rows.append(
            f"<tr class=\"status-{escape(status)}\"><td>{escape(r.guild)}</td><td>{escape(int(r.n_presences))}</td>"
            f"<td>{escape(_num(r.boyce))}</td><td>{escape(_num(r.boyce_lo))} – {escape(_num(r.boyce_hi))}</td>"
            f"<td>{escape(label)}</td></tr>")
    return table_html(_t("cols", lang).split("|"), rows, "data")


def _pe_figure(val: pd.DataFrame, curve: pd.DataFrame, lang: str) -> bytes:
    guilds = list(val["guild"])
    n = max(len(guilds), 1)
    ncol = min(n, 2)
    nrow = int(math.ceil(n / ncol))
    fig = Figure(figsize=(5.0 * ncol, 3.4 * nrow))
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, g in zip(axes, guilds, strict=False):
        c = curve[curve["guild"] == g]
        row = val[val["guild"] == g].iloc[0]
        ax.axhline(1.0, color="#888888", linestyle="--", linewidth=0.8)
        c = c[np.isfinite(c["pe"].to_numpy(dtype=float))]
        if len(c) and int(row["n_presences"]) > 0:
            used = c["used"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
            ax.plot(c["hs_mid"], c["pe"], color="#2b6a4f", linewidth=1.0)
            ax.scatter(c["hs_mid"][used], c["pe"][used], s=14, color="#2b6a4f", zorder=3)
            ax.scatter(c["hs_mid"][~used], c["pe"][~used], s=10, facecolors="none", edgecolors="#2b6a4f")
        else:
            ax.text(0.5, 0.5, _t("no_curve", lang), ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{g}: Boyce {_num(row['boyce'])} (n = {int(row['n_presences'])})", fontsize=9)
        ax.set_xlabel(_t("suitability", lang), fontsize=8)
        ax.set_ylabel("P/E", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(guilds):]:
        ax.set_axis_off()
    fig.tight_layout()
    return png(fig)


def _period_parts(periods: pd.DataFrame, lang: str, min_records: str) -> tuple[list[str], list[SectionFigure]]:
    names = list(dict.fromkeys(periods["period"]))
    yrs = {nm: f"{int(g['year_min'].iloc[0])}–{int(g['year_max'].iloc[0])}" for nm, g in periods.groupby("period")}
    ok = periods[periods["verdict"] != "insufficient_data"]
    html = [_t("periods_guide", lang, a=escape(names[0]), b=escape(names[-1]), a_years=escape(yrs[names[0]]),
               b_years=escape(yrs[names[-1]]), min_n=escape(min_records))]
    order = list(dict.fromkeys(periods["park_id"]))
    with_data = [pk for pk in order if pk in set(ok["park_id"])]
    without = [pk for pk in order if pk not in set(ok["park_id"]) and pk != "__region__"]
    # the region first, then parks in file order
    drawn = (["__region__"] if "__region__" in with_data else []) + [pk for pk in with_data if pk != "__region__"]
    figs = [SectionFigure(_t("region_chart", lang) if pk == "__region__" else _t("park_chart", lang, p=pk),
                          _park_figure(ok[ok["park_id"] == pk], names, lang), _t("park_caption", lang))
            for pk in drawn[:MAX_PARK_CHARTS]]
    if len(drawn) > MAX_PARK_CHARTS:
        html.append(_t("more_parks", lang, n=escape(len(drawn) - MAX_PARK_CHARTS)))
    if without:
        html.append(_t("no_data_parks", lang, parks=escape(", ".join(map(str, without)))))
    return html, figs


def _park_figure(rows: pd.DataFrame, names: list[str], lang: str) -> bytes:
    guilds = list(dict.fromkeys(rows["guild"]))
    fig = Figure(figsize=(max(4.0, 1.3 * len(guilds) + 1.5), 3.2))
    ax = fig.subplots()
    colours = ("#8c8c8c", "#2b6a4f")
    width = 0.36
    for i, g in enumerate(guilds):
        gr = rows[rows["guild"] == g].set_index("period")
        for j, nm in enumerate(names):
            if nm not in gr.index:
                continue
            r = gr.loc[nm]
            s, lo, hi = float(r["s_at_common_coverage"]), float(r["lo"]), float(r["hi"])
            x = i + (j - 0.5) * width
            yerr = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[s - lo], [hi - s]]
            ax.bar(x, s, width=width * 0.9, color=colours[j % 2], label=nm if i == 0 else None)
            if yerr is not None:
                ax.errorbar(x, s, yerr=yerr, color="black", capsize=2, linewidth=0.8)
        verdict = str(gr["verdict"].iloc[0])
        label = _t(verdict, lang) if verdict in TEXT else verdict
        top = float(np.nanmax(gr[["hi", "s_at_common_coverage"]].to_numpy(dtype=float)))
        cstar = _num(gr["common_coverage"].iloc[0], ".3f")
        ax.text(i, top * 1.03 if np.isfinite(top) else 0, f"C* {cstar}\n{label}", ha="center", va="bottom",
                fontsize=7)
    ax.set_xticks(range(len(guilds)))
    ax.set_xticklabels(guilds, fontsize=7, rotation=20)
    ax.set_ylabel(_t("richness", lang), fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    ax.margins(y=0.15)
    fig.tight_layout()
    return png(fig)

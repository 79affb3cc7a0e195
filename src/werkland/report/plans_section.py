"""Report section "Your plans scored": each user plan against the optimal portfolio at its cost.

Reads ``plans/{name}.csv`` (totals) and ``plans/{name}.gpkg`` (layers ``measures`` and ``optimum``)
of every plan of the region (:attr:`werkland.params.ReportParams.plans`, else the files present).
Returns None when the region has no plans.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import pandas as pd
from markupsafe import escape

from werkland.report.load import RegionData
from werkland.report.section_html import table_html, text
from werkland.report.sections import ReportSection

__all__ = ["build"]

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Your plans scored", "nl": "Uw plannen beoordeeld"},
    "summary": {
        "en": "Plan <b>{name}</b>: {n} measures for {cost}. Together they score {score} ({interaction} from "
              "interactions between its measures); the best portfolio the optimiser finds for the same money "
              "scores {optimum} ({n_opt} measures). <b>The plan reaches {pct} of the attainable gain for its "
              "cost.</b>",
        "nl": "Plan <b>{name}</b>: {n} maatregelen voor {cost}. Samen scoren ze {score} ({interaction} door "
              "samenhang tussen de maatregelen); het beste pakket dat de optimalisatie voor hetzelfde geld "
              "vindt scoort {optimum} ({n_opt} maatregelen). <b>Het plan haalt {pct} van de haalbare winst "
              "voor zijn kosten.</b>",
    },
    "swaps": {
        "en": "The optimiser would swap out {n_out} of its measures and put {n_in} others in their place:",
        "nl": "De optimalisatie zou {n_out} van de maatregelen vervangen door {n_in} andere:",
    },
    "no_swaps": {"en": "The optimiser keeps every measure of the plan.",
                 "nl": "De optimalisatie houdt alle maatregelen van het plan."},
    "replaced": {"en": "{mid} ({type}) → {by}", "nl": "{mid} ({type}) → {by}"},
    "nothing": {"en": "nothing in its place (the money buys more elsewhere)",
                "nl": "niets op die plek (het geld levert elders meer op)"},
    "missing": {"en": "plan {name}: {path} is missing (run the plans rule)",
                "nl": "plan {name}: {path} ontbreekt (draai de regel plans)"},
    "col_measure": {"en": "measure", "nl": "maatregel"},
    "col_type": {"en": "type", "nl": "type"},
    "col_park": {"en": "park", "nl": "terrein"},
    "col_cost": {"en": "cost", "nl": "kosten"},
    "col_alone": {"en": "score alone", "nl": "score alleen"},
    "col_in_plan": {"en": "score in the plan", "nl": "score in het plan"},
    "col_kept": {"en": "kept by the optimiser", "nl": "behouden door de optimalisatie"},
    "yes": {"en": "yes", "nl": "ja"},
    "no": {"en": "no", "nl": "nee"},
    "note": {
        "en": "Scores are target attainment (0 = nothing, 1 = every target met). \"Score in the plan\" is a "
              "measure's marginal gain when the plan's measures are applied together: below its score alone "
              "where measures overlap or compete, above it where they reinforce each other.",
        "nl": "Scores zijn het aandeel van de doelen dat gehaald wordt (0 = niets, 1 = alle doelen). \"Score in "
              "het plan\" is de extra winst van een maatregel als de maatregelen samen worden uitgevoerd: lager "
              "dan alleen waar ze overlappen of concurreren, hoger waar ze elkaar versterken.",
    },
}


def _t(key: str, lang: str, **kw: Any) -> str:
    return text(TEXT, key, lang, **kw)


def _eur(x: Any, lang: str) -> str:
    v = float(x)
    s = f"{v:,.0f}"
    if lang == "nl":
        s = s.replace(",", ".")
    return f"€ {s}"


def _num(x: Any, lang: str, digits: int = 4) -> str:
    v = float(x)
    if not math.isfinite(v):
        return "–"
    s = f"{v:.{digits}f}"
    return s.replace(".", ",") if lang == "nl" else s


def plan_names(data: RegionData) -> list[str]:
    """The region's plan names: the configured ones, else the ``plans/*.csv`` present."""
    configured = getattr(data.params, "plans", None) or {}
    names = list(configured.get(data.region, [])) if isinstance(configured, dict) else []
    if names:
        return names
    d = data.paths.dir / "plans"
    return sorted(p.stem for p in d.glob("*.csv")) if d.is_dir() else []


def _plan_html(name: str, row: pd.Series, measures: Any, lang: str) -> str:
    pct = float(row["attainment_pct"])
    pct_s = "–" if not math.isfinite(pct) else f"{_num(pct, lang, 1)} %"
    parts = [
        "<p>" + _t("summary", lang, name=escape(name), n=int(row["n_measures"]), cost=escape(_eur(row["cost_eur"], lang)),
                   score=escape(_num(row["score"], lang)), interaction=escape(f"{float(row['interaction_score']):+.4f}"
                                                                              .replace(".", "," if lang == "nl" else ".")),
                   optimum=escape(_num(row["optimum_score"], lang)), n_opt=int(row["optimum_n_measures"]),
                   pct=escape(pct_s)) + "</p>"
    ]
    if measures is not None and len(measures):
        head = [_t(k, lang) for k in
                ("col_measure", "col_type", "col_park", "col_cost", "col_alone", "col_in_plan", "col_kept")]
        body = []
        for m in measures.itertuples():
            kept = _t("yes" if bool(m.in_optimum) else "no", lang)
            body.append(
                f"<tr><td>{escape(m.measure_id)}</td><td>{escape(m.label)}</td><td>{escape(m.park_id or '')}</td>"
                f"<td>{escape(_eur(m.cost_eur, lang))}</td><td>{escape(_num(m.score, lang))}</td>"
                f"<td>{escape(_num(m.marginal_score, lang))}</td><td>{escape(kept)}</td></tr>")
        parts.append(table_html(head, body, "plan-measures"))
        out = measures[~measures["in_optimum"].astype(bool)]
        if len(out):
            parts.append("<p>" + escape(_t("swaps", lang, n_out=len(out), n_in=int(row["n_swapped_in"]))) + "</p><ul>")
            for m in out.itertuples():
                by = str(m.replaced_by or "").strip() or _t("nothing", lang)
                parts.append("<li>" + escape(_t("replaced", lang, mid=m.measure_id, type=m.label, by=by)) + "</li>")
            parts.append("</ul>")
        else:
            parts.append("<p>" + escape(_t("no_swaps", lang)) + "</p>")
    return "\n".join(parts)


def build(data: RegionData) -> ReportSection | None:
    """The plans section, or None when the region has no plans."""
    names = plan_names(data)
    if not names:
        return None
    lang = data.language
    blocks, missing = [], []
    for name in names:
        csv = data.paths.dir / "plans" / f"{name}.csv"
        gpkg = data.paths.dir / "plans" / f"{name}.gpkg"
        if not csv.exists():
            missing.append(_t("missing", lang, name=name, path=csv.name))
            continue
        row = pd.read_csv(csv).iloc[0]
        measures = gpd.read_file(gpkg, layer="measures", engine="pyogrio") if gpkg.exists() else None
        blocks.append(_plan_html(name, row, measures, lang))
    if not blocks:
        return ReportSection("plans", _t("title", lang), reason="; ".join(missing))
    html = "\n".join(blocks) + f"\n<p class=\"note\">{escape(_t('note', lang))}</p>"
    if missing:
        html += "\n<p class=\"note\">" + escape("; ".join(missing)) + "</p>"
    return ReportSection("plans", _t("title", lang), html=html)

"""The multi-region overview ``results/report.html``: one row per region and park.

The park rows come from each region's ``report/summary.json`` (written by
:func:`werkland.report.build_region_report`), or from ``region.gpkg`` when that is absent. The page's
date is reproducible: ``SOURCE_DATE_EPOCH`` when set, else the newest generation time the region
reports state (their footer), else the newest modification time of the files it reads
(:func:`werkland.report.render.generation_time`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd

from werkland import __version__
from werkland.raster.io import atomic_path
from werkland.report.cards import as_float
from werkland.report.i18n import tr
from werkland.report.render import generation_time, template_env

log = logging.getLogger(__name__)

_FOOTER_DATE = re.compile(r"&middot; (\d{4}-\d\d-\d\d \d\d:\d\d UTC)</footer>")


def _relative_link(report: Path, out_dir: Path) -> str:
    try:
        link = os.path.relpath(report, out_dir)
    except ValueError:
        link = str(report)
    return link.replace(os.sep, "/")


def _region_cards(report: Path) -> tuple[list[dict[str, Any]], str | None, str]:
    """The park cards of a region report, its language (None if unknown) and why there are none."""
    summ = report.parent / "summary.json"
    if summ.is_file():
        try:
            s = json.loads(summ.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            return [], None, f"summary.json unreadable ({exc})"
        return s.get("parks") or [], s.get("language"), ""
    rg = report.parent.parent / "region.gpkg"
    if not rg.is_file():
        return [], None, "no summary.json and no region.gpkg beside the report"
    try:
        parks = gpd.read_file(rg, layer="parks", engine="pyogrio")
    except Exception as exc:  # GDAL errors
        return [], None, f"region.gpkg unreadable ({type(exc).__name__})"
    cards = [{"park_id": str(r["park_id"]), "name": str(r.get("name") or ""), "area_ha": as_float(r.get("area_m2")) / 1e4}
             for _, r in parks.iterrows()]
    return cards, None, ""


def overview_date(region_reports: Mapping[str, str | os.PathLike[str]]) -> str:
    """The overview's date: ``SOURCE_DATE_EPOCH``, else the newest date the region reports state.

    Falls back to the newest modification time of the reports and their summaries when no report
    states a date (:func:`werkland.report.render.generation_time`).
    """
    files = [p for r in region_reports.values() for p in (Path(r), Path(r).parent / "summary.json")]
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        return generation_time(files)
    stated = [d for r in region_reports.values() if (d := _stated_date(Path(r))) is not None]
    return max(stated) if stated else generation_time(files)


def _stated_date(report: Path) -> str | None:
    """The generation date in the footer of a region report (its last 4 kB), or None."""
    if not report.is_file():
        return None
    with open(report, "rb") as fh:
        fh.seek(max(0, report.stat().st_size - 4096))
        tail = fh.read().decode("utf-8", errors="replace")
    m = _FOOTER_DATE.search(tail)
    return m.group(1) if m else None


def _park_row(region: str, link: str, c: Mapping[str, Any]) -> dict[str, Any]:
    storms = (c.get("runoff") or {}).get("storms") or {}
    first: Mapping[str, Any] = next(iter(storms.values()), {}) if storms else {}
    return {
        "region": region,
        "link": link,
        "park_id": c.get("park_id", ""),
        "name": c.get("name", ""),
        "area_ha": c.get("area_ha"),
        "sealed_share": (c.get("sealed") or {}).get("sealed_share"),
        "hm_mean": (c.get("heat") or {}).get("hm_mean"),
        "excess_m3": first.get("excess_m3"),
        "storm": next(iter(storms), ""),
        "species": (c.get("species") or {}).get("species"),
        "n_measures": sum(1 for m in (c.get("measures") or {}).get("rows", []) if m.get("selected")),
    }


def build_overview(region_reports: Mapping[str, str | os.PathLike[str]], out_html: str | os.PathLike[str]) -> Path:
    """Write ``results/report.html``: one row per region and park, linking to each region report.

    Parameters
    ----------
    region_reports : mapping
        Region id -> path of its ``index.html``; the park rows come from ``summary.json`` beside it
        (written by :func:`werkland.report.build_region_report`), or from ``region.gpkg`` when that
        is absent.
    out_html : path-like
        Output file; links are relative to its folder.

    Returns
    -------
    pathlib.Path
        ``out_html``.
    """
    out = Path(out_html)
    rows: list[dict[str, Any]] = []
    language = "en"
    for region, report in sorted(region_reports.items()):
        rp = Path(report)
        link = _relative_link(rp, out.parent)
        cards, lang, reason = _region_cards(rp)
        language = lang or language
        if not cards:
            rows.append({"region": region, "link": link, "park_id": "", "name": reason or "no parks", "area_ha": None,
                         "sealed_share": None, "hm_mean": None, "excess_m3": None, "species": None, "n_measures": None})
        rows += [_park_row(region, link, c) for c in cards]
    html = template_env().get_template("overview.html.j2").render(
        rows=rows, lang=language, t=lambda key, **kw: tr(key, language, **kw), version=__version__,
        date=overview_date(region_reports), n_regions=len(region_reports), attribution=tr("attribution", language),
    )
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("wrote %s (%d regions, %d rows)", out, len(region_reports), len(rows))
    return out

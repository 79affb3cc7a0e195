"""Deliverables for the people who act: ``measures.xlsx`` and the printable ``summary.pdf``.

* :func:`write_measures_xlsx` -- one sheet per park with every selected measure in order of choice:
  its place (x/y of a point inside it, in Rijksdriehoek coordinates EPSG:28992 for Dutch regions,
  else the region's CRS, named in the header), size, cost and gains, in numbers and in plain words
  in the report language. openpyxl writes zip entries and document properties with the current
  time; both are fixed here (the report's generation time), so the same inputs give the same bytes.
* :func:`print_pdf` -- the region summary page (``summary_print.html.j2``, the same summary the
  report opens with) printed to A4 by headless Chromium (``--print-to-pdf``). Chromium stamps the
  PDF's creation and modification dates; they are replaced by the report's generation time (same
  length, so the cross-reference offsets stay valid).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from werkland._errors import WerklandInputError
from werkland.params.report import find_chromium
from werkland.raster.io import atomic_path
from werkland.report.cards import as_float
from werkland.report.i18n import measure_name, tr
from werkland.report.load import RegionData

log = logging.getLogger(__name__)

__all__ = ["RD_EPSG", "find_chromium", "measure_sentence", "print_pdf", "write_measures_xlsx"]

#: Rijksdriehoekscoördinaten (RD New), the coordinates Dutch municipalities work in.
RD_EPSG = 28992
#: Seconds Chromium may take to print the summary.
PDF_TIMEOUT_S = 120
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_CORE_DATE = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:(\d{14})([^)]*)\)")

_TEXT: dict[str, dict[str, str]] = {
    "order": {"en": "No.", "nl": "Nr."},
    "measure": {"en": "Measure", "nl": "Maatregel"},
    "type": {"en": "Type (catalogue)", "nl": "Soort (catalogus)"},
    "candidate": {"en": "Measure id", "nl": "Maatregel-id"},
    "x": {"en": "x ({crs})", "nl": "x ({crs})"},
    "y": {"en": "y ({crs})", "nl": "y ({crs})"},
    "size": {"en": "Size", "nl": "Omvang"},
    "unit": {"en": "Unit", "nl": "Eenheid"},
    "cost": {"en": "Cost (EUR)", "nl": "Kosten (EUR)"},
    "d_eca": {"en": "ECA gain {guild} (ha)", "nl": "ECA-winst {guild} (ha)"},
    "d_habitat": {"en": "Habitat gain (ha)", "nl": "Winst leefgebied (ha)"},
    "d_retained": {"en": "Extra rain retained (m³)", "nl": "Extra vastgehouden regen (m³)"},
    "d_hm": {"en": "HM gain", "nl": "HM-winst"},
    "gains": {"en": "What it buys", "nl": "Wat het oplevert"},
    "w_eca": {"en": "{v} ha more connected habitat for {guild}", "nl": "{v} ha meer verbonden leefgebied voor {guild}"},
    "w_habitat": {"en": "{v} ha more habitat", "nl": "{v} ha meer leefgebied"},
    "w_retained": {"en": "{v} m³ more rain retained", "nl": "{v} m³ meer regenwater vastgehouden"},
    "w_hm": {"en": "cooler surroundings (HM +{v})", "nl": "koelere omgeving (HM +{v})"},
    "w_none": {"en": "no measurable gain on its own", "nl": "op zichzelf geen meetbare winst"},
    "none": {"en": "No measures selected: {why}", "nl": "Geen maatregelen gekozen: {why}"},
    "sheet_none": {"en": "no measures", "nl": "geen maatregelen"},
    "outside": {"en": "outside parks", "nl": "buiten terreinen"},
    "total": {"en": "Total", "nl": "Totaal"},
    "title": {"en": "Selected measures, {park}", "nl": "Gekozen maatregelen, {park}"},
}


def _t(key: str, language: str, **kw: Any) -> str:
    entry = _TEXT[key]
    text = entry.get(language) or entry["en"]
    return text.format(**kw) if kw else text


def _num(v: float, digits: int) -> str:
    return f"{v:,.{digits}f}"


def measure_sentence(row: Any, guild_labels: dict[str, str], language: str) -> str:
    """The gains of one measure in plain words (``; ``-separated), in ``language``."""
    parts = []
    for g, label in guild_labels.items():
        v = as_float(row.get(f"d_eca_ha_{g}"))
        if math.isfinite(v) and v > 0:
            parts.append(_t("w_eca", language, v=_num(v, 3), guild=label))
    for key, col, digits in (("w_habitat", "d_habitat_ha", 3), ("w_retained", "d_retained_m3", 0),
                             ("w_hm", "d_hm", 3)):
        v = as_float(row.get(col))
        if math.isfinite(v) and v > 0 and _num(v, digits) != _num(0.0, digits):
            parts.append(_t(key, language, v=_num(v, digits)))
    return "; ".join(parts) if parts else _t("w_none", language)


def _sheet_title(name: str, used: set[str]) -> str:
    base = _SHEET_BAD.sub("-", name).strip("'") or "park"
    base = base[:31]
    title, k = base, 2
    while title.lower() in used:
        suffix = f" ({k})"
        title, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(title.lower())
    return title


def _points(measures: pd.DataFrame, crs: Any) -> tuple[list[float], list[float], str]:
    """x/y of a point inside each measure: RD New for Dutch regions (EPSG:28992), else the region CRS."""
    epsg = None
    try:
        epsg = crs.to_epsg() if crs is not None else None
    except Exception:  # pyproj CRS without an EPSG code
        epsg = None
    label = "RD, EPSG:28992" if epsg == RD_EPSG else (f"EPSG:{epsg}" if epsg else "CRS")
    geoms = gpd.GeoSeries(measures["geometry"].tolist(), crs=crs)
    pts = geoms.representative_point()
    xs = [float(p.x) if p is not None and not p.is_empty else math.nan for p in pts]
    ys = [float(p.y) if p is not None and not p.is_empty else math.nan for p in pts]
    return xs, ys, label


def _fix_zip(path: Path, when: _dt.datetime) -> None:
    """Rewrite a zip (an .xlsx) with every entry dated ``when`` (and the document's creation and
    modification dates set to it), in the same order, deflated."""
    stamp = (max(1980, when.year), when.month, when.day, when.hour, when.minute, when.second - when.second % 2)
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as zout:
        for info, payload in entries:
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time as "modified"
                payload = _CORE_DATE.sub(lambda m: m.group(1) + iso + m.group(2), payload)
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, payload)


def write_measures_xlsx(
    data: RegionData, measures: pd.DataFrame | None, out: str | os.PathLike[str], when: _dt.datetime,
    reason: str = "",
) -> Path:
    """Write ``measures.xlsx``: one sheet per park with its selected measures in order of choice.

    Parameters
    ----------
    data : RegionData
        The region (parks, guilds, language, CRS).
    measures : pandas.DataFrame or None
        :func:`werkland.report.summary.selected_measures` (None or empty: one sheet saying why).
    out : path-like
        The workbook to write (atomically).
    when : datetime.datetime
        The document's creation time (the report's generation time, UTC, naive).
    reason : str
        Why there are no measures (shown on the single sheet of an empty workbook).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    lang = data.language
    labels = {g: guild.label for g, guild in data.guilds.items()}
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "werkland"
    wb.properties.lastModifiedBy = "werkland"
    wb.properties.created = when
    wb.properties.modified = when
    bold = Font(bold=True)
    used: set[str] = set()
    names = {str(p): (str(n) or str(p)) for p, n in zip(data.parks["park_id"], data.parks["name"], strict=True)}
    if measures is None or measures.empty:
        ws = wb.create_sheet(_sheet_title(_t("sheet_none", lang), used))
        ws["A1"] = _t("none", lang, why=reason or tr("portfolio_empty", lang))
        ws["A1"].font = bold
    else:
        xs, ys, crs_label = _points(measures, data.crs)
        m = measures.assign(_x=xs, _y=ys)
        park_order = [*names, *sorted(set(m["park_id"].astype(str)) - set(names))]
        header = [_t("order", lang), _t("measure", lang), _t("type", lang), _t("candidate", lang),
                  _t("x", lang, crs=crs_label), _t("y", lang, crs=crs_label), _t("size", lang), _t("unit", lang),
                  _t("cost", lang), *(_t("d_eca", lang, guild=lab) for lab in labels.values()),
                  _t("d_habitat", lang), _t("d_retained", lang), _t("d_hm", lang), _t("gains", lang)]
        for pid in park_order:
            sub = m[m["park_id"].astype(str) == pid]
            if sub.empty:
                continue
            park = names.get(pid) or _t("outside", lang)
            ws = wb.create_sheet(_sheet_title(park, used))
            ws.append([_t("title", lang, park=f"{park} ({pid})" if pid and park != pid else park)])
            ws["A1"].font = bold
            ws.append(header)
            for cell in ws[2]:
                cell.font = bold
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            for _, r in sub.iterrows():
                ws.append([int(r["order"]), measure_name(str(r.get("type", "")), lang), str(r.get("type", "")),
                           str(r["candidate_id"]), _cell(r["_x"], 1), _cell(r["_y"], 1), _cell(r.get("size"), 3),
                           str(r.get("size_unit", "")), _cell(r.get("cost_eur"), 2),
                           *(_cell(r.get(f"d_eca_ha_{g}"), 6) for g in labels),
                           _cell(r.get("d_habitat_ha"), 6), _cell(r.get("d_retained_m3"), 3), _cell(r.get("d_hm"), 6),
                           measure_sentence(r, labels, lang)])
            total = [_t("total", lang), "", "", "", "", "", "", "", _cell(pd.to_numeric(sub["cost_eur"]).sum(), 2)]
            ws.append(total)
            for cell in ws[ws.max_row]:
                cell.font = bold
            for i, width in enumerate([6, 28, 22, 14, 14, 14, 10, 8, 12, *([14] * len(labels)), 14, 14, 10, 70], 1):
                ws.column_dimensions[get_column_letter(i)].width = width
            ws.freeze_panes = "A3"
    target = Path(out)
    with atomic_path(target) as tmp:
        wb.save(tmp)
    _fix_zip(target, when)
    return target


def _cell(v: Any, digits: int) -> float | None:
    x = as_float(v)
    return round(x, digits) if math.isfinite(x) else None


def _fix_pdf_dates(pdf: bytes, when: _dt.datetime) -> bytes:
    stamp = when.strftime("%Y%m%d%H%M%S").encode()

    def fix(m: re.Match[bytes]) -> bytes:
        return b"/" + m.group(1) + b" (D:" + stamp + m.group(3) + b")"

    return _PDF_DATE.sub(fix, pdf)


def print_pdf(
    html: str, out: str | os.PathLike[str], when: _dt.datetime, *, chromium: str | None = None,
    extra_flags: Sequence[str] = (),
) -> Path:
    """Print an HTML page to an A4 PDF with headless Chromium (the page's ``@page`` rule sets the size).

    Parameters
    ----------
    html : str
        The page (self-contained: images as data URIs).
    out : path-like
        The PDF to write (atomically).
    when : datetime.datetime
        Creation and modification date written into the PDF (UTC, naive).
    chromium : str, optional
        The browser executable (default: :func:`find_chromium`).
    extra_flags : sequence of str
        Further command-line flags.

    Raises
    ------
    WerklandInputError
        When no Chromium is found, or it fails or writes no PDF.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise WerklandInputError(
            "report.pdf is on but no Chromium was found to print report/summary.pdf", path="config: report.pdf",
            fix="install Chromium (apt-get install chromium), point WERKLAND_CHROMIUM at it, or set report.pdf: false",
        )
    target = Path(out)
    with tempfile.TemporaryDirectory(prefix="werkland-pdf-") as work:
        page = Path(work) / "summary.html"
        page.write_text(html, encoding="utf-8")
        pdf = Path(work) / "summary.pdf"
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-pdf-header-footer", f"--user-data-dir={work}/profile",
               f"--print-to-pdf={pdf}", *extra_flags, page.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WerklandInputError(
                f"Chromium could not print the summary ({type(exc).__name__}: {exc})", path=exe,
                fix="check the Chromium installation, or set report.pdf: false",
            ) from exc
        if proc.returncode != 0 or not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            raise WerklandInputError(
                f"Chromium wrote no PDF (exit {proc.returncode}): {' | '.join(tail)}", path=exe,
                fix="check the Chromium installation, or set report.pdf: false",
            )
        payload = _fix_pdf_dates(pdf.read_bytes(), when)
    with atomic_path(target) as tmp:
        tmp.write_bytes(payload)
    return target

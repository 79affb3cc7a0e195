"""Rendering the region report: :func:`build_region_report` and the Jinja environment.

The page's generation time is reproducible (:func:`generation_time`): ``SOURCE_DATE_EPOCH`` when set,
else the newest modification time of the report's input files, so a rerun on the same inputs writes
the same bytes.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from werkland import __version__
from werkland._errors import WerklandInputError
from werkland.layout import REPORT_FIGURES, RegionPaths, style_targets
from werkland.params.report import ReportParams
from werkland.provenance import OSM_CITATION
from werkland.raster.io import atomic_path, write_json
from werkland.report.cards import park_cards, species_reason
from werkland.report.export import print_pdf, write_measures_xlsx
from werkland.report.figures import FigureResult, log_figure, render_figure
from werkland.report.gpkg_styles import write_region_layer_styles
from werkland.report.i18n import LANGUAGES, measure_name, tr
from werkland.report.load import RegionData, load_links, load_region
from werkland.report.methods import connectivity_warnings, formulas, kernel_table, provenance
from werkland.report.parallel import TaskPool, default_workers
from werkland.report.section_html import fmt_value, raw_value
from werkland.report.section_registry import SECTION_BUILDERS, build_sections
from werkland.report.sections import ReportSection
from werkland.report.styles import write_region_styles
from werkland.report.summary import action_map, region_summary, selected_measures
from werkland.report.webmap import build_interactive_map

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
DATE_FORMAT = "%Y-%m-%d %H:%M UTC"


def template_env() -> jinja2.Environment:
    """The Jinja environment of the report templates (autoescaped; filters ``num`` and ``raw``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_value
    env.filters["raw"] = raw_value
    return env


def generation_time(inputs: Iterable[str | os.PathLike[str]]) -> str:
    """The time a report states it was generated, reproducibly (``YYYY-MM-DD HH:MM UTC``); see
    :func:`generation_datetime`."""
    return generation_datetime(inputs).strftime(DATE_FORMAT)


def generation_datetime(inputs: Iterable[str | os.PathLike[str]]) -> _dt.datetime:
    """The time a report states it was generated, reproducibly (UTC, naive, whole seconds).

    ``SOURCE_DATE_EPOCH`` (seconds since 1970-01-01 UTC, the reproducible-builds convention) when the
    environment sets it; else the newest modification time among the existing ``inputs``; 1970-01-01
    when none exists. A rerun on unchanged inputs therefore writes the same page.

    Raises
    ------
    WerklandInputError
        When ``SOURCE_DATE_EPOCH`` is set but not a whole number.
    """
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env is not None and env.strip():
        try:
            seconds = int(env.strip())
        except ValueError:
            raise WerklandInputError(
                f"SOURCE_DATE_EPOCH={env!r} is not a whole number of seconds", path="environment: SOURCE_DATE_EPOCH",
                fix="set it to seconds since 1970-01-01 UTC (e.g. $(git log -1 --format=%ct)) or unset it",
            ) from None
    else:
        times = [Path(p).stat().st_mtime for p in inputs if Path(p).is_file()]
        seconds = int(max(times)) if times else 0
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC).replace(tzinfo=None)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise WerklandInputError(
            f"report language {language!r} is not supported", path="config: report.language",
            fix=f"use one of {', '.join(LANGUAGES)}",
        )


def _write_figures(paths: RegionPaths, figures: Mapping[str, FigureResult]) -> list[str]:
    files = []
    for key in REPORT_FIGURES:
        out = paths.report_figure(key)
        with atomic_path(out) as tmp:
            tmp.write_bytes(figures[key].png)
        files.append(str(out))
    return files


def _sections(figures: Mapping[str, FigureResult], language: str) -> dict[str, dict[str, Any]]:
    return {
        k: {"ok": f.ok, "reason": f.reason, "file": REPORT_FIGURES[k][0], "title": tr(k, language),
            "category": REPORT_FIGURES[k][1]}
        for k, f in figures.items()
    }


def _base_context(data: RegionData, date: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The template variables that need no figure, section or map: enough for ``summary_print.html.j2``."""
    language = data.language
    return {
        **summary,
        "lang": language,
        "t": lambda key, **kw: tr(key, language, **kw),
        "mname": lambda kind: measure_name(kind, language),
        "region": data.region,
        "version": __version__,
        "date": date,
        "guilds": data.guilds,
        "storms": data.params.storm_names,
    }


def _page_context(
    data: RegionData,
    cards: list[dict[str, Any]],
    figures: Mapping[str, FigureResult],
    sections: Mapping[str, dict[str, Any]],
    prov: Mapping[str, Any],
    date: str,
    summary: Mapping[str, Any],
    extra_sections: list[ReportSection] | None = None,
) -> dict[str, Any]:
    """The variables of ``region_report.html.j2``; ``extra_sections`` default to :func:`build_sections`."""
    return {
        **_base_context(data, date, summary),
        "cards": cards,
        "figures": [
            {**sections[k], "key": k, "b64": base64.b64encode(figures[k].png).decode("ascii")} for k in REPORT_FIGURES
        ],
        "species_reason": species_reason(data),
        "no_parks": len(data.parks) == 0,
        "formulas": formulas(data.language),
        "kernels": kernel_table(data),
        "prov": prov,
        "citation": data.citation.value if data.citation.ok else None,
        "osm": OSM_CITATION,
        "connectivity_warnings": connectivity_warnings(data),
        "extra_sections": build_sections(data) if extra_sections is None else extra_sections,
    }


def _write_styles(data: RegionData, legend_yaml: str | os.PathLike[str]) -> list[str]:
    """The ``.qml`` beside every layer, and the GeoPackage styles in their ``layer_styles`` tables.

    The table gets the same QML text as the ``.qml`` file (see :mod:`werkland.report.gpkg_styles`
    for why the report writes into the stage outputs and why that is safe).
    """
    paths, params = data.paths, data.params
    labels = {g: guild.label for g, guild in data.guilds.items()}
    written = write_region_styles(paths, legend_yaml, labels, params)
    on_disk = set(written)
    pairs = [(t, paths.qml(t).read_text(encoding="utf-8")) for t in style_targets(list(labels), params.storm_names)
             if t.data.endswith(".gpkg") and paths.qml(t) in on_disk]
    write_region_layer_styles(paths, pairs)
    return [str(p) for p in written]


def _summary_context(data: RegionData, measures: Any) -> dict[str, Any]:
    """The region summary's template variables: ``rs``, ``act_map``, ``budget``, ``pdf``, ``downloads``."""
    png_bytes, ok, reason = action_map(data, measures)
    return {
        "rs": region_summary(data, measures),
        "act_map": {"b64": base64.b64encode(png_bytes).decode("ascii"), "ok": ok, "reason": reason},
        "budget": data.params.budget_eur,
        "pdf": data.params.pdf,
        "downloads": True,
    }


#: Figures started first in the worker processes (the slowest at 4 M cells), then the rest in page order.
_SLOW_FIGURES = ("map_patches",)
#: Optional sections started before the figures (the before/after maps are the slowest part of a report).
_SLOW_SECTIONS = ("before_after",)


def _figure_task(data: RegionData, key: str) -> FigureResult:
    if key == "map_patches" and not data.links:
        load_links(data)  # only the patch map draws the links: read them where it is drawn
    return render_figure(data, key)


def _tasks(data: RegionData, cards: list[dict[str, Any]]) -> dict[str, Callable[[], Any]]:
    """The report's independent parts as named tasks, the slowest first (see :mod:`~werkland.report.parallel`)."""
    figures = [*_SLOW_FIGURES, *(k for k in REPORT_FIGURES if k not in _SLOW_FIGURES)]
    sections = [*_SLOW_SECTIONS, *(k for k in SECTION_BUILDERS if k not in _SLOW_SECTIONS)]
    tasks: dict[str, Callable[[], Any]] = {}
    tasks[f"figure:{figures[0]}"] = functools.partial(_figure_task, data, figures[0])
    for key in sections:
        tasks[f"section:{key}"] = functools.partial(SECTION_BUILDERS[key], data)
    tasks["map"] = functools.partial(build_interactive_map, data, data.paths.report_map, cards)
    for key in figures[1:]:
        tasks[f"figure:{key}"] = functools.partial(_figure_task, data, key)
    return tasks


class _PdfPrinter:
    """:func:`print_pdf` in a thread (Chromium runs while the figures are drawn); :meth:`join` re-raises."""

    def __init__(self, page: str, out: Path, when: _dt.datetime) -> None:
        self._error: BaseException | None = None
        self._out = out
        self._thread = threading.Thread(target=self._run, args=(page, out, when), name="werkland-pdf", daemon=True)
        self._thread.start()

    def _run(self, page: str, out: Path, when: _dt.datetime) -> None:
        try:
            print_pdf(page, out, when)
        except BaseException as exc:  # re-raised by join() in the calling thread
            self._error = exc

    def join(self) -> Path:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._out


def build_region_report(
    paths: RegionPaths,
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    params: ReportParams,
    *,
    extra_inputs: Sequence[str | os.PathLike[str]] = (),
    qml_styles: bool = True,
    workers: int | None = 1,
) -> dict[str, Any]:
    """Write the report of one region: ``index.html``, ``map.html``, ``summary.json`` and the figure PNGs.

    Reads the stage outputs named by ``paths`` (:meth:`werkland.layout.RegionPaths.report_inputs`)
    that exist; every section without its inputs says why. Writes ``paths.report_html`` (opening
    with the region summary, :mod:`werkland.report.summary`), ``paths.report_map``,
    ``paths.report_summary``, ``paths.report_measures_xlsx``, with ``params.pdf``
    ``paths.report_summary_pdf`` (headless Chromium), ``paths.report_figure(key)`` for every key of
    :data:`werkland.layout.REPORT_FIGURES`, and with ``qml_styles`` the QGIS styles
    (``paths.qml(target)``, and the ``layer_styles`` table of every GeoPackage:
    :func:`werkland.report.gpkg_styles.write_region_layer_styles`).

    The figures, the optional sections and the interactive map are drawn by ``workers`` forked
    processes (:class:`werkland.report.parallel.TaskPool`) while this process writes the styles,
    hashes the inputs, writes the workbook and has Chromium print the summary (in a thread); the
    files are the same bytes with any number of workers.

    Parameters
    ----------
    paths : RegionPaths
        The region's files (``RegionPaths("results", region)``).
    legend_yaml, guilds_yaml : path-like
        ``config/landcover_classes.yaml`` and ``config/guilds.yaml``.
    params : ReportParams
        Language, guilds, storms, kernel convention, budget and the configuration as run.
    extra_inputs : sequence of path-like
        Further files to list with their SHA-256 (land-cover sources, intervention catalogue).
    qml_styles : bool
        Also write the QGIS ``.qml`` style of every layer beside the stage outputs
        (:func:`werkland.report.write_region_styles`) and store the GeoPackage styles in the files.
    workers : int or None
        Worker processes for the figures, sections and map; 1 draws them in this process, None
        uses :func:`werkland.report.parallel.default_workers`.

    Returns
    -------
    dict
        ``region``, ``language``, ``parks`` (the summary cards, see
        :func:`werkland.report.park_cards`), ``sections`` (figure key -> ``{"ok", "reason", "file",
        "title", "category"}``), ``files`` (written paths), ``styles`` (written ``.qml`` paths).

    Raises
    ------
    WerklandInputError
        Unknown language, missing ``region.gpkg``, a guild not in the guild table, unreadable tables,
        ``params.pdf`` without a working Chromium, ``workers`` below 1.
    """
    _check_language(params.language)
    n_workers = default_workers() if workers is None else int(workers)
    if n_workers < 1:
        raise WerklandInputError(f"workers={workers!r} is below 1", path="build_region_report(workers=...)",
                                 fix="pass 1 or more worker processes, or None for the default")
    data = load_region(paths, legend_yaml, guilds_yaml, params, links=False)
    log.info("region %s: %d parks, report in %s", paths.region, len(data.parks), params.language)
    cards = park_cards(data)
    with TaskPool(_tasks(data, cards), n_workers) as pool:
        # styles first: the GeoPackages then hold their layer_styles when the methods section hashes them
        styles = _write_styles(data, legend_yaml) if qml_styles else []
        inputs = [*paths.report_inputs(params.guilds, params.storm_names), legend_yaml, guilds_yaml, *extra_inputs]
        when = generation_datetime(inputs)
        date = when.strftime(DATE_FORMAT)
        measures = selected_measures(data)
        summary = _summary_context(data, measures)
        env = template_env()
        printer = None
        if params.pdf:
            page = env.get_template("summary_print.html.j2").render(
                **{**_base_context(data, date, summary), "downloads": False})
            printer = _PdfPrinter(page, paths.report_summary_pdf, when)
        prov = provenance(data, legend_yaml, guilds_yaml, extra_inputs)
        reason = summary["rs"]["portfolio"]["reason"]
        xlsx = write_measures_xlsx(data, measures, paths.report_measures_xlsx, when, reason)
        figures = {key: pool.result(f"figure:{key}") for key in REPORT_FIGURES}
        for fig in figures.values():
            log_figure(fig)
        files = _write_figures(paths, figures)
        files.append(str(pool.result("map")))
        extra = [s for key in SECTION_BUILDERS if (s := pool.result(f"section:{key}")) is not None]
        pdf = printer.join() if printer is not None else None
    sections = _sections(figures, params.language)
    context = _page_context(data, cards, figures, sections, prov, date, summary, extra)
    html = env.get_template("region_report.html.j2").render(**context)
    with atomic_path(paths.report_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    files.append(str(paths.report_html))
    files.append(str(xlsx))
    if pdf is not None:
        files.append(str(pdf))
    result = {"region": paths.region, "language": params.language, "parks": cards, "sections": sections,
              "files": files, "styles": styles}
    write_json(_jsonable(result), paths.report_summary)
    log.info("wrote %s (%d figures, %d of them with data)", paths.report_html, len(figures),
             sum(f.ok for f in figures.values()))
    return result

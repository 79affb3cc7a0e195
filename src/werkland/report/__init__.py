"""The region report: summary cards, maps, plots, an offline interactive map, the methods, QGIS styles.

:func:`build_region_report` reads the stage outputs of a region that exist (the files of
:class:`werkland.layout.RegionPaths`) and writes into ``results/{region}/report/``:

* ``index.html`` -- self-contained (figures embedded as base64 PNG), English or Dutch, opening with
  the region summary (:mod:`~werkland.report.summary`: the recommended measures across all parks,
  the map of where to act first, the baseline in five figures, the plans compared);
* ``map.html`` -- interactive Leaflet map (Leaflet 1.9.4 inlined, land cover, habitat, corridors,
  currents as image overlays; no tile server and no internet needed unless ``report.basemap`` asks
  for a PDOK WMTS);
* ``measures.xlsx`` and, with ``report.pdf``, ``summary.pdf`` (:mod:`~werkland.report.export`);
* ``summary.json`` -- every number of the summary cards (read by :func:`build_overview`);
* one PNG per figure (:data:`werkland.layout.REPORT_FIGURES`), also used by Snakemake's ``--report``;

and the QGIS ``.qml`` style of every layer beside the stage outputs (:func:`write_region_styles`),
also stored in each GeoPackage's ``layer_styles`` table (:mod:`~werkland.report.gpkg_styles`).
Every section renders when its inputs are missing or empty and says why ("not computed in this
run: ... is missing", "no species data: GBIF unreachable and no cache", "no candidates").
:func:`build_overview` writes ``results/report.html`` with one row per region and park.

Same inputs, same bytes: the generation time comes from ``SOURCE_DATE_EPOCH`` or the inputs'
modification times, the interactive map's element ids are derived from the element tree, and the
PNGs carry no date.

Modules: :mod:`~werkland.report.load` (reading), :mod:`~werkland.report.cards` (park cards),
:mod:`~werkland.report.furniture` and :mod:`~werkland.report.figures` (matplotlib maps and plots),
:mod:`~werkland.report.webmap` (folium map), :mod:`~werkland.report.methods` (formulas, kernels,
provenance), :mod:`~werkland.report.render` (Jinja rendering), :mod:`~werkland.report.overview`,
:mod:`~werkland.report.i18n` (English and Dutch texts), :mod:`~werkland.report.styles` (QGIS),
:mod:`~werkland.report.gpkg_styles` (styles inside the GeoPackages), :mod:`~werkland.report.summary`
(the region summary), :mod:`~werkland.report.export` (workbook and PDF).

No snakemake import; matplotlib is used through :class:`matplotlib.figure.Figure` (Agg, no pyplot).
"""

from werkland.report.cards import park_cards, species_reason
from werkland.report.export import print_pdf, write_measures_xlsx
from werkland.report.figures import (
    FIGURE_BUILDERS,
    FigureResult,
    budget_curve,
    rarefaction_curves,
    render_figures,
)
from werkland.report.gpkg_styles import (
    read_layer_styles,
    write_layer_styles,
    write_region_layer_styles,
)
from werkland.report.i18n import LANGUAGES, STRINGS, measure_name, tr
from werkland.report.load import LinkLines, Loaded, RegionData, load_region
from werkland.report.methods import FORMULAS, kernel_table
from werkland.report.overview import build_overview
from werkland.report.render import build_region_report, fmt_value, generation_time
from werkland.report.styles import measure_types, style_text, write_region_styles
from werkland.report.summary import action_map, region_summary, selected_measures
from werkland.report.webmap import build_interactive_map, pin_element_ids

__all__ = [
    "FIGURE_BUILDERS",
    "FORMULAS",
    "LANGUAGES",
    "STRINGS",
    "FigureResult",
    "action_map",
    "LinkLines",
    "Loaded",
    "RegionData",
    "budget_curve",
    "build_interactive_map",
    "build_overview",
    "build_region_report",
    "fmt_value",
    "generation_time",
    "kernel_table",
    "load_region",
    "measure_name",
    "measure_types",
    "park_cards",
    "pin_element_ids",
    "print_pdf",
    "rarefaction_curves",
    "read_layer_styles",
    "region_summary",
    "render_figures",
    "selected_measures",
    "species_reason",
    "style_text",
    "tr",
    "write_layer_styles",
    "write_measures_xlsx",
    "write_region_layer_styles",
    "write_region_styles",
]

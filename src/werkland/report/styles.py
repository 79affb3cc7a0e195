"""QGIS styles (``.qml``) for every GeoTIFF and GeoPackage layer of a region.

QGIS loads ``<name>.qml`` beside a raster ``<name>.tif`` automatically, and the same for a
single-layer GeoPackage ``<name>.gpkg``. Layers of multi-layer GeoPackages (``region.gpkg``,
``landcover.gpkg``) and GeoPackages that share their name with a raster (``patches/{guild}``) get
``<name>_<layer>.qml``, loaded with *Layer Properties > Symbology > Style > Load Style*.

Styles:

* land cover (raster and polygons): paletted / categorised with the colours and names of
  ``config/landcover_classes.yaml``;
* habitat, resistance, cooling (HM), runoff, corridors: graduated colour ramps with fixed,
  documented ranges (resistance on a log-spaced ramp);
* patches by dPC, links by dispersal probability: graduated;
* barriers by rank, candidates by measure type, occurrences by guild: categorised;
* the currents rasters (only when ``currents.enabled``): cumulative, pinch-point and Omniscape
  current on log-spaced ramps and the flow potential on a linear ramp, each from the 2nd to the
  98th percentile of the raster's positive cells (read from the raster when it exists, else a
  default range); the normalised current on a diverging ramp centred on 1 (0.1 .. 10, log-spaced:
  blue < 1 impeded, white = 1, red > 1 channelised).

Which styles a region has, and where they go, is part of the data contract
(:func:`werkland.layout.style_targets`, :meth:`werkland.layout.RegionPaths.qml`). The styles depend on
the legend, the guild list and the configuration; only the corridor range without a configured
corridor width, the ranges of the currents rasters and the geometry type of a few layers are read
from the stage outputs when present.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pyogrio

from werkland._errors import WerklandInputError
from werkland.layout import CURRENT_RASTERS, RegionPaths, StyleTarget, style_targets
from werkland.params.report import ReportParams
from werkland.raster.io import atomic_path, read_raster
from werkland.tables import Legend, load_legend, load_yaml

log = logging.getLogger(__name__)

QGIS_VERSION = "3.28.0-Firenze"

#: Style kinds of the currents rasters (:data:`werkland.layout.CURRENT_RASTERS`).
CURRENT_STYLE_KINDS: frozenset[str] = frozenset(kind for _name, kind in CURRENT_RASTERS)

#: Default intervention types (the shipped catalogue) used when no catalogue file is readable.
DEFAULT_MEASURES: tuple[str, ...] = (
    "green_roof",
    "green_roof_retention",
    "green_facade",
    "wadi",
    "rain_garden",
    "depaving",
    "tree_row",
    "flower_meadow",
    "pond",
    "hedgerow",
    "fauna_passage",
)

_QUALITATIVE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#666666", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6",
)

RAMPS: dict[str, tuple[str, ...]] = {
    "habitat": ("#f7fcf5", "#c7e9c0", "#74c476", "#238b45", "#00441b"),
    "resistance": ("#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"),
    "cooling": ("#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"),
    "runoff": ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"),
    "corridor": ("#3f007d", "#6a51a3", "#9e9ac8", "#dadaeb", "#fcfbfd"),
    "dpc": ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704"),
    "probability": ("#d9d9d9", "#969696", "#525252", "#000000"),
    "current": ("#000004", "#51127c", "#b73779", "#fc8961", "#fcfdbf"),
    "flow_potential": ("#f7fcfd", "#bfd3e6", "#8c96c6", "#88419d", "#4d004b"),
    "normalized": ("#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"),
    "groundwater": ("#08306b", "#2171b5", "#6baed6", "#c6dbef", "#f7fbff"),
    "infiltration": ("#fff7ec", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"),
    "flow_accumulation": ("#f7fbff", "#9ecae1", "#4292c6", "#08519c", "#08306b"),
}


# --------------------------------------------------------------------------------------------
# colour helpers


def _rgba(colour: str, alpha: int = 255) -> str:
    """``#rrggbb`` -> ``r,g,b,a`` (QGIS option string)."""
    c = colour.lstrip("#")
    if len(c) != 6:
        raise WerklandInputError(f"colour {colour!r} is not #rrggbb", path="legend colour", fix="use six hex digits")
    r, g, b = (int(c[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{alpha}"


def _interp(ramp: Sequence[str], t: float) -> str:
    """Colour at ``t`` in 0..1 along a ramp of hex colours."""
    t = min(1.0, max(0.0, t))
    pos = t * (len(ramp) - 1)
    i = min(int(pos), len(ramp) - 2)
    f = pos - i
    a = [int(ramp[i].lstrip("#")[k : k + 2], 16) for k in (0, 2, 4)]
    b = [int(ramp[i + 1].lstrip("#")[k : k + 2], 16) for k in (0, 2, 4)]
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def _fmt(v: float) -> str:
    return f"{v:.6g}"


# --------------------------------------------------------------------------------------------
# raster styles


def _raster_doc(renderer: str) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0">\n'
        "  <pipe>\n"
        '    <provider><resampling enabled="false" maxOversampling="2" '
        'zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/></provider>\n'
        f"{renderer}"
        '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
        '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeStrength="100" '
        'colorizeRed="255" colorizeGreen="128" colorizeBlue="128" invertColors="0"/>\n'
        '    <rasterresampler maxOversampling="2"/>\n'
        "    <resamplingStage>resamplingFilter</resamplingStage>\n"
        "  </pipe>\n"
        "  <blendMode>0</blendMode>\n"
        "</qgis>\n"
    )


def paletted_raster_qml(entries: Sequence[tuple[int, str, str]]) -> str:
    """Paletted (unique values) raster style.

    Parameters
    ----------
    entries : sequence of (value, hex colour, label)
        One palette entry per class code.

    Returns
    -------
    str
        QML text.
    """
    items = "".join(
        f'        <paletteEntry value="{int(v)}" color={quoteattr(c)} label={quoteattr(lab)} alpha="255"/>\n'
        for v, c, lab in entries
    )
    renderer = (
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        f"      <colorPalette>\n{items}      </colorPalette>\n"
        "      <colorramp type=\"randomcolors\" name=\"[source]\"/>\n"
        "    </rasterrenderer>\n"
    )
    return _raster_doc(renderer)


def pseudocolor_raster_qml(
    vmin: float,
    vmax: float,
    ramp: Sequence[str],
    *,
    n_classes: int = 5,
    log_scale: bool = False,
    unit: str = "",
    discrete: bool = False,
) -> str:
    """Single-band pseudocolour raster style with a colour ramp from ``vmin`` to ``vmax``.

    Parameters
    ----------
    vmin, vmax : float
        Range of the ramp (values outside are clamped to the end colours).
    ramp : sequence of str
        Hex colours from low to high.
    n_classes : int
        Number of ramp stops written.
    log_scale : bool
        Space the stops logarithmically (``vmin > 0``), e.g. for resistance 1..1000.
    unit : str
        Appended to the labels.
    discrete : bool
        ``DISCRETE`` classes instead of an ``INTERPOLATED`` ramp.
    """
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
        raise WerklandInputError(f"style range {vmin}..{vmax} is empty", path="styles")
    if log_scale and vmin <= 0:
        raise WerklandInputError("a logarithmic ramp needs vmin > 0", path="styles")
    n = max(2, int(n_classes))
    stops = []
    for i in range(n):
        t = i / (n - 1)
        v = vmin * (vmax / vmin) ** t if log_scale else vmin + (vmax - vmin) * t
        stops.append((v, _interp(ramp, t)))
    label_unit = f" {unit}" if unit else ""
    items = "".join(
        f'          <item value="{_fmt(v)}" color="{c}" label={quoteattr(_fmt(v) + label_unit)} alpha="255"/>\n'
        for v, c in stops
    )
    kind = "DISCRETE" if discrete else "INTERPOLATED"
    renderer = (
        f'    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
        f'classificationMin="{_fmt(vmin)}" classificationMax="{_fmt(vmax)}" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        "      <rastershader>\n"
        f'        <colorrampshader colorRampType="{kind}" classificationMode="{2 if discrete else 1}" clip="0" '
        f'minimumValue="{_fmt(vmin)}" maximumValue="{_fmt(vmax)}" labelPrecision="3">\n'
        f"{items}"
        "        </colorrampshader>\n"
        "      </rastershader>\n"
        "    </rasterrenderer>\n"
    )
    return _raster_doc(renderer)


# --------------------------------------------------------------------------------------------
# vector styles


def _opt(name: str, value: str) -> str:
    return f'            <Option name="{name}" type="QString" value={quoteattr(value)}/>\n'


def _symbol(index: str, geometry: str, colour: str, *, outline: str = "#333333", width: float = 0.6, alpha: int = 255) -> str:
    """A QGIS symbol of one simple layer: fill (polygon), line or marker (point)."""
    if geometry == "polygon":
        stype, cls = "fill", "SimpleFill"
        opts = (
            _opt("color", _rgba(colour, alpha))
            + _opt("outline_color", _rgba(outline))
            + _opt("outline_style", "solid")
            + _opt("outline_width", "0.26")
            + _opt("outline_width_unit", "MM")
            + _opt("style", "solid")
            + _opt("joinstyle", "bevel")
        )
    elif geometry == "line":
        stype, cls = "line", "SimpleLine"
        opts = (
            _opt("line_color", _rgba(colour, alpha))
            + _opt("line_style", "solid")
            + _opt("line_width", _fmt(width))
            + _opt("line_width_unit", "MM")
            + _opt("capstyle", "round")
            + _opt("joinstyle", "round")
        )
    elif geometry == "point":
        stype, cls = "marker", "SimpleMarker"
        opts = (
            _opt("color", _rgba(colour, alpha))
            + _opt("name", "circle")
            + _opt("outline_color", _rgba(outline))
            + _opt("outline_width", "0.2")
            + _opt("size", "2.4")
            + _opt("size_unit", "MM")
        )
    else:
        raise WerklandInputError(f"unknown geometry type {geometry!r}", path="styles", fix="polygon, line or point")
    return (
        f'      <symbol type="{stype}" name="{index}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
        f'        <layer class="{cls}" enabled="1" pass="0" locked="0">\n'
        '          <Option type="Map">\n'
        f"{opts}"
        "          </Option>\n"
        "        </layer>\n"
        "      </symbol>\n"
    )


def _vector_doc(renderer: str) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">\n'
        f"{renderer}"
        "  <blendMode>0</blendMode>\n"
        "  <featureBlendMode>0</featureBlendMode>\n"
        "</qgis>\n"
    )


def single_vector_qml(geometry: str, colour: str, *, outline: str = "#333333", alpha: int = 255, width: float = 0.6) -> str:
    """Single-symbol vector style."""
    renderer = (
        '  <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">\n'
        "    <symbols>\n"
        f"{_symbol('0', geometry, colour, outline=outline, alpha=alpha, width=width)}"
        "    </symbols>\n"
        "  </renderer-v2>\n"
    )
    return _vector_doc(renderer)


def categorised_vector_qml(
    field: str,
    categories: Sequence[tuple[Any, str, str]],
    geometry: str,
    *,
    width: float = 0.8,
    alpha: int = 255,
) -> str:
    """Categorised vector style.

    Parameters
    ----------
    field : str
        Attribute to classify on.
    categories : sequence of (value, hex colour, label)
        One category per value; a final catch-all (empty value) in grey is added.
    geometry : {"polygon", "line", "point"}
        Geometry type of the layer.
    """
    cats = list(categories) + [("", "#bdbdbd", "other")]
    rows = "".join(
        f'      <category value={quoteattr(str(v))} symbol="{i}" label={quoteattr(lab)} render="true"/>\n'
        for i, (v, _c, lab) in enumerate(cats)
    )
    syms = "".join(_symbol(str(i), geometry, c, width=width, alpha=alpha) for i, (_v, c, _lab) in enumerate(cats))
    renderer = (
        f'  <renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} symbollevels="0" enableorderby="0" forceraster="0">\n'
        f"    <categories>\n{rows}    </categories>\n"
        f"    <symbols>\n{syms}    </symbols>\n"
        "  </renderer-v2>\n"
    )
    return _vector_doc(renderer)


def graduated_vector_qml(
    field: str,
    breaks: Sequence[float],
    ramp: Sequence[str],
    geometry: str,
    *,
    unit: str = "",
    widths: Sequence[float] | None = None,
) -> str:
    """Graduated vector style with ranges ``breaks[i]..breaks[i+1]``.

    Parameters
    ----------
    field : str
        Numeric attribute.
    breaks : sequence of float
        Increasing class limits (at least two).
    ramp : sequence of str
        Hex colours from low to high.
    geometry : {"polygon", "line", "point"}
    unit : str
        Appended to the labels.
    widths : sequence of float, optional
        Line width per class (mm).
    """
    b = [float(x) for x in breaks]
    if len(b) < 2 or any(y <= x for x, y in zip(b, b[1:], strict=False)):
        raise WerklandInputError(f"class breaks {b} must increase", path="styles")
    n = len(b) - 1
    u = f" {unit}" if unit else ""
    rows = "".join(
        f'      <range lower="{_fmt(b[i])}" upper="{_fmt(b[i + 1])}" symbol="{i}" '
        f'label={quoteattr(f"{_fmt(b[i])} - {_fmt(b[i + 1])}{u}")} render="true"/>\n'
        for i in range(n)
    )
    syms = "".join(
        _symbol(str(i), geometry, _interp(ramp, i / max(1, n - 1)), width=(widths[i] if widths else 0.8))
        for i in range(n)
    )
    renderer = (
        f'  <renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} graduatedMethod="GraduatedColor" '
        'symbollevels="0" enableorderby="0" forceraster="0">\n'
        f"    <ranges>\n{rows}    </ranges>\n"
        f"    <symbols>\n{syms}    </symbols>\n"
        "  </renderer-v2>\n"
    )
    return _vector_doc(renderer)


# --------------------------------------------------------------------------------------------
# the region's style set


def measure_types(catalogue: str | os.PathLike[str] | None) -> list[str]:
    """Intervention types of a catalogue YAML (``types``, ``interventions`` or ``measures``), else the defaults."""
    if not catalogue or not Path(catalogue).is_file():
        return list(DEFAULT_MEASURES)
    try:
        raw = load_yaml(catalogue)
    except WerklandInputError:
        return list(DEFAULT_MEASURES)
    if not isinstance(raw, Mapping):
        return list(DEFAULT_MEASURES)
    body = raw.get("types", raw.get("interventions", raw.get("measures", raw)))
    if isinstance(body, Mapping):
        names = [str(k) for k in body]
    elif isinstance(body, list):
        names = [str(e.get("type", e.get("name"))) for e in body if isinstance(e, Mapping)]
    else:
        names = []
    return names or list(DEFAULT_MEASURES)


def _geometry_of(path: Path, layer: str | None, default: str) -> str:
    """polygon / line / point of a GeoPackage layer (the first layer when None) if the file exists, else ``default``."""
    if not path.is_file():
        return default
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="More than one layer found", category=UserWarning)
            info = pyogrio.read_info(path, layer=layer)
        gt = str(info.get("geometry_type") or "").lower()
    except Exception:
        return default
    if "polygon" in gt:
        return "polygon"
    if "line" in gt:
        return "line"
    if "point" in gt:
        return "point"
    return default


#: Corridor style range (cost-m) while neither the config nor the guild's summary gives the width.
_CORRIDOR_RANGE_UNKNOWN = 1000.0
#: Runoff style range (mm) of a storm without rain (or not configured).
_RUNOFF_RANGE_DEFAULT_MM = 70.0


def _corridor_width(paths: RegionPaths, guild: str, params: ReportParams) -> float:
    """Corridor truncation (cost-m): the configured width, else the one the guild's summary records."""
    if params.corridor_width_cost:
        return float(params.corridor_width_cost)
    summary = paths.summary(guild)
    if summary.exists():
        recorded = json.loads(summary.read_text()).get("corridor_width")
        if recorded:
            return float(recorded)
    return _CORRIDOR_RANGE_UNKNOWN  # style range only, when the stage has not run yet


def _barriers_qml(target: StyleTarget, data: Path) -> str:
    cats = [
        ("top 10", "#b2182b", "rank 1-10"),
        ("11-50", "#ef8a62", "rank 11-50"),
        ("51+", "#999999", "rank > 50"),
    ]
    geometry = _geometry_of(data, target.layer, "line")
    field = "multi_rank" if target.data.endswith("all_guilds.gpkg") else "rank"
    qml = graduated_vector_qml(
        field, [0.5, 10.5, 50.5, 1e9], ("#b2182b", "#ef8a62", "#999999"), geometry, widths=[1.6, 1.0, 0.5]
    )
    # labels readable in the layer panel
    for (_v, _c, lab), rng in zip(cats, ("0.5 - 10.5", "10.5 - 50.5", "50.5 - 1e+09"), strict=True):
        qml = qml.replace(f'label="{rng}"', f'label="{lab}"')
    return qml


def _legend_styles(legend: Legend) -> dict[str, Callable[[], str]]:
    return {
        "landcover_raster": lambda: paletted_raster_qml([(c.code, c.colour, c.name) for c in legend.classes]),
        "landcover_vector": lambda: categorised_vector_qml(
            "class", [(c.name, c.colour, c.name) for c in legend.classes], "polygon"
        ),
        "landcover_lines": lambda: categorised_vector_qml(
            "class", [(c.name, c.colour, c.name) for c in legend.classes if c.width_m], "line", width=0.6
        ),
    }


#: Styles that depend on nothing but their kind.
_FIXED_STYLES: dict[str, Callable[[], str]] = {
    "region": lambda: single_vector_qml("polygon", "#ffffff", outline="#636363", alpha=0),
    "parks": lambda: single_vector_qml("polygon", "#000000", outline="#000000", alpha=0),
    "habitat": lambda: pseudocolor_raster_qml(0.0, 1.0, RAMPS["habitat"], n_classes=6, unit="suitability"),
    "resistance": lambda: pseudocolor_raster_qml(
        1.0, 1000.0, RAMPS["resistance"], n_classes=4, log_scale=True, unit="per m"
    ),
    "patch_ids": lambda: pseudocolor_raster_qml(
        1.0, 50.0, _QUALITATIVE, n_classes=12, discrete=True, unit="(patch id)"
    ),
    "patches": lambda: graduated_vector_qml("dPC", [0, 1, 5, 10, 25, 100], RAMPS["dpc"], "polygon", unit="%"),
    "links": lambda: graduated_vector_qml(
        "p_direct", [0, 0.05, 0.25, 0.5, 1.0], RAMPS["probability"], "line", widths=[0.3, 0.5, 0.8, 1.2]
    ),
    "cooling": lambda: pseudocolor_raster_qml(0.0, 1.0, RAMPS["cooling"], n_classes=6, unit="HM"),
    # hydrologic soil group codes of climate/soil_group.tif (1..4 = A..D, 0 nodata)
    "soil_group": lambda: paletted_raster_qml([
        (1, "#ffffb2", "A (sand, high infiltration)"), (2, "#fecc5c", "B"), (3, "#fd8d3c", "C"),
        (4, "#bd0026", "D (clay, peat or shallow groundwater)"),
    ]),
    # GHG: 0 m (groundwater at the surface, dark) .. 2 m and deeper
    "ghg": lambda: pseudocolor_raster_qml(0.0, 2.0, RAMPS["groundwater"], n_classes=5, unit="m below surface"),
    "infiltration": lambda: pseudocolor_raster_qml(0.0, 100.0, RAMPS["infiltration"], n_classes=5, unit="mm/h"),
    # upslope area: one 10 m cell .. 1 km2, logarithmic
    "flow_accumulation": lambda: pseudocolor_raster_qml(
        100.0, 1.0e6, RAMPS["flow_accumulation"], n_classes=5, log_scale=True, unit="m2 upslope"
    ),
}


#: Currents style ranges (A) used while a raster is absent or has no positive cell.
_CURRENT_RANGE_DEFAULT: tuple[float, float] = (1e-3, 1.0)
#: Values sampled at most per raster for its style range (a regular stride, deterministic).
_RANGE_SAMPLE = 4_000_000


def current_range(path: Path, *, low: float = 2.0, high: float = 98.0) -> tuple[float, float]:
    """Style range of a currents raster: the ``low`` and ``high`` percentiles of its positive cells.

    Nodata, NaN and cells <= 0 are left out. Without the file or any positive cell the default
    :data:`_CURRENT_RANGE_DEFAULT` is returned; a degenerate range is widened to ``(v / 10, v)``.
    """
    if not path.is_file():
        return _CURRENT_RANGE_DEFAULT
    arr, _grid, nodata = read_raster(path)
    vals = arr.ravel()
    if vals.size > _RANGE_SAMPLE:
        vals = vals[:: int(math.ceil(vals.size / _RANGE_SAMPLE))]
    vals = vals.astype(np.float64)
    keep = np.isfinite(vals) & (vals > 0)
    if nodata is not None and math.isfinite(float(nodata)):
        keep &= vals != float(nodata)
    vals = vals[keep]
    if vals.size == 0:
        return _CURRENT_RANGE_DEFAULT
    lo, hi = (float(v) for v in np.percentile(vals, [low, high]))
    if not hi > lo:
        hi = max(hi, float(vals.max()))
        lo = min(lo, hi / 10.0)
    return lo, hi


def _current_qml(kind: str, data: Path) -> str:
    """Style of a currents raster (see the module docstring)."""
    if kind == "normalized":
        return pseudocolor_raster_qml(0.1, 10.0, RAMPS["normalized"], n_classes=5, log_scale=True,
                                      unit="ratio")
    lo, hi = current_range(data)
    if kind == "flow_potential":
        return pseudocolor_raster_qml(lo, hi, RAMPS["flow_potential"], n_classes=5, unit="A")
    return pseudocolor_raster_qml(lo, hi, RAMPS["current"], n_classes=5, log_scale=True, unit="A")


def currents_enabled(params: ReportParams) -> bool:
    """Whether the run's configuration switches the currents stage on (``currents.enabled``)."""
    section = params.config_as_run.get("currents") or {}
    return bool(section.get("enabled", False)) if isinstance(section, Mapping) else False


def style_text(
    target: StyleTarget,
    *,
    legend: Legend,
    guild_labels: Mapping[str, str],
    params: ReportParams,
    paths: RegionPaths,
) -> str:
    """The QML text of one style target.

    Raises
    ------
    WerklandInputError
        An unknown style kind.
    """
    kind = target.kind
    data = paths.dir / target.data
    fixed = {**_legend_styles(legend), **_FIXED_STYLES}
    if kind in fixed:
        return fixed[kind]()
    if kind == "corridor":
        width = _corridor_width(paths, Path(target.data).stem, params)
        return pseudocolor_raster_qml(0.0, width, RAMPS["corridor"], n_classes=5, unit="cost-m above LCD")
    if kind == "barriers":
        return _barriers_qml(target, data)
    if kind in CURRENT_STYLE_KINDS:
        return _current_qml(kind, data)
    if kind == "occurrences":
        cats = [(g, _QUALITATIVE[i % len(_QUALITATIVE)], guild_labels[g]) for i, g in enumerate(guild_labels)]
        return categorised_vector_qml("guild", cats, "point")
    if kind.startswith(("runoff:", "ponding:")):
        storm = kind.split(":", 1)[1]
        depths = {s.name: s.depth_mm for s in params.storms}
        depth = depths.get(storm, _RUNOFF_RANGE_DEFAULT_MM) or _RUNOFF_RANGE_DEFAULT_MM
        return pseudocolor_raster_qml(0.0, max(depth, 1.0), RAMPS["runoff"], n_classes=5, unit="mm")
    if kind == "candidates":
        types = measure_types(params.catalogue)
        cats = [(m, _QUALITATIVE[i % len(_QUALITATIVE)], m.replace("_", " ")) for i, m in enumerate(types)]
        return categorised_vector_qml("type", cats, _geometry_of(data, target.layer, "polygon"), alpha=200)
    raise WerklandInputError(f"unknown style kind {kind!r}", path="styles")


def write_region_styles(
    paths: RegionPaths,
    legend_yaml: str | os.PathLike[str],
    guilds: Sequence[str] | Mapping[str, str],
    params: ReportParams,
    *,
    only: Sequence[str | os.PathLike[str]] | None = None,
) -> list[Path]:
    """Write the ``.qml`` style of every layer of a region beside its file (``paths.qml(target)``).

    Parameters
    ----------
    paths : RegionPaths
        The region's files.
    legend_yaml : path-like
        ``config/landcover_classes.yaml``.
    guilds : sequence of str or mapping of str to str
        Guild ids (or id -> readable label).
    params : ReportParams
        Storms, corridor width and intervention catalogue.
    only : sequence of path-like, optional
        Write just these ``.qml`` paths (absolute, or relative to ``paths.dir``).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    legend = load_legend(legend_yaml)
    labels = dict(guilds) if isinstance(guilds, Mapping) else {g: g for g in guilds}
    wanted = None
    if only is not None:
        wanted = {str(Path(p)) if Path(p).is_absolute() else str(paths.dir / p) for p in only}
    written = []
    for t in style_targets(list(labels), params.storm_names, currents=currents_enabled(params)):
        out = paths.qml(t)
        if wanted is not None and str(out) not in wanted:
            continue
        text = style_text(t, legend=legend, guild_labels=labels, params=params, paths=paths)
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(out)
    log.info("wrote %d QGIS styles under %s", len(written), paths.dir)
    return written

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
* barriers by rank, candidates by measure type, occurrences by guild: categorised.

The styles depend only on the legend, the guild list and the configuration (not on the data), so
they can be written before or after the stages run.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from werkland._errors import WerklandInputError

log = logging.getLogger(__name__)

QGIS_VERSION = "3.28.0-Firenze"

#: Default intervention types (issue 7 catalogue) used when no catalogue file is readable.
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
}


@dataclass(frozen=True)
class StyleTarget:
    """One style file: the data file it styles, the layer, and the ``.qml`` path (relative to the region)."""

    data: str
    layer: str | None
    qml: str
    kind: str


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


def _storm_names(config: Mapping[str, Any]) -> list[tuple[str, float]]:
    storms = ((config.get("climate") or {}).get("storms")) or [{"name": "70mm_2h", "depth_mm": 70}]
    return [(str(s["name"]), float(s.get("depth_mm", 70) or 70)) for s in storms]


def measure_types(config: Mapping[str, Any]) -> list[str]:
    """Intervention types from the catalogue of ``config["interventions"]["catalogue"]`` (or the defaults)."""
    from werkland.tables import load_yaml

    path = (config.get("interventions") or {}).get("catalogue")
    if path and Path(path).is_file():
        try:
            raw = load_yaml(path)
        except WerklandInputError:
            raw = None
        if isinstance(raw, Mapping):
            body = raw.get("types", raw.get("interventions", raw.get("measures", raw)))
            if isinstance(body, Mapping):
                names = [str(k) for k in body]
            elif isinstance(body, list):
                names = [str(e.get("type", e.get("name"))) for e in body if isinstance(e, Mapping)]
            else:
                names = []
            if names:
                return names
    return list(DEFAULT_MEASURES)


def style_targets(guilds: Sequence[str], storms: Sequence[str]) -> list[StyleTarget]:
    """Every style file of a region (paths relative to ``results/{region}``).

    Parameters
    ----------
    guilds : sequence of str
        Guild ids.
    storms : sequence of str
        Design-storm names (``climate/runoff_<storm>.tif``).
    """
    t = [
        StyleTarget("landcover.tif", None, "landcover.qml", "landcover_raster"),
        StyleTarget("landcover.gpkg", "landcover", "landcover_landcover.qml", "landcover_vector"),
        StyleTarget("landcover.gpkg", "lines", "landcover_lines.qml", "landcover_lines"),
        StyleTarget("region.gpkg", "region", "region_region.qml", "region"),
        StyleTarget("region.gpkg", "parks", "region_parks.qml", "parks"),
    ]
    for g in guilds:
        t += [
            StyleTarget(f"habitat/{g}.tif", None, f"habitat/{g}.qml", "habitat"),
            StyleTarget(f"resistance/{g}.tif", None, f"resistance/{g}.qml", "resistance"),
            StyleTarget(f"patches/{g}.tif", None, f"patches/{g}.qml", "patch_ids"),
            StyleTarget(f"patches/{g}.gpkg", "patches", f"patches/{g}_patches.qml", "patches"),
            StyleTarget(f"graph/{g}_links.gpkg", "links", f"graph/{g}_links.qml", "links"),
            StyleTarget(f"corridors/{g}.tif", None, f"corridors/{g}.qml", "corridor"),
            StyleTarget(f"barriers/{g}.gpkg", None, f"barriers/{g}.qml", "barriers"),
        ]
    t += [
        StyleTarget("barriers/all_guilds.gpkg", None, "barriers/all_guilds.qml", "barriers"),
        StyleTarget("species/occurrences.gpkg", "occurrences", "species/occurrences.qml", "occurrences"),
        StyleTarget("climate/cooling.tif", None, "climate/cooling.qml", "cooling"),
    ]
    t += [StyleTarget(f"climate/runoff_{s}.tif", None, f"climate/runoff_{s}.qml", f"runoff:{s}") for s in storms]
    t.append(StyleTarget("interventions/candidates.gpkg", None, "interventions/candidates.qml", "candidates"))
    return t


def _geometry_of(path: Path, layer: str | None, default: str) -> str:
    """polygon / line / point of a GeoPackage layer if the file exists, else ``default``."""
    if not path.is_file():
        return default
    try:
        import pyogrio

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


def _corridor_width(corridor_tif: Path, config: Mapping[str, Any]) -> float:
    """Corridor truncation (cost-m): the configured width, else the one the guild's summary records."""
    width = (config.get("connectivity") or {}).get("corridor_width_cost")
    if width:
        return float(width)
    summary = corridor_tif.parent.parent / "graph" / f"{corridor_tif.stem}_summary.json"
    if summary.exists():
        import json

        recorded = json.loads(summary.read_text()).get("corridor_width")
        if recorded:
            return float(recorded)
    return 1000.0  # style range only, when the stage has not run yet


def style_text(
    target: StyleTarget,
    *,
    legend: Any,
    guild_labels: Mapping[str, str],
    config: Mapping[str, Any],
    region_dir: Path,
) -> str:
    """The QML text of one style target."""
    kind = target.kind
    data = region_dir / target.data
    if kind == "landcover_raster":
        return paletted_raster_qml([(c.code, c.colour, c.name) for c in legend.classes])
    if kind == "landcover_vector":
        return categorised_vector_qml("class", [(c.name, c.colour, c.name) for c in legend.classes], "polygon")
    if kind == "landcover_lines":
        return categorised_vector_qml(
            "class", [(c.name, c.colour, c.name) for c in legend.classes if c.width_m], "line", width=0.6
        )
    if kind == "region":
        return single_vector_qml("polygon", "#ffffff", outline="#636363", alpha=0)
    if kind == "parks":
        return single_vector_qml("polygon", "#000000", outline="#000000", alpha=0)
    if kind == "habitat":
        return pseudocolor_raster_qml(0.0, 1.0, RAMPS["habitat"], n_classes=6, unit="suitability")
    if kind == "resistance":
        return pseudocolor_raster_qml(1.0, 1000.0, RAMPS["resistance"], n_classes=4, log_scale=True, unit="per m")
    if kind == "patch_ids":
        return pseudocolor_raster_qml(1.0, 50.0, _QUALITATIVE, n_classes=12, discrete=True, unit="(patch id)")
    if kind == "patches":
        return graduated_vector_qml("dPC", [0, 1, 5, 10, 25, 100], RAMPS["dpc"], "polygon", unit="%")
    if kind == "links":
        return graduated_vector_qml(
            "p_direct", [0, 0.05, 0.25, 0.5, 1.0], RAMPS["probability"], "line", widths=[0.3, 0.5, 0.8, 1.2]
        )
    if kind == "corridor":
        width = _corridor_width(data, config)
        return pseudocolor_raster_qml(0.0, width, RAMPS["corridor"], n_classes=5, unit="cost-m above LCD")
    if kind == "barriers":
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
    if kind == "occurrences":
        guilds = list(guild_labels)
        cats = [(g, _QUALITATIVE[i % len(_QUALITATIVE)], guild_labels[g]) for i, g in enumerate(guilds)]
        return categorised_vector_qml("guild", cats, "point")
    if kind == "cooling":
        return pseudocolor_raster_qml(0.0, 1.0, RAMPS["cooling"], n_classes=6, unit="HM")
    if kind.startswith("runoff:"):
        storm = kind.split(":", 1)[1]
        depth = dict(_storm_names(config)).get(storm, 70.0) or 70.0
        return pseudocolor_raster_qml(0.0, max(depth, 1.0), RAMPS["runoff"], n_classes=5, unit="mm")
    if kind == "candidates":
        types = measure_types(config)
        cats = [(m, _QUALITATIVE[i % len(_QUALITATIVE)], m.replace("_", " ")) for i, m in enumerate(types)]
        return categorised_vector_qml("type", cats, _geometry_of(data, target.layer, "polygon"), alpha=200)
    raise WerklandInputError(f"unknown style kind {kind!r}", path="styles")


def write_region_styles(
    region_dir: str | os.PathLike[str],
    legend_yaml: str | os.PathLike[str],
    guilds: Sequence[str] | Mapping[str, str],
    config: Mapping[str, Any],
    *,
    only: Sequence[str | os.PathLike[str]] | None = None,
) -> list[Path]:
    """Write the ``.qml`` style of every layer of a region beside its file.

    Parameters
    ----------
    region_dir : path-like
        ``results/{region}``.
    legend_yaml : path-like
        ``config/landcover_classes.yaml``.
    guilds : sequence of str or mapping of str to str
        Guild ids (or id -> readable label).
    config : mapping
        Workflow configuration (storms, corridor width, intervention catalogue).
    only : sequence of path-like, optional
        Write just these ``.qml`` paths (absolute, or relative to ``region_dir``).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from werkland.raster.io import atomic_path
    from werkland.tables import load_legend

    d = Path(region_dir)
    legend = load_legend(legend_yaml)
    labels = dict(guilds) if isinstance(guilds, Mapping) else {g: g for g in guilds}
    storms = [s for s, _ in _storm_names(config)]
    targets = style_targets(list(labels), storms)
    wanted = None
    if only is not None:
        wanted = {str(Path(p)) if Path(p).is_absolute() else str(d / p) for p in only}
    written = []
    for t in targets:
        out = d / t.qml
        if wanted is not None and str(out) not in wanted:
            continue
        text = style_text(t, legend=legend, guild_labels=labels, config=config, region_dir=d)
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(out)
    log.info("wrote %d QGIS styles under %s", len(written), d)
    return written

"""A synthetic, complete BGT area written the way PDOK delivers GML-light, for the BGT reader tests.

:func:`build_area` makes objects for every value path of a mapping file (enumerated from the raw
YAML, independently of the reader), plus objects the reader must skip (ended, planned or historic,
bridge and tunnel levels) and objects of types mapped to null. :func:`write_area` writes them as one
``bgt_<type>.gml`` per object type: ``gml:FeatureCollection`` of ``gml:featureMember`` elements in
the ``imgeo-s`` namespace, no ``srsName``, some ``gml:Arc`` curves, polygons with holes, Pand as
``gml:MultiSurface``, BegroeidTerreindeel with a second geometry (``kruinlijn``), lines for
Scheiding and Spoor. Coordinates are RD New (EPSG:28992), one 20 m cell per object.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import shapely
import yaml

CELL_M = 20.0
COLUMNS = 40
HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gml:FeatureCollection xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:imgeo-s="http://www.geostandaarden.nl/imgeo/2.1/simple/gml31" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:gml="http://www.opengis.net/gml" '
    'xsi:schemaLocation="http://www.geostandaarden.nl/imgeo/2.1/simple/gml31 imgeo-simple-2.1-gml31.xsd '
    'http://www.opengis.net/gml http://schemas.opengis.net/gml/3.1.1/base/gml.xsd">\n'
)
LINE_TYPES = frozenset({"Scheiding", "Spoor"})
#: Void reason used for "*" (any other value) leaves of plus-* refinements.
OTHER_VALUE = "waardeOnbekend"


@dataclass
class AreaObject:
    """One object of the synthetic area and what the reader must make of it."""

    id: str
    layer: str
    values: dict[str, str]
    x: float
    y: float
    shape: str = "square"  # square | arc | hole | multi | line | arcline | thin
    level: int = 0
    ended: str = ""  # "" | eindRegistratie | objectEindTijd
    crest: bool = False
    bag_id: str = ""
    expected: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def geometry(self) -> shapely.Geometry:
        """The geometry as written (arcs densified), RD New."""
        x, y = self.x, self.y
        if self.shape in ("line", "arcline"):
            if self.shape == "line":
                return shapely.LineString([(x + 2, y + 10), (x + 18, y + 10)])
            return shapely.LineString(_arc((x + 2, y + 10), (x + 10, y + 13), (x + 18, y + 10)))
        if self.shape == "thin":
            return shapely.box(x + 2, y + 9.85, x + 18, y + 10.15)
        if self.shape == "arc":
            top = _arc((x + 18, y + 18), (x + 10, y + 15), (x + 2, y + 18))
            return shapely.Polygon([(x + 2, y + 2), (x + 18, y + 2), *top, (x + 2, y + 2)])
        outer = shapely.box(x + 2, y + 2, x + 18, y + 18)
        if self.shape == "hole":
            return outer.difference(shapely.box(x + 8, y + 8, x + 12, y + 12))
        return outer


def _arc(p1: Sequence[float], p2: Sequence[float], p3: Sequence[float], n: int = 64) -> list[tuple[float, float]]:
    """Points along the circular arc through three points (start, middle, end)."""
    (ax, ay), (bx, by), (cx, cy) = p1, p2, p3
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    ux = ((ax**2 + ay**2) * (by - cy) + (bx**2 + by**2) * (cy - ay) + (cx**2 + cy**2) * (ay - by)) / d
    uy = ((ax**2 + ay**2) * (cx - bx) + (bx**2 + by**2) * (ax - cx) + (cx**2 + cy**2) * (bx - ax)) / d
    r = math.hypot(ax - ux, ay - uy)
    a1, a2, a3 = (math.atan2(py - uy, px - ux) for px, py in (p1, p2, p3))
    # go from a1 to a3 in the direction that passes a2
    ccw = (a2 - a1) % (2 * math.pi) < (a3 - a1) % (2 * math.pi)
    sweep = (a3 - a1) % (2 * math.pi) if ccw else -((a1 - a3) % (2 * math.pi))
    pts = [(ux + r * math.cos(a1 + sweep * i / n), uy + r * math.sin(a1 + sweep * i / n)) for i in range(n + 1)]
    pts[0], pts[-1] = (ax, ay), (cx, cy)
    return pts


def _pos(coords: Iterable[Sequence[float]]) -> str:
    return " ".join(f"{x:.3f} {y:.3f}" for x, y in coords)


def _ring(coords: Sequence[Sequence[float]]) -> str:
    return f"<gml:LinearRing><gml:posList>{_pos(coords)}</gml:posList></gml:LinearRing>"


def _geometry_xml(o: AreaObject) -> str:
    x, y = o.x, o.y
    if o.shape == "line":
        return f"<gml:LineString><gml:posList>{_pos([(x + 2, y + 10), (x + 18, y + 10)])}</gml:posList></gml:LineString>"
    if o.shape == "arcline":
        return ("<gml:Curve><gml:segments><gml:Arc><gml:posList>"
                f"{_pos([(x + 2, y + 10), (x + 10, y + 13), (x + 18, y + 10)])}"
                "</gml:posList></gml:Arc></gml:segments></gml:Curve>")
    if o.shape == "arc":  # three straight sides and an Arc on top, as a gml:Ring of curve segments
        return ("<gml:Polygon><gml:exterior><gml:Ring><gml:curveMember><gml:Curve><gml:segments>"
                "<gml:LineStringSegment><gml:posList>"
                f"{_pos([(x + 2, y + 18), (x + 2, y + 2), (x + 18, y + 2), (x + 18, y + 18)])}"
                "</gml:posList></gml:LineStringSegment><gml:Arc><gml:posList>"
                f"{_pos([(x + 18, y + 18), (x + 10, y + 15), (x + 2, y + 18)])}"
                "</gml:posList></gml:Arc></gml:segments></gml:Curve></gml:curveMember></gml:Ring>"
                "</gml:exterior></gml:Polygon>")
    g = o.geometry
    inner = "".join(f"<gml:interior>{_ring(r.coords)}</gml:interior>" for r in g.interiors)
    poly = f"<gml:Polygon><gml:exterior>{_ring(g.exterior.coords)}</gml:exterior>{inner}</gml:Polygon>"
    if o.shape == "multi":
        return f"<gml:MultiSurface><gml:surfaceMember>{poly}</gml:surfaceMember></gml:MultiSurface>"
    return poly


def feature_xml(o: AreaObject) -> str:
    """One gml:featureMember in the element order of PDOK GML-light."""
    e = ["<imgeo-s:objectBeginTijd>2016-03-08</imgeo-s:objectBeginTijd>"]
    if o.ended == "objectEindTijd":
        e.append("<imgeo-s:objectEindTijd>2019-01-01</imgeo-s:objectEindTijd>")
    e += ["<imgeo-s:identificatie.namespace>NL.IMGeo</imgeo-s:identificatie.namespace>",
          f"<imgeo-s:identificatie.lokaalID>{escape(o.id)}</imgeo-s:identificatie.lokaalID>",
          "<imgeo-s:tijdstipRegistratie>2016-03-08T18:21:50.000</imgeo-s:tijdstipRegistratie>"]
    if o.ended == "eindRegistratie":
        e.append("<imgeo-s:eindRegistratie>2019-01-02T10:00:00.000</imgeo-s:eindRegistratie>")
    e += ["<imgeo-s:LV-publicatiedatum>2016-04-13T09:22:32.000</imgeo-s:LV-publicatiedatum>",
          "<imgeo-s:bronhouder>G9999</imgeo-s:bronhouder>", "<imgeo-s:inOnderzoek>false</imgeo-s:inOnderzoek>",
          f"<imgeo-s:relatieveHoogteligging>{o.level}</imgeo-s:relatieveHoogteligging>"]
    values = {"bgt-status": "bestaand", **o.values}
    e += [f"<imgeo-s:{k}>{escape(v)}</imgeo-s:{k}>" for k, v in values.items()]
    if o.bag_id:
        e.append(f"<imgeo-s:identificatieBAGPND>{o.bag_id}</imgeo-s:identificatieBAGPND>")
    e.append(f"<imgeo-s:geometrie2d>{_geometry_xml(o)}</imgeo-s:geometrie2d>")
    if o.crest:  # a second geometry property: the crest line of a slope (bottom edge)
        e.append("<imgeo-s:kruinlijn><gml:LineString><gml:posList>"
                 f"{_pos([(o.x + 2, o.y + 2), (o.x + 18, o.y + 2)])}</gml:posList></gml:LineString></imgeo-s:kruinlijn>")
    body = "\n      ".join(e)
    gid = "b" + o.id.replace(".", "-")
    return (f"  <gml:featureMember>\n    <imgeo-s:{o.layer} gml:id=\"{gid}\">\n      {body}\n"
            f"    </imgeo-s:{o.layer}>\n  </gml:featureMember>\n")


def write_gml(path: str | Path, layer: str, objects: Sequence[AreaObject]) -> Path:
    """Write objects of one type as a GML-light file (an empty collection when there are none)."""
    p = Path(path)
    p.write_text(HEADER + "".join(feature_xml(o) for o in objects if o.layer == layer)
                 + "</gml:FeatureCollection>\n", encoding="utf-8")
    return p


def mapping_cases(mapping_path: str | Path) -> list[tuple[str, dict[str, str], str | None]]:
    """Every value path of a mapping file: (object type, attribute values to write, class or None).

    ``""`` leaves leave the attribute out; ``"*"`` leaves write :data:`OTHER_VALUE`.
    """
    raw = yaml.safe_load(Path(mapping_path).read_text(encoding="utf-8"))
    cases: list[tuple[str, dict[str, str], str | None]] = []

    def walk(layer: str, attr: str, values: dict[str, Any], written: dict[str, str]) -> None:
        for value, target in values.items():
            w = dict(written)
            if value == "*":
                w[attr] = OTHER_VALUE
            elif value not in ("", None):
                w[attr] = str(value)
            if isinstance(target, dict):
                (sub, subvalues), = target.items()
                walk(layer, sub, subvalues, w)
            else:
                cases.append((layer, w, target))

    for layer, entry in raw["layers"].items():
        if layer == "*":
            continue
        if isinstance(entry, dict):
            attrs = [k for k in entry if k not in ("aliases", "class", "width_m")]
            if attrs:
                walk(layer, attrs[0], entry[attrs[0]], {})
                continue
            entry = entry.get("class")
        cases.append((layer, {}, entry))
    return cases


def build_area(mapping_path: str | Path, *, origin: tuple[float, float] = (155000.0, 463000.0),
               copies: int = 2) -> list[AreaObject]:
    """All objects of the synthetic area with their expected class (``None``: skipped, see ``reason``)."""
    objs: list[AreaObject] = []
    first: dict[str, AreaObject] = {}

    def add(layer: str, values: dict[str, str], expected: str | None, reason: str, **kw: Any) -> AreaObject:
        k = len(objs)
        x, y = origin[0] + (k % COLUMNS) * CELL_M, origin[1] + (k // COLUMNS) * CELL_M
        shape = kw.pop("shape", None)
        if shape is None:
            if layer in LINE_TYPES:
                shape = ("line", "arcline", "thin")[k % 3] if layer == "Scheiding" else ("line", "arcline")[k % 2]
            else:
                shape = "multi" if layer == "Pand" else ("square", "arc", "hole")[k % 3]
        o = AreaObject(f"G9999.{layer[:6].lower()}{k:05d}", layer, values, x, y, shape=shape,
                       expected=expected, reason=reason, **kw)
        if layer == "Pand":
            o.bag_id = f"0999100000{k:06d}"
        if layer == "BegroeidTerreindeel" and k % 4 == 0 and shape != "hole":
            o.crest = True
        objs.append(o)
        return o

    for layer, values, target in mapping_cases(mapping_path):
        for _ in range(copies):
            if target is None and not values and layer not in first:
                add(layer, {}, None, "layer mapped to null")
            elif target is not None or values:
                o = add(layer, values, target, "" if target is not None else "mapped to null")
                first.setdefault(layer, o)
    # objects that are not part of the current ground surface, plus a void-reason plus-status
    for layer, o in first.items():
        if o.expected is None:
            continue
        add(layer, o.values, None, "ended", ended="eindRegistratie")
        add(layer, o.values, None, "ended", ended="objectEindTijd")
        add(layer, {**o.values, "plus-status": "historie"}, None, "status historie")
        add(layer, {**o.values, "plus-status": "plan"}, None, "status plan")
        add(layer, o.values, None, "level 1", level=1)
        add(layer, o.values, None, "level -1", level=-1)
        add(layer, {**o.values, "plus-status": "geenWaarde"}, o.expected, "")
    return objs


def write_area(folder: str | Path, objects: Sequence[AreaObject]) -> list[Path]:
    """Write one ``bgt_<type>.gml`` per object type into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    layers = sorted({o.layer for o in objects})
    return [write_gml(out / f"bgt_{layer.lower()}.gml", layer, objects) for layer in layers]


def zip_area(files: Sequence[Path], zip_path: str | Path) -> Path:
    """Zip GML files flat, as the PDOK download does."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.name)
    return Path(zip_path)

"""Cut the regions that share one large OpenStreetMap file out of it, so land cover reads small files.

A national or provincial ``.osm.pbf`` shared by many regions (a regions table, or one region per park
of a parks file) is cut once into ``resources/osm/{region}.osm.pbf`` with ``osmium extract --strategy
smart``: every way with a node in a region's box is complete, and so is every multipolygon relation
with a member in it, so features crossing the box edge keep their full geometry. The land-cover stage
then reads the small file instead of scanning the national one for every region.

Each region's box is the box the land-cover stage reads (``clip_lonlat``; or the region's parks,
buffered by ``context_buffer_m`` + 2 cells, in the region's metric CRS) widened by ``margin_m``.

Memory. ``osmium extract`` keeps bit sets indexed by OSM id per extract: with today's node ids (above
1.3e10) one extract of a realistic region takes about 3 GB, whatever the size of the input file. So at
most ``max_per_pass`` extracts are cut in one osmium run. When a file has more regions, the regions
are grouped by location into a tree with at most ``max_per_pass`` children per node: the groups'
boxes are cut first (one pass over the large file), then each group's file is cut into its sub-groups,
down to the regions. A smart extract of a region taken from a smart extract of a box that contains it
holds the same objects as one taken from the full file, so the result does not depend on the tree;
the total reading is about one pass over the large file per tree level.

Limitation (inherent to ``osmium extract``): a way none of whose nodes lies in the widened box is not
cut out, even if it crosses the box (a long straight segment) or encloses it (a huge closed
``landuse`` way around a small region); raise ``margin_m`` if such features matter.

The choice of what to cut (:func:`plan_osm_extracts`) and the rewriting of the regions' source paths
(:func:`apply_osm_extracts`) read no geodata: they run when the workflow is parsed.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkland._errors import WerklandInputError, reject_unknown
from werkland.config import schema_defaults, slugify

log = logging.getLogger(__name__)

#: Directory of the cut files (relative to the working directory).
OSM_EXTRACT_DIR = "resources/osm"

#: Settings of the ``osm_extract`` config section when not given: the schema's defaults (the one
#: place they are written).
OSM_EXTRACT_DEFAULTS: dict[str, Any] = schema_defaults("osm_extract")

#: Shortest length of one degree of latitude (at the equator) and of longitude at the equator
#: (sphere; shorter than on the ellipsoid), metres: metre -> degree conversions err on the wide side.
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class OsmExtractGroup:
    """One large OSM file and the regions cut out of it in one job.

    Attributes
    ----------
    source : str
        Path of the large ``.osm.pbf`` as configured.
    id : str
        Slug of the file name, unique among the groups (names the rule, its log and benchmark).
    outputs : dict
        Region id -> path of its cut file (``resources/osm/{region}.osm.pbf``).
    """

    source: str
    id: str
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def regions(self) -> list[str]:
        """Region ids of this group, in configuration order."""
        return list(self.outputs)


def osm_extract_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``osm_extract`` config section with defaults for keys left out.

    Raises
    ------
    WerklandInputError
        Unknown keys or values out of range.
    """
    given = dict(config.get("osm_extract") or {})
    reject_unknown(given, OSM_EXTRACT_DEFAULTS, where="osm_extract")
    out = {**OSM_EXTRACT_DEFAULTS, **given}
    if int(out["max_per_pass"]) < 1:
        raise WerklandInputError(f"osm_extract.max_per_pass = {out['max_per_pass']!r} must be >= 1", path="config")
    if float(out["margin_m"]) < 0:
        raise WerklandInputError(f"osm_extract.margin_m = {out['margin_m']!r} must be >= 0", path="config")
    return out


def region_extent_known(settings: Mapping[str, Any]) -> bool:
    """Whether a region's read box follows from its settings alone (``clip_lonlat`` or ``parks.file``).

    Regions whose parks are derived from OSM land use read the whole source: they are never cut.
    """
    return bool(settings.get("clip_lonlat")) or bool((settings.get("parks") or {}).get("file"))


#: Region settings that decide a region's cut box.
EXTENT_KEYS = ("clip_lonlat", "parks", "crs", "context_buffer_m", "resolution_m")


def extent_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a region that decide its cut box (:data:`EXTENT_KEYS`; for rule params, so a
    change elsewhere in the region does not re-cut the file)."""
    return {k: copy.deepcopy(settings[k]) for k in EXTENT_KEYS if k in settings}


def extract_path(region: str, source_id: str | None = None, directory: str = OSM_EXTRACT_DIR) -> str:
    """Path of a region's cut file: ``{directory}/{region}.osm.pbf`` (``{region}.{source_id}.osm.pbf``
    when the region has several cut sources)."""
    name = f"{region}.osm.pbf" if source_id is None else f"{region}.{source_id}.osm.pbf"
    return f"{directory}/{name}"


def _source_slug(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".osm.pbf", ".pbf"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return slugify(name) or "osm"


def plan_osm_extracts(regions: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any]) -> list[OsmExtractGroup]:
    """Which OSM sources are cut, and into which regions' files (cheap: reads no geodata).

    A source of type ``osm`` of at least ``osm_extract.min_file_mb`` MB is cut when at least
    ``osm_extract.min_regions`` regions with a known extent (see :func:`region_extent_known`) use it,
    or, for fewer regions, when it has at least ``osm_extract.large_file_mb`` MB. Smaller files are
    read directly: with today's node ids one osmium extract costs seconds and gigabytes of memory,
    more than the land-cover stage needs to read a small file. The size is that of the file when
    the workflow is parsed (a file another rule makes counts as 0 MB). Paths are compared as
    absolute paths (relative ones from the working directory).

    Parameters
    ----------
    regions : mapping
        Region id -> effective settings (:func:`werkland.config.region_settings`).
    config : mapping
        The workflow config (its ``osm_extract`` section).

    Returns
    -------
    list of OsmExtractGroup
        One per cut source, sorted by path.
    """
    cfg = osm_extract_settings(config)
    if not cfg["enabled"]:
        return []
    users: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for rid, settings in regions.items():
        if not region_extent_known(settings):
            continue
        for src in settings.get("land_cover") or []:
            if src.get("type") != "osm":
                continue
            key = os.path.abspath(str(src["path"]))
            spelling.setdefault(key, str(src["path"]))
            if rid not in users.setdefault(key, []):
                users[key].append(rid)
    cut = []
    for key in sorted(users):
        n = len(users[key])
        size_mb = os.path.getsize(key) / 1e6 if os.path.isfile(key) else 0.0
        if size_mb < float(cfg["min_file_mb"]):
            continue
        if n >= int(cfg["min_regions"]) or size_mb >= float(cfg["large_file_mb"]):
            cut.append(key)
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for key in cut:
        base = _source_slug(key)
        sid, k = base, 2
        while sid in taken:
            sid, k = f"{base}-{k}", k + 1
        taken.add(sid)
        ids[key] = sid
    n_cut: dict[str, int] = {}
    for key in cut:
        for rid in users[key]:
            n_cut[rid] = n_cut.get(rid, 0) + 1
    groups = []
    for key in cut:
        sid = ids[key]
        outputs = {rid: extract_path(rid, sid if n_cut[rid] > 1 else None) for rid in users[key]}
        groups.append(OsmExtractGroup(source=spelling[key], id=sid, outputs=outputs))
    return groups


def apply_osm_extracts(regions: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any],
                       plan: Sequence[OsmExtractGroup] | None = None) -> dict[str, dict[str, Any]]:
    """The region settings with each cut OSM source's path replaced by the region's cut file.

    Parameters
    ----------
    regions : mapping
        Region id -> effective settings; not modified.
    config : mapping
        The workflow config.
    plan : sequence of OsmExtractGroup, optional
        The result of :func:`plan_osm_extracts` (computed when not given).

    Returns
    -------
    dict
        Region id -> settings (copies where a path changed; the other regions unchanged).
    """
    plan = plan_osm_extracts(regions, config) if plan is None else plan
    new_path: dict[tuple[str, str], str] = {}
    for group in plan:
        key = os.path.abspath(group.source)
        for rid, path in group.outputs.items():
            new_path[(rid, key)] = path
    out: dict[str, dict[str, Any]] = {}
    for rid, settings in regions.items():
        sources = settings.get("land_cover") or []
        hits = [i for i, s in enumerate(sources)
                if s.get("type") == "osm" and (rid, os.path.abspath(str(s["path"]))) in new_path]
        if not hits:
            out[rid] = settings if isinstance(settings, dict) else dict(settings)
            continue
        copied = copy.deepcopy(dict(settings))
        for i in hits:
            copied["land_cover"][i]["path"] = new_path[(rid, os.path.abspath(str(sources[i]["path"])))]
        out[rid] = copied
    return out


# --- extents ----------------------------------------------------------------------------------------


def widen_lonlat(box: Sequence[float], margin_m: float) -> Box:
    """A (west, south, east, north) box in degrees widened by at least ``margin_m`` metres on each side."""
    w, s, e, n = (float(v) for v in box)
    dlat = margin_m / _M_PER_DEG_LAT
    s2, n2 = max(-90.0, s - dlat), min(90.0, n + dlat)
    lat = min(89.0, max(abs(s2), abs(n2)))
    dlon = margin_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)))
    return (max(-180.0, w - dlon), s2, min(180.0, e + dlon), n2)


def _check_box(box: Sequence[float], where: str) -> Box:
    try:
        w, s, e, n = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise WerklandInputError(f"clip box {box!r} is not [west, south, east, north]", path=where,
                                 fix="give four numbers in degrees") from exc
    if not (w < e and s < n and -180 <= w and e <= 180 and -90 <= s and n <= 90):
        raise WerklandInputError(f"clip box {list(box)} is empty or outside lon/lat", path=where,
                                 fix="give [west, south, east, north] in degrees, west < east, south < north")
    return (w, s, e, n)


def _read_park_geometries(path: str, id_field: str, ids: set[str] | None) -> tuple[list[str], list[Any]]:
    """Park ids and geometries in EPSG:4326 (only the parks in ``ids``, all when None)."""
    import pyogrio

    if not Path(path).exists():
        raise WerklandInputError("parks file not found", path=path, fix="check parks.file in the config")
    try:
        if ids is None:
            gdf = pyogrio.read_dataframe(path, columns=[id_field], on_invalid="fix")
        else:
            # the id column alone first, then only the wanted features by FID
            table = pyogrio.read_dataframe(path, columns=[id_field], read_geometry=False, fid_as_index=True)
            if id_field not in table.columns:
                raise KeyError(id_field)
            wanted = table[table[id_field].astype(str).isin(ids)]
            missing = sorted(ids - set(wanted[id_field].astype(str)))
            if missing:
                raise WerklandInputError(f"park ids {missing[:5]} not found in field {id_field!r}", path=path,
                                         fix="check the region's parks.ids")
            gdf = pyogrio.read_dataframe(path, columns=[id_field], fids=wanted.index.to_numpy(), on_invalid="fix")
    except WerklandInputError:
        raise
    except Exception as exc:
        raise WerklandInputError(f"cannot read field {id_field!r} of the parks ({str(exc).splitlines()[0][:200]})",
                                 path=path, fix="set parks.id_field to an existing column") from exc
    if id_field not in gdf.columns:
        raise WerklandInputError(f"has no field {id_field!r}", path=path, fix="set parks.id_field to the column with park ids")
    if gdf.crs is None:
        raise WerklandInputError("parks layer has no CRS", path=path, fix="write the file with its CRS")
    gdf = gdf[gdf.geometry.notna()].to_crs(4326)
    return list(gdf[id_field].astype(str)), list(gdf.geometry.values)


def _parks_extent(geoms: Sequence[Any], settings: Mapping[str, Any], margin_m: float, where: str) -> Box:
    """The land-cover read box of these parks (metric bounds + context buffer + 2 cells) + margin, lon/lat."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    from werkland.raster.crs import choose_metric_crs

    if not geoms:
        raise WerklandInputError("no park polygons", path=where, fix="check the parks file and the region's parks.ids")
    lw, ls, le, ln = shapely.total_bounds(list(geoms))
    crs = choose_metric_crs((float(lw), float(ls), float(le), float(ln)), settings.get("crs") or "auto")
    to_metric = Transformer.from_crs(4326, crs, always_xy=True)
    metric = shapely.transform(list(geoms), lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))
    x0, y0, x1, y1 = shapely.total_bounds(metric)
    region_defaults = schema_defaults("region_defaults")
    buffer_m = float(settings.get("context_buffer_m", region_defaults["context_buffer_m"]))
    buffer_m += 2 * float(settings.get("resolution_m", region_defaults["resolution_m"])) + margin_m
    to_lonlat = Transformer.from_crs(crs, 4326, always_xy=True)
    w, s, e, n = to_lonlat.transform_bounds(x0 - buffer_m, y0 - buffer_m, x1 + buffer_m, y1 + buffer_m,
                                            densify_pts=21)
    return (float(w), float(s), float(e), float(n))


def region_extents(regions: Mapping[str, Mapping[str, Any]], *, margin_m: float) -> dict[str, Box]:
    """Lon/lat box to cut for each region: what the land-cover stage reads, widened by ``margin_m``.

    ``clip_lonlat`` when given; else the parks of ``parks.file`` (only ``parks.ids`` when given; each
    parks file is read once, the id column first and then only the needed features) in the region's
    metric CRS, buffered by ``context_buffer_m`` + 2 x ``resolution_m`` + ``margin_m``, transformed
    to EPSG:4326 (edges densified).

    Raises
    ------
    WerklandInputError
        A region with neither ``clip_lonlat`` nor ``parks.file``, a bad clip box, a missing parks file,
        field or id, a parks layer without CRS.
    """
    out: dict[str, Box] = {}
    wanted: dict[tuple[str, str], set[str] | None] = {}
    for rid, settings in regions.items():
        where = f"config: regions.{rid}"
        if settings.get("clip_lonlat"):
            out[rid] = widen_lonlat(_check_box(settings["clip_lonlat"], f"{where}.clip_lonlat"), margin_m)
            continue
        parks = settings.get("parks") or {}
        if not parks.get("file"):
            raise WerklandInputError(
                f"region {rid!r} has neither clip_lonlat nor parks.file: it reads the whole source", path=where,
                fix="give clip_lonlat or parks.file, or leave its OSM source uncut")
        key = (str(parks["file"]), str(parks.get("id_field", "park_id")))
        ids = parks.get("ids")
        if key not in wanted or wanted[key] is not None:
            wanted[key] = None if ids is None else {*(wanted.get(key) or set()), *map(str, ids)}
    geoms = {key: _read_park_geometries(key[0], key[1], ids) for key, ids in wanted.items()}
    for rid, settings in regions.items():
        if rid in out:
            continue
        parks = settings["parks"]
        key = (str(parks["file"]), str(parks.get("id_field", "park_id")))
        ids = parks.get("ids")
        file_ids, file_geoms = geoms[key]
        wanted_ids = None if ids is None else set(map(str, ids))
        sel = [g for i, g in zip(file_ids, file_geoms, strict=True) if wanted_ids is None or i in wanted_ids]
        out[rid] = _parks_extent(sel, settings, margin_m, str(parks["file"]))
    return out


# --- osmium ---------------------------------------------------------------------------------------


def write_extract_config(path: str | os.PathLike[str], directory: str | os.PathLike[str],
                         extracts: Mapping[str, Sequence[float]]) -> Path:
    """Write an ``osmium extract --config`` file.

    Parameters
    ----------
    path : path-like
        The JSON file to write.
    directory : path-like
        Output directory of the extracts.
    extracts : mapping
        Output file name (relative to ``directory``) -> (west, south, east, north) in degrees.

    Returns
    -------
    pathlib.Path
        ``path``; its content is ``{"directory": ..., "extracts": [{"output", "bbox"}, ...]}``.
    """
    cfg = {"directory": str(directory),
           "extracts": [{"output": name, "bbox": [float(v) for v in box]} for name, box in extracts.items()]}
    p = Path(path)
    p.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return p


def find_osmium(osmium: str = "osmium") -> str:
    """Absolute path of the osmium executable.

    Raises
    ------
    WerklandInputError
        When it is not on ``PATH``.
    """
    exe = shutil.which(osmium)
    if exe is None:
        raise WerklandInputError(
            f"{osmium!r} not found on PATH (needed to cut the shared OpenStreetMap file)", path=osmium,
            fix="install osmium-tool (apt-get install osmium-tool, or conda install -c conda-forge osmium-tool), "
                "or set osm_extract.enabled: false")
    return exe


def _osmium_pass(exe: str, source: str, directory: str, extracts: Mapping[str, Box], threads: int | None) -> None:
    """One ``osmium extract --strategy smart`` run writing ``extracts`` into ``directory``."""
    cfg = write_extract_config(Path(directory) / ".extract-config.json", directory, extracts)
    env = dict(os.environ)
    if threads:
        env["OSMIUM_POOL_THREADS"] = str(int(threads))
    cmd = [exe, "extract", "--strategy", "smart", "--config", str(cfg), "--overwrite", "--no-progress", source]
    log.info("%s (%d extracts)", " ".join(cmd), len(extracts))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    cfg.unlink()
    if proc.returncode != 0:
        msg = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise WerklandInputError(f"osmium extract failed with status {proc.returncode}: {msg[:400]}", path=source,
                                 fix="check the file is a complete .osm.pbf (osmium fileinfo) and that the disk has space")


@dataclass
class _Node:
    """A node of the cutting tree: a region (leaf) or a group of nearby regions."""

    box: Box
    name: str | None = None  # leaf: the key of the region
    children: list[_Node] = field(default_factory=list)


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _chunks(items: list[Any], k: int) -> list[list[Any]]:
    n = len(items)
    return [items[i * n // k:(i + 1) * n // k] for i in range(k) if items[i * n // k:(i + 1) * n // k]]


def _split(nodes: list[_Node], fanout: int) -> list[_Node]:
    """At most ``fanout`` nodes covering ``nodes``: strips along the wider axis, then cells across.
    ``fanout`` 1 leaves the regions ungrouped (each is then cut from the source in a pass of its own)."""
    if len(nodes) <= fanout or fanout < 2:
        return nodes
    across = math.isqrt(fanout)
    along = fanout // across
    cx = [(nd.box[0] + nd.box[2]) / 2 for nd in nodes]
    cy = [(nd.box[1] + nd.box[3]) / 2 for nd in nodes]
    wide_x = (max(cx) - min(cx)) >= (max(cy) - min(cy))
    order = sorted(range(len(nodes)), key=lambda i: (cx[i], cy[i]) if wide_x else (cy[i], cx[i]))
    groups: list[list[int]] = []
    for strip in _chunks(order, along):
        strip.sort(key=lambda i: (cy[i], cx[i]) if wide_x else (cx[i], cy[i]))
        groups += _chunks(strip, across)
    out = []
    for g in groups:
        members = [nodes[i] for i in g]
        if len(members) == 1:
            out.append(members[0])
        else:
            out.append(_Node(box=_union([m.box for m in members]), children=_split(members, fanout)))
    return out


def cutting_tree(extents: Mapping[str, Sequence[float]], max_per_pass: int) -> list[_Node]:
    """The top level of the tree of cuts: at most ``max_per_pass`` nodes, each a region or a group."""
    leaves = [_Node(box=_check_box(box, f"extent of {name}"), name=name) for name, box in extents.items()]
    return _split(leaves, max(1, int(max_per_pass)))


def run_osmium_extract(
    source: str | os.PathLike[str],
    extents: Mapping[str, Sequence[float]],
    outputs: Mapping[str, str | os.PathLike[str]],
    *,
    max_per_pass: int = 4,
    osmium: str = "osmium",
    threads: int | None = None,
) -> dict[str, int]:
    """Cut ``source`` into one file per extent with ``osmium extract --strategy smart``.

    Up to ``max_per_pass`` extents are cut in one pass; more are grouped by location and cut through
    intermediate files of the groups' boxes (see the module notes). Files are written to a temporary
    directory beside the outputs and moved into place at the end, so an output is either complete or
    absent.

    Parameters
    ----------
    source : path-like
        The large ``.osm.pbf``.
    extents : mapping
        Key -> (west, south, east, north) in degrees.
    outputs : mapping
        Key -> output path (same keys as ``extents``).
    max_per_pass : int
        Extracts per osmium run (memory: about 3 GB each with planet-range node ids).
    osmium : str
        Name or path of the osmium executable.
    threads : int, optional
        osmium's worker threads (``OSMIUM_POOL_THREADS``).

    Returns
    -------
    dict
        ``passes`` (osmium runs), ``levels`` (depth of the tree), ``extracts`` (files written).

    Raises
    ------
    WerklandInputError
        osmium missing or failing, a missing source, keys of ``extents`` and ``outputs`` differing.
    """
    exe = find_osmium(osmium)
    source = str(source)
    if not Path(source).is_file():
        raise WerklandInputError("OSM file not found", path=source, fix="check the land_cover sources in the config")
    if set(extents) != set(outputs):
        raise WerklandInputError(f"extents and outputs differ: {sorted(set(extents) ^ set(outputs))[:5]}",
                                 path=source)
    for key, box in extents.items():
        _check_box(box, f"extent of {key}")
    if not extents:
        return {"passes": 0, "levels": 0, "extracts": 0}
    finals = {key: Path(p) for key, p in outputs.items()}
    parents = {p.parent.resolve() for p in finals.values()}
    for d in parents:
        d.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".osm-extract-", dir=min(parents)))
    stats = {"passes": 0, "levels": 0, "extracts": len(extents)}
    leaf_file = {key: f"r{i}.osm.pbf" for i, key in enumerate(extents)}
    counter = [0]

    def cut(src: str, nodes: list[_Node], level: int) -> None:
        for batch in _chunks(nodes, math.ceil(len(nodes) / max(1, int(max_per_pass)))):
            names: dict[str, Box] = {}
            groups: list[tuple[str, _Node]] = []
            for nd in batch:
                if nd.name is not None:
                    names[leaf_file[nd.name]] = nd.box
                else:
                    counter[0] += 1
                    gname = f"g{counter[0]}.osm.pbf"
                    names[gname] = nd.box
                    groups.append((gname, nd))
            _osmium_pass(exe, src, str(tmp), names, threads)
            stats["passes"] += 1
            stats["levels"] = max(stats["levels"], level)
            for gname, nd in groups:
                cut(str(tmp / gname), nd.children, level + 1)
                (tmp / gname).unlink()

    try:
        cut(source, cutting_tree(extents, max_per_pass), 1)
        for key, final in finals.items():
            os.replace(tmp / leaf_file[key], final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("cut %d extracts from %s in %d osmium passes (%d levels)", stats["extracts"], source,
             stats["passes"], stats["levels"])
    return stats


def cut_osm_source(
    source: str | os.PathLike[str],
    regions: Mapping[str, Mapping[str, Any]],
    outputs: Mapping[str, str | os.PathLike[str]],
    *,
    margin_m: float = 200.0,
    max_per_pass: int = 4,
    osmium: str = "osmium",
    threads: int | None = None,
) -> dict[str, Any]:
    """Workflow entry point: cut the regions sharing one large OSM file into their own files.

    Parameters
    ----------
    source : path-like
        The large ``.osm.pbf``.
    regions : mapping
        Region id -> effective settings (for the extent: ``clip_lonlat``, ``parks``, ``crs``,
        ``context_buffer_m``, ``resolution_m``).
    outputs : mapping
        Region id -> output path (``resources/osm/{region}.osm.pbf``).
    margin_m, max_per_pass, osmium, threads
        See :func:`region_extents` and :func:`run_osmium_extract`.

    Returns
    -------
    dict
        ``extents`` (region -> [w, s, e, n]) and the statistics of :func:`run_osmium_extract`.
    """
    missing = sorted(set(outputs) - set(regions))
    if missing:
        raise WerklandInputError(f"no settings for regions {missing[:5]}", path=str(source))
    find_osmium(osmium)
    extents = region_extents({rid: regions[rid] for rid in outputs}, margin_m=margin_m)
    stats = run_osmium_extract(source, extents, outputs, max_per_pass=max_per_pass, osmium=osmium, threads=threads)
    return {"extents": {rid: list(box) for rid, box in extents.items()}, **stats}

"""Candidate measures: found in the region's data by one generator per catalogue type, or read from a
user layer.

Generators (:data:`GENERATORS`, keyed by the catalogue's ``generator``) look inside the parks for
large building roofs, parking lots and paved yards, street edges, lawns, spots near water, least-cost
links crossing a park (hedgerows, stepping stones) and the ranked barrier segments (fauna passages).
Each candidate is a set of raster cells (its footprint) plus an id, type, park, size and cost.

With the climate stage's hydrology rasters (:class:`~werkland.interventions.siting.Hydrology`),
wadis, rain gardens and ponds are placed at the park's low points (largest upslope area, deepest
ponding) instead of next to green or water, and an infiltrating measure is proposed only where the
soil infiltrates and the groundwater stays deep enough -- elsewhere its retention variant (or
nothing), with the reason in ``siting_note``. Without those rasters every candidate is as before.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize
from scipy import ndimage
from shapely.ops import substring

from werkland._errors import WerklandInputError
from werkland.interventions.catalogue import Catalogue, InterventionType, check_number
from werkland.interventions.inputs import read_vector_file
from werkland.interventions.siting import Hydrology, spaced_picks
from werkland.raster.io import Grid, values_per_path
from werkland.tables import Guild, Legend

log = logging.getLogger(__name__)

#: Required fields of a candidate layer (user layers: ``size``, ``size_unit``, ``cost_eur``,
#: ``park_id`` are optional and derived when absent).
CANDIDATE_FIELDS = ("candidate_id", "type", "geometry")


@dataclass
class Candidate:
    """One candidate measure.

    Attributes
    ----------
    candidate_id : str
        Stable id: ``<type>-<10 hex>`` from the type, park and footprint (same inputs, same id).
    type : str
        Catalogue type.
    park_id : str
        Park containing the footprint ("" = outside every park, e.g. a passage in the context buffer).
    cells : numpy.ndarray
        Flat raster indices of the footprint (sorted, unique).
    size : float
        Size in ``size_unit``.
    size_unit : str
        ``m2``, ``m`` or ``item``.
    cost_eur : float
        Cost, EUR.
    exclusive_key : str or None
        Candidates with the same key exclude each other.
    source : str
        ``generated`` or ``user``.
    geometry : shapely geometry or None
        Output geometry (default: the footprint cells as polygons).
    note : str
        Remarks (e.g. cells skipped).
    siting_note : str
        Soil-and-water siting: where it was placed (low point, upslope area), whether infiltration
        is allowed, or why a retention variant replaces an infiltrating measure ("" = no hydrology
        input used).
    """

    candidate_id: str
    type: str
    park_id: str
    cells: np.ndarray
    size: float
    size_unit: str
    cost_eur: float
    exclusive_key: str | None = None
    source: str = "generated"
    geometry: Any = None
    note: str = ""
    siting_note: str = ""


def _cand_id(type_name: str, park_id: str, cells: np.ndarray, salt: str = "") -> str:
    h = hashlib.sha1(f"{type_name}|{park_id}|{salt}|".encode() + np.ascontiguousarray(cells, np.int64).tobytes())
    return f"{type_name}-{h.hexdigest()[:10]}"


@dataclass
class CandidateContext:
    """Everything the generators read (built once per region by :meth:`build`).

    Attributes
    ----------
    codes : numpy.ndarray
        uint8 land-cover codes (0 outside the region).
    grid : werkland.raster.io.Grid
        Raster grid.
    legend : werkland.tables.Legend
        Land-cover legend.
    guilds : mapping of str to werkland.tables.Guild
        The analysed guilds.
    parks : geopandas.GeoDataFrame
        Parks (``park_id``) in the grid's CRS, row order = ``park_index`` - 1.
    park_index : numpy.ndarray
        int32 raster: park row + 1, 0 = none.
    landcover, lines : geopandas.GeoDataFrame or None
        Land-cover polygons and centre lines (``landcover.gpkg``).
    link_paths : dict of str to list of numpy.ndarray
        Per guild: the flat cells of each least-cost link, cheapest link first.
    barriers : geopandas.GeoDataFrame or None
        Ranked barrier segments (None = not given).
    edge_codes : numpy.ndarray
        bool[256]: edge class of some guild.
    dist_green : numpy.ndarray
        m to the nearest green-area cell.
    notes : list of str
        Remarks of the generators (become warnings of the stage).
    hydrology : Hydrology or None
        The climate stage's soil, groundwater and flow rasters (None = not used: siting as without
        them).
    catalogue_types : dict of str to InterventionType
        The catalogue's types (retention variants are looked up here; set by
        :func:`generate_candidates`).
    """

    codes: np.ndarray
    grid: Grid
    legend: Legend
    guilds: Mapping[str, Guild]
    parks: Any
    park_index: np.ndarray
    landcover: Any
    lines: Any
    link_paths: dict[str, list[np.ndarray]]
    barriers: Any
    edge_codes: np.ndarray
    dist_green: np.ndarray
    notes: list[str] = field(default_factory=list)
    hydrology: Hydrology | None = None
    catalogue_types: dict[str, InterventionType] = field(default_factory=dict)
    _link_parks: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict, init=False, repr=False)
    _code_masks: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _park_ids: list[str] | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(
        cls, codes: np.ndarray, grid: Grid, legend: Legend, guilds: Mapping[str, Guild], parks: Any,
        park_index: np.ndarray, *, landcover: Any, lines: Any, link_paths: dict[str, list[np.ndarray]],
        barriers: Any, green_area: np.ndarray, notes: list[str], hydrology: Hydrology | None = None,
    ) -> CandidateContext:
        """The context of a region: edge classes of the guilds and distances to green derived here.

        Parameters
        ----------
        green_area : numpy.ndarray
            256-entry lookup of the green-area flag per land-cover code (the evaluator's
            biophysical table, intervention variants included).
        notes : list of str
            Shared list the generators append their remarks to.
        hydrology : Hydrology, optional
            Soil, groundwater and flow rasters of the climate stage.

        Other parameters are the attributes of the same name.
        """
        edge_codes = np.zeros(256, bool)
        for g in guilds.values():
            for c in g.edge_classes:
                edge_codes[legend.code(c)] = True
        green = green_area[codes] == 1
        if green.any():
            dist_green = ndimage.distance_transform_edt(~green, sampling=grid.res_m)
        else:
            dist_green = np.full(codes.shape, np.inf)
        return cls(codes, grid, legend, guilds, parks, park_index, landcover, lines, link_paths, barriers,
                   edge_codes, dist_green, notes, hydrology)

    @property
    def W(self) -> int:
        """Raster columns."""
        return int(self.codes.shape[1])

    def link_parks(self, guild: str) -> list[tuple[int, np.ndarray]]:
        """``(link index, park ids)`` of the links of ``guild`` whose path crosses a park (kept)."""
        if guild not in self._link_parks:
            self._link_parks[guild] = values_per_path(self.park_index.ravel(), self.link_paths[guild])
        return self._link_parks[guild]

    def drop_link_paths(self) -> None:
        """Forget the link paths and their park lookups (``Engine.release_link_paths``)."""
        self.link_paths.clear()
        self._link_parks.clear()

    def code_mask(self, classes: Iterable[str]) -> np.ndarray:
        """bool[256]: the codes of ``classes`` (made once per list of classes; read-only)."""
        key = tuple(classes)
        if key not in self._code_masks:
            m = np.zeros(256, dtype=bool)
            m[[self.legend.code(c) for c in key]] = True
            m.flags.writeable = False
            self._code_masks[key] = m
        return self._code_masks[key]

    def park_id(self, row: int) -> str:
        """The ``park_id`` of park row ``row`` (0-based) as text."""
        if self._park_ids is None:
            self._park_ids = [str(x) for x in self.parks["park_id"]]
        return self._park_ids[row]

    def cells_of_geom(self, geom: Any, *, all_touched: bool = False) -> np.ndarray:
        """Flat cells of a geometry (centre rule; every touched cell when it covers no centre)."""
        if geom is None or geom.is_empty:
            return np.zeros(0, np.int64)
        g = self.grid
        xmin, ymin, xmax, ymax = geom.bounds
        res = g.res_m
        c0 = max(0, int(math.floor((xmin - g.transform.c) / res)) - 1)
        c1 = min(g.width, int(math.ceil((xmax - g.transform.c) / res)) + 1)
        r0 = max(0, int(math.floor((g.transform.f - ymax) / res)) - 1)
        r1 = min(g.height, int(math.ceil((g.transform.f - ymin) / res)) + 1)
        if c1 <= c0 or r1 <= r0:
            return np.zeros(0, np.int64)
        tr = g.transform * Affine.translation(c0, r0)
        m = rasterize([(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=tr, fill=0, dtype="uint8",
                      all_touched=all_touched).astype(bool)
        if not m.any() and not all_touched:
            m = rasterize([(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=tr, fill=0, dtype="uint8",
                          all_touched=True).astype(bool)
        rr, cc = np.nonzero(m)
        return ((rr + r0) * g.width + (cc + c0)).astype(np.int64)

    def park_of_cells(self, cells: np.ndarray) -> str:
        """Id of the park holding most of ``cells`` ("" = none)."""
        if cells.size == 0:
            return ""
        idx = self.park_index.ravel()[cells]
        idx = idx[idx > 0]
        if idx.size == 0:
            return ""
        best = int(np.bincount(idx).argmax())
        return self.park_id(best - 1)

    def eligible(self, cells: np.ndarray, typ: InterventionType, park_row: int | None) -> np.ndarray:
        """The cells of ``cells`` a measure of ``typ`` may change (inside park ``park_row`` if given)."""
        c = self.codes.ravel()[cells]
        ok = self.code_mask(typ.applies_to)[c] & (c != 0)
        if typ.new_class is not None:
            ok &= ~self.edge_codes[c]
        if park_row is not None:
            ok &= self.park_index.ravel()[cells] == park_row + 1
        return np.unique(cells[ok])


def _largest_first(c: Candidate) -> tuple[float, str]:
    """Sort key of candidates within a park (and type): largest first, then by id (stable across runs)."""
    return (-c.size, c.candidate_id)


def _limit(cands: list[Candidate], n_max: int | None) -> list[Candidate]:
    if n_max is None:
        return cands
    by_park: dict[str, list[Candidate]] = {}
    for c in cands:
        by_park.setdefault(c.park_id, []).append(c)
    out = []
    for park in by_park:
        lst = sorted(by_park[park], key=_largest_first)[:n_max]
        out += lst
    return out


def cap_candidates(cands: Sequence[Candidate], n_max: int) -> list[Candidate]:
    """Keep at most ``n_max`` candidates, spread over types and parks.

    Candidates are ranked within their (type, park) by size (largest first, then id); the kept set
    takes every type's and park's first candidate, then every second, and so on (round-robin over
    types in catalogue order and over parks in order of appearance), so a cap never drops a whole type
    or park while others keep their small candidates.

    Parameters
    ----------
    cands : sequence of Candidate
        Generated candidates, in catalogue-type order.
    n_max : int
        Number kept (>= 1).

    Returns
    -------
    list of Candidate
        The kept candidates, in their original order.
    """
    if n_max < 1:
        raise ValueError("n_max must be >= 1")
    if len(cands) <= n_max:
        return list(cands)
    type_order: dict[str, int] = {}
    park_order: dict[str | None, int] = {}
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, c in enumerate(cands):
        type_order.setdefault(c.type, len(type_order))
        park_order.setdefault(c.park_id, len(park_order))
        groups.setdefault((c.type, c.park_id), []).append(i)
    key: dict[int, tuple[int, int, int]] = {}
    for (t, pk), idx in groups.items():
        idx.sort(key=lambda i: _largest_first(cands[i]))
        for r, i in enumerate(idx):
            key[i] = (r, type_order[t], park_order[pk])
    keep = sorted(sorted(key, key=key.__getitem__)[:n_max])
    return [cands[i] for i in keep]


def _make(ctx: CandidateContext, typ: InterventionType, cells: np.ndarray, size: float, key: str | None, park_id: str | None = None,
          note: str = "", check_min: bool = True) -> Candidate | None:
    cells = np.unique(np.asarray(cells, np.int64))
    if cells.size == 0 or (check_min and size < typ.min_size):
        return None
    park = ctx.park_of_cells(cells) if park_id is None else park_id
    return Candidate(
        candidate_id=_cand_id(typ.name, park, cells),
        type=typ.name, park_id=park, cells=cells, size=float(size), size_unit=typ.size_unit,
        cost_eur=float(typ.unit_cost * size), exclusive_key=None if typ.exclusive is None or key is None else f"{typ.exclusive}:{key}",
        note=note,
    )


def _take_nearest_green(ctx: CandidateContext, cells: np.ndarray, n: int) -> np.ndarray:
    d = ctx.dist_green.ravel()[cells]
    order = np.lexsort((cells, d))
    return np.sort(cells[order[:n]])


def _at_low_points(ctx: CandidateContext, typ: InterventionType) -> bool:
    """Wadis, rain gardens and ponds (infiltrating or near-water types) go to the low points."""
    hy = ctx.hydrology
    return hy is not None and hy.has_elevation and (typ.infiltrating or typ.generator == "near_water")


def _checks_infiltration(ctx: CandidateContext, typ: InterventionType) -> bool:
    hy = ctx.hydrology
    return typ.infiltrating and hy is not None and hy.checks_infiltration


def _take(ctx: CandidateContext, typ: InterventionType, cells: np.ndarray, n: int) -> np.ndarray:
    """``n`` cells of ``cells``: the wettest (low points) or, without elevation, the nearest to green."""
    if _at_low_points(ctx, typ):
        return np.sort(ctx.hydrology.wettest_first(cells)[:n])  # type: ignore[union-attr]
    return _take_nearest_green(ctx, cells, n)


def _site_share(
    ctx: CandidateContext, typ: InterventionType, cells: np.ndarray, n: int, where: str,
) -> tuple[np.ndarray, InterventionType, str] | None:
    """Place ``n`` of a source polygon's eligible ``cells`` for ``typ``, respecting soil and water.

    Returns the footprint, the type proposed (``typ`` or its retention variant) and the siting
    note; None when an infiltrating measure is not allowed and it has no retention variant (the
    reason is appended to the context's notes).
    """
    hy = ctx.hydrology
    low = _at_low_points(ctx, typ)
    if not _checks_infiltration(ctx, typ):
        fp = _take(ctx, typ, cells, n)
        return fp, typ, hy.describe_low_point(fp) if low and hy is not None else ""
    assert hy is not None and typ.bottom_m is not None
    flags = hy.refusal(cells, typ.bottom_m)
    ok = cells[flags == 0]
    if ok.size >= n:
        fp = _take(ctx, typ, ok, n)
        note = hy.describe_allowed(fp, typ.bottom_m)
        return fp, typ, "; ".join(x for x in (note, hy.describe_low_point(fp) if low else "") if x)
    fp = _take(ctx, typ, cells, n)
    fflags = hy.refusal(fp, typ.bottom_m)
    reason = hy.describe_refusal(fp, fflags, typ.bottom_m)
    if typ.retention_variant is None:
        ctx.notes.append(f"{typ.name}: {where}: infiltration not allowed ({reason}); not proposed")
        return None
    variant = ctx.catalogue_types[typ.retention_variant]
    note = f"{typ.name} not allowed ({reason}): retention variant proposed"
    return fp, variant, "; ".join(x for x in (note, hy.describe_low_point(fp) if low else "") if x)


def _gen_polygons(ctx: CandidateContext, typ: InterventionType, facade: bool = False) -> list[Candidate]:
    if ctx.landcover is None:
        ctx.notes.append(f"{typ.name}: no land-cover polygons (landcover.gpkg layer landcover): no candidates")
        return []
    lc = ctx.landcover[ctx.landcover["class"].isin(typ.applies_to)]
    out: list[Candidate] = []
    cell_m2 = ctx.grid.cell_area_m2
    for row in ctx.parks.itertuples():
        ip = row.Index
        pidx = ctx.parks.index.get_loc(ip)
        sub = lc.iloc[lc.sindex.query(row.geometry, predicate="intersects")] if len(lc) else lc
        for j, poly in zip(sub.index, sub.geometry, strict=True):
            # min_size is the source polygon's area (m2) for roofs, facades and paving measures
            if poly is None or poly.is_empty or poly.area < typ.min_size:
                continue
            if not row.geometry.contains(poly.representative_point()):
                continue
            cells = ctx.eligible(ctx.cells_of_geom(poly), typ, pidx)
            if cells.size == 0:
                continue
            use, siting = typ, ""
            if facade:
                s_cells = set(cells.tolist())
                W = ctx.W
                cells = np.array([c for c in cells.tolist() if any((c + d) not in s_cells for d in (-1, 1, -W, W))], np.int64)
                outline = poly.exterior.length if poly.geom_type == "Polygon" else poly.boundary.length
                size = outline * float(typ.params.get("height_m", 6)) * float(typ.params.get("coverage", 0.5))
            else:
                n = min(typ.cells, cells.size) if typ.cells is not None else \
                    max(1, int(round(typ.share * cells.size))) if typ.share < 1 else cells.size
                if n < cells.size or _checks_infiltration(ctx, typ):  # placed (as before: n = all keeps all)
                    sited = _site_share(ctx, typ, cells, n, f"polygon lc{j} in park {row.park_id}")
                    if sited is None:
                        continue
                    cells, use, siting = sited
                size = cells.size * cell_m2
            c = _make(ctx, use, cells, size, f"lc{j}", park_id=str(row.park_id), check_min=False)
            if c is not None:
                c.siting_note = siting
                out.append(c)
    return out


def _gen_components(ctx: CandidateContext, typ: InterventionType) -> list[Candidate]:
    out: list[Candidate] = []
    cell_m2 = ctx.grid.cell_area_m2
    cm = ctx.code_mask(typ.applies_to)[ctx.codes] & (ctx.park_index > 0)
    if typ.new_class is not None:
        cm &= ~ctx.edge_codes[ctx.codes]
    lab, nlab = ndimage.label(cm, structure=np.ones((3, 3), bool))
    if nlab == 0:
        return out
    tile = None
    if typ.max_size is not None:
        tile = max(1, int(math.ceil(math.sqrt(typ.max_size / cell_m2))))
    objs = ndimage.find_objects(lab)
    for i, sl in enumerate(objs, start=1):
        sub = lab[sl] == i
        rr, cc = np.nonzero(sub)
        rr = rr + sl[0].start
        cc = cc + sl[1].start
        park_ids = ctx.park_index[rr, cc]
        for pk in np.unique(park_ids):
            sel = park_ids == pk
            r_, c_ = rr[sel], cc[sel]
            if r_.size * cell_m2 < typ.min_size:
                continue
            if tile is not None and r_.size * cell_m2 > typ.max_size:
                tkey = (r_ // tile) * (ctx.W // tile + 1) + (c_ // tile)
                groups = [(t, np.flatnonzero(tkey == t)) for t in np.unique(tkey)]
            else:
                groups = [(0, np.arange(r_.size))]
            for t, g in groups:
                cells = r_[g] * ctx.W + c_[g]
                c = _make(ctx, typ, cells, cells.size * cell_m2, f"c{i}.{pk}.{t}",
                          park_id=ctx.park_id(pk - 1))
                if c is not None:
                    out.append(c)
    return out


def _gen_street_edge(ctx: CandidateContext, typ: InterventionType) -> list[Candidate]:
    if ctx.lines is None or not len(ctx.lines):
        ctx.notes.append(f"{typ.name}: no centre lines (landcover.gpkg layer lines): no candidates")
        return []
    road_classes = list(typ.params.get("road_classes", ["road_minor", "road_main"]))
    max_len = float(typ.params.get("max_length_m", 200))
    lines = ctx.lines[ctx.lines["class"].isin(road_classes)]
    out: list[Candidate] = []
    res = ctx.grid.res_m
    for pidx, prow in enumerate(ctx.parks.itertuples()):
        sub = lines.iloc[lines.sindex.query(prow.geometry, predicate="intersects")] if len(lines) else lines
        for j, geom, cls in zip(sub.index, sub.geometry, sub["class"], strict=True):
            clipped = geom.intersection(prow.geometry)
            width = ctx.legend.by_name(cls).width_m or 7.0
            for part in shapely.get_parts(clipped):
                if part.geom_type != "LineString" or part.length < typ.min_size:
                    continue
                n_pieces = max(1, int(math.ceil(part.length / max_len)))
                for k in range(n_pieces):
                    piece = substring(part, k * part.length / n_pieces, (k + 1) * part.length / n_pieces)
                    if piece.length < typ.min_size:
                        continue
                    ring = piece.buffer(width / 2 + res, cap_style="flat")
                    cells = ctx.eligible(ctx.cells_of_geom(ring), typ, pidx)
                    c = _make(ctx, typ, cells, piece.length, f"l{j}.{k}", park_id=str(prow.park_id))
                    if c is not None:
                        c.geometry = piece
                        out.append(c)
    return out


def _cells_per_park(ctx: CandidateContext, ok: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Per park row with cells in the mask ``ok``: the row and those flat cells (ascending)."""
    okr, pi = ok.ravel(), ctx.park_index.ravel()
    for pidx in range(len(ctx.parks)):
        cells = np.flatnonzero(okr & (pi == pidx + 1))
        if cells.size:
            yield pidx, cells


def _gen_low_points(ctx: CandidateContext, typ: InterventionType) -> list[Candidate]:
    """Near-water types with an elevation model: the park's low points, wettest first, spaced apart."""
    hy = ctx.hydrology
    assert hy is not None and hy.flow_acc_m2 is not None
    n_max = int(typ.params.get("max_per_park", 3))
    spacing = float(typ.params.get("min_spacing_m", 100))
    ncell = typ.cells or 1
    ok = (ctx.code_mask(typ.applies_to)[ctx.codes] & (ctx.park_index > 0) & ~ctx.edge_codes[ctx.codes]
          & np.isfinite(hy.flow_acc_m2))
    out: list[Candidate] = []
    W = ctx.W
    for pidx, cells in _cells_per_park(ctx, ok):
        okset = set(cells.tolist())
        for c in spaced_picks(hy.wettest_first(cells), W, ctx.grid.res_m, spacing, n_max):
            nb = np.array([x for x in (c + 1, c - 1, c + W, c - W) if x in okset], np.int64)
            fp = np.array([c] + hy.wettest_first(nb)[: ncell - 1].tolist(), np.int64)
            park_id = ctx.park_id(pidx)
            use, siting = typ, hy.describe_low_point(fp)
            if _checks_infiltration(ctx, typ):
                sited = _site_share(ctx, typ, fp, fp.size, f"low point {c} in park {park_id}")
                if sited is None:
                    continue
                fp, use, siting = sited
            cand = _make(ctx, use, fp, 1.0, f"p{c}", park_id=park_id)
            if cand is not None:
                cand.siting_note = siting
                out.append(cand)
    return out


def _gen_near_water(ctx: CandidateContext, typ: InterventionType) -> list[Candidate]:
    if ctx.hydrology is not None and ctx.hydrology.has_elevation:
        return _gen_low_points(ctx, typ)
    water_cls = list(typ.params.get("water_classes", ["open_water", "waterway", "wetland"]))
    near = float(typ.params.get("near_m", 150))
    n_max = int(typ.params.get("max_per_park", 3))
    spacing = float(typ.params.get("min_spacing_m", 100))
    ncell = typ.cells or 1
    water = ctx.code_mask(water_cls)[ctx.codes]
    if not water.any():
        ctx.notes.append(f"{typ.name}: no water or wetland cells in the region: no pond candidates")
        return []
    dist = ndimage.distance_transform_edt(~water, sampling=ctx.grid.res_m)
    ok = ctx.code_mask(typ.applies_to)[ctx.codes] & (dist <= near) & (ctx.park_index > 0) & ~ctx.edge_codes[ctx.codes]
    out: list[Candidate] = []
    W = ctx.W
    for pidx, cells in _cells_per_park(ctx, ok):
        order = np.lexsort((cells, dist.ravel()[cells]))
        chosen: list[int] = []
        okset = set(cells.tolist())
        for c in cells[order]:
            r, cc = divmod(int(c), W)
            if any(math.hypot(r - r2, cc - c2) * ctx.grid.res_m < spacing for r2, c2 in (divmod(x, W) for x in chosen)):
                continue
            chosen.append(int(c))
            fp = [int(c)] + sorted(x for x in (c + 1, c - 1, c + W, c - W) if x in okset)[: ncell - 1]
            cand = _make(ctx, typ, np.array(fp), 1.0, f"p{c}", park_id=ctx.park_id(pidx))
            if cand is not None:
                out.append(cand)
            if len(chosen) >= n_max:
                break
    return out


def _path_runs(ctx: CandidateContext, path: np.ndarray, pidx: int) -> list[np.ndarray]:
    """The stretches of ``path`` inside park row ``pidx``, in path order (each a new int64 array)."""
    inside = np.zeros(path.size + 2, np.int8)
    inside[1:-1] = ctx.park_index.ravel()[path] == pidx + 1
    bounds = np.flatnonzero(np.diff(inside))  # a run's first cell, then the cell after its last
    return [path[a:b].astype(np.int64) for a, b in zip(bounds[::2].tolist(), bounds[1::2].tolist(), strict=True)]


def _run_length(ctx: CandidateContext, run: np.ndarray) -> float:
    if run.size < 2:
        return ctx.grid.res_m * run.size
    r, c = run // ctx.W, run % ctx.W
    return float(np.hypot(np.diff(r), np.diff(c)).sum() * ctx.grid.res_m + ctx.grid.res_m)


def _gen_links(ctx: CandidateContext, typ: InterventionType, stepping: bool = False) -> list[Candidate]:
    if not ctx.link_paths:
        ctx.notes.append(f"{typ.name}: no least-cost links: no candidates")
        return []
    out: list[Candidate] = []
    seen: set[bytes] = set()
    max_len = float(typ.params.get("max_length_m", 300))
    cell_m2 = ctx.grid.cell_area_m2
    for gname in sorted(ctx.link_paths):
        for li, pks in ctx.link_parks(gname):  # only the links that cross a park
            path = ctx.link_paths[gname][li]
            for pk in pks:
                pidx = int(pk) - 1
                for run in _path_runs(ctx, path, pidx):
                    if stepping:
                        mid = run[run.size // 2]
                        n = max(1, int(round(float(typ.params.get("area_m2", 500)) / cell_m2)))
                        r0, c0 = divmod(int(mid), ctx.W)
                        rad = int(math.ceil(math.sqrt(n))) + 2
                        rr, cc = np.mgrid[max(0, r0 - rad):min(ctx.codes.shape[0], r0 + rad + 1),
                                          max(0, c0 - rad):min(ctx.W, c0 + rad + 1)]
                        cand_cells = ctx.eligible((rr * ctx.W + cc).ravel(), typ, pidx)
                        if cand_cells.size == 0:
                            continue
                        d = np.hypot(cand_cells // ctx.W - r0, cand_cells % ctx.W - c0)
                        cells = np.sort(cand_cells[np.lexsort((cand_cells, d))[:n]])
                        pieces = [cells]
                    else:
                        length = _run_length(ctx, run)
                        if length < typ.min_size:
                            continue
                        n_p = max(1, int(math.ceil(length / max_len)))
                        pieces = [ctx.eligible(p_, typ, pidx) for p_ in np.array_split(run, n_p)]
                    for cells in pieces:
                        if cells.size == 0:
                            continue
                        key = cells.tobytes()
                        if key in seen:
                            continue
                        seen.add(key)
                        size = cells.size * cell_m2 if stepping else _run_length(ctx, cells)
                        c = _make(ctx, typ, cells, size, f"{gname}.{li}.{pk}.{int(cells[0])}",
                                  park_id=ctx.park_id(pidx))
                        if c is not None:
                            c.note = f"on a least-cost link of {gname}"
                            out.append(c)
    return out


def _gen_barrier(ctx: CandidateContext, typ: InterventionType) -> list[Candidate]:
    if ctx.barriers is None or not len(ctx.barriers):
        ctx.notes.append(f"{typ.name}: barriers/all_guilds.gpkg absent or empty: no fauna-passage candidates")
        return []
    b = ctx.barriers
    rank_col = next((c for c in ("multi_rank", "rank") if c in b.columns), None)
    if rank_col is not None:  # all_guilds.gpkg: the multi-guild rank; per-guild files: rank
        b = b.sort_values([rank_col], kind="stable")
    b = b.head(int(typ.params.get("max_segments", 30)))
    radius = float(typ.params.get("radius_m", 15))
    out: list[Candidate] = []
    for i, row in enumerate(b.itertuples()):
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        mid = geom.interpolate(0.5, normalized=True) if geom.geom_type in ("LineString", "MultiLineString") else geom.centroid
        cells = ctx.eligible(ctx.cells_of_geom(mid.buffer(radius), all_touched=True), typ, None)
        seg = str(getattr(row, "segment_id", i))
        c = _make(ctx, typ, cells, 1.0, f"s{seg}")
        if c is not None:
            c.geometry = mid
            c.note = f"barrier segment {seg}"
            out.append(c)
    return out


def _gen_none(ctx: CandidateContext, typ: InterventionType) -> list[Candidate]:
    """Types without a generator come only from user candidate layers."""
    return []


Generator = Callable[[CandidateContext, InterventionType], list[Candidate]]

#: Candidate generator of each catalogue ``generator`` type (the keys are
#: :data:`werkland.interventions.catalogue.GENERATOR_TYPES`).
GENERATORS: dict[str, Generator] = {
    "polygons": _gen_polygons,
    "facade": functools.partial(_gen_polygons, facade=True),
    "components": _gen_components,
    "street_edge": _gen_street_edge,
    "near_water": _gen_near_water,
    "link": _gen_links,
    "stepping_stone": functools.partial(_gen_links, stepping=True),
    "barrier": _gen_barrier,
    "none": _gen_none,
}


def generate_candidates(
    ctx: CandidateContext, catalogue: Catalogue, *, max_per_type_park: int | None = None
) -> list[Candidate]:
    """Generate candidates of every catalogue type from the region's data (see the catalogue header).

    Parameters
    ----------
    ctx : CandidateContext
        The region's data.
    catalogue : Catalogue
        Intervention types, each generated by ``GENERATORS[type.generator]``.
    max_per_type_park : int, optional
        At most this many candidates per type and park, largest first (barrier passages: all).

    Returns
    -------
    list of Candidate
        Deterministic order: catalogue order, then park, then source feature; duplicate ids dropped.
    """
    out: list[Candidate] = []
    ctx.catalogue_types = dict(catalogue.types)
    for typ in catalogue.types.values():
        cands = GENERATORS[typ.generator](ctx, typ)
        cands = _limit(cands, max_per_type_park if typ.generator != "barrier" else None)
        log.info("candidates: %d %s", len(cands), typ.name)
        out += cands
    seen: set[str] = set()
    uniq = []
    for c in out:
        if c.candidate_id not in seen:
            seen.add(c.candidate_id)
            uniq.append(c)
    return uniq


def read_user_candidates(path: str | os.PathLike[str], ctx: CandidateContext, catalogue: Catalogue) -> list[Candidate]:
    """Read and validate a user candidate layer (e.g. a municipality's plan).

    Schema: ``candidate_id`` (unique), ``type`` (a catalogue type), geometry (polygon, line or point) in
    the region's CRS; optional ``park_id``, ``size``, ``size_unit``, ``cost_eur`` (derived from the
    catalogue when absent or empty). Cells of the geometry outside the type's ``applies_to`` classes
    are left unchanged.

    Raises
    ------
    WerklandInputError
        Unreadable file, missing fields, no or wrong CRS, unknown type, negative or invalid cost,
        duplicate ids, a size unit other than the type's.
    """
    p = str(path)
    gdf = read_vector_file(p, missing="user candidate layer not found", missing_fix="check interventions.user_candidates",
                           unreadable="cannot read")
    missing = [f for f in ("candidate_id", "type") if f not in gdf.columns]
    if missing:
        raise WerklandInputError(f"missing field(s) {missing}", path=p,
                                 fix="a candidate layer needs candidate_id, type and a geometry (optional: park_id, size, size_unit, cost_eur)")
    if gdf.crs is None:
        raise WerklandInputError("layer has no CRS", path=p, fix=f"write it in the region CRS {ctx.grid.crs.to_string()}")
    if not gdf.crs.equals(ctx.grid.crs):
        raise WerklandInputError(
            f"CRS {gdf.crs.to_string()} differs from the region CRS {ctx.grid.crs.to_string()}", path=p,
            fix=f"reproject the layer to {ctx.grid.crs.to_string()} (e.g. ogr2ogr -t_srs)",
        )
    ids = gdf["candidate_id"].astype(str)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise WerklandInputError(f"duplicate candidate_id {dup[:5]}", path=p, fix="give each candidate its own id")
    out: list[Candidate] = []
    for _, row in gdf.iterrows():
        cid = str(row["candidate_id"])
        typ = catalogue.get(str(row["type"]), where=f"{p}: candidate {cid}")
        geom = row.geometry
        if geom is None or geom.is_empty:
            raise WerklandInputError(f"candidate {cid} has no geometry", path=p)
        touched = geom.geom_type not in ("Polygon", "MultiPolygon")
        g2 = geom.buffer(float(typ.params.get("radius_m", 15))) if geom.geom_type in ("Point", "MultiPoint") and typ.generator == "barrier" else geom
        raw = ctx.cells_of_geom(g2, all_touched=touched or typ.generator == "barrier")
        cells = ctx.eligible(raw, typ, None)
        note = ""
        if cells.size < raw.size:
            note = f"{raw.size - cells.size} of {raw.size} cells are not {'/'.join(typ.applies_to)} (or outside the region) and stay as they are"
        unit = row.get("size_unit") if "size_unit" in gdf.columns else None
        if unit is not None and not (isinstance(unit, float) and math.isnan(unit)) and str(unit) != typ.size_unit:
            raise WerklandInputError(f"candidate {cid}: size_unit {unit!r} but type {typ.name} is priced per {typ.size_unit}", path=p)
        size = row.get("size") if "size" in gdf.columns else None
        if size is None or (isinstance(size, float) and math.isnan(size)):
            size = {"m2": cells.size * ctx.grid.cell_area_m2,
                    "m": geom.length if geom.length > 0 else cells.size * ctx.grid.res_m, "item": 1.0}[typ.size_unit]
        size = check_number(size, f"{p}: candidate {cid}: size", lo=0)
        cost = row.get("cost_eur") if "cost_eur" in gdf.columns else None
        if cost is None or (isinstance(cost, float) and math.isnan(cost)):
            cost = typ.unit_cost * size
        try:
            cost_f = float(cost)
        except (TypeError, ValueError):
            cost_f = math.nan
        if not math.isfinite(cost_f) or cost_f < 0:
            raise WerklandInputError(f"candidate {cid}: cost_eur {cost!r} must be a number >= 0", path=p)
        park = row.get("park_id") if "park_id" in gdf.columns else None
        if park is None or (isinstance(park, float) and math.isnan(park)) or str(park) == "":
            park = ctx.park_of_cells(cells if cells.size else raw)
        out.append(Candidate(cid, typ.name, str(park), np.unique(cells), float(size), typ.size_unit, cost_f,
                             exclusive_key=f"user:{cid}", source="user", geometry=geom, note=note,
                             siting_note=ctx.hydrology.user_note(typ, np.unique(cells)) if ctx.hydrology else ""))
    log.info("user candidates: %d read from %s", len(out), p)
    return out

"""A guild's barrier segments and probe groups, built once and kept for the barrier job.

Both the connectivity job (whose link search keeps each patch's least cost over the probe groups)
and the barrier job need the guild's segments (:func:`~werkland.barriers.segments.segment_barriers`)
and probe groups (:func:`~werkland.barriers.scores.build_probes`); at 16 M cells they took about
20 s per guild. They are built once for every guild with the same barrier classes, segment length
and radii (:func:`werkland.barriers.run_barrier_probes`, the ``barrier_probes`` rule, in a file of
their own: :func:`to_payload` and :func:`werkland.connectivity.write_payload`); each connectivity
job reads them (:func:`from_payload`) and keeps them in its probe-minima file beside the minima (a
:class:`~werkland.connectivity.MinimaPayload`); the barrier job takes them from there. A reader
takes them only when they were built from the same ``landcover.gpkg`` bytes, barrier classes,
segment length, radii and grid -- the inputs they depend on -- and builds them itself otherwise.

Stored exactly: the segment table's columns as JSON values (integers, strings, ``None`` and floats,
whose ``repr`` reads back to the same double), the centre lines as WKB, every array with its dtype
(the two raster-sized arrays as their non-empty cells only). The rebuilt objects equal the built
ones value for value and dtype for dtype (``tests/unit/test_probe_minima.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from werkland._errors import WerklandInputError
from werkland.barriers.scores import Probes, build_probes
from werkland.barriers.segments import BarrierSegments, segment_barriers
from werkland.connectivity import MinimaPayload, read_minima_payload
from werkland.params import BarrierParams
from werkland.params.landscape import barrier_classes
from werkland.raster.io import Grid

#: Format tag of the stored segments and probes (payload ``meta`` key ``format``).
PROBES_FORMAT = "werkland.barrier_probes/1"

_TABLE_COLUMNS = ["segment_id", "kind", "road_class", "class", "length_m"]


@dataclass
class BarrierProbes:
    """A guild's barrier segments and the probe groups built on them."""

    segments: BarrierSegments
    probes: Probes


def _file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def probes_key(landcover_gpkg: str | os.PathLike[str], grid: Grid, params: BarrierParams) -> dict[str, Any]:
    """What the segments and probes are built from: the land-cover file's bytes, the guild's barrier
    classes, the segment length, the radii and the grid (as JSON values, so a stored key compares
    equal to a computed one)."""
    classes = barrier_classes(params.resistance, params.resistance_threshold)
    key = {
        "format": PROBES_FORMAT,
        "landcover_sha256": _file_sha256(landcover_gpkg),
        "classes": [[cls, kind, road_class] for cls, (kind, road_class) in classes.items()],
        "max_segment_m": float(params.max_segment_m),
        "radii_m": [float(r) for r in params.radii_m],
        "shape": [int(grid.height), int(grid.width)],
        "transform": [float(v) for v in tuple(grid.transform)[:6]],
        "crs": grid.crs.to_wkt(),
    }
    result: dict[str, Any] = json.loads(json.dumps(key))
    return result


def build_segments(landcover: Any, grid: Grid, params: BarrierParams) -> BarrierSegments:
    """The guild's barrier segments, from the land-cover polygons (in the grid's CRS)."""
    classes = barrier_classes(params.resistance, params.resistance_threshold)
    return segment_barriers(landcover, grid, classes, max_length_m=params.max_segment_m)


def build_barrier_probes(landcover: Any, grid: Grid, params: BarrierParams) -> BarrierProbes:
    """The guild's segments (from the land-cover polygons, in the grid's CRS) and their probe groups."""
    segs = build_segments(landcover, grid, params)
    probes = build_probes(segs, (grid.height, grid.width), grid.res_m, [float(r) for r in params.radii_m])
    return BarrierProbes(segs, probes)


def _sparse(arr: np.ndarray, empty: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and values of the cells of ``arr`` that are not ``empty``."""
    flat = arr.ravel()
    idx = np.flatnonzero(flat != empty)
    return idx, flat[idx]


def _dense(idx: np.ndarray, vals: np.ndarray, shape: tuple[int, ...], empty: int) -> np.ndarray:
    out = np.full(int(np.prod(shape)), empty, dtype=vals.dtype)
    out[idx] = vals
    return out.reshape(shape)


def to_payload(bp: BarrierProbes, key: dict[str, Any]) -> MinimaPayload:
    """The segments and probes as a :class:`~werkland.connectivity.MinimaPayload` under ``key``
    (:func:`probes_key`)."""
    segs, probes = bp.segments, bp.probes
    wkb = shapely.to_wkb(np.asarray(segs.table.geometry.values, dtype=object))
    lengths = np.fromiter((len(b) for b in wkb), np.int64, count=len(wkb))
    wkb_ptr = np.zeros(len(wkb) + 1, np.int64)
    np.cumsum(lengths, out=wkb_ptr[1:])
    seg_idx, seg_vals = _sparse(segs.raster, 0)
    slot_idx, slot_vals = _sparse(probes.cell_slot, -1)
    arrays = {
        "seg_raster_idx": seg_idx, "seg_raster_val": seg_vals,
        "line_ptr": segs.line_ptr, "line_cells": segs.line_cells, "line_dist": segs.line_dist,
        "wkb": np.frombuffer(b"".join(wkb), np.uint8), "wkb_ptr": wkb_ptr,
        "cell_slot_idx": slot_idx, "cell_slot_val": slot_vals,
        "slot_ptr": probes.slot_ptr, "slot_groups": probes.slot_groups,
        "g_seg": probes.g_seg, "g_type": probes.g_type, "g_ri": probes.g_ri,
    }
    meta = {
        "key": key,
        "table": {c: segs.table[c].tolist() for c in _TABLE_COLUMNS},
        "seg_raster_shape": list(segs.raster.shape),
        "cell_slot_shape": list(probes.cell_slot.shape),
        "n_groups": int(probes.n_groups),
    }
    return MinimaPayload(json.loads(json.dumps(meta)), arrays)


def from_payload(payload: MinimaPayload | None, key: dict[str, Any]) -> BarrierProbes | None:
    """The segments and probes kept in ``payload`` when they were built under ``key``, else None."""
    if payload is None or payload.meta.get("key") != key:
        return None
    meta, arr = payload.meta, payload.arrays
    blob = arr["wkb"].tobytes()
    ptr = arr["wkb_ptr"]
    geoms = shapely.from_wkb([blob[ptr[i]:ptr[i + 1]] for i in range(ptr.size - 1)])
    rows = list(zip(*(meta["table"][c] for c in _TABLE_COLUMNS), strict=True))
    table = gpd.GeoDataFrame(pd.DataFrame(rows, columns=_TABLE_COLUMNS),
                             geometry=gpd.GeoSeries(geoms, crs=key["crs"]))
    segs = BarrierSegments(
        table=table,
        raster=_dense(arr["seg_raster_idx"], arr["seg_raster_val"], tuple(meta["seg_raster_shape"]), 0),
        line_ptr=arr["line_ptr"], line_cells=arr["line_cells"], line_dist=arr["line_dist"],
    )
    probes = Probes(
        cell_slot=_dense(arr["cell_slot_idx"], arr["cell_slot_val"], tuple(meta["cell_slot_shape"]), -1),
        slot_ptr=arr["slot_ptr"], slot_groups=arr["slot_groups"],
        g_seg=arr["g_seg"], g_type=arr["g_type"], g_ri=arr["g_ri"], n_groups=int(meta["n_groups"]),
    )
    return BarrierProbes(segs, probes)


def read_stored(path: str | os.PathLike[str], key: dict[str, Any], *,
                fix: str) -> tuple[BarrierProbes, MinimaPayload] | None:
    """The segments and probes kept in ``path`` (a file of the ``barrier_probes`` rule or a
    probe-minima file) with their payload, when they were built under ``key``; else None.

    Raises
    ------
    WerklandInputError
        The file or its payload is unreadable, or its key matches but its tables do not fit
        (``fix`` says what to do).
    """
    payload = read_minima_payload(path, fix=fix)
    try:
        built = from_payload(payload, key)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # a payload whose key matches, tables broken
        raise WerklandInputError(f"the barrier segments and probes kept there are incomplete ({exc!r})",
                                 path=str(path), fix=fix) from exc
    return None if built is None or payload is None else (built, payload)

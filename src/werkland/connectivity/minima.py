"""Per-patch minima of the cost-distance surfaces over groups of cells (the barrier stage's probes).

The barrier stage reduces every patch's bounded cost-distance surface to its minimum over each of
many groups of cells (restoration windows, centre-line cells, dilated footprints). The link search
of the connectivity stage computes the same surfaces -- every patch searched to ``max_cost +
corridor_width``, with the same costs bit for bit (the heap and the bucket queue reach the same
fixed point) -- so it keeps these minima while it searches (:func:`build_links`' ``cell_groups``),
and the barrier stage reads them from ``graph/{guild}_probe_minima.npz`` instead of searching every
patch again. :func:`search_group_minima` is the stand-alone search (the barrier stage's own when
no minima file is given, and the connectivity stage's when its link search is tiled or stops at a
lower bound).

This module knows cells and groups only; which cells a group holds is the caller's business
(:func:`werkland.barriers.scores.build_probes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import time
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from werkland._errors import WerklandInputError
from werkland._kernels.barrier_scores import probe_mins
from werkland._kernels.grid_search import (
    cost_search,
    min_step_cost,
    search_resistance,
    step_lengths,
)
from werkland.connectivity.patches import patch_cells
from werkland.raster.io import atomic_path

log = logging.getLogger(__name__)

#: Format tag of the minima file (``meta.json`` key ``format``).
MINIMA_FORMAT = "werkland.group_minima/1"

#: Fixed zip entry time, so the same arrays give the same file bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_npy_entry(zf: zipfile.ZipFile, name: str, dtype: Any, size: int, chunks: Iterable[np.ndarray]) -> None:
    """Stream a 1-D ``.npy`` array of ``size`` values of ``dtype`` into the zip entry ``name`` (fixed
    time), chunk by chunk from each chunk's own buffer: no copy of the whole array."""
    with zf.open(zipfile.ZipInfo(name, date_time=ZIP_TIME), "w", force_zip64=True) as f:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (size,)}
        np.lib.format.write_array_header_1_0(f, header)
        for chunk in chunks:
            f.write(np.ascontiguousarray(chunk, dtype=dtype).data.cast("B"))


def read_zip_meta(zf: zipfile.ZipFile, fmt: str, path: str | os.PathLike[str], fix: str) -> dict[str, Any]:
    """The ``meta.json`` of a zip written with the format tag ``fmt``.

    Raises
    ------
    WerklandInputError
        Another format (naming ``path`` and ``fix``).
    """
    meta = json.loads(zf.read("meta.json"))
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise WerklandInputError(f"format {got!r} is not {fmt!r}", path=str(path), fix=fix)
    return meta


@dataclass(frozen=True)
class CellGroups:
    """Groups of raster cells over which each patch's least cost is kept.

    Attributes
    ----------
    cell_slot : numpy.ndarray
        Slot of each raster cell (flat index; -1 = in no group).
    slot_ptr, slot_groups : numpy.ndarray
        Groups of slot ``s``: ``slot_groups[slot_ptr[s]:slot_ptr[s+1]]``.
    n_groups : int
        Number of groups.
    """

    cell_slot: np.ndarray
    slot_ptr: np.ndarray
    slot_groups: np.ndarray
    n_groups: int

    def digest(self) -> str:
        """SHA-256 of the groups (dtypes, shapes and values): which groups a minima file was kept for."""
        h = hashlib.sha256()
        for a in (self.cell_slot, self.slot_ptr, self.slot_groups):
            arr = np.ascontiguousarray(a)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        h.update(str(int(self.n_groups)).encode())
        return h.hexdigest()


class GroupMinima(NamedTuple):
    """Group minima of every patch's cost-distance surface, CSR over patches 0..n.

    Patch ``p`` reached groups ``groups[ptr[p]:ptr[p+1]]`` (sorted) with minimum costs
    ``vals[ptr[p]:ptr[p+1]]`` (cost-weighted m); patch 0 is empty.
    """

    ptr: np.ndarray
    groups: np.ndarray
    vals: np.ndarray

    @property
    def n(self) -> int:
        """Number of patches."""
        return int(self.ptr.size) - 2

    def within(self, bounds: np.ndarray) -> GroupMinima:
        """The entries of each patch ``p`` with a minimum ``<= bounds[p]``.

        A search bounded at ``bounds[p]`` would have kept exactly these: a group's minimum over the
        cells settled within a lower bound is the same minimum when it is within that bound, and
        absent otherwise.
        """
        owner = np.repeat(np.arange(self.n + 1), np.diff(self.ptr))
        keep = self.vals <= np.asarray(bounds, np.float64)[owner]
        ptr = np.zeros(self.n + 2, np.int64)
        ptr[1:] = np.cumsum(np.bincount(owner[keep], minlength=self.n + 1))
        return GroupMinima(ptr, self.groups[keep], self.vals[keep])


@dataclass
class MinimaParts:
    """Group minima of each patch as its search left them: ``parts[p] = (groups, vals)`` for patches
    1..n (``parts[0]`` unused; None = not searched, no entries).

    The form the searches produce; :func:`write_group_minima` streams it to the file patch by patch
    (no second copy as one table), :meth:`table` assembles it.
    """

    parts: list[Any]

    @property
    def n(self) -> int:
        """Number of patches."""
        return len(self.parts) - 1

    def ptr(self) -> np.ndarray:
        """CSR pointer of the table (:class:`GroupMinima` ``ptr``)."""
        ptr = np.zeros(self.n + 2, np.int64)
        ptr[2:] = np.cumsum([0 if q is None else q[0].size for q in self.parts[1:]])
        return ptr

    def chunks(self, which: int) -> Iterator[np.ndarray]:
        """The groups (``which`` 0) or values (1) of patches 1..n in order, each released once given."""
        for p in range(1, self.n + 1):
            q = self.parts[p]
            if q is not None:
                yield q[which]
                if which == 1:
                    self.parts[p] = None

    def table(self) -> GroupMinima:
        """One table; the parts are released as they are copied."""
        ptr = self.ptr()
        groups = np.empty(int(ptr[-1]), np.int32)
        vals = np.empty(int(ptr[-1]), np.float64)
        for p in range(1, self.n + 1):
            q = self.parts[p]
            if q is not None:
                groups[ptr[p] : ptr[p + 1]], vals[ptr[p] : ptr[p + 1]] = q
                self.parts[p] = None
        return GroupMinima(ptr, groups, vals)


def search_group_minima(
    res: np.ndarray,
    labels: np.ndarray,
    n: int,
    res_m: float,
    bound: float,
    groups: CellGroups,
    n_threads: int,
    patch_bounds: np.ndarray | None = None,
) -> MinimaParts:
    """One bounded cost-distance search per patch, reduced to its group minima.

    Parameters
    ----------
    res : numpy.ndarray
        Resistance from :func:`werkland.connectivity.prepare_resistance`.
    labels : numpy.ndarray
        Patch-id raster (1..n).
    n : int
        Number of patches.
    res_m : float
        Pixel size (m).
    bound : float
        Searches stop at this cost (cost-weighted m).
    groups : CellGroups
        The cell groups.
    n_threads : int
        Worker threads (each with its own search workspace).
    patch_bounds : numpy.ndarray, optional
        Per-patch bound (index = patch id, each ``<= bound``); None: ``bound`` for every patch.

    Returns
    -------
    MinimaParts
        (:meth:`MinimaParts.table` for the table.)
    """
    H, W = res.shape
    check_groups_fit(groups, res.shape)
    res_flat = search_resistance(res)  # float32 when exact: same costs, half the memory traffic
    lab_flat = np.ascontiguousarray(labels, dtype=np.int64).ravel()
    cells, ptr = patch_cells(lab_flat, n)
    lens = step_lengths(res_m)
    min_step = min_step_cost(res_flat, lens)
    pool: queue.Queue[Any] = queue.Queue()
    for _ in range(max(1, min(n_threads, n))):  # costs, touched cells and a group-minimum scratch each
        pool.put([np.full(H * W, np.inf), np.empty(1 << 16, np.int64), group_scratch(groups)])
    out: list[Any] = [None] * (n + 1)
    t0 = time.perf_counter()
    step = max(1, n // 10)

    def work(pid: int) -> None:
        slot = pool.get()
        cum, touched, gmin = slot
        try:
            starts = cells[ptr[pid - 1] : ptr[pid]]
            b = bound if patch_bounds is None else min(bound, float(patch_bounds[pid]))
            # costs only (the surfaces are reduced to minima): the bucket queue, same costs as the heap
            n_t, touched, _ = cost_search(
                res_flat, H, W, lens, starts, np.zeros(starts.size), b, cum, touched, cum, 0.0, False, min_step
            )
            slot[1] = touched  # the search may have grown it
            out[pid] = reduce_to_groups(cum, touched, n_t, b, groups, gmin, W)
            cum[touched[:n_t]] = np.inf  # reset in O(touched)
        finally:
            pool.put(slot)
        if pid % step == 0:
            log.info("group minima: %d/%d patch surfaces (%.1f/s)", pid, n, pid / max(time.perf_counter() - t0, 1e-9))

    if n:
        with ThreadPoolExecutor(max_workers=max(1, n_threads)) as ex:
            list(ex.map(work, range(1, n + 1)))
    return MinimaParts(out)


def check_groups_fit(groups: CellGroups, shape: tuple[int, ...]) -> None:
    """Raise when the groups were built for a raster of another size (the compiled reduction indexes
    ``cell_slot`` by the raster's flat cell index)."""
    if groups.cell_slot.size != int(np.prod(shape)):
        raise WerklandInputError(
            f"cell groups of {groups.cell_slot.size} cells for a raster of {shape[0]} x {shape[1]} cells",
            path="cell_groups", fix="build the probe groups on the resistance raster's grid (probe_groups)")


def group_scratch(groups: CellGroups) -> np.ndarray:
    """A search thread's scratch of :func:`reduce_to_groups` (``inf`` per group)."""
    return np.full(max(groups.n_groups, 1), np.inf)


def reduce_to_groups(cum: np.ndarray, touched: np.ndarray, n_t: int, bound: float, groups: CellGroups,
                     gmin: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum settled cost (``<= bound``) of one search over each group it reached (sorted groups, costs).

    ``cum`` is the search's flat work array (rows of ``width`` cells, ``inf`` wherever it did not
    touch); ``gmin`` is the thread's :func:`group_scratch`, left all ``inf`` again.
    """
    return probe_mins(cum, touched, n_t, bound, groups.cell_slot, groups.slot_ptr, groups.slot_groups, gmin,
                      width)


# --- the minima file ------------------------------------------------------------------------------


def surface_digest(resistance: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of what the searches' costs depend on: the prepared resistance (float64, ``inf``
    impassable) and the patch raster (as int32 ids), whatever dtype the caller holds them in."""
    h = hashlib.sha256()
    for arr in (np.ascontiguousarray(resistance, dtype=np.float64), np.ascontiguousarray(labels, dtype=np.int32)):
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.data.cast("B"))
    return h.hexdigest()


@dataclass(frozen=True)
class MinimaKey:
    """What a minima file was computed for: the search bound, the groups and the surfaces.

    ``bound`` is the cost (cost-weighted m) every patch was searched to, ``groups_digest``
    :meth:`CellGroups.digest`, ``surface_digest`` :func:`surface_digest` of the resistance and the
    patch raster, ``shape`` the raster's and ``n`` the number of patches.
    """

    bound: float
    groups_digest: str
    surface_digest: str
    shape: tuple[int, int]
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"format": MINIMA_FORMAT, "bound": self.bound, "groups_digest": self.groups_digest,
                "surface_digest": self.surface_digest, "shape": list(self.shape), "n_patches": self.n}

    def differences(self, other: MinimaKey) -> list[str]:
        """What differs from ``other``, in words (empty when the keys are equal)."""
        names = {"bound": "search bound", "groups_digest": "probe groups",
                 "surface_digest": "resistance or patch raster", "shape": "raster shape", "n": "patch count"}
        return [text for f, text in names.items() if getattr(self, f) != getattr(other, f)]


@dataclass(frozen=True)
class MinimaPayload:
    """What a caller keeps beside the minima in the same file: named arrays and JSON-able metadata.

    The barrier stage keeps its segments and probe groups here (:mod:`werkland.barriers.probe_store`),
    so that the barrier job reads them instead of building them a second time. This module stores
    them as entries ``payload/{name}.npy`` and ``payload.json`` and knows nothing of their meaning.
    """

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def _payload_entry(name: str) -> str:
    return f"payload/{name}.npy"


def write_group_minima(minima: GroupMinima | MinimaParts, key: MinimaKey, path: str | os.PathLike[str],
                       payload: MinimaPayload | None = None) -> None:
    """Write the minima as a NumPy ``.npz`` (arrays ``ptr``, ``groups``, ``vals`` and ``meta.json``).

    Parts are streamed patch by patch (each released once written), a table is written whole; both
    give the same bytes, and the zip entries carry a fixed time, so the same minima give the same
    file. The file appears only when complete. A ``payload`` (:class:`MinimaPayload`) is written
    beside the tables, its arrays in name order (:func:`read_minima_payload` reads it back).
    """
    if isinstance(minima, GroupMinima):
        ptr, groups, vals = minima.ptr, iter([minima.groups]), iter([minima.vals])
    else:
        ptr, groups, vals = minima.ptr(), minima.chunks(0), minima.chunks(1)
    total = int(ptr[-1])
    with atomic_path(path, ".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name, chunks, dtype in (("ptr", iter([ptr]), np.int64), ("groups", groups, np.int32),
                                    ("vals", vals, np.float64)):
            write_npy_entry(zf, f"{name}.npy", dtype, ptr.size if name == "ptr" else total, chunks)
        if payload is not None:
            _write_payload_entries(zf, payload)
        zf.writestr(zipfile.ZipInfo("meta.json", date_time=ZIP_TIME), json.dumps(key.as_dict(), sort_keys=True))


def _write_payload_entries(zf: zipfile.ZipFile, payload: MinimaPayload) -> None:
    """The payload's arrays (in name order) and ``payload.json`` into an open zip file."""
    for name in sorted(payload.arrays):
        with zf.open(zipfile.ZipInfo(_payload_entry(name), date_time=ZIP_TIME), "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.ascontiguousarray(payload.arrays[name]), allow_pickle=False)
    meta = {"arrays": sorted(payload.arrays), "meta": payload.meta}
    zf.writestr(zipfile.ZipInfo("payload.json", date_time=ZIP_TIME), json.dumps(meta, sort_keys=True))


def write_payload(payload: MinimaPayload, path: str | os.PathLike[str]) -> None:
    """A :class:`MinimaPayload` alone in a file of its own (``.npz``), which
    :func:`read_minima_payload` reads back: the same entries as beside minima, the same bytes for the
    same payload, and the file appears only when complete."""
    with atomic_path(path, ".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        _write_payload_entries(zf, payload)


def read_group_minima(path: str | os.PathLike[str],
                      expect: MinimaKey | None = None) -> tuple[GroupMinima | None, MinimaKey]:
    """Read a file of :func:`write_group_minima`: its minima and its key.

    With ``expect``, the tables are read only when the file's key equals it; otherwise the minima
    are None (the key is small, the tables can be a gigabyte).

    Raises
    ------
    WerklandInputError
        The file is missing, not a minima file, or its tables are inconsistent.
    """
    fix = "delete it and re-run the connectivity rule of this guild"
    try:
        with zipfile.ZipFile(path) as zf:
            meta = read_zip_meta(zf, MINIMA_FORMAT, path, fix)
            key = MinimaKey(float(meta["bound"]), str(meta["groups_digest"]), str(meta["surface_digest"]),
                            (int(meta["shape"][0]), int(meta["shape"][1])), int(meta["n_patches"]))
            if expect is not None and key != expect:
                return None, key
            arrays = {}
            for name in ("ptr", "groups", "vals"):
                with zf.open(f"{name}.npy") as f:  # read in chunks, not as one bytes copy first
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
    except WerklandInputError:
        raise
    except (OSError, KeyError, IndexError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise WerklandInputError(f"cannot read the patch minima ({exc})", path=str(path), fix=fix) from exc
    minima = GroupMinima(arrays["ptr"], arrays["groups"], arrays["vals"])
    if (minima.ptr.size < 2 or minima.groups.size != minima.vals.size or int(minima.ptr[-1]) != minima.vals.size
            or minima.n != key.n):
        raise WerklandInputError("the minima tables do not fit together", path=str(path), fix=fix)
    return minima, key


def read_minima_payload(path: str | os.PathLike[str], *,
                        fix: str = "delete it and re-run the connectivity rule of this guild") -> MinimaPayload | None:
    """The :class:`MinimaPayload` of a file of :func:`write_group_minima` or :func:`write_payload`
    (None when it has none).

    Raises
    ------
    WerklandInputError
        The file is missing, not a zip file, or its payload entries are unreadable (``fix`` says
        what to do).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            if "payload.json" not in zf.namelist():
                return None
            head = json.loads(zf.read("payload.json"))
            arrays = {}
            for name in head["arrays"]:
                with zf.open(_payload_entry(str(name))) as f:
                    arrays[str(name)] = np.lib.format.read_array(f, allow_pickle=False)
            meta = head["meta"]
    except (OSError, KeyError, IndexError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise WerklandInputError(f"cannot read the payload beside the patch minima ({exc})", path=str(path),
                                 fix=fix) from exc
    if not isinstance(meta, dict):
        raise WerklandInputError("the payload's metadata is not a mapping", path=str(path), fix=fix)
    return MinimaPayload(meta, arrays)

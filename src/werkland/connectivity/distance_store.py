"""A guild graph's all-pairs distances, kept by the connectivity job for the jobs after it.

The connectivity job's node metrics search every patch's shortest paths on ``-ln p`` (all pairs).
The barrier job's network gains (their :class:`~werkland.connectivity.graph_state.GraphState`)
searched them again from the same links. :func:`write_component_distances` writes the connectivity
job's rows as a
:class:`~werkland.connectivity.apsp.ComponentMatrix` (one float64 block per connected component,
``graph/{guild}_distances.npz``); :func:`read_component_distances` gives it back to a job whose
graph has the same :func:`~werkland.connectivity.apsp.graph_key` -- the same nodes, links and
lengths, so the same distances bit for bit -- and None for any other graph, which then searches as
before.

The file is a NumPy ``.npz`` (zip, stored): ``comp.npy`` (int64 component label of each node),
``dist.npy`` (float64, every component's block flattened in component order, rows and columns in
node-id order) and ``meta.json`` (``format``, ``n``, ``graph_key``). Its size is 8 bytes per pair
of nodes in one component (woodland birds at 4.1 M cells: 3,411 patches in one component, 93 MB).
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from werkland._errors import WerklandInputError
from werkland.connectivity.apsp import ComponentMatrix
from werkland.connectivity.minima import ZIP_TIME, read_zip_meta, write_npy_entry
from werkland.raster.io import atomic_path

#: Version of the file layout (``meta.json`` ``format``).
DISTANCES_FORMAT = "werkland-component-distances-1"


def write_component_distances(cm: ComponentMatrix, path: str | os.PathLike[str]) -> None:
    """Write a complete :class:`~werkland.connectivity.apsp.ComponentMatrix` (see the module).

    The blocks are streamed one after the other (no copy of the whole matrix); the file appears only
    when complete.

    Raises
    ------
    ValueError
        The matrix is not complete (rows missing from :meth:`~ComponentMatrix.fill_rows`).
    """
    if cm.rows_filled != cm.n:
        raise ValueError(f"distance matrix holds {cm.rows_filled} of its {cm.n} rows")
    total = sum(int(b.size) for b in cm.blocks)
    with atomic_path(path, ".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        write_npy_entry(zf, "comp.npy", np.int64, cm.n, [cm.comp])
        write_npy_entry(zf, "dist.npy", np.float64, total, (block.ravel() for block in cm.blocks))
        meta = {"format": DISTANCES_FORMAT, "n": cm.n, "graph_key": cm.key}
        zf.writestr(zipfile.ZipInfo("meta.json", date_time=ZIP_TIME), json.dumps(meta, sort_keys=True))


def read_component_distances(path: str | os.PathLike[str], graph_key: str) -> ComponentMatrix | None:
    """The matrix of a file of :func:`write_component_distances` when it is of the graph with
    ``graph_key``; None when it is of another graph (its blocks are then not read).

    Raises
    ------
    WerklandInputError
        The file is missing, not a distance file, or its arrays do not fit together.
    """
    fix = "delete it and re-run the connectivity rule of this guild"
    try:
        with zipfile.ZipFile(path) as zf:
            meta = read_zip_meta(zf, DISTANCES_FORMAT, path, fix)
            if str(meta["graph_key"]) != graph_key:
                return None
            with zf.open("comp.npy") as f:
                comp = np.lib.format.read_array(f, allow_pickle=False)
            with zf.open("dist.npy") as f:  # read in chunks, not as one bytes copy first
                flat = np.lib.format.read_array(f, allow_pickle=False)
        n = int(meta["n"])
        if comp.shape != (n,) or flat.dtype != np.float64 or flat.ndim != 1:
            raise ValueError(f"{comp.shape[0]} component labels and a {flat.dtype} array for {n} nodes")
        return ComponentMatrix.from_blocks(n, comp, flat, graph_key)
    except WerklandInputError:
        raise
    except (OSError, KeyError, IndexError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise WerklandInputError(f"cannot read the graph distances ({exc})", path=str(path), fix=fix) from exc


__all__ = ["DISTANCES_FORMAT", "read_component_distances", "write_component_distances"]

"""All-pairs shortest paths of patch graphs on ``-ln p`` and the PCnum reductions over them.

The building blocks of :mod:`~werkland.connectivity.metrics` and
:mod:`~werkland.connectivity.graph_state`: edge validation, the symmetric sparse graph, the
all-pairs distance matrix (compiled rows on threads, bit-identical to scipy), the packed float32
probabilities of the interventions stage and ``PCnum = Σ a_i a_j exp(-D_ij)``.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from werkland._errors import WerklandInputError
from werkland._kernels.graph import predecessor_rows, sssp_rows, sssp_rows_limited

#: Sources per compiled all-pairs call (fixed, so the rows do not depend on the thread count).
APSP_CHUNK = 128

#: Rows per block of the n x n reductions of :func:`row_sums`.
ROW_BLOCK = 512


def edge_arrays(edges: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated undirected edges: self-loops and ``inf`` costs dropped, the cheapest of duplicate pairs kept.

    Parameters
    ----------
    edges : array-like or tuple
        ``(i, j, cost)`` triples (an (m, 3) array or list) or a tuple of three arrays; 0-based nodes.
    n : int
        Number of nodes.

    Returns
    -------
    i, j, cost : numpy.ndarray
        ``i < j`` (int64), sorted by ``(i, j)``; cost float64.

    Raises
    ------
    WerklandInputError
        Malformed triples, endpoints outside ``0..n-1``, NaN or negative costs.
    """
    if isinstance(edges, tuple) and len(edges) == 3 and not np.isscalar(edges[0]):
        i, j, c = (np.asarray(x) for x in edges)
    else:
        arr = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 3)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise WerklandInputError("edges must be (i, j, cost) triples", path="edges")
        i, j, c = arr[:, 0], arr[:, 1], arr[:, 2]
    i = np.asarray(i, dtype=np.int64).ravel()
    j = np.asarray(j, dtype=np.int64).ravel()
    c = np.asarray(c, dtype=np.float64).ravel()
    if not (i.size == j.size == c.size):
        raise WerklandInputError("edge arrays have different lengths", path="edges")
    if i.size and (i.min() < 0 or j.min() < 0 or i.max() >= n or j.max() >= n):
        raise WerklandInputError(f"edge endpoints must be node indices 0..{n - 1}", path="edges")
    if np.any(np.isnan(c)) or np.any(c < 0):
        raise WerklandInputError("edge costs must be >= 0 (inf = no link)", path="edges")
    keep = (i != j) & np.isfinite(c)
    i, j, c = i[keep], j[keep], c[keep]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((c, hi, lo))
    lo, hi, c = lo[order], hi[order], c[order]
    first = np.ones(lo.size, dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], c[first]


def check_areas(areas_ha: Any) -> np.ndarray:
    """Node weights as a float64 vector.

    Raises
    ------
    WerklandInputError
        A weight that is negative or not finite.
    """
    a = np.asarray(areas_ha, dtype=np.float64).ravel()
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise WerklandInputError("node areas must be finite and >= 0 ha", path="areas_ha")
    return a


def graph_key(g: sp.csr_matrix) -> str:
    """SHA-256 of a graph from :func:`sym_csr` (its size, structure and lengths): graphs with the
    same key have the same all-pairs distances bit for bit."""
    h = hashlib.sha256(np.asarray(g.shape, np.int64).tobytes())
    for arr, dtype in ((g.indptr, np.int64), (g.indices, np.int64), (g.data, np.float64)):
        h.update(np.ascontiguousarray(arr, dtype=dtype).tobytes())
    return h.hexdigest()


def sym_csr(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> sp.csr_matrix:
    """Symmetric sparse adjacency of the undirected edges ``(i, j)`` with lengths ``w`` (sorted indices).

    A zero length is stored as 1e-300 (an explicit 0 would not be an edge for ``csgraph``).
    """
    w = np.maximum(w, 1e-300)
    g = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))
    g.sort_indices()
    return g


def apsp(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, return_predecessors: bool = False,
         n_threads: int | None = None) -> Any:
    """All-pairs shortest paths of the undirected graph (i, j, w).

    Without predecessors the rows are computed by the compiled ``sssp_rows`` over fixed chunks of
    :data:`APSP_CHUNK` sources on ``n_threads`` threads (None: up to 2 cores), bit-identical to
    scipy; with predecessors (or under ``2 * APSP_CHUNK`` nodes) by scipy's ``csgraph.dijkstra``.

    Returns
    -------
    numpy.ndarray or tuple
        (n, n) float64 distances (``inf`` = disconnected), and the int32 predecessors when asked for.
    """
    if n == 0:
        z = np.zeros((0, 0))
        return (z, np.zeros((0, 0), np.int32)) if return_predecessors else z
    g = sym_csr(n, i, j, w)
    if return_predecessors or n < 2 * APSP_CHUNK:
        return csgraph.dijkstra(g, directed=True, return_predecessors=return_predecessors)
    D = np.empty((n, n))
    _sssp_chunks(g, n_threads, lambda s, e: (D, 0))
    return D


def distance_rows(g: Any, r0: int, r1: int, n_threads: int | None = None) -> np.ndarray:
    """Rows ``r0..r1-1`` of the all-pairs distance matrix of the sparse graph ``g``.

    Compiled ``sssp_rows`` over chunks of :data:`APSP_CHUNK` sources on ``n_threads`` threads: the
    same values as ``csgraph.dijkstra(g, directed=True, indices=range(r0, r1))``, bit for bit.
    """
    D = np.empty((r1 - r0, g.shape[0]))
    _sssp_chunks(g, n_threads, lambda s, e: (D, r0), rows=(r0, r1))
    return D


def distance_predecessor_rows(g: Any, r0: int, r1: int, n_threads: int | None = None, *,
                              distances: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``r0..r1-1`` of the distance matrix of the symmetric graph ``g`` and scipy's predecessors.

    ``csgraph.dijkstra(g, directed=True, indices=range(r0, r1), return_predecessors=True)`` bit for
    bit (predecessors int32, -9999 for the source and unreached nodes), computed without holding
    the GIL: the distances by :func:`distance_rows`, the predecessors derived from them by the
    compiled ``predecessor_rows`` over the same chunks on ``n_threads`` threads. A row where two
    neighbours of a node tie for its predecessor (scipy's choice then depends on its heap) is taken
    from scipy itself.

    ``distances``: those rows of :func:`distance_rows`, when the caller has them already; they are
    used (and returned) instead of searched again.
    """
    if distances is not None and distances.shape != (r1 - r0, g.shape[0]):
        raise ValueError(f"distances has shape {distances.shape}, rows {r0}..{r1 - 1} of {g.shape[0]} nodes "
                         f"need {(r1 - r0, g.shape[0])}")
    D = distance_rows(g, r0, r1, n_threads) if distances is None else distances
    P = np.empty(D.shape, np.int32)
    ambiguous = np.zeros(r1 - r0, bool)
    indptr, indices, data = g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64)

    def chunk(b: tuple[int, int]) -> None:
        s, e = b[0] - r0, b[1] - r0
        ambiguous[s:e] = predecessor_rows(indptr, indices, data, np.arange(b[0], b[1]), D[s:e], P[s:e])

    _on_threads(chunk, [(s, min(r1, s + APSP_CHUNK)) for s in range(r0, r1, APSP_CHUNK)], n_threads)
    rows = np.flatnonzero(ambiguous)
    if rows.size:
        D[rows], P[rows] = csgraph.dijkstra(g, directed=True, indices=rows + r0, return_predecessors=True)
    return D, P


def _sssp_chunks(g: Any, n_threads: int | None, target: Callable[[int, int], tuple[np.ndarray, int]],
                 done: Callable[[int, np.ndarray], None] | None = None,
                 rows: tuple[int, int] | None = None) -> None:
    """Run the compiled ``sssp_rows`` over fixed chunks of :data:`APSP_CHUNK` sources on threads.

    ``target(s, e)`` gives the array the rows ``s..e-1`` are written to and its row offset (``(D, 0)``
    for one n x n matrix, ``(block, s)`` for a block per chunk); ``done(s, block)`` is called with each
    finished chunk. ``rows``: the sources ``(start, stop)`` (None: all). Each row is one independent
    search, so the rows do not depend on the chunks or on ``n_threads`` (None: up to 2 cores).
    """
    n = g.shape[0]
    start, stop = (0, n) if rows is None else rows
    g.sort_indices()
    indptr, indices, data = g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64)

    def chunk(b: tuple[int, int]) -> None:
        arr, r0 = target(b[0], b[1])
        sssp_rows(indptr, indices, data, b[0], b[1], arr, r0)
        if done is not None:
            done(b[0], arr)

    _on_threads(chunk, [(s, min(stop, s + APSP_CHUNK)) for s in range(start, stop, APSP_CHUNK)], n_threads)


def _on_threads(fn: Callable[[Any], None], jobs: list[Any], n_threads: int | None) -> None:
    """``fn`` of every job on ``n_threads`` threads (None: up to 2 cores; 1: in order, here)."""
    threads = n_threads if n_threads is not None else min(2, os.cpu_count() or 1)
    if threads <= 1:
        for job in jobs:
            fn(job)
    else:
        with ThreadPoolExecutor(max_workers=threads) as ex:
            list(ex.map(fn, jobs))


def apsp_probabilities(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, a: np.ndarray,
                       n_threads: int | None = None, out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Maximum-product probabilities ``p*_ij = exp(-D_ij)`` of all pairs, packed float32, and PCnum.

    A quarter of the memory of the float64 distance matrix of :func:`apsp` (one triangle, float32)
    and no n x n float64 temporary: rows are computed in float64 over fixed chunks of sources, each
    chunk's ``Σ_j a_j exp(-D_sj)`` is taken in float64, and only then is the lower-triangle part of
    each row stored in float32. ``p*`` below the smallest normal float32 (``D`` > 87.3,
    p* < 1.2e-38) is stored as 0 (unconnected), so ``-ln p*`` read back has an absolute error of at
    most 6e-8 (the float32 rounding of p*).

    Parameters
    ----------
    n : int
        Number of nodes.
    i, j, w : numpy.ndarray
        Undirected edges and their ``-ln p`` lengths.
    a : numpy.ndarray
        Node weights (ha) for PCnum.
    n_threads : int, optional
        Threads (None: up to 2 cores); the result does not depend on it.
    out : numpy.ndarray, optional
        1-D float32 array of at least ``n (n - 1) / 2`` elements to fill (its start; e.g. a buffer with
        room for nodes added later). None: a new array.

    Returns
    -------
    tuple
        ``(P, pcnum)``: 1-D float32 array, ``p*`` of the pair ``(r, c)``, ``r > c``, at
        ``r (r - 1) / 2 + c`` (the row-major lower triangle; a view of ``out`` when given), and
        PCnum = Σ a_i a_j p*_ij (ha²) from the float64 distances.

    Raises
    ------
    ValueError
        ``out`` is not a 1-D float32 array large enough.
    """
    size = n * (n - 1) // 2
    if out is not None:
        if out.dtype != np.float32 or out.ndim != 1 or out.size < size:
            raise ValueError(f"out must be a 1-D float32 array of at least {size} elements")
        P = out[:size]
    else:
        P = np.zeros(size, np.float32)
    if n == 0:
        return P, 0.0

    def pack(s: int, E: np.ndarray) -> None:
        for r in range(s, s + E.shape[0]):
            o = r * (r - 1) // 2
            P[o:o + r] = E[r - s, :r]

    return P, probability_rows(n, i, j, w, a, pack, n_threads)


def probability_rows(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, a: np.ndarray,
                     sink: Callable[[int, np.ndarray], None], n_threads: int | None = None) -> float:
    """Hand every row of ``p*_ij = exp(-D_ij)`` to ``sink`` and return PCnum, without an n x n matrix.

    The rows are computed in float64 over fixed chunks of :data:`APSP_CHUNK` sources (compiled, on
    ``n_threads`` threads; scipy under ``2 * APSP_CHUNK`` nodes in one block); each chunk's
    ``Σ_j a_j p*_sj`` is taken before ``p*`` below the smallest normal float32 is set to 0, and then
    ``sink(s, E)`` receives the rows ``s, s + 1, ...`` (``E``, float64). Chunks may reach ``sink``
    from several threads at once, each with its own rows.

    Returns
    -------
    float
        PCnum = Σ a_i a_j p*_ij (ha²).
    """
    a = np.asarray(a, np.float64)
    if n == 0:
        return 0.0
    rows = np.zeros(n)
    tiny = np.finfo(np.float32).tiny

    def store(s: int, D: np.ndarray) -> None:
        E = np.exp(-D)
        rows[s:s + D.shape[0]] = E @ a
        E[E < tiny] = 0.0
        sink(s, E)

    if n < 2 * APSP_CHUNK:
        store(0, apsp(n, i, j, w))
    else:
        _sssp_chunks(sym_csr(n, i, j, w), n_threads, lambda s, e: (np.empty((e - s, n)), s), store)
    return float(a @ rows)


def pcnum(a: np.ndarray, dist: np.ndarray | ComponentMatrix) -> float:
    """PCnum = Σ a_i a_j exp(-dist_ij) (ha²), reduced over blocks of :data:`ROW_BLOCK` rows (no n x n
    temporary); ``dist`` is the (n, n) array or a :class:`ComponentMatrix` (the same value to the
    last bit: the same row sums over the same blocks)."""
    if a.size == 0:
        return 0.0
    d = distance_matrix(dist)
    sums = np.empty(a.size)
    for s in range(0, a.size, ROW_BLOCK):
        e = min(a.size, s + ROW_BLOCK)
        sums[s:e] = row_sums(d.row_block(s, e), a, 0, r0=s)[0]
    return float(a @ sums)


def row_sums(M: np.ndarray, a: np.ndarray, mode: int, P: np.ndarray | None = None, *, r0: int = 0,
             direct: float = 0.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Row sums ``Σ_j v_ij a_j``, the diagonal ``v_ii`` and (with predecessors ``P``) the direct-link
    sum ``Σ a_i a_j v_ij`` over pairs whose best path is their link, reduced over blocks of rows.

    ``v = exp(-M)`` (mode 0: p* from -ln p distances) or ``1 / (1 + M)`` with 0 for unreachable pairs
    (mode 1: IIC from hop counts). No n x n temporary is made. ``M`` (and ``P``) may be a block of
    rows starting at row ``r0`` of the whole matrix, and ``direct`` the sum of the blocks before it:
    blocks of a multiple of :data:`ROW_BLOCK` rows, taken in order, give the whole matrix's sums
    to the last bit.

    Returns
    -------
    tuple
        Row sums and diagonal of the rows of ``M`` (length ``M.shape[0]``), and the direct-link sum
        (``direct`` plus this block's).
    """
    m = M.shape[0]
    rows, diag = np.zeros(m), np.zeros(m)
    for s in range(0, m, ROW_BLOCK):
        e = min(m, s + ROW_BLOCK)
        blk = M[s:e]
        if mode == 0:
            v = np.exp(-blk)
        else:
            with np.errstate(divide="ignore"):
                v = np.where(np.isfinite(blk), 1.0 / (1.0 + blk), 0.0)
        rows[s:e] = v @ a
        own = np.arange(r0 + s, r0 + e)
        diag[s:e] = v[np.arange(e - s), own]
        if P is not None:
            direct += float(np.sum((a[r0 + s:r0 + e, None] * a[None, :] * v)[P[s:e] == own[:, None]]))
    return rows, diag, direct


class ComponentMatrix:
    """All-pairs shortest-path distances kept per connected component (float64, dense per component).

    Pairs in two components are ``inf``, so only each component's square block is stored: a graph
    of 13,069 patches in 835 components (a short-reach guild at 16 M cells) needs 0.2 % of the
    1.4 GB of the n x n matrix. The values are those of :func:`apsp` bit for bit (the same compiled
    rows). Reads: :meth:`pair`, :meth:`rows`, :meth:`row_block`, :meth:`take` and :meth:`dense` (the
    interface :class:`DenseMatrix` gives an array; :func:`pcnum` takes either).

    Parameters
    ----------
    n : int
        Number of nodes.
    i, j, w : numpy.ndarray
        Undirected edges and their lengths.
    n_threads : int, optional
        Threads of the row searches (None: up to 2 cores); the values do not depend on it.
    search : bool
        Search the distances (False: the blocks stay zero until :meth:`fill_rows` has taken every
        row, e.g. the node metrics' rows).
    """

    def __init__(self, n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, n_threads: int | None = None, *,
                 search: bool = True) -> None:
        self._build(sym_csr(n, i, j, w) if n else sp.csr_matrix((0, 0)), n_threads, search)

    @classmethod
    def from_graph(cls, g: sp.csr_matrix, n_threads: int | None = None, *, search: bool = True) -> ComponentMatrix:
        """The matrix of a graph already made by :func:`sym_csr` (not made again)."""
        cm = cls.__new__(cls)
        cm._build(g, n_threads, search)
        return cm

    def _build(self, g: sp.csr_matrix, n_threads: int | None, search: bool) -> None:
        """Key, components and blocks of the graph ``g``; the blocks searched with ``search``."""
        n = self.n = int(g.shape[0])
        #: the graph's identity (:func:`graph_key`): a stored matrix is taken for this graph only
        self.key = graph_key(g)
        _, lab = csgraph.connected_components(g, directed=False) if n else (0, np.zeros(0, np.int64))
        self._layout(np.asarray(lab, np.int64))
        self.blocks = [np.zeros((m.size, m.size)) for m in self.members]
        #: rows taken so far by :meth:`fill_rows` (all of them once searched)
        self.rows_filled = self.n if search else 0
        if not n or not search:
            return
        g.sort_indices()
        indptr, indices, data = g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64)
        jobs = [(c, s) for c, m in enumerate(self.members) if m.size > 1 for s in range(0, m.size, APSP_CHUNK)]

        def run(job: tuple[int, int]) -> None:
            c, s = job
            mem = self.members[c]
            src = mem[s:s + APSP_CHUNK]
            D = np.empty((src.size, n))
            sssp_rows_limited(indptr, indices, data, src, np.inf, D)
            self.blocks[c][s:s + src.size] = D[:, mem]

        _on_threads(run, jobs, n_threads)

    def _layout(self, comp: np.ndarray) -> None:
        """Components, their members (id order) and each node's position, from the labels."""
        self.comp = comp
        order = np.argsort(self.comp, kind="stable")
        counts = np.bincount(self.comp) if self.n else np.zeros(0, np.int64)
        #: nodes of each component (id order) and each node's position among them
        self.members = list(np.split(order, np.cumsum(counts)[:-1])) if self.n else []
        self.pos = np.empty(self.n, np.int64)
        for mem in self.members:
            self.pos[mem] = np.arange(mem.size)

    @classmethod
    def from_blocks(cls, n: int, comp: np.ndarray, flat: np.ndarray, key: str) -> ComponentMatrix:
        """A matrix from its stored parts: the component labels, every component's block flattened
        one after the other (component order, rows in id order) and the graph's key. The blocks are
        views of ``flat``."""
        cm = cls.__new__(cls)
        cm.n, cm.key = int(n), str(key)
        cm._layout(np.asarray(comp, np.int64))
        sizes = [m.size * m.size for m in cm.members]
        if flat.size != sum(sizes):
            raise ValueError(f"{flat.size} stored distances, the components need {sum(sizes)}")
        ends = np.cumsum(sizes)
        cm.blocks = [flat[e - sz:e].reshape(m.size, m.size) for e, sz, m in zip(ends, sizes, cm.members, strict=True)]
        cm.rows_filled = cm.n
        return cm

    def fill_rows(self, r0: int, D: np.ndarray) -> None:
        """Take the whole matrix's rows ``r0 .. r0 + len(D) - 1`` (from :func:`distance_rows`, or
        the node metrics' rows) into the blocks of a matrix made with ``search=False``; rows are
        taken in order, so the matrix is complete once :attr:`rows_filled` is ``n``."""
        r1 = r0 + D.shape[0]
        if r0 != self.rows_filled or r1 > self.n or D.shape[1] != self.n:
            raise ValueError(f"rows {r0}..{r1 - 1} of width {D.shape[1]} after {self.rows_filled} of {self.n} rows")
        comp = self.comp[r0:r1]
        for c in np.unique(comp):
            at = np.flatnonzero(comp == c)
            self.blocks[c][self.pos[r0 + at]] = D[np.ix_(at, self.members[c])]
        self.rows_filled = r1

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n)."""
        return self.n, self.n

    @property
    def nbytes(self) -> int:
        """Bytes of the blocks."""
        return int(sum(b.nbytes for b in self.blocks))

    def pair(self, u: int, v: int) -> float:
        """Distance of one pair."""
        if self.comp[u] != self.comp[v]:
            return math.inf
        return float(self.blocks[self.comp[u]][self.pos[u], self.pos[v]])

    def rows(self, idx: Any) -> np.ndarray:
        """Distances of the nodes ``idx`` to every node, shape (len(idx), n)."""
        idx = np.atleast_1d(np.asarray(idx, np.int64))
        out = np.full((idx.size, self.n), np.inf)
        for c in np.unique(self.comp[idx]):
            at = np.flatnonzero(self.comp[idx] == c)
            out[np.ix_(at, self.members[c])] = self.blocks[c][self.pos[idx[at]]]
        return out

    def take(self, idx: Any) -> np.ndarray:
        """Distances among the nodes ``idx`` (``idx`` x ``idx``)."""
        idx = np.atleast_1d(np.asarray(idx, np.int64))
        out = np.full((idx.size, idx.size), np.inf)
        for c in np.unique(self.comp[idx]):
            at = np.flatnonzero(self.comp[idx] == c)
            p = self.pos[idx[at]]
            out[np.ix_(at, at)] = self.blocks[c][np.ix_(p, p)]
        return out

    def row_block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the whole matrix (a new array)."""
        return self.rows(np.arange(start, stop))

    def dense(self) -> np.ndarray:
        """The whole (n, n) matrix (a new array)."""
        return self.rows(np.arange(self.n))


class DenseMatrix:
    """An (n, n) distance array read through :class:`ComponentMatrix`'s interface (``pair``,
    ``rows``, ``row_block``, ``take``, ``dense``), so code reading distances takes either form by
    one path (:func:`distance_matrix`). Reads return views where numpy gives them, except ``dense``,
    which copies (as the component form makes a new array)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n)."""
        return self.array.shape[0], self.array.shape[1]

    def pair(self, u: int, v: int) -> float:
        """Distance of one pair."""
        return float(self.array[u, v])

    def rows(self, idx: Any) -> np.ndarray:
        """Distances of the nodes ``idx`` to every node, shape (len(idx), n)."""
        return self.array[np.atleast_1d(np.asarray(idx, np.int64))]

    def row_block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (a view)."""
        return self.array[start:stop]

    def take(self, idx: Any) -> np.ndarray:
        """Distances among the nodes ``idx`` (``idx`` x ``idx``)."""
        idx = np.atleast_1d(np.asarray(idx, np.int64))
        return self.array[np.ix_(idx, idx)]

    def dense(self) -> np.ndarray:
        """A copy of the whole matrix."""
        return self.array.copy()


def distance_matrix(dist: np.ndarray | ComponentMatrix) -> DenseMatrix | ComponentMatrix:
    """Either distance form behind one interface: an array wrapped in :class:`DenseMatrix`, a
    :class:`ComponentMatrix` as it is."""
    return DenseMatrix(dist) if isinstance(dist, np.ndarray) else dist

"""All-pairs ``-ln p*`` distances of a guild graph: one growable packed triangle
(:class:`PairDistances`), or float32 ``p*`` per connected component (:class:`ComponentDistances`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from werkland._kernels.triangle import (
    comp_read,
    comp_read_square,
    comp_within,
    comp_write,
    tri_move,
    tri_read,
    tri_write,
)
from werkland.connectivity import probability_rows, sym_csr


class _PairTable:
    """What both pair tables share: reads and writes of whole rows, one pair, isolation and the
    node-id check, in terms of their :meth:`block` and :meth:`set_block`."""

    n: int

    def block(self, rows: Any, cols: Any) -> np.ndarray:
        """float64 distances of ``rows`` x ``cols`` (node ids)."""
        raise NotImplementedError

    def set_block(self, rows: Any, cols: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` x ``cols``."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n)."""
        return self.n, self.n

    def rows(self, rows: Any) -> np.ndarray:
        """float64 distances of ``rows`` to every node, shape (len(rows), n)."""
        return self.block(rows, np.arange(self.n, dtype=np.int64))

    def get(self, i: int, j: int) -> float:
        """Distance of one pair."""
        return float(self.block([i], [j])[0, 0])

    def square(self, nodes: Any) -> np.ndarray:
        """``block(nodes, nodes)``, each pair read once: the same values."""
        r = np.atleast_1d(np.asarray(nodes, np.int64))
        self._check(r, r)
        buf, off, comp, pos, compact = self._packed()
        return comp_read_square(buf, off, comp, pos, r, compact, np.empty((r.size, r.size)))

    def within(self, seeds: Any, cut: float) -> np.ndarray:
        """Boolean mask of the nodes whose distance from some seed is at most ``cut``: the same as
        ``rows(seeds).min(axis=0) <= cut`` (all False without seeds), without the logarithm of every
        pair that is clearly inside or outside (:func:`~werkland._kernels.triangle.comp_within`)."""
        s = np.atleast_1d(np.asarray(seeds, np.int64))
        self._check(s, s)
        if s.size == 0:
            return np.zeros(self.n, bool)
        if cut == np.inf:
            return np.ones(self.n, bool)
        buf, off, comp, pos, compact = self._packed()
        return comp_within(buf, off, comp, pos, s, float(cut), compact, np.empty(self.n, np.bool_))

    def _packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """The table as per-component packed triangles: buffer, offsets, component and position of
        each node, compact (float32 p*) or not."""
        raise NotImplementedError

    def set_rows(self, rows: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` to every node (``dist`` of shape (len(rows), n))."""
        self.set_block(rows, np.arange(self.n, dtype=np.int64), dist)

    def isolate(self, node: int) -> None:
        """Make ``node`` unconnected to every other (a component keeps it as a member)."""
        self.set_rows([node], np.full((1, self.n), np.inf))

    def _check(self, r: np.ndarray, c: np.ndarray) -> None:
        for x in (r, c):
            if x.size and (x.min() < 0 or x.max() >= self.n):
                raise IndexError(f"node ids must be in 0..{self.n - 1}")


class PairDistances(_PairTable):
    """All-pairs ``-ln p*`` distances of a guild graph: one packed triangle, growable in place.

    The matrix is symmetric with a zero diagonal, so only the pairs ``(r, c)``, ``r > c``, are kept,
    at ``r (r - 1) / 2 + c`` (the row-major lower triangle): a node added later appends its pairs at
    the end, so a buffer with room for ``headroom`` more nodes lets commits add patches without
    copying. Reads and writes take and give float64 distances.

    Parameters
    ----------
    buf : numpy.ndarray
        1-D buffer whose first ``n (n - 1) / 2`` elements hold the pairs: float64 distances
        (``compact=False``) or float32 ``p* = exp(-D)`` (``compact=True``).
    n : int
        Nodes in use.
    compact : bool
        float32 probabilities instead of float64 distances: half the memory again (a quarter of the
        dense float64 matrix). A distance read back has an absolute error of at most 6e-8 (p* rounded
        to float32, i.e. each pair's p* within 6e-8 relative); p* below the smallest normal float32
        (D > 87.3) is stored as 0 (unconnected).
    """

    #: added capacity (nodes) when the buffer is full
    GROW_MIN = 256

    def __init__(self, buf: np.ndarray, n: int, *, compact: bool) -> None:
        self.compact = bool(compact)
        want = np.float32 if self.compact else np.float64
        if buf.dtype != want or buf.ndim != 1 or buf.size < n * (n - 1) // 2:
            raise ValueError(f"buffer must be a 1-D {np.dtype(want).name} array of at least n (n - 1) / 2 elements")
        self._buf = buf
        self.n = int(n)
        #: largest absolute error of a distance read back (-ln p units)
        self.abs_error = 6e-8 if self.compact else 0.0

    @classmethod
    def from_dense(cls, dist: np.ndarray, *, compact: bool = False, headroom: int = 0) -> PairDistances:
        """Pack a symmetric (n, n) distance matrix (its lower triangle), with room for ``headroom`` nodes."""
        n = dist.shape[0]
        cap = n + max(0, headroom)
        pd_ = cls(np.zeros(cap * (cap - 1) // 2, np.float32 if compact else np.float64), n, compact=compact)
        idx = np.arange(n, dtype=np.int64)
        pd_.set_rows(idx, np.asarray(dist, np.float64))
        return pd_

    @property
    def nbytes(self) -> int:
        """Bytes of the buffer (headroom included)."""
        return int(self._buf.nbytes)

    def block(self, rows: Any, cols: Any) -> np.ndarray:
        """float64 distances of ``rows`` x ``cols`` (node ids)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        return tri_read(self._buf, r, c, self.compact, np.empty((r.size, c.size)))

    def _packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """One triangle: one component, each node at its id."""
        return (self._buf, np.zeros(1, np.int64), np.zeros(self.n, np.int64), np.arange(self.n, dtype=np.int64),
                self.compact)

    def set_block(self, rows: Any, cols: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` x ``cols`` (both orders of a pair are the same entry)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        v = np.broadcast_to(np.asarray(dist, np.float64), (r.size, c.size))
        tri_write(self._buf, r, c, np.ascontiguousarray(v), self.compact, float(np.finfo(np.float32).tiny))

    def grow(self, nn: int) -> None:
        """Add ``nn`` nodes, unconnected to every other (distance inf)."""
        if nn <= 0:
            return
        n, m = self.n, self.n + nn
        old, need = n * (n - 1) // 2, m * (m - 1) // 2
        if self._buf.size < need:
            cap = n + max(nn, self.GROW_MIN, n // 16)
            buf = np.empty(cap * (cap - 1) // 2, self._buf.dtype)
            buf[:old] = self._buf[:old]
            self._buf = buf
        self._buf[old:need] = 0.0 if self.compact else np.inf
        self.n = m


class ComponentDistances(_PairTable):
    """All-pairs ``-ln p*`` of a guild graph as float32 ``p*`` per connected component.

    Pairs in two components are unconnected (``p* = 0``), so only the pairs within each component
    are kept: one packed lower triangle per component (its nodes in id order at first, merged
    components' nodes after the largest one's), all in one float32 buffer. A short-reach guild of a large region has hundreds of small components (18,061 patches
    in 904 components at 16 M cells: 0.2 % of the pairs of one triangle over all nodes). The
    values, reads and writes are those of a compact :class:`PairDistances` bit for bit (the same
    float32 ``p*`` of each pair, from the same row computation); a write of a finite distance
    between two components first merges them, and removed or isolated nodes stay in theirs.

    Same interface as :class:`PairDistances` (``compact`` is always True); build it with
    :meth:`build`.
    """

    compact = True
    #: largest absolute error of a distance read back (-ln p units), as for compact PairDistances
    abs_error = 6e-8

    def __init__(self, labels: np.ndarray) -> None:
        labels = np.asarray(labels, np.int64)
        self.n = int(labels.size)
        order = np.argsort(labels, kind="stable")  # nodes of each component in id order
        counts = np.bincount(labels, minlength=int(labels.max(initial=-1)) + 1)
        self._comp = labels.copy()
        self._pos = np.empty(self.n, np.int64)
        #: nodes of each component in id order (empty once merged into another)
        self._members: list[np.ndarray] = list(np.split(order, np.cumsum(counts)[:-1])) if counts.size else []
        for mem in self._members:
            self._pos[mem] = np.arange(mem.size)
        tri = counts * (counts - 1) // 2
        #: start of each component's region in the buffer and the nodes it has room for
        self._off = np.concatenate([[0], np.cumsum(tri)[:-1]]).astype(np.int64) if counts.size else np.zeros(0, np.int64)
        self._cap = counts.astype(np.int64)
        self._live = int(tri.sum())
        self._buf = np.zeros(max(self._live, 1), np.float32)
        self._end = self._live

    @classmethod
    def build(cls, n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, a: np.ndarray,
              n_threads: int | None = None) -> tuple[ComponentDistances, float]:
        """The pair probabilities of the graph ``(i, j, w)`` (``w = -ln p`` of each link) and PCnum.

        The rows are those of :func:`~werkland.connectivity.apsp_probabilities` (same chunks, same
        float32 rounding, same PCnum); each row keeps its pairs with the smaller ids of its component.
        """
        labels = (csgraph.connected_components(sym_csr(n, i, j, w), directed=False)[1] if n
                  else np.zeros(0, np.int64))
        pd_ = cls(labels)

        def keep(s: int, E: np.ndarray) -> None:
            for r in range(s, s + E.shape[0]):
                c, p = pd_._comp[r], pd_._pos[r]
                if p:
                    o = pd_._off[c] + p * (p - 1) // 2
                    pd_._buf[o:o + p] = E[r - s, pd_._members[c][:p]]

        return pd_, probability_rows(n, i, j, w, a, keep, n_threads)

    @property
    def nbytes(self) -> int:
        """Bytes of the buffer and the node tables."""
        return int(self._buf.nbytes + self._comp.nbytes + self._pos.nbytes + self._off.nbytes + self._cap.nbytes)

    @property
    def n_components(self) -> int:
        """Components in use (merged ones not counted)."""
        return sum(m.size > 0 for m in self._members)

    def block(self, rows: Any, cols: Any) -> np.ndarray:
        """float64 distances of ``rows`` x ``cols`` (node ids)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        return comp_read(self._buf, self._off, self._comp, self._pos, r, c, np.empty((r.size, c.size)))

    def _packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """The component triangles as they are kept."""
        return self._buf, self._off, self._comp, self._pos, True

    def set_block(self, rows: Any, cols: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` x ``cols`` (both orders of a pair are the same entry; a
        finite distance between two components merges them first)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        v = np.ascontiguousarray(np.broadcast_to(np.asarray(dist, np.float64), (r.size, c.size)))
        cr, cc = self._comp[r], self._comp[c]
        cross = np.isfinite(v) & (cr[:, None] != cc[None, :])
        if cross.any():
            x, y = np.nonzero(cross)
            self._merge(cr[x], cc[y])
        comp_write(self._buf, self._off, self._comp, self._pos, r, c, v, float(np.finfo(np.float32).tiny))

    def grow(self, nn: int) -> None:
        """Add ``nn`` nodes, unconnected to every other (each its own component)."""
        if nn <= 0:
            return
        first = len(self._members)
        self._comp = np.concatenate([self._comp, np.arange(first, first + nn, dtype=np.int64)])
        self._pos = np.concatenate([self._pos, np.zeros(nn, np.int64)])
        self._members.extend(np.array([self.n + t], np.int64) for t in range(nn))
        self._off = np.concatenate([self._off, np.full(nn, self._end, np.int64)])
        self._cap = np.concatenate([self._cap, np.ones(nn, np.int64)])
        self.n += nn

    def _merge(self, ca: np.ndarray, cb: np.ndarray) -> None:
        """Merge the components of each pair ``(ca[t], cb[t])`` (transitively)."""
        n_c = len(self._members)
        g = sp.coo_matrix((np.ones(ca.size), (ca, cb)), shape=(n_c, n_c))
        _, lab = csgraph.connected_components(g, directed=False)
        involved = np.unique(np.concatenate([ca, cb]))
        for group_label in np.unique(lab[involved]):
            group = [int(x) for x in involved[lab[involved] == group_label]]
            if len(group) > 1:
                self._merge_group(group)

    def _merge_group(self, group: list[int]) -> None:
        """One component of the nodes of ``group`` (component ids).

        The largest component keeps its nodes' positions, so its triangle is the start of the merged
        one (packed row by row): it grows in place when its region has room, else it is copied
        once to the end of the buffer into a region with room for a quarter more nodes. The other
        components' pairs are moved to the positions after it; pairs across them start unconnected.
        """
        big = max(group, key=lambda x: (self._members[x].size, -x))
        rest = [x for x in group if x != big]
        mem_big = self._members[big]
        m0 = mem_big.size
        m = m0 + sum(self._members[x].size for x in rest)
        if self._cap[big] < m:
            cap = m + m // 4 + 8
            self._reserve(_tri(cap))
            off = self._end
            self._buf[off:off + _tri(m0)] = self._buf[self._off[big]:self._off[big] + _tri(m0)]
            self._live += _tri(cap) - _tri(int(self._cap[big]))
            self._off[big], self._cap[big] = off, cap
            self._end += _tri(cap)
        off = int(self._off[big])
        self._buf[off + _tri(m0):off + _tri(m)] = 0.0
        parts = [mem_big]
        at = m0
        for x in rest:
            old = self._members[x]
            tri_move(self._buf, self._off[x], np.arange(at, at + old.size), self._buf, off)
            self._live -= _tri(int(self._cap[x]))
            self._members[x] = np.empty(0, np.int64)
            self._cap[x] = 0
            parts.append(old)
            at += old.size
        mem = np.concatenate(parts)
        self._members[big] = mem
        self._comp[mem] = big
        self._pos[mem[m0:]] = np.arange(m0, m)

    def _reserve(self, size: int) -> None:
        """Room for ``size`` more values at the end of the buffer, compacting it when most is dead."""
        if self._end + size <= self._buf.size:
            return
        if self._live + size <= self._buf.size // 2:
            self._compact(self._buf.size)
        else:
            self._compact(max(2 * (self._live + size), self._live + size + 1))

    def _compact(self, capacity: int) -> None:
        """Copy the live regions, in component order, into a buffer of ``capacity`` values."""
        buf = np.zeros(capacity, np.float32)
        end = 0
        for x, mem in enumerate(self._members):
            t = _tri(mem.size)
            buf[end:end + t] = self._buf[self._off[x]:self._off[x] + t]
            self._off[x] = end
            end += _tri(int(self._cap[x]))
        self._buf, self._end = buf, end


def _tri(m: int) -> int:
    """Pairs of a packed triangle of ``m`` nodes."""
    return m * (m - 1) // 2

"""All-pairs ``-ln p*`` distances of a guild graph, packed as one growable triangle."""

from __future__ import annotations

from typing import Any

import numpy as np

from werkland._kernels.triangle import tri_read, tri_write


class PairDistances:
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
    def shape(self) -> tuple[int, int]:
        """(n, n)."""
        return self.n, self.n

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

    def rows(self, rows: Any) -> np.ndarray:
        """float64 distances of ``rows`` to every node, shape (len(rows), n)."""
        return self.block(rows, np.arange(self.n, dtype=np.int64))

    def get(self, i: int, j: int) -> float:
        """Distance of one pair."""
        return float(self.block([i], [j])[0, 0])

    def set_block(self, rows: Any, cols: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` x ``cols`` (both orders of a pair are the same entry)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        v = np.broadcast_to(np.asarray(dist, np.float64), (r.size, c.size))
        tri_write(self._buf, r, c, np.ascontiguousarray(v), self.compact, float(np.finfo(np.float32).tiny))

    def set_rows(self, rows: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` to every node (``dist`` of shape (len(rows), n))."""
        self.set_block(rows, np.arange(self.n, dtype=np.int64), dist)

    def isolate(self, node: int) -> None:
        """Make ``node`` unconnected to every other."""
        self.set_rows([node], np.full((1, self.n), np.inf))

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

    def _check(self, r: np.ndarray, c: np.ndarray) -> None:
        for x in (r, c):
            if x.size and (x.min() < 0 or x.max() >= self.n):
                raise IndexError(f"node ids must be in 0..{self.n - 1}")



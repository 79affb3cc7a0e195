"""Linear solves of grounded Laplacian systems: direct factorisation or AMG-preconditioned CG.

A connected component of the conductance graph with at least one grounded node has a symmetric
positive definite reduced Laplacian (the grounded rows and columns removed, finite grounds added to
the diagonal). It is solved

* ``direct``: a sparse LU factorisation (SuperLU through ``scipy.sparse.linalg.splu`` with a
  symmetric minimum-degree ordering, or CHOLMOD when ``scikit-sparse`` is installed), factorised
  once per component and reused for every right-hand side;
* ``cg+amg``: conjugate gradients preconditioned by a smoothed-aggregation algebraic multigrid
  hierarchy (pyamg; Circuitscape's default), built once per component. The relative residual
  ``||b - A x|| / ||b||`` must reach ``tolerance`` within ``max_iterations``; otherwise
  :class:`SolverError` names the guild (label), the component size and the residual reached;
* ``auto``: ``direct`` up to :data:`DIRECT_MAX_NODES` nodes, ``cg+amg`` beyond.

Every solve records its relative residual (:attr:`ComponentSolver.max_residual`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from werkland._errors import WerklandError, WerklandInputError

log = logging.getLogger(__name__)

__all__ = ["DIRECT_MAX_NODES", "SOLVERS", "ComponentSolver", "SolverError", "SolverSettings"]

#: Components up to this many nodes are factorised under ``solver: auto`` (about 3 GB at 1 M nodes).
DIRECT_MAX_NODES = 1_200_000

#: Solver names accepted by :class:`SolverSettings`.
SOLVERS = ("auto", "direct", "cg+amg")

#: A direct solve whose relative residual exceeds this is reported as failed (singular system).
_DIRECT_RESIDUAL_LIMIT = 1e-6


class SolverError(WerklandError):
    """A linear solve did not reach its tolerance (or the system was singular)."""


@dataclass(frozen=True)
class SolverSettings:
    """How grounded Laplacian systems are solved.

    Attributes
    ----------
    method : str
        ``auto``, ``direct`` or ``cg+amg``.
    tolerance : float
        Relative residual ``||b - A x|| / ||b||`` required of ``cg+amg``.
    max_iterations : int
        Conjugate-gradient iteration cap of ``cg+amg``.
    """

    method: str = "auto"
    tolerance: float = 1e-6
    max_iterations: int = 1000

    def __post_init__(self) -> None:
        if self.method not in SOLVERS:
            raise WerklandInputError(
                f"unknown solver {self.method!r}", path="currents.solver", fix=f"use one of {', '.join(SOLVERS)}"
            )
        if not (0 < self.tolerance < 1):
            raise WerklandInputError(
                f"tolerance {self.tolerance!r} is not in (0, 1)", path="currents.tolerance", fix="use e.g. 1e-6"
            )
        if self.max_iterations < 1:
            raise WerklandInputError(
                f"max_iterations {self.max_iterations!r} < 1", path="currents.max_iterations", fix="use e.g. 1000"
            )

    def resolve(self, n_nodes: int) -> str:
        """The method used for a component of ``n_nodes`` nodes (``direct`` or ``cg+amg``)."""
        if self.method == "auto":
            return "direct" if n_nodes <= DIRECT_MAX_NODES else "cg+amg"
        return self.method


def _cholmod_factor(a: sp.csc_matrix):  # pragma: no cover - only with scikit-sparse installed
    try:
        from sksparse.cholmod import cholesky
    except ImportError:
        return None
    return cholesky(a)


class ComponentSolver:
    """Solves ``L_red x = b`` on one component with some nodes grounded.

    Parameters
    ----------
    laplacian : scipy.sparse.csr_matrix
        Laplacian of the whole graph.
    nodes : numpy.ndarray
        Node indices of the component.
    grounded : numpy.ndarray
        Node indices held at 0 V (direct grounds; a subset of ``nodes``, at least one unless
        ``finite_ground`` grounds the component).
    finite_ground : numpy.ndarray, optional
        Conductance to ground of every node of the graph (added to the diagonal).
    settings : SolverSettings
        Method and tolerance.
    label : str
        Named in errors and logs (e.g. the guild).
    """

    def __init__(
        self,
        laplacian: sp.csr_matrix,
        nodes: np.ndarray,
        grounded: np.ndarray,
        *,
        finite_ground: np.ndarray | None = None,
        settings: SolverSettings | None = None,
        label: str = "",
    ) -> None:
        self.settings = settings or SolverSettings()
        self.label = label
        self.nodes = np.asarray(nodes, dtype=np.int64)
        grounded = np.asarray(grounded, dtype=np.int64)
        free_mask = ~np.isin(self.nodes, grounded)
        self.free = self.nodes[free_mask]
        self.n_component = int(self.nodes.size)
        a = laplacian[self.free][:, self.free]
        if finite_ground is not None:
            a = a + sp.diags(np.asarray(finite_ground, dtype=np.float64)[self.free])
        self.a = a.tocsr()
        self.method = self.settings.resolve(int(self.free.size))
        self.max_residual = 0.0
        self._lu: Any = None
        self._chol: Any = None
        self._ml: Any = None
        if self.free.size == 0:
            return
        if self.method == "direct":
            csc = self.a.tocsc()
            self._chol = _cholmod_factor(csc)
            if self._chol is None:
                try:
                    self._lu = spla.splu(
                        csc, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
                    )
                except RuntimeError as exc:
                    raise SolverError(
                        f"{label}: direct factorisation failed for a component of {self.n_component} nodes ({exc})"
                    ) from exc
        else:
            import pyamg

            self._ml = pyamg.smoothed_aggregation_solver(self.a, symmetry="hermitian", max_coarse=500)

    # ------------------------------------------------------------------------------------------
    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for one or several right-hand sides given on the free nodes.

        Parameters
        ----------
        rhs : numpy.ndarray
            ``(n_free,)`` or ``(n_free, k)`` injected currents at :attr:`free` nodes.

        Returns
        -------
        numpy.ndarray
            Potentials at :attr:`free` nodes, same shape as ``rhs``.

        Raises
        ------
        SolverError
            A ``cg+amg`` solve that misses its tolerance within the iteration cap, or a singular
            direct solve.
        """
        b = np.asarray(rhs, dtype=np.float64)
        if self.free.size == 0:
            return np.zeros_like(b)
        two_d = b.ndim == 2
        bb = b if two_d else b[:, None]
        if self._ml is not None:
            x = np.column_stack([self._cg(bb[:, k]) for k in range(bb.shape[1])])
        else:
            x = self._chol(bb) if self._chol is not None else self._lu.solve(bb)
            x = np.asarray(x).reshape(bb.shape)
            res = self._residuals(bb, x)
            if not np.all(np.isfinite(x)) or res.max(initial=0.0) > _DIRECT_RESIDUAL_LIMIT:
                raise SolverError(
                    f"{self.label}: direct solve failed for a component of {self.n_component} nodes: "
                    f"relative residual {res.max(initial=np.inf):.3g}"
                )
            self.max_residual = max(self.max_residual, float(res.max(initial=0.0)))
        return x if two_d else x[:, 0]

    def _residuals(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        out = np.zeros(b.shape[1])
        for k in range(b.shape[1]):  # one column at a time: no extra (n, k) temporaries
            nb = float(np.linalg.norm(b[:, k]))
            if nb > 0:
                out[k] = float(np.linalg.norm(b[:, k] - self.a @ x[:, k])) / nb
        return out

    def _cg(self, b: np.ndarray) -> np.ndarray:
        """AMG-preconditioned CG to the true relative residual ``tolerance`` (restarts until the cap)."""
        s = self.settings
        nb = float(np.linalg.norm(b))
        if nb == 0:
            return np.zeros_like(b)
        x = np.zeros_like(b)
        used, res = 0, np.inf
        while used < s.max_iterations:
            hist: list[float] = []
            x = self._ml.solve(b, x0=x, tol=s.tolerance, accel="cg", maxiter=s.max_iterations - used, residuals=hist)
            used += max(1, len(hist) - 1)
            res = float(np.linalg.norm(b - self.a @ x)) / nb
            if res <= s.tolerance:
                break
        if not (res <= s.tolerance) or not np.all(np.isfinite(x)):
            raise SolverError(
                f"{self.label}: conjugate gradient (cg+amg) did not converge within {s.max_iterations} "
                f"iterations on a component of {self.n_component} nodes: relative residual {res:.3g} > "
                f"tolerance {s.tolerance:g}"
            )
        self.max_residual = max(self.max_residual, res)
        return x

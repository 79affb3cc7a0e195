"""Circuit-theory connectivity: effective resistance, current, pinch points and Omniscape flow.

The landscape becomes a conductance graph exactly as Circuitscape builds it
(:func:`grid_graph`: 8 or 4 neighbours, mean conductance or conductance of the mean resistance,
diagonals / sqrt(2), nodata removed, short-circuit regions merged). Grounded Laplacian systems are
solved per connected component by a direct factorisation or by AMG-preconditioned CG
(:class:`SolverSettings`, :class:`SolverError` when a tolerance is missed).

Public API
----------
* :func:`pairwise_resistance`, :func:`cumulative_current`, :func:`pair_current` -- pairwise
  effective resistance in at most n solves and current over pairs.
* :func:`pinch_points` -- Linkage Mapper adjacent-pair pinch points in least-cost corridors.
* :func:`omniscape` (:class:`OmniscapeSettings`) -- Omniscape's moving-window current, flow
  potential and normalised current.
* :func:`run_ini` -- drop-in runner for Circuitscape / Omniscape ``.ini`` files (console command
  ``werkland-circuits run FILE.ini``).
* :func:`run_currents` (:class:`CurrentsFiles`) -- the workflow stage for one region and guild.
* :func:`links_with_r_eff`, :func:`segment_current_crossing` -- results for the links layer and the
  barrier ranking.
"""

from werkland.currents.downstream import (
    links_with_r_eff,
    read_resistance_csv,
    segment_current_crossing,
)
from werkland.currents.flow import branch_currents, node_currents
from werkland.currents.graph import (
    GridGraph,
    conductance_from_resistance,
    grid_graph,
    network_graph,
    node_map,
)
from werkland.currents.ini import IniResult, parse_ini, run_ini
from werkland.currents.omniscape import (
    OmniscapeResult,
    OmniscapeSettings,
    omniscape,
    source_from_resistance,
)
from werkland.currents.pairwise import (
    PairwiseSolution,
    cumulative_current,
    pair_current,
    pair_potential,
    pairwise_resistance,
)
from werkland.currents.pinch import PinchResult, pinch_points
from werkland.currents.solver import DIRECT_MAX_NODES, ComponentSolver, SolverError, SolverSettings
from werkland.currents.stage import CurrentsFiles, run_currents

__all__ = [
    "DIRECT_MAX_NODES",
    "ComponentSolver",
    "CurrentsFiles",
    "GridGraph",
    "IniResult",
    "OmniscapeResult",
    "OmniscapeSettings",
    "PairwiseSolution",
    "PinchResult",
    "SolverError",
    "SolverSettings",
    "branch_currents",
    "conductance_from_resistance",
    "cumulative_current",
    "grid_graph",
    "links_with_r_eff",
    "network_graph",
    "node_currents",
    "node_map",
    "omniscape",
    "pair_current",
    "pair_potential",
    "pairwise_resistance",
    "parse_ini",
    "pinch_points",
    "read_resistance_csv",
    "run_currents",
    "run_ini",
    "segment_current_crossing",
    "source_from_resistance",
]

"""Ecological connectivity: habitat patches, least-cost links, PC / IIC / ECA / dPC, corridors.

The stage turns a habitat-suitability raster and a resistance raster of one species guild into a
patch graph and the indices connectivity ecologists compare with Conefor, Graphab and Linkage
Mapper (formulas and validation cases: ``../shared/notes/connectivity.md``).

Steps (:func:`run_connectivity`, :mod:`~werkland.connectivity.stage`)
--------------------------------------------------------------------
1. :func:`find_patches` (:mod:`~werkland.connectivity.patches`) -- 8-connected components of
   ``suitability >= threshold`` (scikit-image), patches under the minimum area dropped, per-patch
   area, quality-weighted area (node weight ``a_i``), core area, perimeter and a border flag.
2. :func:`build_links` (:mod:`~werkland.connectivity.links`) -- one cost-bounded Dijkstra per patch
   over the resistance raster with the ``MCP_Geometric`` step rule (step length x mean of the two
   cells' resistance, 8 neighbours, the GRASS ``r.cost`` / Linkage Mapper convention). The search
   stops at the maximum useful cost distance ``d_max = -ln(p_floor) / k``, so the work grows with
   the number of patches times their reach, not with the square of the raster. The kernel is a
   compiled (numba) binary-heap Dijkstra whose cumulative costs are identical to
   ``skimage.graph.MCP_Geometric`` (checked in the tests); searches run on a thread pool. Paths
   may cross other patches. A link joins every pair with a cost distance ``<= d_max``. Large
   regions search over overlapping tiles (:func:`build_links_tiled`, same result, less memory).
3. The kernel -- ``p = exp(-k d)``, ``k = -ln(p0) / d0``: the guild's
   :meth:`werkland.tables.Guild.kernel` (Conefor convention ``p0`` of the guild, 0.5 at the median
   dispersal distance; Graphab ``p0 = 0.05``), carried by :class:`werkland.params.ConnectivityParams`.
4. :func:`probability_metrics` (:mod:`~werkland.connectivity.metrics`) -- maximum-product
   probabilities by Dijkstra on ``-ln p``, PCnum / PC / ECA, IIC, components, and per-patch dPC with
   its intra / flux / connector fractions (Saura & Rubio 2010), dIIC, betweenness; the connector
   fraction exactly, without deleting every node. :func:`naive_node_importance` (delete the node,
   recompute all) is the test oracle.
5. Corridors -- the Linkage Mapper normalised least-cost corridor ``min over links (CWD_a + CWD_b
   - LCD_ab)``, truncated at a width (cost units). Computed exactly with one extra pruned
   multi-source search per patch (neighbours ``b`` seeded with ``-LCD_ab``).
6. Probe minima for the barrier stage (:mod:`~werkland.connectivity.minima`) -- given groups of
   cells (:class:`CellGroups`), each patch's least cost over each group, kept by the link search
   itself (it already searches every patch to ``d_max`` + the corridor width, the barrier
   surfaces' bound) and written to ``graph/{guild}_probe_minima.npz``, so the barrier stage does not
   search every patch again (:func:`search_group_minima` is the stand-alone search).

What-if graphs for the barrier and intervention stages: :class:`GraphState` and
:func:`eca_after_link_change` (:mod:`~werkland.connectivity.graph_state`); all-pairs helpers
:func:`apsp`, :func:`apsp_probabilities`, :func:`probability_rows`, :func:`pcnum`, :func:`sym_csr`,
and the per-component distances :class:`ComponentMatrix` (read like an array wrapped in
:class:`DenseMatrix`; :func:`distance_matrix` gives either form that interface)
(:mod:`~werkland.connectivity.apsp`).

Units: areas in ha, PCnum in ha^2, ECA in ha, cost distances in cost-weighted metres (resistance x
metres), Euclidean distances in metres, ``k`` per cost-weighted metre.

Bad input (no patches, a single patch, impassable resistance, every patch on the border) gives a
valid result of zeros with an explanation in ``summary["warnings"]``, never an exception or a NaN.
"""

from werkland.connectivity.apsp import (
    ComponentMatrix,
    DenseMatrix,
    apsp,
    apsp_probabilities,
    distance_matrix,
    pcnum,
    probability_rows,
    sym_csr,
)
from werkland.connectivity.graph_state import GraphState, LinkChangeResult, eca_after_link_change
from werkland.connectivity.kernel import dispersal_kernel
from werkland.connectivity.links import (
    LinkSet,
    SearchWorkspace,
    build_links,
    cost_distance_bounded,
    least_cost_path,
    prepare_resistance,
)
from werkland.connectivity.metrics import GraphMetrics, naive_node_importance, probability_metrics
from werkland.connectivity.minima import (
    CellGroups,
    GroupMinima,
    MinimaKey,
    MinimaParts,
    MinimaPayload,
    read_group_minima,
    read_minima_payload,
    search_group_minima,
    surface_digest,
    write_group_minima,
    write_payload,
)
from werkland.connectivity.patches import PatchSet, find_patches, patch_cells, patch_polygons
from werkland.connectivity.stage import run_connectivity
from werkland.connectivity.tiled import Tile, build_links_tiled, overlap_cells, plan_tiles
from werkland.tables import CONVENTIONS, Kernel

__all__ = [
    "CONVENTIONS",
    "CellGroups",
    "GroupMinima",
    "MinimaKey",
    "MinimaParts",
    "MinimaPayload",
    "ComponentMatrix",
    "DenseMatrix",
    "GraphMetrics",
    "GraphState",
    "Kernel",
    "LinkChangeResult",
    "LinkSet",
    "PatchSet",
    "SearchWorkspace",
    "Tile",
    "apsp",
    "apsp_probabilities",
    "build_links",
    "build_links_tiled",
    "cost_distance_bounded",
    "dispersal_kernel",
    "distance_matrix",
    "eca_after_link_change",
    "find_patches",
    "least_cost_path",
    "probability_rows",
    "naive_node_importance",
    "overlap_cells",
    "patch_cells",
    "patch_polygons",
    "pcnum",
    "plan_tiles",
    "prepare_resistance",
    "read_group_minima",
    "read_minima_payload",
    "search_group_minima",
    "surface_digest",
    "write_group_minima",
    "write_payload",
    "probability_metrics",
    "run_connectivity",
    "sym_csr",
]

"""Migration barriers: road, rail and water segments that cut corridors, and their mitigation value.

Answers "which crossing should get a fauna passage first?" for one guild (:func:`run_barriers`)
and across guilds (:func:`combine_barriers`).

Steps
-----
1. :func:`segment_barriers` (:mod:`~werkland.barriers.segments`) -- the land-cover polygons of
   barrier classes (roads by class, railways, waterways, fences, plus any class whose guild
   resistance reaches a threshold, :func:`barrier_classes`) become segments of at most
   ``max_segment_m`` along their centre line, each with a footprint of barrier cells.
2. Which segments matter: a segment *cuts* a link when the link's least-cost path crosses its
   footprint, and lies *in a corridor* when, at one of its centre-line cells, the link's
   normalised corridor value ``CWD_p + CWD_q - LCD_pq`` is within the corridor width.
3. :func:`improvement_score` (:mod:`~werkland.barriers.scores`, McRae et al. 2012, Barrier Mapper):
   least-cost distance saved per metre of a restored circular window, maximised over the windows
   of the segment and reported as the max and the sum over linked patch pairs.
4. :func:`mitigation_gain` (:mod:`~werkland.barriers.gains`): for the top segments, the footprint
   takes the fauna-passage resistance, the affected link costs are recomputed exactly and ECA / PC
   are updated incrementally.
5. :mod:`~werkland.barriers.stage` ranks the segments by network gain and writes the layers.
"""

from werkland.barriers.gains import mitigation_gain
from werkland.barriers.probe_jobs import (
    probe_groups,
    run_barrier_probes,
    run_connectivity_with_probes,
)
from werkland.barriers.scores import improvement_score
from werkland.barriers.segments import (
    BarrierSegments,
    disk_offsets,
    segment_barriers,
)
from werkland.barriers.stage import (
    combine_barriers,
    radius_label,
    run_barriers,
)
from werkland.params.landscape import AREAL_CLASSES, DEFAULT_BARRIER_CLASSES, barrier_classes

__all__ = [
    "AREAL_CLASSES",
    "DEFAULT_BARRIER_CLASSES",
    "BarrierSegments",
    "barrier_classes",
    "combine_barriers",
    "disk_offsets",
    "improvement_score",
    "mitigation_gain",
    "probe_groups",
    "radius_label",
    "run_barrier_probes",
    "run_barriers",
    "run_connectivity_with_probes",
    "segment_barriers",
]

"""Green and blue interventions: generate candidates, score their combined gain, select under a budget.

The stage answers the municipality's question "with this budget, which measures, where, and what
does each buy for nature and for climate?". Per region (:func:`run_interventions`):

1. **Catalogue** (``config/interventions.yaml``, :func:`load_catalogue`): per measure the classes it
   applies to, its size rule, its effect (new land-cover class and/or changed suitability/resistance
   per guild and biophysical overrides) and its unit cost.
2. **Candidates** (:func:`generate_candidates`, one generator per catalogue ``generator`` in
   :data:`GENERATORS`) found in the data inside the parks, or read from a user layer in the same
   schema (:func:`read_user_candidates`).
3. **Gains** computed by applying a candidate to the rasters and graphs *locally* (:class:`Evaluator`;
   per guild an exact local update of the patch graph, :class:`GuildGraph`): ECA and quality-weighted
   habitat per guild, heat mitigation, cool-spot access and retained rain.
4. **Ranking** by target attainment per euro (:class:`Scorer`) and a lazy-greedy budgeted selection
   re-evaluating marginal gains after each pick (:func:`celf_select`); the Pareto front of
   biodiversity vs climate score per euro (:func:`pareto_front`) marks the efficient measures.

Units: areas m² or ha as named, lengths m, volumes m³, money EUR; ``d_hm`` in HM-weighted ha
(Σ ΔHM × cell area / 10⁴).

Modules: :mod:`~werkland.interventions.catalogue`, :mod:`~werkland.interventions.candidates`,
:mod:`~werkland.interventions.search` and :mod:`~werkland.interventions.pair_distances` (building
blocks of :mod:`~werkland.interventions.guild_graph`), :mod:`~werkland.interventions.evaluate`,
:mod:`~werkland.interventions.select`, :mod:`~werkland.interventions.inputs`,
:mod:`~werkland.interventions.outputs`, :mod:`~werkland.interventions.engine` (the set-up steps shared
by the stage, the after-state and the plans) and :mod:`~werkland.interventions.stage`.
"""

from werkland.interventions.candidates import (
    CANDIDATE_FIELDS,
    GENERATORS,
    Candidate,
    CandidateContext,
    cap_candidates,
    generate_candidates,
    read_user_candidates,
)
from werkland.interventions.catalogue import Catalogue, InterventionType, load_catalogue
from werkland.interventions.evaluate import Evaluator, Gains
from werkland.interventions.guild_graph import BioDelta, GuildGraph
from werkland.interventions.inputs import InterventionInputs
from werkland.interventions.pair_distances import PairDistances
from werkland.interventions.search import bounded_search_targets
from werkland.interventions.select import Scorer, celf_select, pareto_front
from werkland.interventions.stage import run_interventions

__all__ = [
    "CANDIDATE_FIELDS",
    "GENERATORS",
    "BioDelta",
    "Candidate",
    "CandidateContext",
    "Catalogue",
    "Evaluator",
    "Gains",
    "GuildGraph",
    "InterventionInputs",
    "InterventionType",
    "PairDistances",
    "Scorer",
    "bounded_search_targets",
    "cap_candidates",
    "celf_select",
    "generate_candidates",
    "load_catalogue",
    "pareto_front",
    "read_user_candidates",
    "run_interventions",
]

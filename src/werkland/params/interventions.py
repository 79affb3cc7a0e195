"""Parameters of the interventions stage (``interventions:`` plus what it needs of ``climate:`` and
``connectivity:``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkland._errors import WerklandInputError
from werkland.params.base import StageParams
from werkland.params.climate import ClimateParams
from werkland.params.landscape import ConnectivityParams
from werkland.tables import Guild

_WHERE = "config: interventions"


@dataclass(frozen=True)
class InterventionParams(StageParams):
    """Scoring, targets and budgeted selection of green and blue measures for one region.

    Every field but ``weights``, ``guild_weights``, ``design_storm``, ``n_workers``, ``climate`` and
    ``connectivity`` is the key of the same name in the config's ``interventions`` section (its
    description, unit and default are in the schema). The catalogue and the optional user candidate
    layer are files: they are inputs of the stage (:class:`werkland.interventions.InterventionInputs`),
    not parameters.

    Attributes
    ----------
    budget_eur : float
        Budget of the greedy selection, EUR.
    weights : dict of str to float
        ``biodiversity`` and ``climate`` weights of the combined score, renormalised to sum 1.
    guild_weights : dict of str to float
        Weight of each analysed guild in the biodiversity score and ``d_habitat_ha`` (1 when not
        configured; normalised by the stage).
    eca_target_pct, habitat_target_pct : float
        ECA and quality-weighted habitat targets per guild, % of the baseline.
    bio_eca_share, climate_water_share, heat_hm_share : float
        Shares of ECA in the biodiversity score, of water retention in the climate score and of the
        HM gain in the heat score.
    cap_attainment : bool
        Cap each target attainment at 1.
    design_storm : str
        Climate storm of ``d_retained_m3`` (the configured one, or the first climate storm).
    max_candidates_per_type_park, max_candidates : int or None
        Caps of the generated candidates (None = all).
    pc_tolerance : float
        Relative PCnum tolerance of the local graph update (0 = exact).
    interaction_p : float
        Lazy greedy re-evaluates candidates whose patches have p* >= this to a pick's.
    lazy_epsilon : float
        (1 - eps)-approximate lazy greedy steps (0 = exact lazy greedy).
    eager_max : int
        Structurally interacting candidates re-evaluated at once after a pick.
    plan_optimum : str
        Optimiser of a user plan's comparison portfolio: ``standalone`` (lazy greedy on the
        stage's standalone gains with the targets' saturation; no commits) or ``marginal`` (the
        stage's lazy greedy on marginal gains).
    n_workers : int
        Worker processes of the first evaluation: the configured ``n_workers``, at most the threads
        of the job.
    user_candidates_mode : str
        ``add`` user candidates to the generated ones or ``replace`` them.
    groundwater_clearance_m : float
        Least distance between an infiltrating measure's bottom and the mean highest groundwater
        level (GHG), m.
    climate : ClimateParams
        The climate stage's parameters (urban cooling, cool spots, runoff and the design storms).
    connectivity : tuple of ConnectivityParams
        One per analysed guild, in the config's guild order: the guild's kernel and p floor (the
        reach of its link searches), the connectivity stage's own settings.
    """

    budget_eur: float
    weights: dict[str, float]
    guild_weights: dict[str, float]
    eca_target_pct: float
    habitat_target_pct: float
    bio_eca_share: float
    climate_water_share: float
    heat_hm_share: float
    cap_attainment: bool
    design_storm: str
    max_candidates_per_type_park: int | None
    max_candidates: int | None
    pc_tolerance: float
    interaction_p: float
    lazy_epsilon: float
    eager_max: int
    plan_optimum: str
    n_workers: int
    user_candidates_mode: str
    groundwater_clearance_m: float
    climate: ClimateParams
    connectivity: tuple[ConnectivityParams, ...]

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, guilds: Mapping[str, Guild], n_workers: int
    ) -> InterventionParams:
        """From the validated config (schema defaults filled).

        Parameters
        ----------
        config : mapping
            The validated workflow config.
        guilds : mapping of str to Guild
            The guild table (:func:`werkland.tables.load_guilds`); the analysed guilds are
            ``config["guilds"]``.
        n_workers : int
            Threads of the job: the number of worker processes is the configured ``n_workers``, at
            most this.

        Raises
        ------
        WerklandInputError
            Weights or guild weights summing to 0, a design storm that is not a climate storm, an
            analysed guild missing from the guild table.
        """
        i = config["interventions"]
        climate = ClimateParams.from_config(config)
        names = list(config["guilds"])
        missing = [g for g in names if g not in guilds]
        if missing:
            raise WerklandInputError(
                f"guilds {missing} are not in the guild table", path="config: guilds",
                fix=f"use guilds from: {', '.join(guilds)}",
            )
        return cls(
            budget_eur=float(i["budget_eur"]),
            weights=_weights(i["weights"]),
            guild_weights=_guild_weights(i["guild_weights"], names),
            eca_target_pct=float(i["eca_target_pct"]),
            habitat_target_pct=float(i["habitat_target_pct"]),
            bio_eca_share=float(i["bio_eca_share"]),
            climate_water_share=float(i["climate_water_share"]),
            heat_hm_share=float(i["heat_hm_share"]),
            cap_attainment=bool(i["cap_attainment"]),
            design_storm=_design_storm(i["design_storm"], climate.storm_names),
            max_candidates_per_type_park=_optional_int(i["max_candidates_per_type_park"]),
            max_candidates=_optional_int(i["max_candidates"]),
            pc_tolerance=float(i["pc_tolerance"]),
            interaction_p=float(i["interaction_p"]),
            lazy_epsilon=float(i["lazy_epsilon"]),
            eager_max=int(i["eager_max"]),
            plan_optimum=str(i["plan_optimum"]),
            n_workers=max(1, min(int(i["n_workers"]), int(n_workers))),
            user_candidates_mode=str(i["user_candidates_mode"]),
            groundwater_clearance_m=float(i["groundwater_clearance_m"]),
            climate=climate,
            connectivity=tuple(
                ConnectivityParams.from_config(config, guilds[g], n_threads=n_workers) for g in names
            ),
        )

    @property
    def guilds(self) -> tuple[str, ...]:
        """The analysed guilds, in order."""
        return tuple(c.guild for c in self.connectivity)

    def guild_connectivity(self, guild: str) -> ConnectivityParams:
        """The connectivity parameters (kernel, p floor) of an analysed guild.

        Raises
        ------
        KeyError
            For a guild that is not analysed.
        """
        for c in self.connectivity:
            if c.guild == guild:
                return c
        raise KeyError(guild)


def _weights(w: Mapping[str, Any]) -> dict[str, float]:
    wb, wc = float(w["biodiversity"]), float(w["climate"])
    if wb + wc <= 0:
        raise WerklandInputError(
            "weights sum to 0", path=f"{_WHERE}.weights",
            fix="give biodiversity or climate a positive weight",
        )
    return {"biodiversity": wb / (wb + wc), "climate": wc / (wb + wc)}


def _guild_weights(gw: Mapping[str, Any] | None, guilds: list[str]) -> dict[str, float]:
    gw = gw or {}
    out = {g: float(gw.get(g, 1.0)) for g in guilds}
    if any(v < 0 for v in out.values()) or sum(out.values()) <= 0:
        raise WerklandInputError(
            f"guild weights {dict(gw)!r} must be >= 0 with a positive sum over the analysed guilds",
            path=f"{_WHERE}.guild_weights", fix="give at least one analysed guild a positive weight",
        )
    return out


def _design_storm(name: str | None, names: list[str]) -> str:
    storm = name or names[0]
    if storm not in names:
        raise WerklandInputError(
            f"design storm {storm!r} is not a climate storm", path=f"{_WHERE}.design_storm",
            fix=f"use one of {sorted(names)}",
        )
    return storm


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)

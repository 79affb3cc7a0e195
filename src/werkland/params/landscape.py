"""Parameters of the habitat, connectivity and barrier stages (one guild at a time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkland.params.base import StageParams
from werkland.tables import Guild, Kernel


@dataclass(frozen=True)
class HabitatParams(StageParams):
    """Habitat stage (``habitat:`` in the config).

    Attributes
    ----------
    tile_cells : int
        Side of the overlapping tiles in cells (0 = untiled).
    """

    tile_cells: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HabitatParams:
        """From the validated config (schema defaults filled)."""
        return cls(tile_cells=int(config["habitat"]["tile_cells"]))


@dataclass(frozen=True)
class ConnectivityParams(StageParams):
    """Connectivity stage for one guild (``connectivity:`` plus the guild's row of the guild table).

    Attributes
    ----------
    guild : str
        Guild id.
    kernel : Kernel
        Dispersal kernel (d0, p0, k) under the configured convention (:meth:`Guild.kernel`).
    suitability_threshold : float
        Habitat cells have suitability >= this.
    min_patch_area_m2 : float
        Smaller patches are dropped, m².
    edge_band_m : float
        Core area = patch minus this band, m.
    p_floor : float
        Links and searches stop where the probability falls below this.
    corridor_width : float
        Corridor truncation, cost-weighted m (the configured ``corridor_width_cost`` or ``d0_m``).
    iic_max_cost : float
        Links count for IIC up to this cost distance (``d0_m``), cost-weighted m.
    tile_cells : int
        Side of the overlapping search tiles in cells (0 = untiled).
    metrics_tolerance : float
        Node metrics over pairs with a material p* (0 = exact).
    n_threads : int
        Threads of the searches and all-pairs computations.
    """

    guild: str
    kernel: Kernel
    suitability_threshold: float
    min_patch_area_m2: float
    edge_band_m: float
    p_floor: float
    corridor_width: float
    iic_max_cost: float
    tile_cells: int
    metrics_tolerance: float
    n_threads: int

    @property
    def link_bound(self) -> float:
        """Link bound: the cost distance at which the dispersal probability falls to ``p_floor``,
        cost-weighted m (validated by the connectivity stage)."""
        return self.kernel.max_cost(self.p_floor)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], guild: Guild, *, n_threads: int) -> ConnectivityParams:
        """From the validated config and the guild (:func:`werkland.tables.load_guilds`)."""
        c = config["connectivity"]
        kernel = guild.kernel(c["convention"])
        width = c["corridor_width_cost"]
        return cls(
            guild=guild.name,
            kernel=kernel,
            suitability_threshold=float(guild.suitability_threshold),
            min_patch_area_m2=float(guild.min_patch_area_m2),
            edge_band_m=float(guild.edge_band_m),
            p_floor=float(c["p_floor"]),
            corridor_width=float(kernel.d0_m if width is None else width),
            iic_max_cost=float(kernel.d0_m),
            tile_cells=int(c["tile_cells"]),
            metrics_tolerance=float(c["metrics_tolerance"]),
            n_threads=int(n_threads),
        )


#: Barrier classes of the legend and their (kind, road_class).
DEFAULT_BARRIER_CLASSES: dict[str, tuple[str, str]] = {
    "road_motorway": ("road", "motorway"),
    "road_main": ("road", "main"),
    "road_minor": ("road", "minor"),
    "railway": ("railway", ""),
    "waterway": ("waterway", ""),
    "fence": ("fence", ""),
}

#: Classes never treated as linear barriers even if their resistance is above the threshold.
AREAL_CLASSES: tuple[str, ...] = ("building", "green_roof", "open_water", "sealed", "parking", "built_area")


def barrier_classes(
    resistance: Mapping[str, float] | None = None,
    threshold: float | None = None,
) -> dict[str, tuple[str, str]]:
    """Land-cover classes treated as barriers, with their ``(kind, road_class)``.

    Parameters
    ----------
    resistance : mapping, optional
        The guild's class -> resistance table (values >= 1, ``inf`` = impassable).
    threshold : float, optional
        Classes whose resistance is at or above it are added to the roads, railway, waterway and
        fence classes (kind ``"other"``), except the areal classes in ``AREAL_CLASSES``.

    Returns
    -------
    dict
        class -> (kind, road_class), in a deterministic order: the default classes, then the added
        ones sorted by name.
    """
    out = dict(DEFAULT_BARRIER_CLASSES)
    if threshold is None:
        return out
    table = resistance or {}
    for c in sorted(table):
        if float(table[c]) >= float(threshold) and c not in out and c not in AREAL_CLASSES:
            out[c] = ("other", "")
    return out


@dataclass(frozen=True)
class BarrierParams(StageParams):
    """Barrier stage for one guild (``barriers:``, the guild's resistance table and its kernel).

    The kernel, corridor width and tolerance are the connectivity stage's own, built from the same
    config (never read back from ``graph/{guild}_summary.json``).

    Attributes
    ----------
    guild : str
        Guild id.
    connectivity : ConnectivityParams
        The guild's connectivity parameters (kernel, p floor, corridor width, tolerance).
    max_segment_m : float
        Linear barriers are split into segments of at most this length, m.
    radii_m : tuple of float
        Restoration radii, m.
    top_n : int
        Segments whose network gain is computed.
    resistance_threshold : float
        Classes with resistance >= this are barriers.
    passage_resistance : float
        Resistance after a fauna passage.
    resistance : dict
        Class -> resistance of the guild (``inf`` = impassable).
    n_threads : int
        Threads.
    """

    guild: str
    connectivity: ConnectivityParams
    max_segment_m: float
    radii_m: tuple[float, ...]
    top_n: int
    resistance_threshold: float
    passage_resistance: float
    resistance: dict[str, float]
    n_threads: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], guild: Guild, *, n_threads: int) -> BarrierParams:
        """From the validated config and the guild."""
        b = config["barriers"]
        return cls(
            guild=guild.name,
            connectivity=ConnectivityParams.from_config(config, guild, n_threads=n_threads),
            max_segment_m=float(b["max_segment_m"]),
            radii_m=tuple(float(r) for r in b["radii_m"]),
            top_n=int(b["top_n"]),
            resistance_threshold=float(b["resistance_threshold"]),
            passage_resistance=float(b["passage_resistance"]),
            resistance={k: float(v) for k, v in guild.resistance.items()},
            n_threads=int(n_threads),
        )

    def probe_settings(self) -> tuple[tuple[tuple[str, str, str], ...], float, tuple[float, ...]]:
        """What the guild's barrier segments and probe groups are built from, besides the land cover
        and the grid: the barrier classes (:func:`barrier_classes`), the segment length and the radii. Guilds with equal settings have the same segments and probe groups
        (:func:`barrier_probe_owners`)."""
        classes = tuple((c, *kr) for c, kr in barrier_classes(self.resistance, self.resistance_threshold).items())
        return classes, self.max_segment_m, self.radii_m


def barrier_probe_owners(params: Mapping[str, BarrierParams]) -> dict[str, str]:
    """For each guild, the guild whose barrier segments and probe groups it shares: the first guild
    (in the given order) with the same :meth:`BarrierParams.probe_settings`.

    The workflow builds them once per owner (rule ``barrier_probes``, ``graph/{owner}_barrier_probes.npz``)
    and every connectivity job of the owner's guilds reads them. A reader still checks the file's key
    (land cover, classes, segment length, radii, grid) and builds its own when it differs.
    """
    first: dict[tuple[tuple[tuple[str, str, str], ...], float, tuple[float, ...]], str] = {}
    return {g: first.setdefault(bp.probe_settings(), g) for g, bp in params.items()}


def barrier_guild_weights(config: Mapping[str, Any]) -> dict[str, float]:
    """Weight of each analysed guild in the multi-guild barrier rank (1 when not configured)."""
    weights = config["barriers"].get("guild_weights") or {}
    return {g: float(weights.get(g, 1.0)) for g in config["guilds"]}

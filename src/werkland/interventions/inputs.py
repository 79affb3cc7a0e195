"""The files the interventions stage reads and writes, and reading them.

:class:`InterventionInputs` names every file explicitly (the Snakemake rule's declared inputs and
outputs, :meth:`InterventionInputs.from_rule`, or :meth:`InterventionInputs.from_layout` for a region
of the data contract): the stage reads
exactly these and looks for nothing else. A missing input is an error naming the stage that writes it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.features import rasterize

from werkland._errors import WerklandInputError
from werkland.connectivity import prepare_resistance
from werkland.interventions.guild_graph import GuildGraph
from werkland.interventions.search import SearcherPool, SurfaceCache
from werkland.layout import RegionPaths
from werkland.params import ConnectivityParams
from werkland.raster.crs import assert_metric
from werkland.raster.io import Grid, line_cells, read_raster, release_free_memory

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Columns of ``climate/summary.csv`` the targets are read from.
CLIMATE_SUMMARY_COLUMNS = ("park_id", "storage_needed_m3", "hm_mean", "area_m2")


def as_paths(obj: Any, *, skip: Sequence[str] = ()) -> None:
    """Make the file fields of a frozen dataclass :class:`~pathlib.Path` objects, in place.

    A string or path-like field becomes a ``Path``, a mapping a ``dict`` of ``str`` to ``Path``;
    ``None`` and other values (and the fields named in ``skip``) stay as they are.
    """
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.name in skip:
            continue
        if isinstance(v, Mapping):
            object.__setattr__(obj, f.name, {str(k): Path(p) for k, p in v.items()})
        elif isinstance(v, (str, os.PathLike)):
            object.__setattr__(obj, f.name, Path(v))


@dataclass(frozen=True)
class InterventionInputs:
    """Every file of the interventions stage of one region.

    Attributes
    ----------
    landcover_tif : Path
        ``landcover.tif`` (uint8 legend codes, metric CRS).
    landcover_gpkg : Path
        ``landcover.gpkg``, layers ``landcover`` (polygons) and ``lines`` (centre lines).
    region_gpkg : Path
        ``region.gpkg``, layer ``parks`` (``park_id``, optional ``name``).
    habitat, resistance, patches, links : dict of str to Path
        Per analysed guild: ``habitat/{guild}.tif``, ``resistance/{guild}.tif``,
        ``patches/{guild}.tif`` and ``graph/{guild}_links.gpkg`` (the baseline patch graph).
    barriers_all : Path or None
        ``barriers/all_guilds.gpkg`` (fauna-passage candidates); None = no barrier stage, no passages.
    climate_summary : Path
        ``climate/summary.csv`` (storage still needed and HM per park).
    legend_yaml, guilds_yaml, catalogue_yaml : Path
        Land-cover legend, guild table and intervention catalogue.
    out_candidates_gpkg, out_portfolio_csv, out_park_totals_csv : Path
        Outputs (see :func:`werkland.interventions.run_interventions`).
    user_candidates : Path or None
        Optional user candidate layer (:func:`werkland.interventions.read_user_candidates`).
    soil_group, ghg, infiltration, flow_accumulation : Path or None
        The climate stage's hydrology rasters ``climate/soil_group.tif``, ``ghg_m.tif``,
        ``infiltration_mm_h.tif`` and ``flow_accumulation.tif`` (nodata where its soil, groundwater
        or elevation input was not given); None = not used. Water-led siting and run-on gains
        (:mod:`werkland.interventions.siting`); a given file that does not exist is a warning.
    ponding : dict of str to Path
        Per design storm: ``climate/ponding_<storm>.tif`` (the design storm's is read).
    out_after_habitat : dict of str to Path
        Per analysed guild: ``interventions/after/habitat_{guild}.tif`` (the region after the
        selected portfolio; empty = not written).
    out_after_summary_csv : Path or None
        ``interventions/after/summary.csv`` (None = the after-state is not written).
    """

    landcover_tif: Path
    landcover_gpkg: Path
    region_gpkg: Path
    habitat: dict[str, Path]
    resistance: dict[str, Path]
    patches: dict[str, Path]
    links: dict[str, Path]
    barriers_all: Path | None
    climate_summary: Path
    legend_yaml: Path
    guilds_yaml: Path
    catalogue_yaml: Path
    out_candidates_gpkg: Path
    out_portfolio_csv: Path
    out_park_totals_csv: Path
    user_candidates: Path | None = None
    soil_group: Path | None = None
    ghg: Path | None = None
    infiltration: Path | None = None
    flow_accumulation: Path | None = None
    ponding: dict[str, Path] = field(default_factory=dict)
    out_after_habitat: dict[str, Path] = field(default_factory=dict)
    out_after_summary_csv: Path | None = None

    def __post_init__(self) -> None:
        as_paths(self)

    @classmethod
    def from_layout(
        cls, paths: RegionPaths, guilds: Sequence[str], *, legend_yaml: PathLike, guilds_yaml: PathLike,
        catalogue_yaml: PathLike, user_candidates: PathLike | None = None, storms: Sequence[str] = (),
    ) -> InterventionInputs:
        """The files of a region of the data contract (:class:`werkland.layout.RegionPaths`).

        ``storms`` are the design-storm names whose ponding rasters are listed.
        """
        return cls(
            landcover_tif=paths.landcover_tif,
            landcover_gpkg=paths.landcover_gpkg,
            region_gpkg=paths.region_gpkg,
            habitat={g: paths.habitat(g) for g in guilds},
            resistance={g: paths.resistance(g) for g in guilds},
            patches={g: paths.patches_tif(g) for g in guilds},
            links={g: paths.links(g) for g in guilds},
            barriers_all=paths.barriers_all,
            climate_summary=paths.climate_summary,
            legend_yaml=Path(legend_yaml),
            guilds_yaml=Path(guilds_yaml),
            catalogue_yaml=Path(catalogue_yaml),
            out_candidates_gpkg=paths.candidates,
            out_portfolio_csv=paths.portfolio,
            out_park_totals_csv=paths.park_totals,
            user_candidates=None if user_candidates is None else Path(user_candidates),
            soil_group=paths.soil_group,
            ghg=paths.ghg,
            infiltration=paths.infiltration,
            flow_accumulation=paths.flow_accumulation,
            ponding={s: paths.ponding(s) for s in storms},
            out_after_habitat={g: paths.after_habitat(g) for g in guilds},
            out_after_summary_csv=paths.after_summary,
        )

    @classmethod
    def from_rule(
        cls, inputs: Any, guilds: Sequence[str], storms: Sequence[str], *, out_candidates_gpkg: PathLike = "",
        out_portfolio_csv: PathLike = "", out_park_totals_csv: PathLike = "",
        out_after_habitat: Sequence[PathLike] = (), out_after_summary_csv: PathLike | None = None,
    ) -> InterventionInputs:
        """The files named by the ``interventions`` rule's inputs.

        Parameters
        ----------
        inputs : object
            Any object with the rule's named inputs as attributes (a Snakemake ``Namedlist`` works):
            ``landcover_tif``, ``landcover_gpkg``, ``region``, the per-guild lists ``habitat``,
            ``resistance``, ``patches`` and ``links`` (in the order of ``guilds``), ``barriers``,
            ``climate``, ``legend``, ``guilds_table``, ``catalogue``, ``user_candidates`` (a list of at
            most one file) and optionally ``soil_group``, ``ghg``, ``infiltration``,
            ``flow_accumulation`` and ``ponding`` (in the order of ``storms``).
        guilds : sequence of str
            The analysed guilds.
        storms : sequence of str
            The design-storm names of the ponding rasters.
        out_candidates_gpkg, out_portfolio_csv, out_park_totals_csv : path-like
            The outputs (empty when the caller writes none of them).
        out_after_habitat, out_after_summary_csv : sequence of path-like, path-like or None
            The after-state outputs: one habitat raster per guild (in the order of ``guilds``) and
            the summary (None: the after-state is not written).
        """
        def per_guild(name: str) -> dict[str, Path]:
            return dict(zip(guilds, getattr(inputs, name), strict=True))

        hydro: dict[str, Any] = {
            k: getattr(inputs, k) for k in ("soil_group", "ghg", "infiltration", "flow_accumulation")
            if hasattr(inputs, k)
        }
        if hasattr(inputs, "ponding"):
            hydro["ponding"] = dict(zip(storms, inputs.ponding, strict=True))
        user = inputs.user_candidates
        return cls(
            landcover_tif=inputs.landcover_tif,
            landcover_gpkg=inputs.landcover_gpkg,
            region_gpkg=inputs.region,
            habitat=per_guild("habitat"),
            resistance=per_guild("resistance"),
            patches=per_guild("patches"),
            links=per_guild("links"),
            barriers_all=inputs.barriers,
            climate_summary=inputs.climate,
            legend_yaml=inputs.legend,
            guilds_yaml=inputs.guilds_table,
            catalogue_yaml=inputs.catalogue,
            out_candidates_gpkg=Path(out_candidates_gpkg),
            out_portfolio_csv=Path(out_portfolio_csv),
            out_park_totals_csv=Path(out_park_totals_csv),
            user_candidates=user[0] if len(user) else None,
            out_after_habitat=({g: Path(x) for g, x in zip(guilds, out_after_habitat, strict=True)}
                               if out_after_summary_csv else {}),
            out_after_summary_csv=Path(out_after_summary_csv) if out_after_summary_csv else None,
            **hydro,
        )

    def check(self, guilds: Sequence[str]) -> None:
        """Every input exists and the per-guild files are those of ``guilds``.

        Raises
        ------
        WerklandInputError
            A missing file (naming the stage that writes it) or per-guild files of other guilds.
        """
        for what in ("habitat", "resistance", "patches", "links"):
            have = list(getattr(self, what))
            if sorted(have) != sorted(guilds):
                raise WerklandInputError(
                    f"{what} files are given for guilds {have}, the analysed guilds are {list(guilds)}",
                    path="interventions inputs", fix="give one file per analysed guild",
                )
        if self.out_after_summary_csv is not None and sorted(self.out_after_habitat) != sorted(guilds):
            raise WerklandInputError(
                f"after habitat outputs are given for guilds {list(self.out_after_habitat)}, the analysed guilds "
                f"are {list(guilds)}", path="interventions outputs", fix="give one file per analysed guild",
            )
        required: list[tuple[Path | None, str]] = [
            (self.landcover_tif, "the landcover stage"), (self.landcover_gpkg, "the landcover stage"),
            (self.region_gpkg, "the landcover stage"),
            *((self.habitat[g], "the habitat stage") for g in guilds),
            *((self.resistance[g], "the habitat stage") for g in guilds),
            *((self.patches[g], "the connectivity stage") for g in guilds),
            *((self.links[g], "the connectivity stage") for g in guilds),
            (self.barriers_all, "the barriers stage"), (self.climate_summary, "the climate stage"),
            (self.legend_yaml, "the config (legend)"), (self.guilds_yaml, "the config (guilds_table)"),
        ]
        for path, writer in required:
            if path is not None and not path.exists():
                raise WerklandInputError("input file missing", path=str(path), fix=f"run {writer} first (it writes this file)")


@dataclass
class RegionData:
    """The region's land cover, parks and vector layers, on the land-cover grid.

    Attributes
    ----------
    codes : numpy.ndarray
        uint8 land-cover codes (0 outside the region).
    grid : werkland.raster.io.Grid
        The land-cover grid (metric CRS).
    parks : geopandas.GeoDataFrame
        Parks with string ``park_id``, index 0..n-1.
    park_index : numpy.ndarray
        int32 raster: park row + 1, 0 = none.
    landcover, lines : geopandas.GeoDataFrame or None
        Land-cover polygons and centre lines (None: the layer cannot be read).
    barriers : geopandas.GeoDataFrame or None
        Ranked barrier segments (None: not given).
    """

    codes: np.ndarray
    grid: Grid
    parks: Any
    park_index: np.ndarray
    landcover: Any
    lines: Any
    barriers: Any


def read_layer(path: Path, layer: str | None, grid: Grid, what: str) -> Any:
    """A vector layer in the grid's CRS.

    Raises
    ------
    WerklandInputError
        When it cannot be read.
    """
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio") if layer else gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001
        raise WerklandInputError(f"cannot read {what} ({str(exc).splitlines()[0]})", path=str(path),
                                 fix="re-run the stage that writes it") from exc
    if len(gdf) and gdf.crs is not None and not gdf.crs.equals(grid.crs):
        gdf = gdf.to_crs(grid.crs.to_wkt())
    return gdf


def read_vector_file(
    path: PathLike, *, missing: str, missing_fix: str, unreadable: str, read_fix: str | None = None,
) -> Any:
    """Every feature of a user's vector file (GeoPackage, GeoJSON, ...) as stored (CRS unchanged).

    Raises
    ------
    WerklandInputError
        ``missing`` (fix ``missing_fix``) when the file does not exist, ``unreadable`` with the
        reader's message (fix ``read_fix``) when it cannot be read.
    """
    p = str(path)
    if not Path(p).exists():
        raise WerklandInputError(missing, path=p, fix=missing_fix)
    try:
        return gpd.read_file(p, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001
        raise WerklandInputError(f"{unreadable} ({str(exc).splitlines()[0]})", path=p, fix=read_fix) from exc


def park_raster(parks: Any, grid: Grid) -> np.ndarray:
    """int32 raster of the park rows + 1 (0 = no park)."""
    if not len(parks):
        return np.zeros(grid.shape, np.int32)
    shapes = [(g, i + 1) for i, g in enumerate(parks.geometry.values) if g is not None and not g.is_empty]
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32")


def read_region(inputs: InterventionInputs, warnings: list[str]) -> RegionData:
    """Land cover, parks, land-cover polygons and lines, and barrier segments of the region.

    An empty barrier layer or none given is a warning (no fauna-passage candidates).
    """
    codes, grid, _ = read_raster(inputs.landcover_tif)
    assert_metric(grid.crs, where=str(inputs.landcover_tif))
    codes = codes.astype(np.uint8)
    parks = read_layer(inputs.region_gpkg, "parks", grid, "parks")
    if "park_id" not in parks.columns:
        raise WerklandInputError("no column park_id", path=f"{inputs.region_gpkg} (layer parks)")
    parks = parks.reset_index(drop=True)
    parks["park_id"] = parks["park_id"].astype(str)
    park_index = park_raster(parks, grid)
    lc_poly = read_layer(inputs.landcover_gpkg, "landcover", grid, "land-cover polygons")
    try:
        lines = read_layer(inputs.landcover_gpkg, "lines", grid, "centre lines")
    except WerklandInputError:
        lines = None
    barriers = None
    if inputs.barriers_all is not None:
        barriers = read_layer(inputs.barriers_all, None, grid, "barrier segments")
        if not len(barriers):
            warnings.append("barriers/all_guilds.gpkg is empty: no fauna-passage candidates")
    else:
        warnings.append("barriers/all_guilds.gpkg absent: no fauna-passage candidates")
    return RegionData(codes, grid, parks, park_index, lc_poly, lines, barriers)


def read_guild_graph(
    inputs: InterventionInputs, conn: ConnectivityParams, region: RegionData, *, pc_tol: float,
    search_pool: SearcherPool, surface_cache: SurfaceCache | None = None,
) -> tuple[GuildGraph, list[np.ndarray]]:
    """The baseline patch graph of a guild from the habitat and connectivity outputs.

    Parameters
    ----------
    inputs : InterventionInputs
        The guild's habitat, resistance, patch and link files.
    conn : ConnectivityParams
        The guild's connectivity settings: patch definition, kernel and p floor (the reach of the
        link searches), as used by the connectivity stage.
    region : RegionData
        The land-cover grid the rasters must share.
    pc_tol : float
        Relative PCnum tolerance of the graph's local updates.
    search_pool : SearcherPool
        Search work arrays shared by the graphs of every guild.
    surface_cache : SurfaceCache, optional
        Patches' cost surfaces kept for every guild (None: one of the graph's own).

    Returns
    -------
    graph : GuildGraph
    link_paths : list of numpy.ndarray
        Flat cells of each least-cost link, cheapest first.
    """
    gname, grid, codes = conn.guild, region.grid, region.codes
    hp, rp = inputs.habitat[gname], inputs.resistance[gname]
    suit, _, _ = read_raster(hp)
    rraw, _, rnd = read_raster(rp)
    if suit.shape != codes.shape or rraw.shape != codes.shape:
        raise WerklandInputError(f"habitat/resistance grid of {gname} differs from landcover.tif", path=str(hp),
                                 fix="re-run the habitat rule")
    suit = suit.astype(np.float32)
    res = prepare_resistance(rraw, rnd if rnd is not None else -1.0)
    labels, _, _ = read_raster(inputs.patches[gname])
    links = read_layer(inputs.links[gname], "links", grid, f"links of {gname}")
    k = conn.kernel.k_per_m
    max_cost = conn.kernel.max_cost(conn.p_floor)
    edges = (links["from_id"].to_numpy(), links["to_id"].to_numpy(), links["cost_distance"].to_numpy())
    paths = line_cells(links.geometry.values, grid.shape, grid.transform)
    order = np.argsort(links["cost_distance"].to_numpy(), kind="stable") if len(links) else np.zeros(0, np.int64)
    paths = [paths[i] for i in order]
    del links
    release_free_memory()  # the link geometries' heap (1 GB for 334 k links) before the n x n matrix
    gg = GuildGraph(gname, suit, res, labels, edges, k_per_m=k, max_cost=max_cost,
                    threshold=conn.suitability_threshold, min_area_m2=conn.min_patch_area_m2, res_m=grid.res_m,
                    pc_tol=pc_tol, search_pool=search_pool, surface_cache=surface_cache)
    log.info("%s: %d patches, %d links, ECA %.2f ha (reach %.0f cost-m)", gname, gg.n,
             sum(len(d) for d in gg.adj) // 2, gg.eca_ha, max_cost)
    return gg, paths


def read_climate_summary(path: Path) -> pd.DataFrame:
    """The climate stage's per-park table (``park_id`` as string).

    Raises
    ------
    WerklandInputError
        When a column of :data:`CLIMATE_SUMMARY_COLUMNS` is missing.
    """
    s = pd.read_csv(path, dtype={"park_id": str})
    missing = [c for c in CLIMATE_SUMMARY_COLUMNS if c not in s.columns]
    if missing:
        raise WerklandInputError(f"missing column(s) {missing}", path=str(path),
                                 fix="re-run the climate stage (it writes them)")
    return s

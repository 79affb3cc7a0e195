"""The data contract: every file of ``results/{region}/`` named once.

:class:`RegionPaths` is the single place that knows where a stage writes and where the next stage
reads. The Snakemake rules build their inputs and outputs from it (``workflow/rules/common.smk``),
the one-job-per-region pipeline builds its file list from it (:mod:`werkland.pipeline`), and the
report takes its inputs from it. ``docs/architecture.md`` lists the same files; a test keeps the two in
agreement (``python -m werkland.layout`` prints the table).

A ``RegionPaths`` whose region (or a guild or storm passed to a method) is a Snakemake wildcard such as
``"{region}"`` yields the rule's path patterns, so the rules and the library cannot drift apart.

This module imports only the standard library: the workflow imports it when it is parsed.

Examples
--------
>>> p = RegionPaths("results", "demo")
>>> p.habitat("hedgehog").as_posix()
'results/demo/habitat/hedgehog.tif'
>>> RegionPaths("results", "{region}").links("{guild}").as_posix()
'results/{region}/graph/{guild}_links.gpkg'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: The stages in workflow order (``stage_outputs`` keys).
STAGES: tuple[str, ...] = (
    "landcover",
    "habitat",
    "connectivity",
    "currents",
    "barriers",
    "species",
    "climate",
    "interventions",
    "report",
)

#: Figures of a region report: key -> (PNG file name, stage category in Snakemake's report).
REPORT_FIGURES: dict[str, tuple[str, str]] = {
    "map_landcover": ("map_landcover.png", "Land cover"),
    "map_habitat": ("map_habitat.png", "Habitat"),
    "map_patches": ("map_patches.png", "Connectivity"),
    "map_corridors": ("map_corridors.png", "Connectivity"),
    "map_barriers": ("map_barriers.png", "Barriers"),
    "map_species": ("map_species.png", "Species"),
    "map_climate": ("map_climate.png", "Climate"),
    "map_interventions": ("map_interventions.png", "Interventions"),
    "plot_dpc": ("plot_dpc.png", "Connectivity"),
    "plot_rarefaction": ("plot_rarefaction.png", "Species"),
    "plot_pareto": ("plot_pareto.png", "Interventions"),
    "plot_budget": ("plot_budget.png", "Interventions"),
}


@dataclass(frozen=True)
class StyleTarget:
    """A QGIS style written beside a data file (paths relative to ``results/{region}``).

    Attributes
    ----------
    data : str
        The GeoTIFF or GeoPackage the style is for.
    layer : str or None
        GeoPackage layer (None: a raster, or every layer of a one-layer file).
    qml : str
        The ``.qml`` file.
    kind : str
        Style kind (``landcover_raster``, ``habitat``, ``runoff:<storm>``, ...).
    """

    data: str
    layer: str | None
    qml: str
    kind: str


#: Currents rasters of a guild that get a QGIS style: (file suffix, style kind).
CURRENT_RASTERS: tuple[tuple[str, str], ...] = (
    ("current", "current"),
    ("pinchpoints", "pinchpoints"),
    ("omni_current", "omni_current"),
    ("flow_potential", "flow_potential"),
    ("normalized", "normalized"),
)


def style_targets(
    guilds: Sequence[str], storms: Sequence[str], *, currents: bool = False
) -> list[StyleTarget]:
    """Every style file of a region (paths relative to ``results/{region}``).

    Parameters
    ----------
    guilds : sequence of str
        Guild ids.
    storms : sequence of str
        Design-storm names (``climate/runoff_<storm>.tif``).
    currents : bool
        The currents stage runs (``currents.enabled``): add the styles of its rasters
        (``currents/{guild}_<name>.qml``, :data:`CURRENT_RASTERS`) after the other styles.
    """
    t = [
        StyleTarget("landcover.tif", None, "landcover.qml", "landcover_raster"),
        StyleTarget("landcover.gpkg", "landcover", "landcover_landcover.qml", "landcover_vector"),
        StyleTarget("landcover.gpkg", "lines", "landcover_lines.qml", "landcover_lines"),
        StyleTarget("region.gpkg", "region", "region_region.qml", "region"),
        StyleTarget("region.gpkg", "parks", "region_parks.qml", "parks"),
    ]
    for g in guilds:
        t += [
            StyleTarget(f"habitat/{g}.tif", None, f"habitat/{g}.qml", "habitat"),
            StyleTarget(f"resistance/{g}.tif", None, f"resistance/{g}.qml", "resistance"),
            StyleTarget(f"patches/{g}.tif", None, f"patches/{g}.qml", "patch_ids"),
            StyleTarget(f"patches/{g}.gpkg", "patches", f"patches/{g}_patches.qml", "patches"),
            StyleTarget(f"graph/{g}_links.gpkg", "links", f"graph/{g}_links.qml", "links"),
            StyleTarget(f"corridors/{g}.tif", None, f"corridors/{g}.qml", "corridor"),
            StyleTarget(f"barriers/{g}.gpkg", None, f"barriers/{g}.qml", "barriers"),
        ]
    t += [
        StyleTarget("barriers/all_guilds.gpkg", None, "barriers/all_guilds.qml", "barriers"),
        StyleTarget("species/occurrences.gpkg", "occurrences", "species/occurrences.qml", "occurrences"),
        StyleTarget("climate/cooling.tif", None, "climate/cooling.qml", "cooling"),
    ]
    t += [
        StyleTarget(f"climate/runoff_{s}.tif", None, f"climate/runoff_{s}.qml", f"runoff:{s}")
        for s in storms
    ]
    t += [
        StyleTarget("climate/soil_group.tif", None, "climate/soil_group.qml", "soil_group"),
        StyleTarget("climate/ghg_m.tif", None, "climate/ghg_m.qml", "ghg"),
        StyleTarget("climate/infiltration_mm_h.tif", None, "climate/infiltration_mm_h.qml", "infiltration"),
        StyleTarget("climate/flow_accumulation.tif", None, "climate/flow_accumulation.qml", "flow_accumulation"),
    ]
    t += [
        StyleTarget(f"climate/ponding_{s}.tif", None, f"climate/ponding_{s}.qml", f"ponding:{s}")
        for s in storms
    ]
    t += [
        StyleTarget(f"interventions/after/habitat_{g}.tif", None, f"interventions/after/habitat_{g}.qml", "habitat")
        for g in guilds
    ]
    t.append(
        StyleTarget("interventions/candidates.gpkg", None, "interventions/candidates.qml", "candidates")
    )
    if currents:
        t += [
            StyleTarget(f"currents/{g}_{name}.tif", None, f"currents/{g}_{name}.qml", kind)
            for g in guilds
            for name, kind in CURRENT_RASTERS
        ]
    return t


@dataclass(frozen=True)
class RegionPaths:
    """Every file of one region's results.

    Parameters
    ----------
    root : path-like
        Results root (``results``).
    region : str
        Region id, or the wildcard ``"{region}"`` for rule patterns.
    """

    root: Path
    region: str

    def __init__(self, root: str | os.PathLike[str], region: str) -> None:
        object.__setattr__(self, "root", Path(root))
        object.__setattr__(self, "region", str(region))

    # --- region and land cover ------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        """``results/{region}``."""
        return self.root / self.region

    @property
    def region_gpkg(self) -> Path:
        """Layers ``region`` (analysis extent) and ``parks``."""
        return self.dir / "region.gpkg"

    @property
    def landcover_gpkg(self) -> Path:
        """Layers ``landcover`` (polygons after overlap resolution) and ``lines``."""
        return self.dir / "landcover.gpkg"

    @property
    def landcover_tif(self) -> Path:
        """uint8 legend codes, nodata 0 outside the region."""
        return self.dir / "landcover.tif"

    # --- habitat ----------------------------------------------------------------------------------
    def habitat(self, guild: str) -> Path:
        """float32 suitability 0..1 of a guild."""
        return self.dir / "habitat" / f"{guild}.tif"

    def resistance(self, guild: str) -> Path:
        """float32 resistance per metre of a guild."""
        return self.dir / "resistance" / f"{guild}.tif"

    # --- connectivity -----------------------------------------------------------------------------
    def patches_tif(self, guild: str) -> Path:
        """int32 patch ids (0 = no patch)."""
        return self.dir / "patches" / f"{guild}.tif"

    def patches_gpkg(self, guild: str) -> Path:
        """Patch polygons with areas."""
        return self.dir / "patches" / f"{guild}.gpkg"

    def links(self, guild: str) -> Path:
        """Least-cost links (layer ``links``)."""
        return self.dir / "graph" / f"{guild}_links.gpkg"

    def graphml(self, guild: str) -> Path:
        """The patch graph as GraphML."""
        return self.dir / "graph" / f"{guild}.graphml"

    def metrics(self, guild: str) -> Path:
        """Per-patch metrics (dPC and fractions, dIIC, betweenness)."""
        return self.dir / "graph" / f"{guild}_metrics.csv"

    def summary(self, guild: str) -> Path:
        """Landscape metrics and the kernel used (PC, ECA, IIC, d0, p0, k)."""
        return self.dir / "graph" / f"{guild}_summary.json"

    def corridors(self, guild: str) -> Path:
        """Normalised least-cost corridor raster."""
        return self.dir / "corridors" / f"{guild}.tif"

    def probe_minima(self, guild: str) -> Path:
        """Each patch's least cost over each barrier probe group, kept by the link search (``.npz``).

        An intermediate file between the connectivity and barrier stages, not a stage output
        (:meth:`stage_outputs`): the workflow deletes it once the barrier job has read it.
        """
        return self.dir / "graph" / f"{guild}_probe_minima.npz"

    def graph_distances(self, guild: str) -> Path:
        """The all-pairs distances of the guild's patch graph, kept by the connectivity job's node
        metrics (``.npz``, :mod:`werkland.connectivity.distance_store`).

        An intermediate file, not a stage output (:meth:`stage_outputs`): the barrier job's network
        gains read it instead of searching the distances again, and the workflow deletes it once
        that job has.
        """
        return self.dir / "graph" / f"{guild}_distances.npz"

    def barrier_probes(self, guild: str) -> Path:
        """The barrier segments and probe groups of ``guild`` and of every guild sharing them
        (:func:`werkland.params.barrier_probe_owners`), built once for their connectivity jobs (``.npz``).

        An intermediate file, not a stage output (:meth:`stage_outputs`): the workflow deletes it once
        the last of those connectivity jobs has read it.
        """
        return self.dir / "graph" / f"{guild}_barrier_probes.npz"

    # --- currents ---------------------------------------------------------------------------------
    def current_resistance(self, guild: str) -> Path:
        """Effective resistance between patch pairs (from_id, to_id, r_eff, connected)."""
        return self.dir / "currents" / f"{guild}_resistance.csv"

    def current(self, guild: str) -> Path:
        """Cumulative node current over the linked patch pairs, A."""
        return self.dir / "currents" / f"{guild}_current.tif"

    def pinchpoints(self, guild: str) -> Path:
        """Pinch-point current within the link corridors, A."""
        return self.dir / "currents" / f"{guild}_pinchpoints.tif"

    def omni_current(self, guild: str) -> Path:
        """Omniscape cumulative (coreless) current, A."""
        return self.dir / "currents" / f"{guild}_omni_current.tif"

    def flow_potential(self, guild: str) -> Path:
        """Omniscape flow potential (resistance 1 everywhere), A."""
        return self.dir / "currents" / f"{guild}_flow_potential.tif"

    def normalized_current(self, guild: str) -> Path:
        """Omniscape current / flow potential (> 1 channelised, < 1 impeded)."""
        return self.dir / "currents" / f"{guild}_normalized.tif"

    def current_links(self, guild: str) -> Path:
        """Layer ``links``: every column of the links layer plus ``r_eff`` and ``cwd_to_r_eff``."""
        return self.dir / "currents" / f"{guild}_links.gpkg"

    # --- barriers ---------------------------------------------------------------------------------
    def barriers(self, guild: str) -> Path:
        """Barrier segments ranked for one guild."""
        return self.dir / "barriers" / f"{guild}.gpkg"

    @property
    def barriers_all(self) -> Path:
        """Barrier segments ranked over all guilds."""
        return self.dir / "barriers" / "all_guilds.gpkg"

    # --- species ----------------------------------------------------------------------------------
    @property
    def occurrences(self) -> Path:
        """Cleaned occurrence points (layer ``occurrences``)."""
        return self.dir / "species" / "occurrences.gpkg"

    @property
    def counts(self) -> Path:
        """Species counts and richness per park, patch and guild."""
        return self.dir / "species" / "counts.csv"

    @property
    def citation(self) -> Path:
        """Data citation (JSON)."""
        return self.dir / "species" / "citation.json"

    @property
    def cleaning_log(self) -> Path:
        """Records removed by each cleaning rule."""
        return self.dir / "species" / "cleaning_log.csv"

    @property
    def citation_txt(self) -> Path:
        """Data citation as plain text for reports."""
        return self.dir / "species" / "citation.txt"

    @property
    def species_names(self) -> Path:
        """GBIF Backbone match of every guild taxon and table name, with match type and use."""
        return self.dir / "species" / "names.csv"

    @property
    def habitat_validation(self) -> Path:
        """Continuous Boyce index of each guild's habitat map against its records, with status."""
        return self.dir / "species" / "habitat_validation.csv"

    @property
    def habitat_pe_curve(self) -> Path:
        """Predicted-to-expected ratio per Boyce moving window and guild."""
        return self.dir / "species" / "habitat_pe_curve.csv"

    @property
    def species_periods(self) -> Path:
        """Richness per park, guild and period at a common coverage, with a verdict."""
        return self.dir / "species" / "periods.csv"

    # --- climate ----------------------------------------------------------------------------------
    @property
    def cooling(self) -> Path:
        """Heat mitigation index raster."""
        return self.dir / "climate" / "cooling.tif"

    def runoff(self, storm: str) -> Path:
        """SCS-CN runoff depth (mm) of a design storm."""
        return self.dir / "climate" / f"runoff_{storm}.tif"

    @property
    def climate_summary(self) -> Path:
        """Per-park heat and water figures."""
        return self.dir / "climate" / "summary.csv"

    @property
    def soil_group(self) -> Path:
        """uint8 hydrologic soil group 1..4 (A..D) after the shallow-groundwater override, 0 nodata."""
        return self.dir / "climate" / "soil_group.tif"

    @property
    def ghg(self) -> Path:
        """float32 mean highest groundwater level (GHG), m below the surface, NaN unknown."""
        return self.dir / "climate" / "ghg_m.tif"

    @property
    def infiltration(self) -> Path:
        """float32 infiltration capacity, mm/h, NaN unknown."""
        return self.dir / "climate" / "infiltration_mm_h.tif"

    @property
    def flow_accumulation(self) -> Path:
        """float32 upslope contributing area including the cell, m2, NaN without elevation."""
        return self.dir / "climate" / "flow_accumulation.tif"

    def ponding(self, storm: str) -> Path:
        """float32 standing water depth of a design storm, mm, NaN without elevation."""
        return self.dir / "climate" / f"ponding_{storm}.tif"

    # --- interventions ----------------------------------------------------------------------------
    @property
    def candidates(self) -> Path:
        """Candidate measures with their gains."""
        return self.dir / "interventions" / "candidates.gpkg"

    @property
    def portfolio(self) -> Path:
        """Measures selected under the budget, in pick order."""
        return self.dir / "interventions" / "portfolio.csv"

    @property
    def park_totals(self) -> Path:
        """Per-park totals of the selected measures."""
        return self.dir / "interventions" / "park_totals.csv"

    def after_habitat(self, guild: str) -> Path:
        """float32 suitability of a guild after the selected portfolio."""
        return self.dir / "interventions" / "after" / f"habitat_{guild}.tif"

    @property
    def after_summary(self) -> Path:
        """Per park and guild: habitat, ECA, heat and runoff before and after the selected portfolio."""
        return self.dir / "interventions" / "after" / "summary.csv"

    # --- plans ------------------------------------------------------------------------------------
    def plan_gpkg(self, name: str) -> Path:
        """Layers ``measures`` (a user plan's measures with their gains) and ``optimum``."""
        return self.dir / "plans" / f"{name}.gpkg"

    def plan_csv(self, name: str) -> Path:
        """A user plan's totals: cost, score, optimum at its cost, attainment."""
        return self.dir / "plans" / f"{name}.csv"

    # --- report -----------------------------------------------------------------------------------
    @property
    def report_dir(self) -> Path:
        """``results/{region}/report``."""
        return self.dir / "report"

    @property
    def report_html(self) -> Path:
        """The self-contained region report."""
        return self.report_dir / "index.html"

    @property
    def report_map(self) -> Path:
        """The offline interactive map."""
        return self.report_dir / "map.html"

    @property
    def report_summary(self) -> Path:
        """Park-card numbers of the report (JSON)."""
        return self.report_dir / "summary.json"

    @property
    def report_measures_xlsx(self) -> Path:
        """Workbook of the selected measures: one sheet per park (place, size, cost, gains)."""
        return self.report_dir / "measures.xlsx"

    @property
    def report_summary_pdf(self) -> Path:
        """The region summary on A4 (headless Chromium; only with ``report.pdf``)."""
        return self.report_dir / "summary.pdf"

    def report_figure(self, key: str) -> Path:
        """A report figure by its key in :data:`REPORT_FIGURES`."""
        return self.report_dir / REPORT_FIGURES[key][0]

    def qml(self, target: StyleTarget) -> Path:
        """Where a QGIS style is written."""
        return self.dir / target.qml

    @property
    def pipeline_json(self) -> Path:
        """``execution: pipeline`` only: stage timings of the one-job-per-region run."""
        return self.dir / "pipeline.json"

    # --- stage groups -----------------------------------------------------------------------------
    def stage_outputs(
        self,
        stage: str,
        guilds: Sequence[str] = (),
        storms: Sequence[str] = (),
        *,
        currents: bool = False,
        pdf: bool = False,
        plans: Sequence[str] = (),
    ) -> list[Path]:
        """Every file a stage writes for this region (all guilds and storms).

        Parameters
        ----------
        stage : str
            One of :data:`STAGES`.
        guilds, storms : sequence of str
            Guild ids and design-storm names.
        currents : bool
            The currents stage runs: the report also writes the styles of the currents rasters
            (:func:`style_targets`).
        pdf : bool
            ``report.pdf`` is on: the report also writes :attr:`report_summary_pdf`.
        plans : sequence of str
            Names of the region's plans (``regions.<id>.plans``): their files are interventions outputs.

        Raises
        ------
        ValueError
            For an unknown stage name.
        """
        g = list(guilds)
        if stage == "landcover":
            return [self.region_gpkg, self.landcover_gpkg, self.landcover_tif]
        if stage == "habitat":
            return [self.habitat(x) for x in g] + [self.resistance(x) for x in g]
        if stage == "connectivity":
            return [
                f(x)
                for x in g
                for f in (
                    self.patches_gpkg,
                    self.patches_tif,
                    self.links,
                    self.graphml,
                    self.metrics,
                    self.summary,
                    self.corridors,
                )
            ]
        if stage == "currents":
            return [
                f(x)
                for x in g
                for f in (
                    self.current_resistance,
                    self.current,
                    self.pinchpoints,
                    self.omni_current,
                    self.flow_potential,
                    self.normalized_current,
                    self.current_links,
                )
            ]
        if stage == "barriers":
            return [self.barriers(x) for x in g] + [self.barriers_all]
        if stage == "species":
            return [
                self.occurrences,
                self.counts,
                self.citation,
                self.cleaning_log,
                self.citation_txt,
                self.species_names,
                self.habitat_validation,
                self.habitat_pe_curve,
                self.species_periods,
            ]
        if stage == "climate":
            return [
                self.cooling,
                *(self.runoff(s) for s in storms),
                self.climate_summary,
                self.soil_group,
                self.ghg,
                self.infiltration,
                self.flow_accumulation,
                *(self.ponding(s) for s in storms),
            ]
        if stage == "interventions":
            return [
                self.candidates,
                self.portfolio,
                self.park_totals,
                *(self.after_habitat(x) for x in g),
                self.after_summary,
                *(f(n) for n in plans for f in (self.plan_gpkg, self.plan_csv)),
            ]
        if stage == "report":
            return [
                self.report_html,
                self.report_map,
                self.report_summary,
                self.report_measures_xlsx,
                *([self.report_summary_pdf] if pdf else []),
                *(self.report_figure(k) for k in REPORT_FIGURES),
                *(self.qml(t) for t in style_targets(g, storms, currents=currents)),
            ]
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")

    def report_inputs(
        self, guilds: Sequence[str], storms: Sequence[str], plans: Sequence[str] = ()
    ) -> list[Path]:
        """The stage outputs the region report reads (every stage before the report, but the GraphML;
        ``plans``: the region's plan names)."""
        return [
            path
            for stage in STAGES
            if stage != "report"
            for path in self.stage_outputs(stage, guilds, storms, plans=plans)
            if path.suffix != ".graphml"
        ]


def architecture_table(guild: str = "{guild}", storm: str = "{storm}", plan: str = "{plan}") -> str:
    """The per-region file table of ``docs/architecture.md`` (Markdown), from :class:`RegionPaths`.

    Each row names a stage, a file relative to ``results/{region}`` and what it holds (the property's
    or method's docstring).
    """
    p = RegionPaths("results", "{region}")
    rows = ["| stage | file | content |", "|---|---|---|"]
    docs = {}
    for name in dir(RegionPaths):
        if name.startswith("_") or name in ("stage_outputs", "report_inputs", "qml", "report_figure"):
            continue
        attr = getattr(RegionPaths, name)
        doc = getattr(attr, "__doc__", None) if not isinstance(attr, property) else attr.fget.__doc__
        if doc:
            docs[name] = doc.strip().splitlines()[0]
    lookup = {}
    for name in docs:
        attr = getattr(p, name, None)
        try:
            arg = plan if name.startswith("plan_") else storm if name in ("runoff", "ponding") else guild
            val = attr(arg) if callable(attr) else attr
        except (TypeError, KeyError):
            continue
        if isinstance(val, Path):
            lookup[val.as_posix()] = docs[name]
    for stage in STAGES:
        for path in p.stage_outputs(stage, [guild], [storm], plans=[plan]):
            rel = path.relative_to(p.dir).as_posix()
            if stage == "report" and (path.suffix in (".png", ".qml")):
                continue
            rows.append(f"| {stage} | `{rel}` | {lookup.get(path.as_posix(), '')} |")
    rows.append("| report | `report/<figure>.png` | report figures (maps and plots) |")
    rows.append("| report | `<file>.qml` beside every GeoTIFF and GeoPackage | QGIS styles |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print(architecture_table())

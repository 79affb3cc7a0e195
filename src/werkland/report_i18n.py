"""Report texts in English and Dutch (``report.language: en | nl``), and the report's file layout.

Every visible string of the region report and the overview comes from :data:`STRINGS`; a missing
Dutch text falls back to English, so a new key never breaks a report. :data:`FIGURES` and
:func:`stage_files` describe the report's files and inputs; this module has no dependencies beyond
the standard library because ``workflow/rules/report.smk`` imports it when the workflow is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

LANGUAGES: tuple[str, ...] = ("en", "nl")

#: Figures of a region report: key -> (PNG file name, stage category in Snakemake's report). Kept in
#: this dependency-free module because ``workflow/rules/report.smk`` reads it at parse time.
FIGURES: dict[str, tuple[str, str]] = {
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



def stage_files(region: str, guilds: Sequence[str], storms: Sequence[str], *, root: str = "results") -> list[str]:
    """Every per-region file of the data contract (``docs/architecture.md``) the report reads.

    Parameters
    ----------
    region : str
        Region id.
    guilds : sequence of str
        Guild ids.
    storms : sequence of str
        Design-storm names (``climate/runoff_<storm>.tif``).
    root : str
        Results root.

    Returns
    -------
    list of str
        Paths ``{root}/{region}/...``, whether or not any rule produces them.
    """
    d = f"{root}/{region}"
    files = [f"{d}/region.gpkg", f"{d}/landcover.gpkg", f"{d}/landcover.tif"]
    for g in guilds:
        files += [
            f"{d}/habitat/{g}.tif",
            f"{d}/resistance/{g}.tif",
            f"{d}/patches/{g}.tif",
            f"{d}/patches/{g}.gpkg",
            f"{d}/graph/{g}_links.gpkg",
            f"{d}/graph/{g}_metrics.csv",
            f"{d}/graph/{g}_summary.json",
            f"{d}/corridors/{g}.tif",
            f"{d}/barriers/{g}.gpkg",
        ]
    files += [
        f"{d}/barriers/all_guilds.gpkg",
        f"{d}/species/occurrences.gpkg",
        f"{d}/species/counts.csv",
        f"{d}/species/citation.json",
        f"{d}/climate/cooling.tif",
        f"{d}/climate/summary.csv",
        f"{d}/interventions/candidates.gpkg",
        f"{d}/interventions/portfolio.csv",
    ]
    files += [f"{d}/climate/runoff_{s}.tif" for s in storms]
    return files


def report_files(region: str, *, root: str = "results") -> list[str]:
    """The files the report rule writes into ``{root}/{region}/report`` (QGIS styles not included)."""
    d = f"{root}/{region}/report"
    return [f"{d}/index.html", f"{d}/map.html", f"{d}/summary.json"] + [f"{d}/{n}" for n, _c in FIGURES.values()]


STRINGS: dict[str, dict[str, str]] = {
    "title": {"en": "werkland report: {region}", "nl": "werkland-rapport: {region}"},
    "subtitle": {
        "en": "Where greening business parks pays off for nature and climate adaptation",
        "nl": "Waar vergroening van bedrijventerreinen loont voor natuur en klimaatadaptatie",
    },
    "generated": {"en": "Generated {date} by werkland {version}", "nl": "Gemaakt op {date} door werkland {version}"},
    "contents": {"en": "Contents", "nl": "Inhoud"},
    "summary": {"en": "Summary per business park", "nl": "Samenvatting per bedrijventerrein"},
    "maps": {"en": "Maps", "nl": "Kaarten"},
    "plots": {"en": "Plots", "nl": "Grafieken"},
    "interactive": {"en": "Interactive map", "nl": "Interactieve kaart"},
    "interactive_text": {
        "en": "Parks, ranked barriers and selected interventions on the land-cover map; works offline.",
        "nl": "Bedrijventerreinen, gerangschikte barrières en gekozen maatregelen op de bodemgebruikskaart; werkt offline.",
    },
    "open_map": {"en": "Open the interactive map", "nl": "Open de interactieve kaart"},
    "methods": {"en": "Methods and parameters", "nl": "Methoden en parameters"},
    "formulas": {"en": "Formulas", "nl": "Formules"},
    "kernel": {"en": "Dispersal kernel per guild", "nl": "Dispersiekernel per gilde"},
    "config": {"en": "Configuration as run", "nl": "Configuratie van deze run"},
    "hashes": {"en": "Input files (SHA-256)", "nl": "Invoerbestanden (SHA-256)"},
    "versions": {"en": "Software versions", "nl": "Softwareversies"},
    "citations": {"en": "Data and citations", "nl": "Data en bronvermelding"},
    "park": {"en": "Park", "nl": "Terrein"},
    "area": {"en": "Area", "nl": "Oppervlakte"},
    "sealed_share": {"en": "Sealed share", "nl": "Verhard aandeel"},
    "habitat_area": {"en": "Habitat area in the park (suitability >= threshold)", "nl": "Leefgebied in het terrein (geschiktheid >= drempel)"},
    "eca": {"en": "Equivalent connected area (ECA, whole region)", "nl": "Equivalent verbonden oppervlak (ECA, hele regio)"},
    "dpc_park": {"en": "dPC of habitat patches touching the park", "nl": "dPC van leefgebiedvlekken die het terrein raken"},
    "guild": {"en": "Guild", "nl": "Gilde"},
    "habitat_block": {"en": "Habitat and connectivity per guild", "nl": "Leefgebied en verbondenheid per gilde"},
    "col_habitat": {"en": "habitat in park (ha)", "nl": "leefgebied in terrein (ha)"},
    "col_eca": {"en": "ECA, region (ha)", "nl": "ECA, regio (ha)"},
    "col_dpc": {"en": "dPC of patches touching the park (%)", "nl": "dPC van vlekken die het terrein raken (%)"},
    "interventions": {"en": "Interventions", "nl": "Maatregelen"},
    "species": {"en": "Species records (GBIF)", "nl": "Soortwaarnemingen (GBIF)"},
    "records": {"en": "records", "nl": "waarnemingen"},
    "observed": {"en": "observed species", "nl": "waargenomen soorten"},
    "chao1": {"en": "Chao1 (bias-corrected)", "nl": "Chao1 (bias-gecorrigeerd)"},
    "coverage": {"en": "sample coverage", "nl": "steekproefdekking"},
    "runoff_excess": {"en": "Runoff excess over the natural reference", "nl": "Afvoer boven de natuurlijke referentie"},
    "storm": {"en": "Design storm", "nl": "Maatgevende bui"},
    "storage_needed": {"en": "Storage still needed", "nl": "Nog benodigde berging"},
    "heat": {"en": "Heat mitigation", "nl": "Hittemitigatie"},
    "hm_mean": {"en": "mean heat mitigation index HM", "nl": "gemiddelde hittemitigatie-index HM"},
    "hm_hot": {"en": "area with HM below the threshold (hot)", "nl": "oppervlak met HM onder de drempel (heet)"},
    "cool_access": {"en": "buildings within reach of a cool spot", "nl": "gebouwen binnen bereik van een koele plek"},
    "measures": {"en": "Top 5 measures and what they buy", "nl": "Top 5 maatregelen en wat ze opleveren"},
    "measure": {"en": "Measure", "nl": "Maatregel"},
    "rank": {"en": "Rank", "nl": "Rang"},
    "size": {"en": "Size", "nl": "Omvang"},
    "cost": {"en": "Cost", "nl": "Kosten"},
    "d_eca": {"en": "ECA gain", "nl": "ECA-winst"},
    "d_habitat": {"en": "Habitat gain", "nl": "Winst leefgebied"},
    "d_hm": {"en": "HM gain", "nl": "HM-winst"},
    "d_retained": {"en": "Extra rain retained", "nl": "Extra vastgehouden regen"},
    "selected": {"en": "selected", "nl": "gekozen"},
    "not_selected": {"en": "not selected within the budget", "nl": "niet gekozen binnen het budget"},
    "source": {"en": "Source", "nl": "Bron"},
    "no_parks": {"en": "No parks: region.gpkg has no layer 'parks' or it is empty.", "nl": "Geen bedrijventerreinen: region.gpkg heeft geen (gevulde) laag 'parks'."},
    "missing_stage": {
        "en": "not computed in this run: {what} is missing",
        "nl": "niet berekend in deze run: {what} ontbreekt",
    },
    "no_species": {"en": "no species data: {why}", "nl": "geen soortgegevens: {why}"},
    "no_species_default": {
        "en": "GBIF unreachable and no cache (species stage wrote no counts)",
        "nl": "GBIF onbereikbaar en geen cache (de soortenstap schreef geen tellingen)",
    },
    "no_records_park": {"en": "no records in this park", "nl": "geen waarnemingen in dit terrein"},
    "no_candidates": {"en": "no candidates", "nl": "geen kandidaten"},
    "no_candidates_park": {"en": "no candidates in this park", "nl": "geen kandidaten in dit terrein"},
    "no_barriers": {"en": "no barrier segments", "nl": "geen barrièresegmenten"},
    "no_patches": {"en": "no habitat patches", "nl": "geen leefgebiedvlekken"},
    "no_links": {"en": "no links", "nl": "geen verbindingen"},
    "map_landcover": {"en": "Land cover", "nl": "Bodemgebruik"},
    "map_habitat": {"en": "Habitat suitability per guild", "nl": "Geschiktheid leefgebied per gilde"},
    "map_patches": {"en": "Habitat patches coloured by dPC, and links", "nl": "Leefgebiedvlekken gekleurd naar dPC, en verbindingen"},
    "map_corridors": {"en": "Least-cost corridors", "nl": "Kosten-afstandcorridors"},
    "map_barriers": {"en": "Ranked barriers (all guilds)", "nl": "Gerangschikte barrières (alle gilden)"},
    "map_species": {"en": "Species records", "nl": "Soortwaarnemingen"},
    "map_climate": {"en": "Cooling (HM) and runoff", "nl": "Verkoeling (HM) en afvoer"},
    "map_interventions": {"en": "Candidate and selected interventions", "nl": "Kandidaat- en gekozen maatregelen"},
    "plot_dpc": {"en": "dPC per patch with its fractions", "nl": "dPC per vlek met zijn fracties"},
    "plot_rarefaction": {"en": "Rarefaction and extrapolation of species richness", "nl": "Rarefactie en extrapolatie van soortenrijkdom"},
    "plot_pareto": {"en": "Cost vs gain, and the Pareto front", "nl": "Kosten tegen winst, en het Pareto-front"},
    "plot_budget": {"en": "Cumulative gain vs budget", "nl": "Cumulatieve winst tegen budget"},
    "why_empty": {"en": "Why this is empty", "nl": "Waarom dit leeg is"},
    "overview_title": {"en": "werkland: regional overview", "nl": "werkland: regionaal overzicht"},
    "region": {"en": "Region", "nl": "Regio"},
    "report": {"en": "Report", "nl": "Rapport"},
    "attribution": {"en": "(c) OpenStreetMap contributors, ODbL", "nl": "(c) OpenStreetMap-bijdragers, ODbL"},
    "language_note": {
        "en": "Language: English (set report.language: nl for Dutch).",
        "nl": "Taal: Nederlands (report.language: en voor Engels).",
    },
    "doi": {"en": "DOI", "nl": "DOI"},
    "datasets": {"en": "GBIF datasets", "nl": "GBIF-datasets"},
    "licence": {"en": "Licence", "nl": "Licentie"},
    "file": {"en": "File", "nl": "Bestand"},
    "bytes": {"en": "Bytes", "nl": "Bytes"},
    "package": {"en": "Package", "nl": "Pakket"},
    "version": {"en": "Version", "nl": "Versie"},
    "parameter": {"en": "Parameter", "nl": "Parameter"},
    "value": {"en": "Value", "nl": "Waarde"},
    "status": {"en": "Status", "nl": "Status"},
    "sections": {"en": "Sections and their inputs", "nl": "Onderdelen en hun invoer"},
    "ok": {"en": "ok", "nl": "ok"},
    "empty": {"en": "empty", "nl": "leeg"},
}


def tr(key: str, language: str = "en", **fmt: object) -> str:
    """The text of ``key`` in ``language`` (English fallback), formatted with ``fmt``."""
    entry: Mapping[str, str] = STRINGS.get(key, {"en": key})
    text = entry.get(language) or entry.get("en") or key
    return text.format(**fmt) if fmt else text

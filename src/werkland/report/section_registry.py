"""The optional report sections in page order (:data:`SECTION_BUILDERS`) and :func:`build_sections`.

Each later-stage section module (circuits, species evidence, water, plans) defines a builder
``build(data: RegionData) -> ReportSection | None`` (see :mod:`werkland.report.sections`) and is
listed here once.
"""

from __future__ import annotations

from werkland.report import (
    before_after_section,
    currents_section,
    plans_section,
    species_evidence_section,
    species_names_section,
    water_section,
)
from werkland.report.load import RegionData
from werkland.report.sections import ReportSection, SectionBuilder

__all__ = ["SECTION_BUILDERS", "build_sections"]

#: Section builders in page order (anchor key -> builder).
SECTION_BUILDERS: dict[str, SectionBuilder] = {
    "currents": currents_section.build,
    "species_names": species_names_section.build,
    "species_evidence": species_evidence_section.build,
    "water": water_section.build,
    "plans": plans_section.build,
    "before_after": before_after_section.build,
}


def build_sections(data: RegionData) -> list[ReportSection]:
    """Every applicable optional section of a region's report, in page order."""
    sections = []
    for build in SECTION_BUILDERS.values():
        section = build(data)
        if section is not None:
            sections.append(section)
    return sections

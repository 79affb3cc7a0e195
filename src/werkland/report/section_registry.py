"""The optional report sections in page order (:data:`SECTION_BUILDERS`) and :func:`build_sections`.

Each later-stage section module (circuits, species evidence, water, plans) defines a builder
``build(data: RegionData) -> ReportSection | None`` (see :mod:`werkland.report.sections`) and is
listed here once.
"""

from __future__ import annotations

from werkland.report.load import RegionData
from werkland.report.sections import ReportSection, SectionBuilder

__all__ = ["SECTION_BUILDERS", "build_sections"]

#: Section builders in page order (anchor key -> builder).
SECTION_BUILDERS: dict[str, SectionBuilder] = {}


def build_sections(data: RegionData) -> list[ReportSection]:
    """Every applicable optional section of a region's report, in page order."""
    sections = []
    for build in SECTION_BUILDERS.values():
        section = build(data)
        if section is not None:
            sections.append(section)
    return sections

"""Optional report sections contributed by the later stages (circuits, species evidence, water, plans).

A section builder takes the loaded :class:`~werkland.report.load.RegionData` and returns a
:class:`ReportSection`, or ``None`` when the section does not apply to this run (for example the
circuit stage is switched off). :mod:`werkland.report.section_registry` lists the builders in page
order; the page renders each section under its own heading and anchor, after the maps and plots.

A builder that finds its inputs missing returns a section with ``reason`` set, so the page says why
the section is empty instead of leaving it out silently. Builders write their own text in both
report languages (``data.language``); figures are embedded PNGs.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from werkland.report.load import RegionData

__all__ = ["ReportSection", "SectionBuilder", "SectionFigure"]


@dataclass(frozen=True)
class SectionFigure:
    """One figure of a section: a PNG with its title and caption (already in the report language)."""

    title: str
    png: bytes
    caption: str = ""

    @property
    def b64(self) -> str:
        """The PNG as base64 text for a ``data:`` URI."""
        return base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class ReportSection:
    """A titled block of the report.

    Attributes
    ----------
    key : str
        HTML anchor (``<section id=key>``); unique per page.
    title : str
        Heading, in the report language.
    html : str
        Body as an HTML fragment. The builder escapes every value it inserts
        (:func:`markupsafe.escape`); the page inserts the fragment as is.
    figures : tuple of SectionFigure
        Figures shown after the body.
    reason : str
        Why the section is empty (missing input, stage switched off); empty when it has content.
    """

    key: str
    title: str
    html: str = ""
    figures: tuple[SectionFigure, ...] = field(default_factory=tuple)
    reason: str = ""


SectionBuilder = Callable[[RegionData], "ReportSection | None"]

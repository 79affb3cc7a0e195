"""Small HTML helpers shared by the optional report sections (:mod:`werkland.report.sections`).

* :func:`text` looks a key up in a section's bilingual text table (``{key: {"en": ..., "nl": ...}}``),
  English when the language is missing, and formats it;
* :func:`table_html` writes a ``<table>`` with escaped column heads and ready-made body rows;
* :func:`fmt_value` and :func:`raw_value` format a number for the page and for its ``data-value``
  attribute, :func:`data_cell` writes a numeric ``<td>`` carrying both (``data-key``/``data-value``
  let tests and readers find the unrounded value).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from werkland.report.cards import as_float

__all__ = ["TextTable", "data_cell", "fmt_value", "raw_value", "table_html", "text"]

TextTable = Mapping[str, Mapping[str, str]]
"""A section's text: key -> language code -> text (``str.format`` fields allowed)."""


def text(table: TextTable, key: str, lang: str, **kw: Any) -> str:
    """The text of ``key`` in ``lang`` (English when ``lang`` is missing), formatted with ``kw``.

    Parameters
    ----------
    table : mapping
        The section's text table; every entry has an ``"en"`` text.
    key : str
        Entry of ``table``.
    lang : str
        Report language (``"en"`` or ``"nl"``).
    **kw
        Values of the text's ``{fields}``; without any the text is returned unformatted (literal
        braces stay as they are).

    Returns
    -------
    str
    """
    entry = table[key]
    s = entry.get(lang, entry["en"])
    return s.format(**kw) if kw else s


def table_html(head: Iterable[str | Markup], rows: Iterable[str], css_class: str = "") -> str:
    """A table: ``head`` as escaped ``<th>`` cells (a :class:`~markupsafe.Markup` head is inserted as
    is), ``rows`` (complete ``<tr>`` elements, already escaped) as the body."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    opening = f'<table class="{escape(css_class)}">' if css_class else "<table>"
    return f"{opening}<thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def fmt_value(v: Any, unit: str = "", digits: int = 2, *, percent: bool = False) -> str:
    """A number for the report: thousands separators, fixed digits, unit; '-' for missing."""
    x = as_float(v)
    if not math.isfinite(x):
        return "-"
    if percent:
        return f"{100 * x:,.{max(0, digits - 1)}f} %"
    s = f"{x:,.{digits}f}"
    return f"{s} {unit}".strip()


def raw_value(v: Any) -> str:
    """A number unrounded for a ``data-value`` attribute (``repr`` of the float; ``nan`` when missing)."""
    x = as_float(v)
    return "nan" if not math.isfinite(x) else repr(x)


def data_cell(key: str, v: Any, digits: int) -> str:
    """A numeric ``<td>``: ``v`` formatted with ``digits``, ``data-key`` and the unrounded ``data-value``."""
    return (f'<td class="num" data-key="{escape(key)}" data-value="{escape(raw_value(v))}">'
            f"{escape(fmt_value(v, digits=digits))}</td>")

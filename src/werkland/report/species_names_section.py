"""Report section of the species names: how the guild taxa and a monitoring table's names matched the
GBIF Backbone, and which names were not counted.

Reads ``species/names.csv`` (:func:`werkland.species.run_species`): one row per guild taxon
(``source = guild``) and per distinct name of a monitoring table (``source = table``) with the match
type (``EXACT``, ``FUZZY``, ``HIGHERRANK``, ``NONE``, or ``UNRESOLVED`` when GBIF could not be asked),
the confidence, the matched backbone name and whether the name was counted. Names that matched only
fuzzily, at a higher rank or not at all are listed with their number of records: their records are
not in any count.

:func:`build` returns ``None`` when the file is missing or empty (species stage off, or no names
matched). Text in English and Dutch; every inserted value is escaped.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from markupsafe import escape

from werkland.report.load import RegionData
from werkland.report.section_html import table_html, text
from werkland.report.sections import ReportSection

log = logging.getLogger(__name__)

__all__ = ["TEXT", "build"]

#: Names listed at most in the table of names not counted (the rest are summed up).
MAX_ROWS = 100

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Species names and the GBIF Backbone", "nl": "Soortnamen en de GBIF Backbone"},
    "intro": {
        "en": ("<p>Scientific names are matched to the GBIF Backbone Taxonomy (pygbif, answers cached in "
               "<code>resources/gbif/taxa.json</code>). Only exact matches are used: a name that matches "
               "only fuzzily (a spelling variant), at a higher rank (e.g. only the genus) or not at all is "
               "<strong>not counted</strong> and listed below, with its records.</p>"),
        "nl": ("<p>Wetenschappelijke namen zijn gekoppeld aan de GBIF Backbone Taxonomy (pygbif, antwoorden "
               "bewaard in <code>resources/gbif/taxa.json</code>). Alleen exacte koppelingen tellen mee: een "
               "naam die alleen bij benadering (een spellingsvariant), op een hogere rang (bijv. alleen het "
               "geslacht) of helemaal niet koppelt, wordt <strong>niet meegeteld</strong> en staat hieronder, "
               "met het aantal waarnemingen.</p>"),
    },
    "summary": {
        "en": ("<p>{guild_ok} of {guild_n} guild taxa matched exactly; {table_n} distinct names in the "
               "monitoring table, {table_ok} counted ({records_ok} records), {table_bad} not counted "
               "({records_bad} records).</p>"),
        "nl": ("<p>{guild_ok} van {guild_n} taxa van de soortgroepen exact gekoppeld; {table_n} verschillende "
               "namen in de monitoringtabel, {table_ok} meegeteld ({records_ok} waarnemingen), {table_bad} "
               "niet meegeteld ({records_bad} waarnemingen).</p>"),
    },
    "summary_guild": {
        "en": "<p>{guild_ok} of {guild_n} guild taxa matched exactly.</p>",
        "nl": "<p>{guild_ok} van {guild_n} taxa van de soortgroepen exact gekoppeld.</p>",
    },
    "unresolved": {
        "en": ("<p>GBIF could not be asked for {n} guild taxa: the taxa of <code>config/guilds.yaml</code> "
               "were used as configured.</p>"),
        "nl": ("<p>GBIF kon niet worden bevraagd voor {n} taxa van de soortgroepen: de taxa uit "
               "<code>config/guilds.yaml</code> zijn gebruikt zoals opgegeven.</p>"),
    },
    "none_flagged": {"en": "<p>Every name was counted.</p>", "nl": "<p>Alle namen zijn meegeteld.</p>"},
    "cols": {"en": "name|source|records|match type|confidence|backbone name|why not counted",
             "nl": "naam|bron|waarnemingen|koppeling|zekerheid|naam in de Backbone|waarom niet meegeteld"},
    "more": {"en": "<p>... and {n} more names ({records} records): see species/names.csv.</p>",
             "nl": "<p>... en nog {n} namen ({records} waarnemingen): zie species/names.csv.</p>"},
    "guild": {"en": "guild {g}", "nl": "soortgroep {g}"},
    "table": {"en": "monitoring table", "nl": "monitoringtabel"},
}


def _t(key: str, lang: str) -> str:
    return text(TEXT, key, lang)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(escape(str(v)))


def _bool(s: pd.Series) -> pd.Series:
    return s.astype(str).str.lower().isin(["true", "1"])


def build(data: RegionData) -> ReportSection | None:
    """The names section, or ``None`` without ``species/names.csv`` rows."""
    path = data.paths.species_names
    if not path.exists():
        return None
    try:
        df = pd.read_csv(path, dtype={"name": str, "source": str, "guild": str, "matchType": str, "reason": str})
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    if not len(df):
        return None
    lang = data.language
    counted = _bool(df["counted"])
    guild = df["source"] == "guild"
    table = df["source"] == "table"
    records = pd.to_numeric(df["records"], errors="coerce").fillna(0).astype(int)
    parts = [_t("intro", lang)]
    fmt = {"guild_ok": int((guild & counted & (df["matchType"] == "EXACT")).sum()), "guild_n": int(guild.sum()),
           "table_n": int(table.sum()), "table_ok": int((table & counted).sum()),
           "records_ok": int(records[table & counted].sum()), "table_bad": int((table & ~counted).sum()),
           "records_bad": int(records[table & ~counted].sum())}
    parts.append(_t("summary" if table.any() else "summary_guild", lang).format(**fmt))
    unresolved = int((df["matchType"] == "UNRESOLVED").sum())
    if unresolved:
        parts.append(_t("unresolved", lang).format(n=unresolved))
    bad = df[~counted].assign(n_records=records[~counted]).sort_values(["n_records", "name"], ascending=[False, True],
                                                                        kind="stable")
    if not len(bad):
        parts.append(_t("none_flagged", lang))
    else:
        rows = []
        for r in bad.head(MAX_ROWS).itertuples(index=False):
            src = _t("guild", lang).format(g=r.guild) if r.source == "guild" else _t("table", lang)
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in (
                f"<em>{_cell(r.name)}</em>", escape(src), _cell(r.n_records if r.source == "table" else None),
                _cell(r.matchType), _cell(r.confidence), _cell(r.matched_name), _cell(r.reason))) + "</tr>")
        parts.append(table_html(_t("cols", lang).split("|"), rows, "data"))
        if len(bad) > MAX_ROWS:
            rest = bad.iloc[MAX_ROWS:]
            parts.append(_t("more", lang).format(n=len(rest), records=int(rest["n_records"].sum())))
    return ReportSection(key="species_names", title=_t("title", lang), html="".join(parts))

"""Scientific names matched to the GBIF Backbone Taxonomy, cached in ``resources/gbif/taxa.json``.

:func:`resolve_names` matches each *distinct* name once with :func:`pygbif.species.name_backbone`
(``GET /v2/species/match`` with ``checklistKey`` unset, i.e. the GBIF Backbone whose keys GBIF
occurrences and ``config/guilds.yaml`` use); a mirror (``species.api_base_url`` other than GBIF's) is
asked through the werkland client instead (``GET /v1/species/match``, :func:`client_matcher`), since
pygbif cannot be pointed at another host. Both answer shapes (v1 flat, v2 ``usage`` /
``classification`` / ``diagnostics``) are parsed by :func:`parse_match`.

Only an ``EXACT`` match is used. ``FUZZY``, ``HIGHERRANK`` and ``NONE`` answers are kept in the cache
and listed (``species/names.csv``, the species log and the report) but never counted: the records
carrying such a name are removed by the cleaning rule ``name_not_matched_exactly``.

Cache (``taxa.json``): ``{"checklist": ..., "names": {<name>: {matchType, confidence, usageKey, rank,
..., "source", "retrieved"}}}``, keys sorted, written atomically (merged with what another job wrote
in the meantime), so reruns and other regions ask GBIF nothing new.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from werkland._errors import WerklandInputError
from werkland.raster.io import atomic_path
from werkland.species.gbif.client import DEFAULT_BASE_URL, GbifClient, GbifError, GbifOutageError

log = logging.getLogger(__name__)

#: Checklist the keys refer to (the GBIF Backbone Taxonomy dataset).
BACKBONE = "GBIF Backbone Taxonomy (d7dddbf4-2cf0-4f39-9b2a-bb099caae36c)"
RANK_FIELDS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")
#: Fields of one cached match (besides ``source`` and ``retrieved``).
MATCH_FIELDS = ("matchType", "confidence", "usageKey", "scientificName", "canonicalName", "rank", "status",
                "synonym", "acceptedUsageKey", "note", *RANK_FIELDS, *(f"{r}Key" for r in RANK_FIELDS))
#: Match types that are used (everything else is listed, not counted).
ACCEPTED_MATCH_TYPES = frozenset({"EXACT"})
PYGBIF_SOURCE = "pygbif.species.name_backbone (GET /v2/species/match, GBIF Backbone)"
CLIENT_SOURCE = "GET /v1/species/match"

Matcher = Callable[[str], Mapping[str, Any]]


def normalise_name(name: Any) -> str:
    """Whitespace collapsed, stripped; ``""`` for missing values."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return ""
    return " ".join(str(name).split())


def _int(v: Any) -> int | None:
    try:
        return None if v in (None, "") else int(v)
    except (TypeError, ValueError):
        return None


def parse_match(body: Mapping[str, Any]) -> dict[str, Any]:
    """One species-match answer (v1 flat or v2 nested) as the flat fields of :data:`MATCH_FIELDS`.

    Parameters
    ----------
    body : mapping
        JSON of ``GET /v1/species/match`` (``usageKey``, ``matchType``, ``confidence``, ``kingdom``,
        ``kingdomKey``, ...) or ``GET /v2/species/match`` (``usage``, ``acceptedUsage``,
        ``classification``, ``diagnostics``).

    Returns
    -------
    dict
        ``matchType`` (EXACT, FUZZY, HIGHERRANK, NONE, ...), ``confidence``, ``usageKey``, the
        classification names and keys, ``note``.
    """
    out: dict[str, Any] = dict.fromkeys(MATCH_FIELDS)
    if "diagnostics" in body or "usage" in body:  # v2
        diag = body.get("diagnostics") or {}
        usage = body.get("usage") or {}
        accepted = body.get("acceptedUsage") or {}
        out.update(matchType=str(diag.get("matchType") or "NONE").upper(), confidence=_int(diag.get("confidence")),
                   usageKey=_int(usage.get("key")), scientificName=usage.get("name"),
                   canonicalName=usage.get("canonicalName"), rank=(usage.get("rank") or None),
                   status=usage.get("status"), synonym=bool(body.get("synonym", False)),
                   acceptedUsageKey=_int(accepted.get("key")) if accepted else None, note=diag.get("note"))
        for c in body.get("classification") or []:
            r = str(c.get("rank") or "").lower()
            if r in RANK_FIELDS:
                out[r] = c.get("name")
                out[f"{r}Key"] = _int(c.get("key"))
    else:  # v1
        out.update(matchType=str(body.get("matchType") or "NONE").upper(), confidence=_int(body.get("confidence")),
                   usageKey=_int(body.get("usageKey")), scientificName=body.get("scientificName"),
                   canonicalName=body.get("canonicalName"), rank=body.get("rank"), status=body.get("status"),
                   synonym=bool(body.get("synonym", False)), acceptedUsageKey=_int(body.get("acceptedUsageKey")),
                   note=body.get("note"))
        for r in RANK_FIELDS:
            out[r] = body.get(r)
            out[f"{r}Key"] = _int(body.get(f"{r}Key"))
    if out["rank"]:
        out["rank"] = str(out["rank"]).upper()
    return out


def pygbif_matcher(*, timeout: tuple[float, float] = (10.0, 60.0), max_retries: int = 3, backoff_s: float = 1.0,
                   sleep: Callable[[float], None] = time.sleep) -> Matcher:
    """A matcher calling :func:`pygbif.species.name_backbone` against the GBIF Backbone.

    pygbif calls the module-level ``requests.get`` (no adapter can be mounted), so connection errors,
    timeouts and HTTP 429/5xx are retried here, ``max_retries`` times with doubling back-off.
    """
    from pygbif import species as pygbif_species

    def match(name: str) -> Mapping[str, Any]:
        for attempt in range(max_retries + 1):
            try:
                return pygbif_species.name_backbone(scientificName=name, checklistKey=None, strict=False,
                                                    timeout=timeout)
            except requests.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else 0
                if code not in (429, 500, 502, 503, 504) or attempt == max_retries:
                    raise
            except (requests.ConnectionError, requests.Timeout):
                if attempt == max_retries:
                    raise
            sleep(min(backoff_s * 2**attempt, 60.0))
        raise AssertionError("unreachable")  # pragma: no cover

    return match


def client_matcher(client: GbifClient) -> Matcher:
    """A matcher asking ``GET species/match`` (v1) of the werkland client (mirrors, its retries)."""

    def match(name: str) -> Mapping[str, Any]:
        return client.request("GET", "species/match", params={"name": name, "strict": "false", "verbose": "false"})

    return match


def default_matcher(base_url: str = DEFAULT_BASE_URL, *, timeout: tuple[float, float] = (10.0, 60.0),
                    max_retries: int = 3, backoff_s: float = 1.0) -> Matcher:
    """pygbif for GBIF's own API, the werkland client for any other ``base_url``."""
    if base_url.rstrip("/") == DEFAULT_BASE_URL.rstrip("/"):
        return pygbif_matcher(timeout=timeout, max_retries=max_retries, backoff_s=backoff_s)
    return client_matcher(GbifClient(base_url, timeout=timeout, max_retries=max_retries, backoff_s=backoff_s))


def _read_cache(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = data["names"]
        if not isinstance(names, dict):
            raise TypeError("names is not an object")
        return names
    except (ValueError, KeyError, TypeError) as exc:
        raise WerklandInputError(f"name cache is unreadable ({str(exc)[:200]})", path=str(path),
                                 fix="delete the file: names are matched with GBIF again") from exc


def write_name_cache(path: str | os.PathLike[str], entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Merge ``entries`` into the cache file (re-read first: another job may have written) atomically."""
    p = Path(path)
    merged = {**_read_cache(p), **{k: dict(v) for k, v in entries.items()}}
    body = {"checklist": BACKBONE, "names": {k: merged[k] for k in sorted(merged)}}
    with atomic_path(p) as tmp:
        tmp.write_text(json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def resolve_names(
    names: Iterable[Any],
    cache_path: str | os.PathLike[str],
    *,
    matcher: Matcher | None = None,
    refresh: bool = False,
    source: str = PYGBIF_SOURCE,
) -> pd.DataFrame:
    """Match distinct scientific names to the GBIF Backbone, asking GBIF only for uncached names.

    Parameters
    ----------
    names : iterable
        Names (repeats and missing values allowed; each distinct normalised name is matched once).
    cache_path : path-like
        ``resources/gbif/taxa.json``.
    matcher : callable, optional
        ``name -> answer JSON`` (default :func:`pygbif_matcher`).
    refresh : bool
        Ask GBIF again for every name (the cache is rewritten with the new answers).
    source : str
        Provenance written with new answers.

    Returns
    -------
    pandas.DataFrame
        Indexed by the normalised name (sorted): :data:`MATCH_FIELDS`, ``accepted`` (bool: an
        ``EXACT`` match), ``source``, ``retrieved`` (ISO date).

    Raises
    ------
    GbifOutageError
        GBIF could not be reached for an uncached name (what was matched so far is cached).
    """
    p = Path(cache_path)
    wanted = sorted({n for n in (normalise_name(v) for v in pd.unique(pd.Series(list(names), dtype=object))) if n})
    cache = {} if refresh else _read_cache(p)
    missing = [n for n in wanted if n not in cache]
    new: dict[str, dict[str, Any]] = {}
    if missing:
        ask = matcher or pygbif_matcher()
        today = datetime.now(UTC).date().isoformat()
        log.info("matching %d new name(s) with the GBIF backbone (%d cached)", len(missing), len(wanted) - len(missing))
        try:
            for i, n in enumerate(missing, 1):
                try:
                    body = ask(n)
                except requests.HTTPError as exc:
                    code = exc.response.status_code if exc.response is not None else 0
                    if code in (429, 500, 502, 503, 504):
                        raise _outage(n, exc, p) from None
                    body = {"matchType": "NONE", "note": f"HTTP {code} from GBIF"}
                except (requests.RequestException, GbifError) as exc:
                    raise _outage(n, exc, p) from None
                except WerklandInputError as exc:  # 4xx through the werkland client
                    body = {"matchType": "NONE", "note": str(exc)[:200]}
                new[n] = {**parse_match(body), "source": source, "retrieved": today}
                if i % 200 == 0:
                    log.info("matched %d/%d names", i, len(missing))
        finally:
            if new:
                write_name_cache(p, new)
    rows = {n: (new.get(n) or cache[n]) for n in wanted}
    df = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=[*MATCH_FIELDS, "source", "retrieved"])
    df.index.name = "name"
    df["accepted"] = df["matchType"].isin(list(ACCEPTED_MATCH_TYPES)).to_numpy(dtype=bool)
    return df


def _outage(name: str, exc: BaseException, cache: Path) -> GbifOutageError:
    return GbifOutageError(
        f"GBIF name matching is unreachable while matching {name!r} ({type(exc).__name__}: {str(exc)[:200]})",
        path=str(cache),
        fix="rerun when GBIF answers (names matched so far are cached), copy a taxa.json with these names into "
            "resources/gbif/, or set species_source: auto",
    )


def flag_matches(matches: pd.DataFrame, expected_rank: Mapping[str, str] | None = None) -> pd.Series:
    """Why each match is not used (``""`` when it is): ``fuzzy``, ``higherrank``, ``none`` or a rank clash.

    Parameters
    ----------
    matches : pandas.DataFrame
        From :func:`resolve_names`.
    expected_rank : mapping, optional
        Name -> expected rank (guild taxa: the rank given in ``guilds.yaml``).
    """
    reason = pd.Series("", index=matches.index, dtype=object)
    mt = matches["matchType"].fillna("NONE").astype(str)
    reason[mt != "EXACT"] = "match type " + mt[mt != "EXACT"]
    if expected_rank:
        exp = pd.Series(expected_rank, dtype=object).reindex(matches.index).fillna("").str.upper()
        got = matches["rank"].fillna("").astype(str).str.upper()
        clash = (exp != "") & (got != exp) & (reason == "")
        reason[clash] = "matched rank " + got[clash] + ", expected " + exp[clash]
    return reason

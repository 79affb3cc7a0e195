"""GBIF acquisition: query geometry, query cache, search and download, and :func:`fetch_occurrences`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient
from shapely.ops import transform

from werkland._errors import WerklandInputError
from werkland.raster.io import atomic_path, write_json
from werkland.species.gbif.client import (
    DEFAULT_BASE_URL,
    MAX_MEMBER_BYTES,
    OFFSET_LIMIT,
    PAGE_LIMIT,
    Credentials,
    FetchResult,
    GbifClient,
    GbifError,
    GbifOutageError,
    GbifUnavailableError,
    _check_page,
    credentials_from_env,
    query_hash,
)
from werkland.species.gbif.files import read_occurrence_file, records_to_frame

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# query geometry


@dataclasses.dataclass(frozen=True)
class QueryGeometry:
    """The WKT sent to GBIF and how it relates to the region.

    Attributes
    ----------
    wkt : str
        POLYGON/MULTIPOLYGON in WGS84 lon/lat, exterior rings counter-clockwise.
    is_bbox : bool
        True when the polygon was too complex and its bounding box was sent (records are clipped
        locally in any case).
    n_points : int
        Number of coordinates in the WKT.
    """

    wkt: str
    is_bbox: bool
    n_points: int


def region_query_geometry(
    geom: Any, crs: Any, *, simplify_m: float = 10.0, max_chars: int = 1500, decimals: int = 6
) -> QueryGeometry:
    """Turn a region polygon into a short, valid, counter-clockwise WGS84 WKT for GBIF.

    Parameters
    ----------
    geom : shapely geometry
        Region (multi)polygon in ``crs``.
    crs : pyproj.CRS or str
        CRS of ``geom`` (metric).
    simplify_m : float
        Simplification tolerance in metres; the simplified polygon is buffered out by the same
        distance so no part of the region is lost.
    max_chars : int
        Longer WKT is replaced by the bounding box (records are always clipped locally).
    decimals : int
        Decimal places of the coordinates (6 = 0.1 m).

    Returns
    -------
    QueryGeometry
    """
    if geom is None or geom.is_empty:
        raise WerklandInputError("region geometry is empty", path="region.gpkg", fix="check the region layer")
    g = shapely.make_valid(geom)
    if simplify_m > 0:
        g = g.simplify(simplify_m, preserve_topology=True).buffer(simplify_m, join_style="mitre")
    g = shapely.make_valid(g)
    polys = [p for p in getattr(g, "geoms", [g]) if isinstance(p, Polygon) and not p.is_empty]
    if not polys:
        raise WerklandInputError("region geometry has no polygon area", path="region.gpkg", fix="check the region layer")
    tr = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    polys = [orient(transform(tr.transform, p), sign=1.0) for p in polys]
    ll = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    wkt = _compact_wkt(shapely.to_wkt(ll, rounding_precision=decimals, trim=True))
    if len(wkt) <= max_chars:
        ll_r = shapely.from_wkt(wkt)
        if ll_r.is_valid:
            return QueryGeometry(wkt, False, int(shapely.get_num_coordinates(ll_r)))
    b = ll.bounds
    f = 10**decimals
    bb = orient(box(np.floor(b[0] * f) / f, np.floor(b[1] * f) / f, np.ceil(b[2] * f) / f, np.ceil(b[3] * f) / f), sign=1.0)
    wkt = _compact_wkt(shapely.to_wkt(bb, rounding_precision=decimals, trim=True))
    log.info("region polygon too complex for a GET query (%d chars > %d): sending its bounding box, clipping locally",
             len(shapely.to_wkt(ll, rounding_precision=decimals)), max_chars)
    return QueryGeometry(wkt, True, 5)


def _compact_wkt(wkt: str) -> str:
    """``POLYGON ((1 2, 3 4))`` -> ``POLYGON((1 2,3 4))`` (shorter GET URLs, GBIF's own style)."""
    return re.sub(r"\s*,\s*", ",", re.sub(r"\s*\(\s*", "(", re.sub(r"\s*\)", ")", wkt)))


# --------------------------------------------------------------------------------------------
# cache


class QueryCache:
    """Directory cache of raw GBIF pages keyed by the query hash (see module docstring)."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.root = Path(cache_dir)

    def search_dir(self, qhash: str) -> Path:
        return self.root / "search" / qhash

    def download_dir(self, qhash: str) -> Path:
        return self.root / "download" / qhash

    def is_complete(self, qhash: str) -> bool:
        self._recover(qhash)
        return (self.search_dir(qhash) / "complete.json").exists()

    def write_page(self, qhash: str, offset: int, raw: str) -> None:
        d = self.search_dir(qhash)
        with atomic_path(d / f"page_{offset:06d}.json") as tmp:
            tmp.write_text(raw, encoding="utf-8")

    def pages(self, qhash: str) -> list[tuple[int, dict[str, Any]]]:
        """Valid stored pages in offset order, stopping at the first gap or unreadable page."""
        d = self.search_dir(qhash)
        out: list[tuple[int, dict[str, Any]]] = []
        expect = 0
        for f in sorted(d.glob("page_*.json")):
            off = int(f.stem.split("_")[1])
            if off != expect:
                break
            try:
                body = json.loads(f.read_text(encoding="utf-8"))
                _check_page(body, off)
            except (ValueError, GbifError):
                log.warning("cache page %s unreadable; refetching from offset %d", f, off)
                break
            out.append((off, body))
            expect = off + len(body["results"])
            if not body["results"]:
                break
        return out

    def clear(self, qhash: str) -> None:
        for d in (self.search_dir(qhash), self.download_dir(qhash)):
            if d.exists():
                shutil.rmtree(d)

    def staging(self) -> QueryCache:
        """A private cache beside this one where a refresh is fetched (``.staging/<pid>``).

        The complete old copy stays in place until :meth:`adopt` swaps the new one in, so a failed
        refresh loses nothing.
        """
        return QueryCache(self.root / ".staging" / f"{os.getpid()}-{time.monotonic_ns()}")

    def adopt(self, staged: QueryCache, kind: str, qhash: str) -> None:
        """Swap the complete query ``qhash`` of ``staged`` into this cache.

        The old directory is renamed aside (``<hash>.old``), the new one renamed in, then the old one
        removed: both renames are atomic on one file system, and a crash between them leaves the
        old copy recoverable (:meth:`_recover`).
        """
        src = (staged.search_dir if kind == "search" else staged.download_dir)(qhash)
        dst = (self.search_dir if kind == "search" else self.download_dir)(qhash)
        old = dst.with_name(dst.name + ".old")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if old.exists():
            shutil.rmtree(old)
        if dst.exists():
            os.replace(dst, old)
        os.replace(src, dst)
        if old.exists():
            shutil.rmtree(old)
        shutil.rmtree(staged.root, ignore_errors=True)

    def discard(self) -> None:
        """Remove a staging cache (after a failed refresh)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def _recover(self, qhash: str) -> None:
        """Restore ``<hash>.old`` left by an interrupted :meth:`adopt`."""
        for d in (self.search_dir(qhash), self.download_dir(qhash)):
            old = d.with_name(d.name + ".old")
            if old.exists() and not d.exists():
                os.replace(old, d)


# --------------------------------------------------------------------------------------------
# search with paging and cache


def search_query(geometry_wkt: str | None, filters: Mapping[str, Any]) -> dict[str, Any]:
    """The exact occurrence-search query (endpoint + parameters) for a geometry and filters.

    ``filters`` keys: ``year_min``, ``year_max`` (int), ``basis_of_record`` (list),
    ``taxon_keys`` (list), ``extra`` (dict of raw GBIF parameters).
    """
    params: dict[str, Any] = {
        "occurrenceStatus": "PRESENT",
        "hasCoordinate": "true",
        "hasGeospatialIssue": "false",
    }
    if geometry_wkt:
        params["geometry"] = geometry_wkt
    y0, y1 = filters.get("year_min"), filters.get("year_max")
    if y0 is not None or y1 is not None:
        params["year"] = f"{int(y0) if y0 is not None else '*'},{int(y1) if y1 is not None else '*'}"
    if filters.get("basis_of_record"):
        params["basisOfRecord"] = sorted(filters["basis_of_record"])
    if filters.get("taxon_keys"):
        params["taxonKey"] = sorted(int(k) for k in filters["taxon_keys"])
    params.update(filters.get("extra") or {})
    return {"endpoint": "occurrence/search", "params": params}


def search_all(
    client: GbifClient,
    query: Mapping[str, Any],
    cache: QueryCache,
    *,
    max_records: int = OFFSET_LIMIT,
    refresh: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fetch all pages of an occurrence search into the cache and return the records.

    Parameters
    ----------
    client : GbifClient
    query : dict
        From :func:`search_query`.
    cache : QueryCache
    max_records : int
        Refuse queries with more matching records than this (at most 100,000, GBIF's offset limit).
    refresh : bool
        Fetch the query again into a staging cache; the complete cached copy is replaced only when
        the new one is complete (a failed refresh keeps the old copy).

    Returns
    -------
    records : list of dict
    info : dict
        ``count``, ``pages``, ``access_date``, ``from_cache`` (bool).

    Raises
    ------
    WerklandInputError
        The query matches more than ``max_records`` records (use ``source: download``).
    """
    qh = query_hash(query)
    if refresh:
        staged = cache.staging()
        try:
            search_all(client, query, staged, max_records=max_records, refresh=False)
        except BaseException:
            staged.discard()
            raise
        cache.adopt(staged, "search", qh)
        return load_cached_search(cache, qh, from_cache=False)
    d = cache.search_dir(qh)
    if cache.is_complete(qh):
        return load_cached_search(cache, qh)
    max_records = min(int(max_records), OFFSET_LIMIT)
    params = dict(query["params"])
    pages = cache.pages(qh) if d.exists() else []
    if pages:
        log.info("resuming cached GBIF query %s: %d page(s) present", qh[:12], len(pages))
    write_json({"query": query, "base_url": client.base_url, "created": _now()}, d / "query.json")
    restarted = False
    t0 = time.monotonic()
    while True:
        offset = pages[-1][0] + len(pages[-1][1]["results"]) if pages else 0
        count = pages[0][1]["count"] if pages else None
        last = pages[-1][1] if pages else None
        if last is not None and (last.get("endOfRecords") or not last["results"] or (count is not None and offset >= count)):
            break
        if count is not None and count > max_records:
            raise WerklandInputError(
                f"GBIF reports {count:,} records for this query; the search API pages only up to {max_records:,}",
                path="config: species",
                fix="use species source 'download' (asynchronous GBIF download, citable DOI), or narrow years/taxa/region",
            )
        limit = min(PAGE_LIMIT, max_records - offset)
        if limit <= 0:
            break
        body, raw = client.search_page_raw(params, offset, limit)
        if pages and body["count"] != count and not restarted:
            log.warning("GBIF count changed from %d to %d while paging (live index): refetching query %s", count, body["count"], qh[:12])
            cache.clear(qh)
            write_json({"query": query, "base_url": client.base_url, "created": _now()}, d / "query.json")
            pages, restarted = [], True
            continue
        if body["count"] > max_records:
            pages = [(offset, body)]
            continue
        cache.write_page(qh, offset, raw)
        pages.append((offset, body))
        got = sum(len(b["results"]) for _, b in pages)
        if len(body["results"]) < limit and not body.get("endOfRecords"):
            log.warning("GBIF page at offset %d returned %d < %d records without endOfRecords", offset, len(body["results"]), limit)
        el = max(time.monotonic() - t0, 1e-9)
        log.info("GBIF search %s: page %d fetched, %d/%d records (%.0f records/s)", qh[:12], len(pages), got, body["count"], got / el)
    count = pages[0][1]["count"] if pages else 0
    write_json({"count": count, "pages": len(pages), "records": sum(len(b["results"]) for _, b in pages),
                "access_date": _now()}, d / "complete.json")
    return load_cached_search(cache, qh, from_cache=False)


def load_cached_search(cache: QueryCache, qh: str, *, from_cache: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records and info of a complete cached search."""
    d = cache.search_dir(qh)
    done = json.loads((d / "complete.json").read_text())
    pages = cache.pages(qh)
    recs = [r for _, b in pages for r in b["results"]]
    if len(recs) != done["records"]:
        raise GbifError(f"cache {d} is inconsistent ({len(recs)} records, complete.json says {done['records']}); refresh the cache")
    return recs, {"count": done["count"], "pages": len(pages), "access_date": done["access_date"], "from_cache": from_cache}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------------------------
# downloads


def download_predicate(geometry_wkt: str | None, filters: Mapping[str, Any]) -> dict[str, Any]:
    """GBIF download predicate equivalent to :func:`search_query` (``within`` + filters)."""
    preds: list[dict[str, Any]] = [
        {"type": "equals", "key": "OCCURRENCE_STATUS", "value": "PRESENT"},
        {"type": "equals", "key": "HAS_COORDINATE", "value": "true"},
        {"type": "equals", "key": "HAS_GEOSPATIAL_ISSUE", "value": "false"},
    ]
    if geometry_wkt:
        preds.insert(0, {"type": "within", "geometry": geometry_wkt})
    if filters.get("year_min") is not None:
        preds.append({"type": "greaterThanOrEquals", "key": "YEAR", "value": str(int(filters["year_min"]))})
    if filters.get("year_max") is not None:
        preds.append({"type": "lessThanOrEquals", "key": "YEAR", "value": str(int(filters["year_max"]))})
    if filters.get("basis_of_record"):
        preds.append({"type": "in", "key": "BASIS_OF_RECORD", "values": sorted(filters["basis_of_record"])})
    else:
        preds.append({"type": "not", "predicate": {"type": "in", "key": "BASIS_OF_RECORD", "values": ["FOSSIL_SPECIMEN", "LIVING_SPECIMEN"]}})
    if filters.get("taxon_keys"):
        preds.append({"type": "in", "key": "TAXON_KEY", "values": [str(int(k)) for k in sorted(filters["taxon_keys"])]})
    return {"type": "and", "predicates": preds}


def fetch_download(
    client: GbifClient,
    predicate: Mapping[str, Any],
    cache: QueryCache,
    *,
    fmt: str = "SIMPLE_CSV",
    creds: Credentials | None = None,
    poll_s: float = 30.0,
    max_wait_s: float = 3600.0,
    refresh: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Request (or resume) a GBIF download, poll it, fetch the zip into the cache.

    A download key already recorded for the same query is polled again instead of requesting a new
    download, so an interrupted run resumes.

    Returns
    -------
    zip_path : pathlib.Path
    meta : dict
        Final download metadata (``key``, ``doi``, ``size``, ``totalRecords``, ...).
    """
    query = {"endpoint": "occurrence/download/request", "format": fmt, "predicate": predicate}
    qh = query_hash(query)
    if refresh:
        staged = cache.staging()
        try:
            fetch_download(client, predicate, staged, fmt=fmt, creds=creds, poll_s=poll_s, max_wait_s=max_wait_s)
        except BaseException:
            staged.discard()
            raise
        cache.adopt(staged, "download", qh)
        refresh = False
    cache._recover(qh)
    d = cache.download_dir(qh)
    state_f = d / "download.json"
    state = json.loads(state_f.read_text()) if state_f.exists() else {}
    if state.get("complete") and (d / f"{state['key']}.zip").exists():
        return d / f"{state['key']}.zip", state["meta"]
    key = state.get("key")
    if not key:
        creds = creds or credentials_from_env()
        write_json({"query": query, "base_url": client.base_url, "created": _now()}, d / "query.json")
        key = client.request_download(predicate, fmt, creds)
        state = {"key": key, "complete": False, "requested": _now()}
        write_json(state, state_f)
    meta = client.wait_for_download(key, poll_s=poll_s, max_wait_s=max_wait_s)
    zpath = d / f"{key}.zip"
    size = client.download_file(f"occurrence/download/request/{key}.zip", zpath)
    if meta.get("size") and int(meta["size"]) != size:
        zpath.unlink(missing_ok=True)
        raise GbifError(f"download {key}: got {size} bytes, GBIF metadata says {meta['size']}; rerun to fetch again")
    state.update(complete=True, meta=meta, fetched=_now())
    write_json(state, state_f)
    return zpath, meta


def download_citation(meta: Mapping[str, Any], access_date: str | None = None) -> str:
    """GBIF citation string of a download, ``GBIF.org (<date>) GBIF Occurrence Download https://doi.org/<doi>``."""
    created = str(meta.get("created") or access_date or "")[:10]
    try:
        day = datetime.strptime(created, "%Y-%m-%d")
        created = f"{day.day} {day:%B %Y}"
    except ValueError:
        pass
    doi = meta.get("doi")
    link = f"https://doi.org/{doi}" if doi else f"https://www.gbif.org/occurrence/download/{meta.get('key')}"
    return f"GBIF.org ({created}) GBIF Occurrence Download {link}"


# --------------------------------------------------------------------------------------------
# one entry point for all sources


NO_DATA_MESSAGE = "no species data: GBIF unreachable and no cache"
NO_SOURCE_MESSAGE = "no species data: the species stage is switched off (species_source: none)"


def fetch_occurrences(
    source: str,
    *,
    geometry: QueryGeometry | None,
    filters: Mapping[str, Any],
    cache_dir: str | os.PathLike[str],
    base_url: str = DEFAULT_BASE_URL,
    file_path: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    client: GbifClient | None = None,
    client_options: Mapping[str, Any] | None = None,
    max_records: int = OFFSET_LIMIT,
    download_format: str = "SIMPLE_CSV",
    poll_s: float = 30.0,
    max_wait_s: float = 3600.0,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> FetchResult:
    """Get occurrence records from GBIF by ``source`` (``api``, ``download``, ``file``, ``auto``).

    Parameters
    ----------
    source : str
        See module docstring.
    geometry : QueryGeometry or None
        Region query geometry (:func:`region_query_geometry`).
    filters : mapping
        See :func:`search_query`.
    cache_dir : path-like
        Cache root (e.g. ``resources/gbif``).
    base_url : str
        GBIF API root.
    file_path : path-like, optional
        Occurrence file for ``source="file"``.
    refresh : bool
        Ignore and replace cached copies.
    client : GbifClient, optional
        Pre-built client (tests); else built from ``base_url`` and ``client_options``.
    max_records : int
        Search cap (<= 100,000).
    download_format : str
        ``SIMPLE_CSV`` or ``DWCA``.
    poll_s, max_wait_s : float
        Download polling interval and wall-clock cap, seconds.
    max_member_bytes : int
        Zip member size limit, bytes.

    Returns
    -------
    FetchResult
    """
    if source == "none":
        return FetchResult(records_to_frame([]), "no_data", NO_SOURCE_MESSAGE, "none", {}, query_hash({}), None)
    wkt = geometry.wkt if geometry else None
    cache = QueryCache(cache_dir)
    client = client or GbifClient(base_url, **dict(client_options or {}))
    if source == "file":
        if not file_path:
            raise WerklandInputError("species source 'file' needs a file", path="config: species.file_path", fix="set species.file_path to a GBIF download zip or table")
        recs, info = read_occurrence_file(file_path, max_member_bytes=max_member_bytes)
        query = {"file": str(file_path), "format": info["format"]}
        meta = {k: v for k, v in info.items()}
        cit = None
        if info.get("doi"):
            cit = f"GBIF.org GBIF Occurrence Download https://doi.org/{info['doi']}"
        elif info.get("download_key"):
            cit = f"GBIF.org GBIF Occurrence Download https://www.gbif.org/occurrence/download/{info['download_key']}"
        return FetchResult(recs, "ok" if len(recs) else "empty", "" if len(recs) else "the file has no records", "file",
                           query, query_hash(query), _now()[:10], info.get("doi"), info.get("download_key"), cit, len(recs), meta)
    if source == "download":
        pred = download_predicate(wkt, filters)
        try:
            zpath, meta = fetch_download(client, pred, cache, fmt=download_format, poll_s=poll_s, max_wait_s=max_wait_s,
                                         refresh=refresh)
        except GbifOutageError:
            raise
        except GbifUnavailableError as exc:
            raise GbifOutageError(
                f"GBIF is unreachable ({str(exc)[:300]})", path=f"config: species_source download ({client.base_url})",
                fix="rerun when GBIF answers (a requested download is polled again, not requested twice), "
                    "or set species_source: auto to use a cached search",
            ) from None
        recs, info = read_occurrence_file(zpath, max_member_bytes=max_member_bytes)
        query = {"endpoint": "occurrence/download/request", "format": download_format, "predicate": pred}
        return FetchResult(recs, "ok" if len(recs) else "empty", "" if len(recs) else "the download has no records", "download",
                           query, query_hash(query), str(meta.get("created", _now()))[:10], meta.get("doi"), meta.get("key"),
                           download_citation(meta), meta.get("totalRecords"), {"download_meta": meta, "rights": info.get("rights")})
    if source not in ("api", "auto"):
        raise WerklandInputError(f"unknown species source {source!r}", path="config: species_source", fix="use auto, api, download, file or none")
    query = search_query(wkt, filters)
    qh = query_hash(query)
    if refresh and source == "auto" and not client.reachable():
        log.warning("cache refresh requested but GBIF is unreachable: keeping the cached copy")
        refresh = False
    if source == "auto" and not cache.is_complete(qh) and not client.reachable():
        return FetchResult(records_to_frame([]), "no_data", NO_DATA_MESSAGE, "none", query, qh, None)
    try:
        rows, info = search_all(client, query, cache, max_records=max_records, refresh=refresh)
    except (GbifUnavailableError, WerklandInputError) as exc:
        if source == "api" and isinstance(exc, GbifUnavailableError):
            cached = "a complete cached copy of this query exists" if cache.is_complete(qh) else "no complete cached copy exists"
            raise GbifOutageError(
                f"GBIF is unreachable ({str(exc)[:300]}); {cached}",
                path=f"config: species_source api ({client.base_url})",
                fix="set species_source: auto (uses the complete cached copy under resources/gbif/, else reports "
                    "'no data' and goes on), or rerun when GBIF answers",
            ) from None
        if source == "api":
            raise
        if cache.is_complete(qh):
            rows, info = load_cached_search(cache, qh)
        else:
            msg = f"{NO_DATA_MESSAGE} ({exc})" if isinstance(exc, GbifUnavailableError) else f"no species data: {exc}"
            return FetchResult(records_to_frame([]), "no_data", msg, "none", query, qh, None)
    recs = records_to_frame(rows)
    mode = "cache" if info["from_cache"] else "api"
    status = "ok" if len(recs) else "empty"
    msg = "" if len(recs) else "GBIF has no records for this query (region, years, basis of record)"
    return FetchResult(recs, status, msg, mode, query, qh, info["access_date"][:10], count_reported=info["count"],
                       meta={"pages": info["pages"], "base_url": client.base_url})

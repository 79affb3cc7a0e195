"""GBIF occurrence client: search, download, file reading, query cache and query geometry.

Why not pygbif for the HTTP calls
---------------------------------
pygbif copies its base URL into each module at import time (``from pygbif.gbifutils import
gbif_baseurl``) and hard-codes ``http://api.gbif.org`` for downloads, calls the module-level
``requests.get`` without timeouts or retries (pygbif#52) and configures the root logger on import.
A mirror or a local test server therefore cannot stand in cleanly. This module calls the same REST
endpoints (``occurrence/search``, ``occurrence/download/request``, ``occurrence/download/{key}``,
``occurrence/download/request/{key}.zip``) with :mod:`requests` directly, with a configurable
``base_url`` (default ``https://api.gbif.org/v1/``), ``(connect, read)`` timeouts, and retries with
exponential back-off and jitter on connection errors, timeouts, truncated bodies and HTTP 429/5xx
(``Retry-After`` honoured). Other 4xx answers (e.g. 400 for a bad WKT polygon) fail at once with
GBIF's own message.

Sources (:func:`fetch_occurrences`)
-----------------------------------
``api``       paged occurrence search (300 per page, up to the 100,000 offset limit)
``download``  asynchronous occurrence download (credentials from ``GBIF_USER``/``GBIF_PWD``/``GBIF_EMAIL``)
``file``      an existing GBIF download zip (SIMPLE_CSV or DwC-A) or an extracted table
``auto``      api when GBIF answers, else a complete cached copy of the same query, else "no data"

Cache layout (``cache_dir``)
----------------------------
``search/<sha256>/query.json``, ``page_<offset>.json`` (raw bodies), ``complete.json`` (written last);
``download/<sha256>/query.json``, ``download.json`` (key, metadata), ``<key>.zip``. The hash is the
SHA-256 of the canonical JSON of the exact query (endpoint + parameters or predicate + format), not of
the base URL, so a mirror shares the cache. Every file is written atomically; a query without
``complete.json`` is resumed (pages kept when GBIF still reports the same ``count``) or refetched.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import random
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import requests

from werkland._errors import WerklandError, WerklandInputError
from werkland.raster.io import atomic_path, write_json

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.gbif.org/v1/"
PAGE_LIMIT = 300  # GBIF caps larger values silently
OFFSET_LIMIT = 100_000  # offset + limit must stay <= 100,000
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
FINAL_BAD_STATUS = frozenset({"CANCELLED", "KILLED", "FAILED", "SUSPENDED", "FILE_ERASED"})
#: basisOfRecord values kept by default (fossil and living specimens are excluded).
DEFAULT_BASIS_OF_RECORD = (
    "HUMAN_OBSERVATION",
    "OBSERVATION",
    "MACHINE_OBSERVATION",
    "PRESERVED_SPECIMEN",
    "MATERIAL_SAMPLE",
    "MATERIAL_CITATION",
    "OCCURRENCE",
)
#: Columns of the normalised record table (strings unless noted).
RECORD_COLUMNS: dict[str, str] = {
    "gbifID": "str",
    "datasetKey": "str",
    "occurrenceStatus": "str",
    "basisOfRecord": "str",
    "decimalLatitude": "float",
    "decimalLongitude": "float",
    "coordinateUncertaintyInMeters": "float",
    "coordinatePrecision": "float",
    "eventDate": "str",
    "year": "float",
    "recordedBy": "str",
    "kingdom": "str",
    "phylum": "str",
    "class": "str",
    "order": "str",
    "family": "str",
    "genus": "str",
    "species": "str",
    "scientificName": "str",
    "taxonRank": "str",
    "kingdomKey": "float",
    "phylumKey": "float",
    "classKey": "float",
    "orderKey": "float",
    "familyKey": "float",
    "genusKey": "float",
    "speciesKey": "float",
    "taxonKey": "float",
    "license": "str",
    "issues": "str",
    "iucnRedListCategory": "str",
    "hasGeospatialIssues": "str",
    "countryCode": "str",
}
#: Default maximum uncompressed size of one zip member read (bytes).
MAX_MEMBER_BYTES = 2 * 1024**3


# --------------------------------------------------------------------------------------------
# errors and results


class GbifError(WerklandError):
    """GBIF answered with an error that is not the user's input (server, protocol, lifecycle)."""


class GbifUnavailableError(GbifError):
    """GBIF could not be reached (connection error, timeout, 429/5xx after all retries)."""


@dataclasses.dataclass
class FetchResult:
    """Occurrence records and their provenance.

    Attributes
    ----------
    records : pandas.DataFrame
        Normalised records (columns :data:`RECORD_COLUMNS`), possibly empty.
    status : str
        ``"ok"``, ``"empty"`` (the query matched nothing) or ``"no_data"`` (nothing could be fetched).
    message : str
        Human-readable explanation (always set for ``empty``/``no_data``).
    mode : str
        Where the records came from: ``api``, ``cache``, ``download``, ``file`` or ``none``.
    query : dict
        The exact query (endpoint and parameters, or download predicate and format).
    query_hash : str
        SHA-256 of the canonical query JSON (cache key).
    access_date : str
        ISO date the data were fetched from GBIF (from the cache for cached data).
    doi, download_key, citation : str or None
        Download DOI, key and GBIF citation string (download/file modes).
    count_reported : int or None
        Total reported by GBIF for the query.
    meta : dict
        Extra provenance (download metadata, rights text, pages fetched, ...).
    """

    records: pd.DataFrame
    status: str
    message: str
    mode: str
    query: dict[str, Any]
    query_hash: str
    access_date: str | None = None
    doi: str | None = None
    download_key: str | None = None
    citation: str | None = None
    count_reported: int | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# credentials


@dataclasses.dataclass(frozen=True)
class Credentials:
    """GBIF account for downloads; ``repr`` never shows the password or e-mail."""

    user: str
    pwd: str = dataclasses.field(repr=False)
    email: str = dataclasses.field(repr=False)

    def __repr__(self) -> str:  # pragma: no cover - trivial
        return "Credentials(user=***, pwd=***, email=***)"


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials:
    """Read GBIF credentials from ``GBIF_USER``, ``GBIF_PWD`` and ``GBIF_EMAIL``.

    Raises
    ------
    WerklandInputError
        Naming (only) the missing variables.
    """
    env = os.environ if env is None else env
    names = ("GBIF_USER", "GBIF_PWD", "GBIF_EMAIL")
    missing = [k for k in names if not env.get(k)]
    if missing:
        raise WerklandInputError(
            f"GBIF download needs an account; environment variable(s) {', '.join(missing)} not set",
            path="environment",
            fix="export GBIF_USER, GBIF_PWD and GBIF_EMAIL (a free account at https://www.gbif.org), or use species source 'api'/'file'",
        )
    return Credentials(env["GBIF_USER"], env["GBIF_PWD"], env["GBIF_EMAIL"])


# --------------------------------------------------------------------------------------------
# HTTP client


class GbifClient:
    """Minimal GBIF REST client with timeouts and retries.

    Parameters
    ----------
    base_url : str
        API root ending in ``/v1/`` (a mirror or a local test server may stand in).
    timeout : tuple of float
        ``(connect, read)`` timeouts in seconds.
    max_retries : int
        Retries after the first attempt for retryable failures.
    backoff_s : float
        First back-off delay in seconds; doubled per retry, with up to 25 % jitter.
    max_backoff_s : float
        Cap of one delay (also caps ``Retry-After``), seconds.
    session : requests.Session, optional
        Session to use (a new one by default).
    sleep : callable
        Sleep function (injected in tests).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.timeout = (float(timeout[0]), float(timeout[1]))
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "werkland (python-requests)")
        self._sleep = sleep

    # -- low level ------------------------------------------------------------------------
    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff_s)
            except ValueError:
                pass
        d = min(self.backoff_s * 2**attempt, self.max_backoff_s)
        return d * (1.0 + 0.25 * random.random())

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        auth: Credentials | None = None,
        expect: str = "json",
        max_retries: int | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one request with retries and return the decoded body.

        Parameters
        ----------
        method, path : str
            HTTP method and path relative to ``base_url``.
        params : mapping or list of pairs, optional
            Query parameters (a list of pairs repeats keys: OR in GBIF).
        json_body : object, optional
            JSON request body.
        auth : Credentials, optional
            Basic authentication (never logged).
        expect : {"json", "text", "json+text"}
            How to decode the body (``json+text``: the decoded JSON and the raw text).
        max_retries, timeout : optional
            Override the client's values for this call.

        Raises
        ------
        WerklandInputError
            GBIF rejected the request (4xx other than 429), with GBIF's message.
        GbifUnavailableError
            Retries exhausted on connection errors, timeouts, 429/5xx or malformed bodies.
        """
        url = self.base_url + path.lstrip("/")
        retries = self.max_retries if max_retries is None else max_retries
        basic = requests.auth.HTTPBasicAuth(auth.user, auth.pwd) if auth else None
        last = ""
        for attempt in range(retries + 1):
            retry_after = None
            try:
                resp = self.session.request(
                    method, url, params=params, json=json_body, auth=basic, timeout=timeout or self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                if resp.status_code in RETRY_STATUS:
                    retry_after = resp.headers.get("Retry-After")
                    last = f"HTTP {resp.status_code}: {resp.text[:200].strip()}"
                elif resp.status_code >= 400:
                    text = resp.text.strip()[:500]
                    raise WerklandInputError(
                        f"GBIF rejected {method} {path} with HTTP {resp.status_code}: {text}",
                        path=url,
                        fix=_fix_for_status(resp.status_code, text),
                    )
                else:
                    try:
                        if expect == "text":
                            return resp.text
                        text = resp.content.decode(resp.encoding or "utf-8")
                        return (json.loads(text), text) if expect == "json+text" else json.loads(text)
                    except ValueError as exc:
                        last = f"malformed/truncated JSON body ({len(resp.content)} bytes): {exc}"
            if attempt < retries:
                d = self._delay(attempt, retry_after)
                log.warning("GBIF %s %s failed (%s); retry %d/%d in %.1f s", method, path, last, attempt + 1, retries, d)
                self._sleep(d)
        raise GbifUnavailableError(f"GBIF {method} {url} failed after {retries + 1} attempt(s): {last}")

    def download_file(self, path: str, dest: Path, *, max_retries: int | None = None) -> int:
        """Stream a binary file (e.g. a download zip) to ``dest`` atomically; return its size in bytes."""
        url = self.base_url + path.lstrip("/")
        retries = self.max_retries if max_retries is None else max_retries
        last = ""
        for attempt in range(retries + 1):
            retry_after = None
            try:
                with self.session.get(url, stream=True, timeout=self.timeout) as resp:
                    if resp.status_code in RETRY_STATUS:
                        retry_after = resp.headers.get("Retry-After")
                        last = f"HTTP {resp.status_code}"
                    elif resp.status_code >= 400:
                        raise GbifError(f"GBIF GET {url} answered HTTP {resp.status_code}: {resp.text[:300]}")
                    else:
                        size = 0
                        with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
                            for chunk in resp.iter_content(chunk_size=1 << 20):
                                fh.write(chunk)
                                size += len(chunk)
                        return size
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {str(exc)[:200]}"
            if attempt < retries:
                d = self._delay(attempt, retry_after)
                log.warning("GBIF GET %s failed (%s); retry %d/%d in %.1f s", path, last, attempt + 1, retries, d)
                self._sleep(d)
        raise GbifUnavailableError(f"GBIF GET {url} failed after {retries + 1} attempt(s): {last}")

    def reachable(self) -> bool:
        """One quick attempt at ``occurrence/search?limit=0`` (short timeouts, no retries)."""
        try:
            self.request("GET", "occurrence/search", params={"limit": 0}, max_retries=0, timeout=(5.0, 15.0))
            return True
        except (GbifError, WerklandInputError) as exc:
            log.info("GBIF API at %s not reachable: %s", self.base_url, exc)
            return False

    # -- search ---------------------------------------------------------------------------
    def search_page(self, params: Mapping[str, Any], offset: int, limit: int = PAGE_LIMIT) -> dict[str, Any]:
        """One page of ``occurrence/search``; validates the page structure."""
        return self.search_page_raw(params, offset, limit)[0]

    def search_page_raw(self, params: Mapping[str, Any], offset: int, limit: int = PAGE_LIMIT) -> tuple[dict[str, Any], str]:
        """One page of ``occurrence/search`` as (decoded JSON, raw body text)."""
        body, text = self.request("GET", "occurrence/search", params=_param_pairs(params, offset=offset, limit=limit), expect="json+text")
        _check_page(body, offset)
        return body, text

    # -- downloads ------------------------------------------------------------------------
    def request_download(self, predicate: Mapping[str, Any], fmt: str, creds: Credentials) -> str:
        """Submit an occurrence download; return its key (``0026011-250827131500795``)."""
        body = {
            "creator": creds.user,
            "notificationAddresses": [creds.email],
            "sendNotification": False,
            "format": fmt,
            "predicate": predicate,
        }
        key = self.request("POST", "occurrence/download/request", json_body=body, auth=creds, expect="text", max_retries=2)
        key = str(key).strip().strip('"')
        if not re.fullmatch(r"[0-9]+-[0-9]+", key):
            raise GbifError(f"unexpected download key from GBIF: {key[:100]!r}")
        log.info("GBIF download %s requested (format %s)", key, fmt)
        return key

    def download_meta(self, key: str) -> dict[str, Any]:
        """Metadata of a download (status, doi, size, totalRecords, ...)."""
        meta = self.request("GET", f"occurrence/download/{key}")
        if not isinstance(meta, dict) or "status" not in meta:
            raise GbifError(f"download metadata for {key} has no status")
        return meta

    def wait_for_download(
        self, key: str, *, poll_s: float = 30.0, max_wait_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> dict[str, Any]:
        """Poll a download until SUCCEEDED; return its final metadata.

        Raises
        ------
        GbifError
            If it ends CANCELLED, KILLED, FAILED, SUSPENDED or FILE_ERASED, or ``max_wait_s`` passes.
        """
        start = clock()
        polls = 0
        while True:
            meta = self.download_meta(key)
            polls += 1
            status = str(meta.get("status"))
            if status == "SUCCEEDED":
                log.info("GBIF download %s SUCCEEDED after %d poll(s): %s records, %s bytes, DOI %s",
                         key, polls, meta.get("totalRecords"), meta.get("size"), meta.get("doi"))
                return meta
            if status in FINAL_BAD_STATUS:
                raise GbifError(
                    f"GBIF download {key} ended with status {status}; see https://www.gbif.org/occurrence/download/{key}"
                    " (a too complex polygon or predicate can make GBIF kill a download: simplify the region)"
                )
            if clock() - start > max_wait_s:
                raise GbifError(f"GBIF download {key} still {status} after {max_wait_s:.0f} s; rerun later to resume polling")
            log.info("GBIF download %s is %s (poll %d)", key, status, polls)
            self._sleep(poll_s)


def _fix_for_status(status: int, text: str) -> str:
    if status == 400 and "WKT" in text:
        return "the region polygon could not be parsed by GBIF: check its validity, or lower species.wkt_max_chars so a bounding box is sent"
    if status in (401, 403):
        return "check GBIF_USER / GBIF_PWD"
    if status == 420:
        return "too many concurrent downloads for this account; wait for running downloads to finish"
    return "check the species query parameters in the config"


def _param_pairs(params: Mapping[str, Any], **extra: Any) -> list[tuple[str, str]]:
    """Flatten query parameters: lists repeat the key, booleans become lowercase strings."""
    out: list[tuple[str, str]] = []
    for k, v in {**params, **extra}.items():
        if v is None:
            continue
        for item in v if isinstance(v, list | tuple) else [v]:
            out.append((k, str(item).lower() if isinstance(item, bool) else str(item)))
    return out


def _check_page(body: Any, offset: int) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("results"), list) or "count" not in body:
        raise GbifUnavailableError(f"malformed occurrence search page at offset {offset}: missing results/count")


def query_hash(query: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of a query (the cache key)."""
    return hashlib.sha256(json.dumps(query, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


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
    import shapely
    from pyproj import CRS, Transformer
    from shapely.geometry import MultiPolygon, Polygon, box
    from shapely.geometry.polygon import orient
    from shapely.ops import transform

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
# record normalisation


_LICENCES = (
    ("by-nc", "CC_BY_NC_4_0"),
    ("by_nc", "CC_BY_NC_4_0"),
    ("publicdomain/zero", "CC0_1_0"),
    ("cc0", "CC0_1_0"),
    ("licenses/by/", "CC_BY_4_0"),
    ("cc_by_4", "CC_BY_4_0"),
)


def normalise_licence(values: pd.Series) -> pd.Series:
    """Map licence URLs and GBIF enum names to ``CC0_1_0``, ``CC_BY_4_0``, ``CC_BY_NC_4_0`` (else as given)."""
    s = values.fillna("").astype(str)
    low = s.str.lower()
    out = s.copy()
    out[low == ""] = "UNSPECIFIED"
    done = pd.Series(False, index=s.index)
    for needle, name in _LICENCES:
        hit = low.str.contains(needle, regex=False) & ~done
        out[hit] = name
        done |= hit
    return out


def records_to_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Normalise search results (list of dicts) or a download table into :data:`RECORD_COLUMNS`.

    Lists (``issues``, ``recordedBy`` in some sources) are joined with ``;``; the download column
    ``issue`` becomes ``issues``; licences are normalised by :func:`normalise_licence`.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(list(rows))
    if "issues" not in df.columns and "issue" in df.columns:
        df = df.rename(columns={"issue": "issues"})
    if "gbifID" not in df.columns and "key" in df.columns:
        df["gbifID"] = df["key"]
    if "hasGeospatialIssues" not in df.columns and "hasGeospatialIssue" in df.columns:
        df = df.rename(columns={"hasGeospatialIssue": "hasGeospatialIssues"})
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col, kind in RECORD_COLUMNS.items():
        if col in df.columns:
            s = df[col].reset_index(drop=True)
        else:
            s = pd.Series([None] * len(df), dtype=object)
        if kind == "float":
            out[col] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[col] = _to_str_column(s)
    out["issues"] = out["issues"].fillna("")
    out["license"] = normalise_licence(out["license"])
    return out


def _to_str_column(s: pd.Series) -> pd.Series:
    """Object column of ``str`` or ``None``; lists joined with ``;``, integral floats without ``.0``."""
    if len(s) == 0:
        return s.astype(object)
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred in ("string", "empty"):
        return s.astype(object).where(s.notna(), None)
    notna = s.notna()
    vals = s[notna].map(lambda v: ";".join(map(str, v)) if isinstance(v, list | tuple) else _scalar_str(v))
    out = pd.Series([None] * len(s), index=s.index, dtype=object)
    out[notna] = vals
    return out


def _scalar_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# --------------------------------------------------------------------------------------------
# file reading (SIMPLE_CSV / DwC-A zips and extracted tables)


class _LimitedReader(io.RawIOBase):
    """Wrap a binary stream and fail once more than ``limit`` bytes were read (zip bombs, lying headers)."""

    def __init__(self, raw: Any, limit: int, name: str) -> None:
        self.raw, self.limit, self.name_, self.n = raw, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        self.n += len(data)
        if self.n > self.limit:
            raise WerklandInputError(
                f"zip member {self.name_} is larger than the limit of {self.limit} bytes", fix="raise species.max_member_bytes if the file is genuine"
            )
        b[: len(data)] = data
        return len(data)


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name))


def _read_table(fh: Any, sep: str, usecols: Iterable[str] | None = None) -> pd.DataFrame:
    wanted = set(usecols) if usecols is not None else None
    return pd.read_csv(
        fh,
        sep=sep,
        quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        usecols=(lambda c: c in wanted) if wanted is not None else None,
        encoding="utf-8",
        on_bad_lines="error",
        low_memory=False,
    )


_DWCA_AUX = frozenset({"rights.txt", "citations.txt", "verbatim.txt", "multimedia.txt", "meta.xml", "metadata.xml"})
_DOI_RE = re.compile(r"10\.15468/dl\.[a-z0-9]+", re.IGNORECASE)
_USECOLS = set(RECORD_COLUMNS) | {"issue", "key", "hasGeospatialIssue"}


def read_occurrence_file(path: str | os.PathLike[str], *, max_member_bytes: int = MAX_MEMBER_BYTES) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a GBIF download zip (SIMPLE_CSV or DwC-A) or an extracted occurrence table.

    Parameters
    ----------
    path : path-like
        ``<key>.zip`` with one ``<key>.csv`` (SIMPLE_CSV, tab-separated, no quoting) or with
        ``occurrence.txt`` (DwC-A); or an extracted ``.csv``/``.txt``/``.tsv`` table (tab- or
        comma-separated, detected from the header line).
    max_member_bytes : int
        Maximum uncompressed size of the table member, bytes.

    Returns
    -------
    records : pandas.DataFrame
        Normalised records (:func:`records_to_frame`).
    info : dict
        ``format`` (SIMPLE_CSV, DWCA, TABLE), ``member``, ``download_key``, ``doi`` (from DwC-A
        metadata when present), ``rights`` (text of rights.txt), ``citations`` (text of citations.txt).

    Raises
    ------
    WerklandInputError
        Missing file, unsafe member names, no occurrence table, oversize member or unreadable table.
    """
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("GBIF occurrence file not found", path=str(p), fix="check species.file_path in the config")
    info: dict[str, Any] = {"format": None, "member": None, "download_key": None, "doi": None, "rights": None, "citations": None}
    m = re.match(r"^(\d{7}-\d{15})", p.name)
    if m:
        info["download_key"] = m.group(1)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as zf:
                infos = zf.infolist()
                bad = [i.filename for i in infos if not _safe_member(i.filename)]
                if bad:
                    raise WerklandInputError(
                        f"zip has unsafe member names {bad[:3]} (absolute or '..' paths)", path=str(p), fix="use the zip as downloaded from GBIF"
                    )
                names = {i.filename: i for i in infos if not i.is_dir()}
                if "occurrence.txt" in names:
                    member, fmt = "occurrence.txt", "DWCA"
                else:
                    csvs = [n for n in names if "/" not in n and n.lower().endswith((".csv", ".txt", ".tsv"))
                            and n.lower() not in _DWCA_AUX]
                    if len(csvs) != 1:
                        raise WerklandInputError(
                            f"zip has no occurrence table (members: {sorted(names)[:8]})",
                            path=str(p),
                            fix="give a GBIF SIMPLE_CSV or DwC-A download (SIMPLE_PARQUET/SPECIES_LIST are not occurrence tables here)",
                        )
                    member, fmt = csvs[0], "SIMPLE_CSV"
                    if not info["download_key"]:
                        mk = re.match(r"^(\d{7}-\d{15})", member)
                        info["download_key"] = mk.group(1) if mk else None
                zi = names[member]
                if zi.file_size > max_member_bytes:
                    raise WerklandInputError(
                        f"zip member {member} is {zi.file_size} bytes, above the limit of {max_member_bytes}",
                        path=str(p),
                        fix="raise species.max_member_bytes if the file is genuine",
                    )
                for extra, small in (("rights.txt", "rights"), ("citations.txt", "citations"), ("metadata.xml", "_metadata")):
                    if extra in names and names[extra].file_size < 50 * 1024**2:
                        with zf.open(extra) as fh:
                            info[small] = _LimitedReader(fh, 50 * 1024**2, extra).read().decode("utf-8", "replace")
                meta_txt = info.pop("_metadata", None)
                if meta_txt:
                    d = _DOI_RE.search(meta_txt)
                    info["doi"] = d.group(0) if d else None
                with zf.open(member) as raw:
                    buf = io.BufferedReader(_LimitedReader(raw, max_member_bytes, member), buffer_size=1 << 20)
                    df = _read_table(buf, "\t", _USECOLS)
                info.update(format=fmt, member=member)
        else:
            with open(p, encoding="utf-8", errors="replace") as fh:
                header = fh.readline()
            sep = "\t" if header.count("\t") >= header.count(",") else ","
            if p.stat().st_size > max_member_bytes:
                raise WerklandInputError(f"table is larger than {max_member_bytes} bytes", path=str(p), fix="raise species.max_member_bytes")
            with open(p, "rb") as fh:
                df = _read_table(fh, sep, _USECOLS)
            info.update(format="TABLE", member=p.name)
    except zipfile.BadZipFile as exc:
        raise WerklandInputError(f"corrupt zip ({exc})", path=str(p), fix="download the file again") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, zipfile.LargeZipFile) as exc:
        raise WerklandInputError(f"cannot parse occurrence table ({str(exc)[:200]})", path=str(p), fix="give an unmodified GBIF download") from exc
    if not {"decimalLatitude", "decimalLongitude"} <= set(df.columns):
        raise WerklandInputError(
            f"table {info['member']} has no decimalLatitude/decimalLongitude columns", path=str(p), fix="give a GBIF occurrence table"
        )
    log.info("read %d records from %s (%s)", len(df), p.name, info["format"])
    return records_to_frame(df), info


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
        Discard any cached copy first.

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
        cache.clear(qh)
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
        if last is not None and (last.get("endOfRecords") or not last["results"] or offset >= count):
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
        cache.clear(qh)
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
        zpath, meta = fetch_download(client, pred, cache, fmt=download_format, poll_s=poll_s, max_wait_s=max_wait_s, refresh=refresh)
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

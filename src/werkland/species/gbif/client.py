"""GBIF REST client: errors, results, credentials, a requests Session with urllib3 retries, query hashes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from werkland._errors import WerklandError, WerklandInputError
from werkland.raster.io import atomic_path

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


class GbifOutageError(GbifUnavailableError, WerklandInputError):
    """GBIF is unreachable and the configured source cannot do without it.

    Also a :class:`~werkland._errors.WerklandInputError`, so the runner ends the job with one line
    ``werkland error: ... -- fix: ...`` instead of a traceback.
    """


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


class _GbifRetry(Retry):
    """urllib3 ``Retry`` whose sleeps go through an injectable function and are logged.

    urllib3 rebuilds the object after every attempt (:meth:`Retry.new`), so the sleep function is
    carried over there.
    """

    sleeper: Callable[[float], None] = staticmethod(time.sleep)
    retry_after_cap: float = 60.0

    def new(self, **kw: Any) -> Self:
        r = super().new(**kw)
        r.sleeper = self.sleeper
        r.retry_after_cap = self.retry_after_cap
        return r

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Self:
        why = f"HTTP {response.status}" if response is not None and error is None else f"{type(error).__name__}"
        log.warning("GBIF %s %s failed (%s); retrying (%d attempt(s) so far)", method, url, why, len(self.history) + 1)
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep_for_retry(self, response: Any) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            self.sleeper(min(float(retry_after), float(self.retry_after_cap)))
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.sleeper(backoff)


def retry_policy(max_retries: int, backoff_s: float, max_backoff_s: float,
                 sleep: Callable[[float], None] = time.sleep) -> Retry:
    """The urllib3 retry policy of :class:`GbifClient`.

    Connection errors, read timeouts and HTTP 429/500/502/503/504 are retried up to ``max_retries``
    times (429/5xx only for idempotent methods: a download request POST is never repeated after GBIF
    answered it). ``Retry-After`` is honoured (capped at ``max_backoff_s``); otherwise the first retry
    follows at once and the next ones after ``backoff_s``, ``2 * backoff_s``, ... plus up to 25 %
    jitter (urllib3's ``backoff_factor`` and ``backoff_jitter``), capped at ``max_backoff_s``.
    """
    r = _GbifRetry(
        total=int(max_retries), connect=int(max_retries), read=int(max_retries), status=int(max_retries),
        other=0, redirect=5, status_forcelist=sorted(RETRY_STATUS), respect_retry_after_header=True,
        backoff_factor=float(backoff_s) / 2.0, backoff_jitter=0.25 * float(backoff_s),
        backoff_max=float(max_backoff_s), raise_on_status=False,
    )
    r.sleeper = sleep
    r.retry_after_cap = float(max_backoff_s)
    return r


class GbifClient:
    """Minimal GBIF REST client: a :class:`requests.Session` with urllib3 retries and timeouts.

    Parameters
    ----------
    base_url : str
        API root ending in ``/v1/`` (a mirror or a local test server may stand in).
    timeout : tuple of float
        ``(connect, read)`` timeouts in seconds.
    max_retries : int
        Retries after the first attempt for retryable failures (see :func:`retry_policy`).
    backoff_s : float
        Back-off unit in seconds (second retry after ``backoff_s``, doubled per retry, with up to
        25 % jitter).
    max_backoff_s : float
        Cap of one delay (also caps ``Retry-After``), seconds.
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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.timeout = (float(timeout[0]), float(timeout[1]))
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self._sleep = sleep
        self._sessions: dict[int, requests.Session] = {}
        self.session = self._session(self.max_retries)

    def _session(self, retries: int) -> requests.Session:
        """A session whose adapters retry ``retries`` times (one session per retry count)."""
        if retries not in self._sessions:
            s = requests.Session()
            s.headers["User-Agent"] = "werkland (python-requests)"
            adapter = HTTPAdapter(max_retries=retry_policy(retries, self.backoff_s, self.max_backoff_s, self._sleep))
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            self._sessions[retries] = s
        return self._sessions[retries]

    def _backoff(self, attempt: int) -> float:
        """Delay before retrying a malformed body (the same schedule as :func:`retry_policy`)."""
        if attempt == 0:
            return 0.0
        d = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        return d + 0.25 * self.backoff_s * random.random()

    # -- low level ------------------------------------------------------------------------
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
        """Send one request (urllib3 retries transport and 429/5xx failures) and decode the body.

        A body that does not decode (truncated JSON behind a 200) is invisible to urllib3: it is
        fetched again up to ``max_retries`` times here.

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
        retries = self.max_retries if max_retries is None else int(max_retries)
        session = self._session(retries)
        basic = requests.auth.HTTPBasicAuth(auth.user, auth.pwd) if auth else None
        last = ""
        for attempt in range(retries + 1):
            if attempt:
                self._sleep(self._backoff(attempt))
            try:
                resp = session.request(method, url, params=params, json=json_body, auth=basic,
                                       timeout=timeout or self.timeout)
            except requests.RequestException as exc:
                raise GbifUnavailableError(
                    f"GBIF {method} {url} failed after {retries + 1} attempt(s): {type(exc).__name__}: {str(exc)[:200]}"
                ) from exc
            if resp.status_code in RETRY_STATUS:
                raise GbifUnavailableError(f"GBIF {method} {url} failed after {retries + 1} attempt(s): "
                                           f"HTTP {resp.status_code}: {resp.text[:200].strip()}")
            if resp.status_code >= 400:
                text = resp.text.strip()[:500]
                raise WerklandInputError(
                    f"GBIF rejected {method} {path} with HTTP {resp.status_code}: {text}",
                    path=url,
                    fix=_fix_for_status(resp.status_code, text),
                )
            try:
                if expect == "text":
                    return resp.text
                text = resp.content.decode(resp.encoding or "utf-8")
                return (json.loads(text), text) if expect == "json+text" else json.loads(text)
            except ValueError as exc:
                last = f"malformed/truncated JSON body ({len(resp.content)} bytes): {exc}"
                log.warning("GBIF %s %s: %s", method, path, last)
        raise GbifUnavailableError(f"GBIF {method} {url} failed after {retries + 1} attempt(s): {last}")

    def download_file(self, path: str, dest: Path, *, max_retries: int | None = None) -> int:
        """Stream a binary file (e.g. a download zip) to ``dest`` atomically; return its size in bytes."""
        url = self.base_url + path.lstrip("/")
        retries = self.max_retries if max_retries is None else int(max_retries)
        try:
            with self._session(retries).get(url, stream=True, timeout=self.timeout) as resp:
                if resp.status_code in RETRY_STATUS:
                    raise GbifUnavailableError(f"GBIF GET {url} failed after {retries + 1} attempt(s): HTTP {resp.status_code}")
                if resp.status_code >= 400:
                    raise GbifError(f"GBIF GET {url} answered HTTP {resp.status_code}: {resp.text[:300]}")
                size = 0
                with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
                    for chunk in resp.iter_content(chunk_size=1 << 20):
                        fh.write(chunk)
                        size += len(chunk)
                return size
        except requests.RequestException as exc:
            raise GbifUnavailableError(
                f"GBIF GET {url} failed after {retries + 1} attempt(s): {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc

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

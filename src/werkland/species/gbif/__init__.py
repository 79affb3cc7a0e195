"""GBIF occurrence client: search, download, file reading, query cache and query geometry.

Why not pygbif for the HTTP calls
---------------------------------
pygbif copies its base URL into each module at import time (``from pygbif.gbifutils import
gbif_baseurl``) and hard-codes ``http://api.gbif.org`` for downloads, calls the module-level
``requests.get`` without timeouts or retries (pygbif#52) and configures the root logger on import.
A mirror or a local test server therefore cannot stand in cleanly. This module calls the same REST
endpoints (``occurrence/search``, ``occurrence/download/request``, ``occurrence/download/{key}``,
``occurrence/download/request/{key}.zip``) with :mod:`requests` directly, with a configurable
``base_url`` (default ``https://api.gbif.org/v1/``), ``(connect, read)`` timeouts, and a
:class:`requests.Session` whose adapter retries with urllib3 ``Retry`` (connection errors, read
timeouts, HTTP 429/500/502/503/504, ``Retry-After`` honoured, exponential back-off with jitter; see
:func:`retry_policy`); a truncated body behind a 200 is fetched again by the client. Other 4xx answers
(e.g. 400 for a bad WKT polygon) fail at once with GBIF's own message. Name matching uses pygbif
(:mod:`werkland.species.names`).

Sources (:func:`fetch_occurrences`)
-----------------------------------
``api``       paged occurrence search (300 per page, up to the 100,000 offset limit)
``download``  asynchronous occurrence download (credentials from ``GBIF_USER``/``GBIF_PWD``/``GBIF_EMAIL``)
``file``      an existing GBIF download zip (SIMPLE_CSV or DwC-A) or an extracted table
``auto``      api when GBIF answers, else a complete cached copy of the same query, else "no data"

(Monitoring tables, ``species_source: table``, are read by :mod:`werkland.species.table`.)

Cache layout (``cache_dir``)
----------------------------
``search/<sha256>/query.json``, ``page_<offset>.json`` (raw bodies), ``complete.json`` (written last);
``download/<sha256>/query.json``, ``download.json`` (key, metadata), ``<key>.zip``. The hash is the
SHA-256 of the canonical JSON of the exact query (endpoint + parameters or predicate + format), not of
the base URL, so a mirror shares the cache. Every file is written atomically; a query without
``complete.json`` is resumed (pages kept when GBIF still reports the same ``count``) or refetched.
A refresh (``species.refresh_cache``) fetches into ``.staging/`` and swaps the complete copy in only
at the end, so a failed refresh keeps the old copy. ``taxa.json`` caches backbone name matches.
"""


from werkland.species.gbif.client import (
    DEFAULT_BASE_URL,
    DEFAULT_BASIS_OF_RECORD,
    MAX_MEMBER_BYTES,
    OFFSET_LIMIT,
    PAGE_LIMIT,
    RECORD_COLUMNS,
    Credentials,
    FetchResult,
    GbifClient,
    GbifError,
    GbifOutageError,
    GbifUnavailableError,
    credentials_from_env,
    query_hash,
    retry_policy,
)
from werkland.species.gbif.fetch import (
    NO_DATA_MESSAGE,
    NO_SOURCE_MESSAGE,
    QueryCache,
    QueryGeometry,
    download_citation,
    download_predicate,
    fetch_download,
    fetch_occurrences,
    load_cached_search,
    region_query_geometry,
    search_all,
    search_query,
)
from werkland.species.gbif.files import normalise_licence, read_occurrence_file, records_to_frame

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_BASIS_OF_RECORD",
    "MAX_MEMBER_BYTES",
    "NO_DATA_MESSAGE",
    "NO_SOURCE_MESSAGE",
    "OFFSET_LIMIT",
    "PAGE_LIMIT",
    "RECORD_COLUMNS",
    "Credentials",
    "FetchResult",
    "GbifClient",
    "GbifError",
    "GbifOutageError",
    "GbifUnavailableError",
    "QueryCache",
    "QueryGeometry",
    "credentials_from_env",
    "download_citation",
    "download_predicate",
    "fetch_download",
    "fetch_occurrences",
    "load_cached_search",
    "normalise_licence",
    "query_hash",
    "read_occurrence_file",
    "records_to_frame",
    "region_query_geometry",
    "retry_policy",
    "search_all",
    "search_query",
]

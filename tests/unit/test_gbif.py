"""Tests of werkland.species.gbif against a local HTTP server on 127.0.0.1 replaying recorded GBIF responses.

Recorded responses come from ``../shared/data/gbif_recorded/decoded/*.json`` (rgbif fixtures decoded),
the pygbif vcrpy cassettes and ``../shared/data/gbif-pygbif-cassette-dk`` (a real 300-record page of a
765-record query); tests needing them skip when ``../shared`` is absent. Pages beyond the one recorded
page and the fault-injection answers (timeouts, 429, 500, truncated JSON) are made up here.
Never calls the live API.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import threading
import time
import zipfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import numpy as np
import pytest
import shapely
import yaml
from pyproj import CRS
from shapely.geometry import Point, Polygon, box

from werkland._errors import WerklandInputError
from werkland.species import gbif
from werkland.species.gbif.client import _param_pairs
from werkland.species.gbif.files import _LimitedReader

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REC = SHARED / "gbif_recorded"
DECODED = REC / "decoded"
DK_PAGE = SHARED / "gbif-pygbif-cassette-dk" / "occurrence_search_taxonKey3329049_limit300.json"
needs_shared = pytest.mark.skipif(not REC.exists(), reason=f"{REC} not present (../shared/data is not beside the project)")


# --------------------------------------------------------------------------------------------
# replay server

Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[dict[str, str]], "Response | str"]  # may return "sleep:<s>" or "close"


class Replay:
    """Routes ``(method, path)`` -> a handler or a list of answers served in turn (the last repeats)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route | list] = {}
        self.log: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        handler = self._make_handler()
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.srv.server_address[1]}/v1/"

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.log if p == path)

    def _answer(self, method: str, path: str, q: dict[str, str]) -> Response | str:
        route = self.routes.get((method, path))
        if route is None:
            return (404, "text/plain", f"no recording for {method} {path}".encode())
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        return route(q)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _do(self, method: str) -> None:
                u = urlparse(self.path)
                q = dict(parse_qsl(u.query, keep_blank_values=True))
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                replay.log.append((method, u.path.removeprefix("/v1/"), q, {"auth": self.headers.get("Authorization", ""), "body": body.decode()}))
                ans = replay._answer(method, u.path.removeprefix("/v1/"), q)
                if isinstance(ans, str) and ans.startswith("sleep:"):
                    time.sleep(float(ans.split(":")[1]))
                    ans = (200, "application/json", b'{"late": true}')
                status, ctype, data = ans  # type: ignore[misc]
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if status == 429:
                    self.send_header("Retry-After", "2")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._do("GET")

            def do_POST(self) -> None:
                self._do("POST")

        return H


@pytest.fixture()
def replay():
    r = Replay()
    yield r
    r.close()


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, s: float) -> None:
        self.calls.append(s)


def client(replay: Replay, **kw) -> gbif.GbifClient:
    kw.setdefault("timeout", (2.0, 2.0))
    kw.setdefault("sleep", FakeSleep())
    return gbif.GbifClient(replay.base, **kw)


def js(obj: object, status: int = 200) -> Response:
    return (status, "application/json", json.dumps(obj).encode())


def decoded(name: str) -> list[dict]:
    return json.loads((DECODED / name).read_text())["interactions"]


def dk_records() -> tuple[bytes, list[dict]]:
    """The recorded DK page (raw bytes) and 765 records: the recorded 300 plus 465 re-keyed copies."""
    raw = DK_PAGE.read_bytes()
    recs = json.loads(raw)["results"]
    extra = []
    for i in range(765 - 300):
        r = copy.deepcopy(recs[i % 300])
        r["key"] = 9_000_000_000 + i
        r["gbifID"] = str(r["key"])
        extra.append(r)
    return raw, recs + extra


def paging_route(records: list[dict], first_raw: bytes | None = None) -> Route:
    def route(q: dict[str, str]) -> Response:
        off, lim = int(q.get("offset", 0)), min(int(q.get("limit", 20)), 300)
        if off == 0 and lim == 300 and first_raw is not None:
            return (200, "application/json", first_raw)
        return js({"offset": off, "limit": lim, "endOfRecords": off + lim >= len(records), "count": len(records),
                   "results": records[off:off + lim], "facets": []})

    return route


QUERY = {"endpoint": "occurrence/search", "params": {"taxonKey": "3329049", "occurrenceStatus": "PRESENT"}}


# --------------------------------------------------------------------------------------------
# search, paging, cache


@needs_shared
def test_paging_dk_recorded_page(replay: Replay, tmp_path: Path) -> None:
    raw, recs = dk_records()
    replay.routes[("GET", "occurrence/search")] = paging_route(recs, raw)
    c = client(replay)
    rows, info = gbif.search_all(c, QUERY, gbif.QueryCache(tmp_path))
    assert info["count"] == 765 and info["pages"] == 3 and not info["from_cache"]
    assert len(rows) == 765 and len({r["key"] for r in rows}) == 765
    offsets = sorted(int(q["offset"]) for m, p, q, _ in replay.log if p == "occurrence/search")
    assert offsets == [0, 300, 600]
    assert all(q["limit"] == "300" for _, _, q, _ in replay.log)
    df = gbif.records_to_frame(rows)
    assert (df["countryCode"] == "DK").all() and (df["license"] == "CC_BY_4_0").all()
    assert df["speciesKey"].notna().all() and df["decimalLatitude"].between(54, 58).all()
    # cached: second call does not touch the server
    n = len(replay.log)
    rows2, info2 = gbif.search_all(c, QUERY, gbif.QueryCache(tmp_path))
    assert info2["from_cache"] and len(replay.log) == n and rows2 == rows
    d = gbif.QueryCache(tmp_path).search_dir(gbif.query_hash(QUERY))
    assert json.loads((d / "query.json").read_text())["query"] == QUERY
    assert (d / "page_000000.json").read_bytes() == raw.decode().encode()  # raw page kept verbatim


@needs_shared
def test_truncated_page_resumes_without_refetching(replay: Replay, tmp_path: Path) -> None:
    raw, recs = dk_records()
    good = paging_route(recs, raw)
    state = {"broken": True}

    def route(q: dict[str, str]) -> Response:
        status, ctype, body = good(q)
        if q["offset"] == "600" and state["broken"]:
            return (status, ctype, body[: len(body) // 2])  # truncated JSON
        return (status, ctype, body)

    replay.routes[("GET", "occurrence/search")] = route
    cache = gbif.QueryCache(tmp_path)
    with pytest.raises(gbif.GbifUnavailableError, match="truncated"):
        gbif.search_all(client(replay, max_retries=2), QUERY, cache)
    qh = gbif.query_hash(QUERY)
    assert not cache.is_complete(qh) and len(cache.pages(qh)) == 2
    state["broken"] = False
    replay.log.clear()
    rows, info = gbif.search_all(client(replay), QUERY, cache)
    assert len(rows) == 765 and cache.is_complete(qh)
    assert [q["offset"] for _, _, q, _ in replay.log] == ["600"]  # resumed, pages 0 and 300 reused


def test_count_change_while_resuming_refetches(replay: Replay, tmp_path: Path) -> None:
    recs = [{"key": i, "decimalLatitude": 52.0, "decimalLongitude": 4.0} for i in range(500)]
    cache = gbif.QueryCache(tmp_path)
    qh = gbif.query_hash(QUERY)
    old = {"offset": 0, "limit": 300, "endOfRecords": False, "count": 450, "results": recs[:300]}
    cache.write_page(qh, 0, json.dumps(old))  # half-fetched query from an earlier run, other count
    replay.routes[("GET", "occurrence/search")] = paging_route(recs)
    rows, info = gbif.search_all(client(replay), QUERY, cache)
    assert info["count"] == 500 and len(rows) == 500
    assert [q["offset"] for _, _, q, _ in replay.log] == ["300", "0", "300"]


def test_refresh_discards_cache(replay: Replay, tmp_path: Path) -> None:
    recs = [{"key": i} for i in range(10)]
    replay.routes[("GET", "occurrence/search")] = paging_route(recs)
    cache = gbif.QueryCache(tmp_path)
    gbif.search_all(client(replay), QUERY, cache)
    recs.append({"key": 10})
    rows, info = gbif.search_all(client(replay), QUERY, cache)
    assert len(rows) == 10 and info["from_cache"]
    rows, info = gbif.search_all(client(replay), QUERY, cache, refresh=True)
    assert len(rows) == 11 and not info["from_cache"]


@needs_shared
def test_geometry_search_over_offset_limit_says_use_download(replay: Replay, tmp_path: Path) -> None:
    it = decoded("occ_search_geometry_bbox_west_europe_limit100.json")[0]
    replay.routes[("GET", "occurrence/search")] = [js(it["response_body"])]
    with pytest.raises(WerklandInputError, match="download") as e:
        gbif.search_all(client(replay), QUERY, gbif.QueryCache(tmp_path))
    assert "839,717,404" in str(e.value)
    assert not gbif.QueryCache(tmp_path).is_complete(gbif.query_hash(QUERY))
    # the recorded page itself parses into the normalised table
    df = gbif.records_to_frame(it["response_body"]["results"])
    assert len(df) == 100 and (df["countryCode"] == "BE").sum() == 89
    assert (df["license"] == "CC_BY_NC_4_0").sum() == 89
    assert df["issues"].str.contains("TAXON_ID_NOT_FOUND").sum() > 0


@needs_shared
def test_recorded_geometry_query_replayed_with_its_parameters(replay: Replay) -> None:
    it = decoded("occ_search_geometry_small_polygon_limit2.json")[0]
    u = urlparse(it["uri"])
    params = dict(parse_qsl(u.query))
    wkt = params["geometry"]

    def route(q: dict[str, str]) -> Response:
        return js(it["response_body"]) if q.get("geometry") == wkt else (400, "text/plain", b"unexpected")

    replay.routes[("GET", "occurrence/search")] = route
    body = client(replay).search_page({k: v for k, v in params.items() if k not in ("offset", "limit")}, 0, 2)
    assert body["count"] == it["response_body"]["count"] and len(body["results"]) == 2
    assert Polygon(shapely.from_wkt(wkt).exterior.coords).exterior.is_ccw


@needs_shared
def test_bad_polygon_400_is_not_retried(replay: Replay) -> None:
    it = decoded("occ_search_geometry_errors_400.json")[0]
    replay.routes[("GET", "occurrence/search")] = [(400, "text/plain", it["response_body"].encode())]
    sl = FakeSleep()
    with pytest.raises(WerklandInputError, match="Cannot parse simple WKT") as e:
        client(replay, sleep=sl).search_page({"geometry": "POLYGON((30.1 10.1,40 40,20 40,10 20,30.1 a))"}, 0)
    assert "HTTP 400" in str(e.value) and "fix:" in str(e.value)
    assert replay.hits("occurrence/search") == 1 and sl.calls == []


@needs_shared
def test_pygbif_cassette_search_page_parses(replay: Replay) -> None:
    cas = yaml.safe_load((REC / "pygbif_cassettes" / "test_search_recorded_by_id.yaml").read_text())
    inter = cas["interactions"][0]
    replay.routes[("GET", "occurrence/search")] = [(200, "application/json", inter["response"]["body"]["string"].encode())]
    body = client(replay).search_page({"recordedByID": "https://orcid.org/0000-0003-1691-239X"}, 0, 3)
    assert len(body["results"]) == 3 and body["count"] > 3
    df = gbif.records_to_frame(body["results"])
    assert df["gbifID"].notna().all() and len(df) == 3


# --------------------------------------------------------------------------------------------
# fault injection


def test_retry_on_429_honours_retry_after(replay: Replay) -> None:
    replay.routes[("GET", "occurrence/search")] = [(429, "text/plain", b"Too many requests"), js({"count": 0, "results": []})]
    sl = FakeSleep()
    body = client(replay, sleep=sl).search_page({}, 0)
    assert body["count"] == 0 and sl.calls == [2.0]
    assert replay.hits("occurrence/search") == 2


def test_retry_on_500_with_exponential_backoff(replay: Replay) -> None:
    replay.routes[("GET", "occurrence/search")] = [(500, "text/plain", b"boom"), (503, "text/plain", b"busy"),
                                                   (502, "text/plain", b"gateway"), js({"count": 1, "results": [{}]})]
    sl = FakeSleep()
    client(replay, sleep=sl, backoff_s=1.0).search_page({}, 0)
    # urllib3 Retry: the first retry at once, then backoff_s, 2 * backoff_s, ... plus up to 25 % jitter
    assert len(sl.calls) == 2 and 1.0 <= sl.calls[0] <= 1.25 and 2.0 <= sl.calls[1] <= 2.25
    assert replay.hits("occurrence/search") == 4


def test_client_retries_through_a_urllib3_retry_adapter(replay: Replay) -> None:
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    c = client(replay, max_retries=4, backoff_s=0.5)
    adapter = c.session.get_adapter(replay.base)
    assert isinstance(adapter, HTTPAdapter) and isinstance(adapter.max_retries, Retry)
    r = adapter.max_retries
    assert set(r.status_forcelist) == {429, 500, 502, 503, 504} and r.respect_retry_after_header
    assert r.total == 4 and r.backoff_jitter > 0 and "POST" not in r.allowed_methods
    # a download request (POST) answered 503 is not repeated: GBIF may have queued it
    replay.routes[("POST", "occurrence/download/request")] = [(503, "text/plain", b"busy")]
    with pytest.raises(gbif.GbifUnavailableError):
        c.request("POST", "occurrence/download/request", json_body={}, expect="text")
    assert replay.hits("occurrence/download/request") == 1


def test_persistent_500_gives_up(replay: Replay) -> None:
    replay.routes[("GET", "occurrence/search")] = [(500, "text/plain", b"boom")]
    with pytest.raises(gbif.GbifUnavailableError, match="after 4 attempt"):
        client(replay, max_retries=3).search_page({}, 0)
    assert replay.hits("occurrence/search") == 4


def test_timeout_then_success(replay: Replay) -> None:
    replay.routes[("GET", "occurrence/search")] = ["sleep:1.0", js({"count": 0, "results": []})]
    sl = FakeSleep()
    body = client(replay, timeout=(1.0, 0.3), sleep=sl).search_page({}, 0)
    assert body["count"] == 0 and replay.hits("occurrence/search") == 2 and sl.calls == []  # first retry at once


def test_truncated_json_retried_then_fails(replay: Replay) -> None:
    replay.routes[("GET", "occurrence/search")] = [(200, "application/json", b'{"offset": 0, "count": 5, "results": [{"key"')]
    with pytest.raises(gbif.GbifUnavailableError, match="truncated"):
        client(replay, max_retries=1).search_page({}, 0)
    assert replay.hits("occurrence/search") == 2


def test_malformed_page_structure(replay: Replay) -> None:
    replay.routes[("GET", "occurrence/search")] = [js({"unexpected": True})]
    with pytest.raises(gbif.GbifUnavailableError, match="malformed"):
        client(replay).search_page({}, 0)


def test_auto_mode_unreachable_then_cache(replay: Replay, tmp_path: Path) -> None:
    geom = gbif.QueryGeometry("POLYGON((4 52,5 52,5 53,4 53,4 52))", False, 5)
    dead = gbif.GbifClient("http://127.0.0.1:9/v1/", max_retries=0, timeout=(0.5, 0.5), sleep=FakeSleep())
    res = gbif.fetch_occurrences("auto", geometry=geom, filters={}, cache_dir=tmp_path, client=dead)
    assert res.status == "no_data" and res.message == gbif.NO_DATA_MESSAGE and len(res.records) == 0
    with pytest.raises(gbif.GbifUnavailableError):
        gbif.fetch_occurrences("api", geometry=geom, filters={}, cache_dir=tmp_path, client=dead)
    recs = [{"key": i, "decimalLatitude": 52.5, "decimalLongitude": 4.5, "speciesKey": 7} for i in range(3)]
    replay.routes[("GET", "occurrence/search")] = paging_route(recs)
    live = gbif.fetch_occurrences("api", geometry=geom, filters={"year_min": 2015}, cache_dir=tmp_path, client=client(replay))
    assert live.mode == "api" and len(live.records) == 3
    cached = gbif.fetch_occurrences("auto", geometry=geom, filters={"year_min": 2015}, cache_dir=tmp_path, client=dead)
    assert cached.mode == "cache" and cached.records.equals(live.records) and cached.query_hash == live.query_hash


def test_empty_result(replay: Replay, tmp_path: Path) -> None:
    replay.routes[("GET", "occurrence/search")] = paging_route([])
    res = gbif.fetch_occurrences("api", geometry=None, filters={}, cache_dir=tmp_path, client=client(replay))
    assert res.status == "empty" and "no records" in res.message and len(res.records) == 0


# --------------------------------------------------------------------------------------------
# downloads


def _lifecycle_routes(replay: Replay, zip_bytes: bytes, final_status: str = "SUCCEEDED") -> tuple[str, dict]:
    lc = json.loads((DECODED / "occ_download_lifecycle_poll_sequence.json").read_text())
    key = lc["sequence"][0]["response_body"]
    final = dict(lc["final_full_meta"])
    polls = []
    for s in lc["sequence"][1:]:
        m = dict(final)
        m.update({k: s[k] for k in ("status", "modified", "doi", "size", "totalRecords", "license")})
        if m["doi"] is None:
            m.pop("doi")
        polls.append(m)
    if final_status != "SUCCEEDED":
        polls = polls[:3] + [dict(polls[3], status=final_status)]
    else:
        polls[-1]["size"] = len(zip_bytes)  # the recorded download is not stored; serve a real SIMPLE_CSV zip
    replay.routes[("POST", "occurrence/download/request")] = [(201, "text/plain", key.encode())]
    replay.routes[("GET", f"occurrence/download/{key}")] = [js(p) for p in polls]
    replay.routes[("GET", f"occurrence/download/request/{key}.zip")] = [(200, "application/octet-stream", zip_bytes)]
    return key, polls[-1]


CREDS = gbif.Credentials("someone", "s3cret-pa55", "someone@example.org")


@needs_shared
def test_download_lifecycle_poll_fetch_and_resume(replay: Replay, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    zbytes = (REC / "downloads" / "0009886-250127130748423_SIMPLE_CSV.zip").read_bytes()
    key, final = _lifecycle_routes(replay, zbytes)
    caplog.set_level(logging.DEBUG)
    sl = FakeSleep()
    pred = gbif.download_predicate("POLYGON((4 52,5 52,5 53,4 53,4 52))", {"year_min": 2015})
    zpath, meta = gbif.fetch_download(client(replay, sleep=sl), pred, gbif.QueryCache(tmp_path), creds=CREDS, poll_s=30)
    assert meta["status"] == "SUCCEEDED" and meta["doi"] == "10.15468/dl.np3k7j"
    n_polls = replay.hits(f"occurrence/download/{key}")
    assert n_polls == len(json.loads((DECODED / "occ_download_lifecycle_poll_sequence.json").read_text())["sequence"]) - 1
    assert sl.calls == [30] * (n_polls - 1)
    assert zpath.read_bytes() == zbytes
    post = next(x for x in replay.log if x[0] == "POST")
    body = json.loads(post[3]["body"])
    assert body["predicate"]["predicates"][0] == {"type": "within", "geometry": "POLYGON((4 52,5 52,5 53,4 53,4 52))"}
    assert body["format"] == "SIMPLE_CSV" and post[3]["auth"].startswith("Basic ")
    assert "s3cret-pa55" not in caplog.text and "someone@example.org" not in caplog.text
    assert "s3cret" not in repr(CREDS)
    # a rerun uses the stored zip without any request
    n = len(replay.log)
    zpath2, _ = gbif.fetch_download(client(replay), pred, gbif.QueryCache(tmp_path), creds=CREDS)
    assert zpath2 == zpath and len(replay.log) == n
    df, info = gbif.read_occurrence_file(zpath)
    assert len(df) == 91


@needs_shared
@pytest.mark.parametrize("status", ["FAILED", "KILLED", "CANCELLED"])
def test_download_that_fails_is_reported(replay: Replay, tmp_path: Path, status: str) -> None:
    key, _ = _lifecycle_routes(replay, b"", final_status=status)
    pred = gbif.download_predicate(None, {})
    with pytest.raises(gbif.GbifError, match=status):
        gbif.fetch_download(client(replay), pred, gbif.QueryCache(tmp_path), creds=CREDS)
    # the key was kept: a rerun polls the same download instead of requesting a new one
    with pytest.raises(gbif.GbifError):
        gbif.fetch_download(client(replay), pred, gbif.QueryCache(tmp_path), creds=CREDS)
    assert replay.hits("occurrence/download/request") == 1


def test_download_size_mismatch_and_wait_cap(replay: Replay, tmp_path: Path) -> None:
    key = "0000001-000000000000001"
    replay.routes[("POST", "occurrence/download/request")] = [(201, "text/plain", key.encode())]
    replay.routes[("GET", f"occurrence/download/{key}")] = [js({"key": key, "status": "SUCCEEDED", "size": 999, "doi": "10.15468/dl.x"})]
    replay.routes[("GET", f"occurrence/download/request/{key}.zip")] = [(200, "application/zip", b"PK-short")]
    with pytest.raises(gbif.GbifError, match="999"):
        gbif.fetch_download(client(replay), gbif.download_predicate(None, {}), gbif.QueryCache(tmp_path), creds=CREDS)
    assert not list(tmp_path.rglob("*.zip"))
    replay.routes[("GET", f"occurrence/download/{key}")] = [js({"key": key, "status": "RUNNING"})]
    ticks = iter(np.arange(0, 1e6, 100.0))
    with pytest.raises(gbif.GbifError, match="still RUNNING"):
        client(replay).wait_for_download(key, poll_s=1, max_wait_s=250, clock=lambda: float(next(ticks)))


def test_credentials_from_env() -> None:
    with pytest.raises(WerklandInputError, match="GBIF_PWD, GBIF_EMAIL") as e:
        gbif.credentials_from_env({"GBIF_USER": "alice-xyz"})
    assert "alice-xyz" not in str(e.value)
    c = gbif.credentials_from_env({"GBIF_USER": "alice-xyz", "GBIF_PWD": "pw-123", "GBIF_EMAIL": "a@example.org"})
    assert c.user == "alice-xyz" and c.pwd == "pw-123"
    assert "pw-123" not in repr(c) and "a@example.org" not in repr(c)


def test_download_predicate_shape() -> None:
    p = gbif.download_predicate("POLYGON((0 0,1 0,1 1,0 0))", {"year_min": 2015, "year_max": 2024})
    keys = {q.get("key") for q in p["predicates"]}
    assert {"OCCURRENCE_STATUS", "HAS_COORDINATE", "HAS_GEOSPATIAL_ISSUE", "YEAR"} <= keys
    assert p["predicates"][0]["type"] == "within"
    nots = [q for q in p["predicates"] if q["type"] == "not"]
    assert nots and set(nots[0]["predicate"]["values"]) == {"FOSSIL_SPECIMEN", "LIVING_SPECIMEN"}


# --------------------------------------------------------------------------------------------
# files


@needs_shared
def test_read_real_simple_csv_zip() -> None:
    df, info = gbif.read_occurrence_file(REC / "downloads" / "0009886-250127130748423_SIMPLE_CSV.zip")
    assert info["format"] == "SIMPLE_CSV" and info["download_key"] == "0009886-250127130748423"
    with zipfile.ZipFile(REC / "downloads" / "0009886-250127130748423_SIMPLE_CSV.zip") as z:
        n_lines = z.read("0009886-250127130748423.csv").decode().rstrip("\n").count("\n")
    assert len(df) == n_lines
    assert set(df["species"]) == {"Delphinium fissum"} and set(df["countryCode"].dropna()) == {"ES"}
    assert df["decimalLatitude"].dropna().between(27, 44).all() and df["decimalLatitude"].notna().sum() > 50 and df["coordinateUncertaintyInMeters"].notna().any()
    assert set(df["license"]) <= {"CC0_1_0", "CC_BY_4_0", "CC_BY_NC_4_0"}
    assert df["issues"].str.contains("COORDINATE_PRECISION_INVALID").any()


@needs_shared
def test_read_real_dwca_zip_and_extracted_table(tmp_path: Path) -> None:
    z = REC / "downloads" / "0319331-200613084148143_DWCA.zip"
    df, info = gbif.read_occurrence_file(z)
    assert info["format"] == "DWCA" and info["doi"] == "10.15468/dl.wfjquc"
    assert "Rights as supplied" in info["rights"] and "accessed via GBIF.org" in info["citations"]
    assert len(df) == 258 and set(df["species"]) == {"Marisa cornuarietis"}
    lic = df["license"].value_counts().to_dict()
    assert lic == {"CC_BY_NC_4_0": 140, "CC_BY_4_0": 64, "CC0_1_0": 54}
    assert df["iucnRedListCategory"].notna().all() and df["familyKey"].notna().all()
    with zipfile.ZipFile(z) as zf:
        (tmp_path / "occurrence.txt").write_bytes(zf.read("occurrence.txt"))
    df2, info2 = gbif.read_occurrence_file(tmp_path / "occurrence.txt")
    assert info2["format"] == "TABLE" and df2.equals(df)


def _zip(tmp_path: Path, members: dict[str, bytes], name: str = "x.zip") -> Path:
    p = tmp_path / name
    with zipfile.ZipFile(p, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    return p


def test_zip_safety_and_bad_zips(tmp_path: Path) -> None:
    table = b"gbifID\tdecimalLatitude\tdecimalLongitude\tspeciesKey\n1\t52.0\t4.3\t5\n"
    with pytest.raises(WerklandInputError, match="unsafe"):
        gbif.read_occurrence_file(_zip(tmp_path, {"../evil.csv": table}))
    with pytest.raises(WerklandInputError, match="unsafe"):
        gbif.read_occurrence_file(_zip(tmp_path, {"/etc/evil.csv": table}, "abs.zip"))
    with pytest.raises(WerklandInputError, match="no occurrence table"):
        gbif.read_occurrence_file(_zip(tmp_path, {"meta.xml": b"<x/>", "rights.txt": b"r"}, "noocc.zip"))
    with pytest.raises(WerklandInputError, match="limit"):
        gbif.read_occurrence_file(_zip(tmp_path, {"0000001-000000000000001.csv": table * 100}, "big.zip"), max_member_bytes=200)
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(WerklandInputError):
        gbif.read_occurrence_file(tmp_path / "corrupt.zip")
    with pytest.raises(WerklandInputError, match="not found"):
        gbif.read_occurrence_file(tmp_path / "missing.zip")
    with pytest.raises(WerklandInputError, match="decimalLatitude"):
        gbif.read_occurrence_file(_zip(tmp_path, {"a.csv": b"x\ty\n1\t2\n"}, "nocoords.zip"))
    df, info = gbif.read_occurrence_file(_zip(tmp_path, {"0000001-000000000000001.csv": table}, "0000001-000000000000001.zip"))
    assert len(df) == 1 and info["download_key"] == "0000001-000000000000001"


def test_limited_reader_catches_lying_header() -> None:
    r = _LimitedReader(io.BytesIO(b"x" * 1000), 100, "m")
    with pytest.raises(WerklandInputError, match="larger than"):
        io.BufferedReader(r).read()


# --------------------------------------------------------------------------------------------
# query geometry


def test_region_wkt_ccw_wgs84_short_and_covering() -> None:
    crs = CRS.from_epsg(28992)
    # clockwise exterior with a hole, Delft
    outer = [(84100, 445700), (84100, 446800), (86300, 446800), (86300, 445700)]
    hole = [(85000, 446000), (85200, 446000), (85200, 446200), (85000, 446200)]
    poly = Polygon(outer, [hole])
    assert not poly.exterior.is_ccw
    g = gbif.region_query_geometry(poly, crs, simplify_m=10)
    assert not g.is_bbox and g.wkt.startswith("POLYGON((") and len(g.wkt) < 1500
    ll = shapely.from_wkt(g.wkt)
    assert ll.is_valid and ll.exterior.is_ccw and all(not i.is_ccw for i in ll.interiors)
    minx, miny, maxx, maxy = ll.bounds
    assert 4.3 < minx < maxx < 4.4 and 51.9 < miny < maxy < 52.1
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, 4326, always_xy=True)
    assert all(ll.contains(Point(tr.transform(x, y))) for x, y in outer)
    assert max(len(t.split(".")[1]) for t in g.wkt.replace("(", " ").replace(")", " ").replace(",", " ").split() if "." in t) <= 6


def test_region_wkt_complex_polygon_falls_back_to_bbox() -> None:
    crs = CRS.from_epsg(28992)
    rng = np.random.default_rng(1)
    ang = np.linspace(0, 2 * np.pi, 800, endpoint=False)
    rad = 1000 + rng.uniform(0, 300, ang.size)
    poly = Polygon(np.c_[85000 + rad * np.cos(ang), 446000 + rad * np.sin(ang)])
    g = gbif.region_query_geometry(poly, crs, simplify_m=1, max_chars=400)
    assert g.is_bbox and g.n_points == 5
    bb = shapely.from_wkt(g.wkt)
    assert bb.exterior.is_ccw
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, 4326, always_xy=True)
    assert all(bb.covers(Point(tr.transform(x, y))) for x, y in poly.exterior.coords)


def test_region_wkt_multipolygon_and_empty() -> None:
    crs = CRS.from_epsg(28992)
    mp = shapely.MultiPolygon([box(84000, 445000, 84500, 445500), box(86000, 447000, 86500, 447500)])
    g = gbif.region_query_geometry(mp, crs)
    assert g.wkt.startswith("MULTIPOLYGON(((")
    assert all(p.exterior.is_ccw for p in shapely.from_wkt(g.wkt).geoms)
    with pytest.raises(WerklandInputError, match="empty"):
        gbif.region_query_geometry(Polygon(), crs)


def test_search_query_and_hash_are_stable() -> None:
    q1 = gbif.search_query("POLYGON((0 0,1 0,1 1,0 0))", {"year_min": 2015, "basis_of_record": ["OBSERVATION", "HUMAN_OBSERVATION"]})
    q2 = gbif.search_query("POLYGON((0 0,1 0,1 1,0 0))", {"basis_of_record": ["HUMAN_OBSERVATION", "OBSERVATION"], "year_min": 2015})
    assert gbif.query_hash(q1) == gbif.query_hash(q2)
    assert q1["params"]["occurrenceStatus"] == "PRESENT" and q1["params"]["year"] == "2015,*"
    assert gbif.query_hash(q1) != gbif.query_hash(gbif.search_query("POLYGON((0 0,1 0,1 1,0 0))", {"year_min": 2016}))
    pairs = _param_pairs(q1["params"], offset=0, limit=300)
    assert ("basisOfRecord", "HUMAN_OBSERVATION") in pairs and ("basisOfRecord", "OBSERVATION") in pairs

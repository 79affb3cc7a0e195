"""Headless Debian chromium opens the region report and the interactive map from file://.

Checks: no console errors or uncaught exceptions, no failed or internet requests, no broken images,
Leaflet drew the map (overlay image and vector layers); the region summary is the first section; the
map's layer switcher lists the habitat, corridor, species, current and pinch-point layers; the Dutch
report shows no English words (a word list over the rendered text, data values marked
``translate="no"`` left out); a screenshot PNG of each page is taken.
Talks to chromium over the DevTools protocol with a minimal websocket client (standard library only).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import GUILDS, LEGEND
from tests.unit.test_report import TEST_GUILDS, _params, make_region
from werkland.layout import RegionPaths
from werkland.raster.io import read_raster, write_raster
from werkland.report import build_region_report

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]


class DevTools:
    """A tiny DevTools-protocol client over one websocket (RFC 6455 text frames)."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        assert ws_url.startswith("ws://")
        hostport, path = ws_url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake failed")
            head += chunk
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("websocket closed")
            buf += chunk
        return buf

    def _recv_message(self) -> dict[str, Any]:
        data = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            payload = self._recv_exact(n)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("websocket closed by chromium")
            if opcode in (0x9, 0xA):
                continue
            data += payload
            if b0 & 0x80:
                return json.loads(data.decode("utf-8"))

    def _send(self, obj: dict[str, Any]) -> None:
        payload = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack(">BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x81, 0x80 | 127, n)
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its result (events received meanwhile are kept)."""
        self.next_id += 1
        mid = self.next_id
        self._send({"id": mid, "method": method, "params": params})
        while True:
            msg = self._recv_message()
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for an event (checking those already received first)."""
        for e in self.events:
            if e.get("method") == method:
                return e
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._recv_message()
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(method)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="werkland-chromium-")
    proc = subprocess.Popen(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = Path(profile) / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("chromium did not start its DevTools endpoint")
        time.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(profile, ignore_errors=True)


def _open(port: int, url: str, screenshot: Path, extra: str = "null") -> dict[str, Any]:
    """Open ``url`` in a new tab; return console errors, failed/remote requests, broken images and page facts."""
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT"), timeout=30) as r:
        target = json.loads(r.read())
    dt = DevTools(target["webSocketDebuggerUrl"])
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            dt.call(f"{domain}.enable")
        dt.call("Page.navigate", url=url)
        dt.wait_event("Page.loadEventFired", timeout=60)
        time.sleep(1.0)  # let Leaflet finish drawing
        facts = json.loads(
            dt.call(
                "Runtime.evaluate",
                expression="""JSON.stringify({
                  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
                          .map(i => (i.getAttribute('src') || '').slice(0, 60)),
                  images: document.images.length,
                  leaflet: document.querySelectorAll('.leaflet-container').length,
                  vectors: document.querySelectorAll('.leaflet-interactive').length,
                  overlays: document.querySelectorAll('img.leaflet-image-layer').length,
                  title: document.title,
                  extra: (function () { return """ + extra + """; })()
                })""",
                returnByValue=True,
            )["result"]["value"]
        )
        shot = dt.call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        # drain what arrived during the evaluation
        errors, remote, failed = [], [], []
        for e in dt.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                errors.append(p["exceptionDetails"].get("text", "") + " " + json.dumps(p["exceptionDetails"].get("exception", {}))[:200])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append(p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                u = p["request"]["url"]
                if u.startswith(("http://", "https://")):
                    remote.append(u)
            elif m == "Network.loadingFailed":
                failed.append(p.get("errorText", ""))
        return {**facts, "errors": errors, "remote": remote, "failed": failed}
    finally:
        dt.close()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/json/close/{target['id']}", timeout=10).close()


def _with_currents(root: Path, region: str) -> None:
    """Current and pinch-point rasters of every guild (the currents stage's files) for the map layers."""
    paths = RegionPaths(root, region)
    arr, grid, _nd = read_raster(paths.habitat(TEST_GUILDS[0]))
    rng = np.random.default_rng(5)
    for g in TEST_GUILDS:
        write_raster(paths.current(g), rng.lognormal(0, 1.5, arr.shape).astype(np.float32), grid, nodata=-9999.0)
        write_raster(paths.pinchpoints(g), rng.lognormal(-1, 1.0, arr.shape).astype(np.float32), grid, nodata=-9999.0)


def _build_report(root: Path, region: str, language: str) -> Path:
    make_region(root, region, full=True)
    _with_currents(root, region)
    paths = RegionPaths(root, region)
    build_region_report(paths, LEGEND, GUILDS, _params(report={"language": language, "pdf": False}), qml_styles=False)
    return paths.report_dir


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    return _build_report(tmp_path_factory.mktemp("browser_results"), "synth", "en")


@pytest.fixture(scope="module")
def report_dir_nl(tmp_path_factory):
    return _build_report(tmp_path_factory.mktemp("browser_results_nl"), "synth", "nl")


#: Where the sections start on the rendered page (px from the top), in page order.
_SECTIONS_JS = """Array.from(document.querySelectorAll('main > section')).map(
    s => [s.id, Math.round(s.getBoundingClientRect().top + window.scrollY)])"""

#: The rendered text without the data values the page marks translate="no" (file names, guild labels
#: from guilds.yaml, formulas, configuration, citations, package names and hashes).
_TEXT_JS = """(function () {
    const body = document.body.cloneNode(true);
    body.querySelectorAll('[translate="no"], script, style').forEach(e => e.remove());
    document.documentElement.appendChild(body);
    const text = body.innerText;
    body.remove();
    return text;
})()"""

#: Common English words that are not also Dutch words (so none may appear in the Dutch rendering).
ENGLISH_WORDS = frozenset("""
the and to with from for by this that these those which where when what why how there their not are
was were been being has have had will would should could can into onto than then only each every all
any some more most less without within between after before above below under across about other same
such very also both either because while until since whole missing computed selected candidate
candidates measure measures habitat species records record cost costs gain gains area map maps region
summary first barrier barriers heat rain retained storage needed park parks guild guilds share hot cool
runoff excess natural recorded ranked total interactive layer layers legend connected connectivity
patch patches current currents storm storms design threshold suitability cover roof green tree trees
hedgerow pond meadow flower building buildings reach spot generated language contents methods formulas
plots source file version package citations chosen place size buys want
""".split())
#: Dotted names (config keys such as report.language, file names such as measures.xlsx) are code.
_DOTTED = re.compile(r"[\w-]+(?:\.[\w-]+)+")
#: Words of the list that the Dutch page may show: proper names and units.
ALLOWED = frozenset({"gbif", "openstreetmap", "odbl", "pdok", "chao", "eca", "dpc", "hm", "eur", "ha", "mm"})


def test_report_page_in_chromium(browser, report_dir):
    shot = report_dir / "screenshot_index.png"
    res = _open(browser, (report_dir / "index.html").as_uri(), shot, _SECTIONS_JS)
    assert res["errors"] == [], res["errors"]
    assert res["failed"] == [], res["failed"]
    assert res["remote"] == [], f"the report loads from the internet: {res['remote']}"
    assert res["broken"] == [], res["broken"]
    assert res["images"] >= 13 and res["title"].startswith("werkland report")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    # the region summary comes first, above the park cards, the maps and the plots
    ids = [sid for sid, _top in res["extra"]]
    tops = dict(res["extra"])
    assert ids[:4] == ["region", "summary", "maps", "plots"], ids
    assert tops["region"] < tops["summary"] < tops["maps"]


def test_dutch_report_has_no_english_words(browser, report_dir_nl):
    shot = report_dir_nl / "screenshot_index_nl.png"
    res = _open(browser, (report_dir_nl / "index.html").as_uri(), shot, _TEXT_JS)
    assert res["errors"] == [] and res["broken"] == [], (res["errors"], res["broken"])
    assert res["title"].startswith("werkland-rapport")
    text = res["extra"]
    assert "De regio in één oogopslag" in text and "Aanbevolen maatregelen over alle terreinen" in text
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", _DOTTED.sub(" ", text))}
    english = sorted((words & ENGLISH_WORDS) - ALLOWED)
    assert english == [], f"English words in the Dutch report: {english}"


def test_english_report_trips_the_word_check(browser, report_dir):
    """The same check over the English page finds many words: the Dutch test can fail."""
    res = _open(browser, (report_dir / "index.html").as_uri(), report_dir / "screenshot_text.png", _TEXT_JS)
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", _DOTTED.sub(" ", res["extra"]))}
    assert len((words & ENGLISH_WORDS) - ALLOWED) > 30


def test_interactive_map_in_chromium_offline(browser, report_dir):
    shot = report_dir / "screenshot_map.png"
    res = _open(browser, (report_dir / "map.html").as_uri(), shot)
    assert res["errors"] == [], res["errors"]
    assert res["failed"] == [], res["failed"]
    assert res["remote"] == [], f"the map loads from the internet: {res['remote']}"
    assert res["broken"] == [], res["broken"]
    assert res["leaflet"] == 1, "Leaflet did not initialise"
    assert res["overlays"] == 1, "land-cover overlay missing"
    assert res["vectors"] >= 2 + 12, "parks and barriers not drawn"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


_LAYERS_JS = """Array.from(document.querySelectorAll('.leaflet-control-layers label')).map(l => l.textContent.trim())
    .concat([document.querySelector('.leaflet-control-zoom-in').title])"""


def test_map_layer_switcher_lists_the_new_layers(browser, report_dir, report_dir_nl):
    res = _open(browser, (report_dir / "map.html").as_uri(), report_dir / "screenshot_layers.png", _LAYERS_JS)
    assert res["errors"] == [] and res["remote"] == [], (res["errors"], res["remote"])
    labels = res["extra"]
    for g in ("Hedgehog", "Wild bees"):
        for kind in ("Habitat suitability", "Corridors", "Current", "Pinch points"):
            assert any(lab.startswith(f"{kind}: {g}") for lab in labels), (kind, g, labels)
    assert "Species records (60)" in labels and "Land cover" in labels and "Park" in labels
    assert any(lab.startswith("Ranked barriers") for lab in labels)
    nl = _open(browser, (report_dir_nl / "map.html").as_uri(), report_dir_nl / "screenshot_layers_nl.png", _LAYERS_JS)
    assert any(lab.startswith("Geschiktheid leefgebied: ") for lab in nl["extra"]), nl["extra"]
    assert any(lab.startswith("Knelpunten: ") for lab in nl["extra"]) and "Soortwaarnemingen (60)" in nl["extra"]
    assert nl["extra"][-1] == "Inzoomen" and labels[-1] == "Zoom in"


"""The pages in a real browser: headless Chromium renders the Devanagari with a
Devanagari font (not fallback boxes), checked through the DevTools protocol."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, wait_for
from .server import start

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium fonts-noto-core)"
)


class DevTools:
    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=20)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def wait_event(self, name: str) -> dict:
        while True:
            message = json.loads(self.ws.recv())
            if message.get("method") == name:
                params: dict[str, Any] = message["params"]
                return params


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    assert CHROMIUM is not None  # the tests skip without it
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=420,900",
            "about:blank",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    port = None
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            port = int(found[1])
            break
    assert port, "Chromium did not start its DevTools endpoint"
    yield port
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("browser-site")
    shutil.copytree(ROOT / "articles", root / "articles")
    config = root / "config.toml"
    config.write_text("")
    server = start(config)
    wait_for(lambda: server.request("/tags/trump").status == 200)
    yield server
    server.stop()


def _page(port: int) -> DevTools:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
        targets = json.load(reply)
    page = next(t for t in targets if t["type"] == "page")
    return DevTools(page["webSocketDebuggerUrl"])


@pytest.mark.parametrize(
    ("path", "selector", "text"),
    [
        ("/", "h1", "हिंदी समाचार"),
        ("/tags/trump", "h1", "विषय: TRUMP"),
    ],
)
def test_devanagari_renders_with_a_devanagari_font(
    browser: int, site, path: str, selector: str, text: str, tmp_path: Path
) -> None:
    page = _page(browser)
    page.call("Page.enable")
    page.call("DOM.enable")
    page.call("CSS.enable")
    base = f"http://127.0.0.1:{site.port}"
    page.call("Page.navigate", url=base + path)
    page.wait_event("Page.loadEventFired")
    document = page.call("DOM.getDocument", depth=-1)
    node = page.call("DOM.querySelector", nodeId=document["root"]["nodeId"], selector=selector)
    html = page.call("DOM.getOuterHTML", nodeId=node["nodeId"])["outerHTML"]
    assert text in html
    fonts = page.call("CSS.getPlatformFontsForNode", nodeId=node["nodeId"])["fonts"]
    devanagari = [f for f in fonts if "Devanagari" in f["familyName"] and f["glyphCount"] > 0]
    assert devanagari, f"no Devanagari font used, only {fonts}"
    shot = page.call("Page.captureScreenshot", format="png")["data"]
    import base64

    image = tmp_path / f"page{path.replace('/', '_') or '_'}.png"
    image.write_bytes(base64.b64decode(shot))
    assert image.stat().st_size > 5_000
    print(f"screenshot: {image}")


ARTIFACTS = ROOT / "test-artifacts"  # screenshots kept for a reviewer (not committed)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory):
    from .conftest import write
    from .server import free_port, request

    root = tmp_path_factory.mktemp("desk-site")
    shutil.copytree(ROOT / "articles", root / "articles")
    write(root / "articles", "तारीख़-ग़लत.md", "---\ntitle: x\ndate: कल सुबह\n---\nपाठ\n")
    port = free_port()
    config = root / "config.toml"
    config.write_text(f"[dashboard]\nport = {port}\n")
    server = start(config)
    feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {} subscribers; )"
    for path, agent in (
        ("/feeds/all.atom", feedly.format(131)),
        (
            "/feeds/all.rss",
            "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 12 subscribers; )",
        ),
        ("/feeds/tags/trump.atom", feedly.format(9)),
        ("/feeds/all.atom", "NetNewsWire/6.1"),
    ):
        request(server.port, path, headers={"User-Agent": agent})
    wait_for(lambda: "Feedly: 131" in request(port, "/").body.decode(), timeout=10)
    yield port
    server.stop()


@pytest.mark.parametrize("width", [360, 1440])
def test_the_dashboard_reads_well_at_phone_and_desktop_widths(
    browser: int, desk: int, width: int
) -> None:
    page = _page(browser)
    page.call("Page.enable")
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=width < 600,
    )
    page.call("Page.navigate", url=f"http://127.0.0.1:{desk}/")
    page.wait_event("Page.loadEventFired")

    def evaluate(expression: str) -> Any:
        return page.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"][
            "value"
        ]

    text = evaluate("document.body.innerText")
    assert "budget-2027.md" in text  # the scheduled article
    assert "तारीख़-ग़लत.md:3: cannot read date" in text  # a rejected file with its reason
    assert evaluate("document.querySelectorAll('svg.chart').length") >= 2
    assert evaluate("document.scripts.length") == 0
    overflow = evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow} px wider than the {width} px window"
    import base64

    ARTIFACTS.mkdir(exist_ok=True)
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    image = ARTIFACTS / f"dashboard-{width}.png"
    image.write_bytes(base64.b64decode(shot))
    assert image.stat().st_size > 10_000

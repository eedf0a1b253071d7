"""JSON Feed 1.1 (SPEC §10.1): every field checked without feedparser, the same entries
as the Atom feed, read back by the `reader` library from the real server; and OPML
with one outline per topic."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from lxml import etree, html

from feedsvc.config import Config
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot

from .conftest import ROOT, SEED, SEED_NAME, md, subscribed, write
from .server import feedsvc, start

BASE = "http://news.example"


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "articles", tmp_path / "articles")
    return tmp_path / "articles"


def _publish(make_config, folder: Path, **sections: dict[str, object]) -> Snapshot:
    # the display name the repository's config.toml gives TRUMP
    cfg: Config = make_config(articles={"dir": str(folder)}, tags={"TRUMP": "ट्रंप"}, **sections)
    publisher = Publisher(cfg, workers=1)
    try:
        return publisher.rescan()
    finally:
        publisher.close()


def _json(snapshot: Snapshot, path: str) -> dict[str, object]:
    resource = snapshot.get(path)
    assert resource is not None, path
    assert resource.content_type == "application/feed+json; charset=utf-8"
    data: dict[str, object] = json.loads(resource.body)
    return data


def test_every_field_of_the_json_feed(samples: Path, make_config) -> None:
    snapshot = _publish(make_config, samples)
    feed = _json(snapshot, "/feeds/tags/trump.json")
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "हिंदी समाचार — ट्रंप"
    assert feed["home_page_url"] == f"{BASE}/tags/trump"
    assert feed["feed_url"] == f"{BASE}/feeds/tags/trump.json"
    assert feed["language"] == "hi"
    assert feed["authors"] == [{"name": "संपादक"}]
    assert "hubs" not in feed  # no [websub] hubs

    atom = feedparser.parse(snapshot.get("/feeds/tags/trump.atom").body)
    items: list[dict[str, Any]] = feed["items"]  # type: ignore[assignment]
    assert [i["id"] for i in items] == [e.id for e in atom.entries]  # same entries, order
    for item, entry in zip(items, atom.entries, strict=True):
        assert item["url"] == entry.link and item["title"] == entry.title
        assert item["summary"] == entry.summary
        assert item["content_html"] == entry.content[0].value
        for key, atom_key in (("date_published", "published"), ("date_modified", "updated")):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", item[key])
            assert datetime.fromisoformat(item[key]) == datetime.fromisoformat(entry[atom_key])
        assert item["authors"] == [{"name": entry.author}]
        assert item["tags"] == [t.label for t in entry.tags if t.scheme.endswith("/tags/")]

    seed = next(i for i in items if i["id"].endswith("000_8fc8ec9304f2c137"))
    assert seed["title"] == SEED.read_text().split("\n")[0]
    assert seed["tags"] == ["ट्रंप", "US", "DONALD"]  # display names, [tags] override first
    assert seed["content_html"].count("<p>") == 7


def test_devanagari_is_utf8_and_the_image_is_named(samples: Path, make_config) -> None:
    snapshot = _publish(make_config, samples)
    body = snapshot.get("/feeds/all.json").body
    assert "हिंदी".encode() in body and b"\\u09" not in body
    items: list[dict[str, Any]] = _json(snapshot, "/feeds/all.json")["items"]  # type: ignore[assignment]
    with_image = [i for i in items if "image" in i]
    assert [i["image"] for i in with_image] == [f"{BASE}/media/images/stadium.jpg"]


def test_summary_only_leaves_the_content_out(samples: Path, make_config) -> None:
    snapshot = _publish(make_config, samples, feeds={"summary_only": True})
    items: list[dict[str, Any]] = _json(snapshot, "/feeds/all.json")["items"]  # type: ignore[assignment]
    assert items and all("content_html" not in i and i["summary"] for i in items)


def test_limits_follow_the_atom_feed(samples: Path, make_config) -> None:
    snapshot = _publish(make_config, samples, feeds={"max_items": 2})
    atom = feedparser.parse(snapshot.get("/feeds/all.atom").body)
    items: list[dict[str, Any]] = _json(snapshot, "/feeds/all.json")["items"]  # type: ignore[assignment]
    assert [i["id"] for i in items] == [e.id for e in atom.entries] and len(items) == 2


def test_hubs_are_listed_when_configured(samples: Path, make_config) -> None:
    hub = "http://127.0.0.1:9/hub"
    snapshot = _publish(make_config, samples, websub={"hubs": [hub]})
    assert _json(snapshot, "/feeds/all.json")["hubs"] == [{"type": "WebSub", "url": hub}]
    assert snapshot.get("/feeds/all.json").link.endswith(f'<{BASE}/feeds/all.json>; rel="self"')


def test_pages_autodiscover_the_json_feed(samples: Path, make_config) -> None:
    snapshot = _publish(make_config, samples)
    for path in ("/", "/tags/trump", "/articles/trump-korea"):
        page = html.fromstring(snapshot.get(path).body)
        found = {(ln.get("type"), ln.get("href")) for ln in page.xpath("//link[@rel='alternate']")}
        assert ("application/feed+json", f"{BASE}/feeds/all.json") in found, path
    tag_page = html.fromstring(snapshot.get("/tags/trump").body)
    hrefs = {ln.get("href") for ln in tag_page.xpath("//link[@type='application/feed+json']")}
    assert f"{BASE}/feeds/tags/trump.json" in hrefs


def test_opml_lists_each_topic_once(samples: Path, make_config) -> None:
    snapshot = _publish(make_config, samples)
    opml = etree.fromstring(snapshot.get("/feeds.opml").body)
    outlines = [o for o in opml.iter("outline") if o.get("xmlUrl")]
    urls = [o.get("xmlUrl") or "" for o in outlines]
    assert len(urls) == len(set(urls))
    assert urls[0] == f"{BASE}/feeds/all.atom"
    topics = {
        p
        for p in snapshot.resources
        if p.startswith(("/feeds/tags/", "/feeds/sections/", "/feeds/authors/"))
        and p.endswith(".atom")
    }
    assert sorted(urls[1:]) == sorted(BASE + quote(p) for p in topics)


def test_the_reader_library_reads_the_served_json_feed(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    # Settled (older than settle_ms): served from the first build, not 300 ms after.
    write(folder, SEED_NAME, SEED.read_bytes())
    write(folder, "trump-korea.md", (ROOT / "articles" / "trump-korea.md").read_bytes())
    (tmp_path / "config.toml").write_text(
        '[site]\nid_authority = "news.example"\n[tags]\nTRUMP = "ट्रंप"\n'
    )
    server = start(tmp_path / "config.toml")
    try:
        url = f"http://127.0.0.1:{server.port}/feeds/tags/trump.json"
        with subscribed(tmp_path / "reader.sqlite", url) as reader:
            assert reader.get_feed(url).title == "हिंदी समाचार — ट्रंप"
            entries = sorted(reader.get_entries(), key=lambda e: e.id)
        assert [e.id for e in entries] == [
            "tag:news.example,2026:articles/000_8fc8ec9304f2c137",
            "tag:news.example,2026:articles/trump-korea",
        ]
        assert entries[0].title == SEED.read_text().split("\n")[0]
        assert "उत्तर कोरिया" in entries[1].content[0].value
    finally:
        assert server.stop() == 0


HOSTILE_TITLE = "<script>alert(1)</script> शीर्षक & <b>"


def test_no_json_string_holds_markup_and_readers_get_it_back(tmp_path: Path) -> None:
    """<, > and & are written \\u003c, \\u003e, \\u0026 in every JSON document, served
    and exported: no `<script` anywhere, and the exact title comes back."""
    folder = tmp_path / "articles"
    write(folder, "script-title.md", md(HOSTILE_TITLE, ["क"], "2025-01-01"))
    write(folder, "tag-script.md", md("टैग स्क्रिप्ट", ['"<script>"'], "2025-01-02"))
    config = tmp_path / "config.toml"
    config.write_text('[site]\nid_authority = "news.example"\n[schedule]\nsettle_ms = 0\n')
    server = start(config)
    try:
        served = {}
        for path in ("/feeds/all.json", "/feeds/tags/script.json", "/feeds/tags/क.json"):
            reply = server.request(path)
            assert reply.status == 200, path
            served[path] = reply.body
        for path in ("/healthz", "/feeds/all.atom", "/", "/articles/script-title"):
            reply = server.request(path)
            assert reply.status == 200, path
            served[path] = reply.body
        url = f"http://127.0.0.1:{server.port}/feeds/all.json"
        with subscribed(tmp_path / "reader.sqlite", url) as reader:
            titles = sorted(e.title for e in reader.get_entries())
        assert titles == sorted([HOSTILE_TITLE, "टैग स्क्रिप्ट"])
    finally:
        assert server.stop() == 0
    for path, body in served.items():
        assert b"<script" not in body.lower(), path
    all_json = json.loads(served["/feeds/all.json"])
    assert [i["title"] for i in all_json["items"]] == ["टैग स्क्रिप्ट", HOSTILE_TITLE]
    assert json.loads(served["/feeds/tags/script.json"])["items"][0]["tags"] == ["<script>"]
    assert "\\u003cscript\\u003e" in served["/feeds/all.json"].decode()
    assert "शीर्षक" in served["/feeds/all.json"].decode()  # Devanagari stays UTF-8
    out = tmp_path / "out"
    result = subprocess.run(
        [*feedsvc("build", "--config", str(config), "--out", str(out))], capture_output=True
    )
    assert result.returncode == 0, result.stderr
    exported = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "all.json" for p in exported)
    for file in exported:
        data = file.read_bytes()
        data = gzip.decompress(data) if file.suffix == ".gz" else data
        assert b"<script" not in data.lower(), file

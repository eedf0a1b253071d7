"""Lead images for aggregators (SPEC §10.3): Media RSS with the real size of a local
image, none for a remote one, never in media:group; Open Graph on article pages."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
from lxml import etree, html
from PIL import Image as PILImage

from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot

from .conftest import md, write

MEDIA = "{http://search.yahoo.com/mrss/}"
BASE = "http://news.example"


@pytest.fixture
def snapshot(articles_dir: Path, make_config) -> Snapshot:
    PILImage.new("RGB", (960, 540), (200, 40, 40)).save(articles_dir / "lead.png")
    write(articles_dir, "local.md", md("स्थानीय चित्र", ["क"], "2025-01-02", image="lead.png"))
    remote = "https://images.example/खेल/photo.jpg"
    write(articles_dir, "remote.md", md("दूर का चित्र", ["क"], "2025-01-01", image=remote))
    write(articles_dir, "none.md", md("बिना चित्र", ["क"], "2024-12-31"))
    publisher = Publisher(make_config(articles={"dir": str(articles_dir)}), workers=1)
    try:
        return publisher.rescan()
    finally:
        publisher.close()


def _entries(snapshot: Snapshot, path: str) -> dict[str, etree._Element]:
    root = etree.fromstring(snapshot.get(path).body)
    if path.endswith(".atom"):
        tag, title = "{http://www.w3.org/2005/Atom}entry", "{http://www.w3.org/2005/Atom}title"
    else:
        tag, title = "item", "title"
    return {e.findtext(title) or "": e for e in root.iter(tag)}


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds/tags/क.rss"])
def test_media_content_and_thumbnail(snapshot: Snapshot, path: str) -> None:
    entries = _entries(snapshot, path)
    local = entries["स्थानीय चित्र"]
    content, thumbnail = local.find(f"{MEDIA}content"), local.find(f"{MEDIA}thumbnail")
    assert content is not None and thumbnail is not None
    url = f"{BASE}/media/lead.png"
    assert {k: v for k, v in content.attrib.items()} == {
        "url": url,
        "type": "image/png",
        "medium": "image",
        "width": "960",
        "height": "540",
    }
    assert {k: v for k, v in thumbnail.attrib.items()} == {
        "url": url,
        "width": "960",
        "height": "540",
    }
    assert local.getparent().tag != f"{MEDIA}group" and not list(local.iter(f"{MEDIA}group"))

    remote = entries["दूर का चित्र"]
    content = remote.find(f"{MEDIA}content")
    assert content is not None and "width" not in content.attrib  # unknown: left out
    assert content.get("url") == "https://images.example/%E0%A4%96%E0%A5%87%E0%A4%B2/photo.jpg"
    assert entries["बिना चित्र"].find(f"{MEDIA}content") is None

    parsed = feedparser.parse(snapshot.get(path).body)
    assert not parsed.bozo
    by_title = {e.title: e for e in parsed.entries}
    assert by_title["स्थानीय चित्र"].media_thumbnail[0]["url"] == url
    assert by_title["स्थानीय चित्र"].enclosures[0]["type"] == "image/png"


def test_the_media_namespace_is_declared_once_at_the_root(snapshot: Snapshot) -> None:
    for path in ("/feeds/all.atom", "/feeds/all.rss"):
        body = snapshot.get(path).body
        assert body.count(b'xmlns:media="http://search.yahoo.com/mrss/"') == 1, path


def test_article_pages_carry_open_graph(snapshot: Snapshot) -> None:
    page = html.fromstring(snapshot.get("/articles/local").body)
    og = {m.get("property"): m.get("content") for m in page.xpath("//meta[@property]")}
    assert og["og:type"] == "article"
    assert og["og:title"] == "स्थानीय चित्र"
    assert og["og:url"] == f"{BASE}/articles/local"
    assert og["og:description"] == "पाठ।"
    assert og["og:image"] == f"{BASE}/media/lead.png"
    assert (og["og:image:width"], og["og:image:height"]) == ("960", "540")
    assert og["og:locale"] == "hi_IN"
    assert og["article:published_time"] == "2025-01-02T00:00:00+05:30"
    bare = html.fromstring(snapshot.get("/articles/none").body)
    properties = {m.get("property") for m in bare.xpath("//meta[@property]")}
    assert "og:title" in properties and "og:image" not in properties


def test_an_image_pillow_cannot_read_keeps_its_enclosure(articles_dir: Path, make_config) -> None:
    (articles_dir / "broken.jpg").write_bytes(b"not an image at all")
    write(articles_dir, "a.md", md("टूटा चित्र", ["क"], "2025-01-02", image="broken.jpg"))
    publisher = Publisher(make_config(articles={"dir": str(articles_dir)}), workers=1)
    try:
        entry = _entries(publisher.rescan(), "/feeds/all.rss")["टूटा चित्र"]
    finally:
        publisher.close()
    assert entry.find("enclosure") is not None
    content = entry.find(f"{MEDIA}content")
    assert content is not None and "width" not in content.attrib

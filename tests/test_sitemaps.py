"""Sitemaps (SPEC §10.4), validated against the sitemaps.org schemas and a schema of
the Google News elements (tests/schemas, with their sources)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import etree
from werkzeug.http import http_date

from feedsvc import sitemaps
from feedsvc.articles import Article
from feedsvc.config import Config
from feedsvc.publisher import Publisher
from feedsvc.schedule import NEWS_JOB, Schedule
from feedsvc.sitemaps import render_news_sitemap, render_sitemaps
from feedsvc.urls import Urls
from feedsvc.web import create_app

from .conftest import Clock, md, write

SCHEMAS = Path(__file__).resolve().parent / "schemas"
NS = {
    "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "n": "http://www.google.com/schemas/sitemap-news/0.9",
}
BASE = "http://news.example"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _valid(body: bytes, schema: str) -> etree._Element:
    root = etree.fromstring(body)
    xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / schema)))
    assert xsd.validate(root), xsd.error_log
    return root


@pytest.fixture
def site(articles_dir: Path, make_config) -> Iterator[tuple[Publisher, Clock]]:
    write(articles_dir, "old.md", md("पुराना", ["क"], "2026-10-01T10:00:00+05:30"))
    write(articles_dir, "yesterday.md", md("कल की खबर", ["ख"], "2026-11-30T15:00:00+05:30"))
    write(articles_dir, "today.md", md("आज की खबर", ["क"], "2026-12-01T09:00:00+05:30"))
    clock = Clock(NOW)
    cfg: Config = make_config(articles={"dir": str(articles_dir)})
    publisher = Publisher(cfg, workers=1, clock=clock)
    publisher.rescan()
    yield publisher, clock
    publisher.close()


def test_the_sitemap_lists_every_page_with_its_last_change(site) -> None:
    publisher, _ = site
    snapshot = publisher.snapshot
    root = _valid(snapshot.get("/sitemap.xml").body, "sitemap.xsd")
    listed = {
        u.findtext("s:loc", namespaces=NS) or "": u.findtext("s:lastmod", namespaces=NS) or ""
        for u in root.findall("s:url", NS)
    }
    pages = [
        p
        for p, r in snapshot.resources.items()
        if r.content_type.startswith("text/html") and p != "/404"
    ]
    assert sorted(listed) == sorted(BASE + quote(p) for p in pages)
    assert f"{BASE}/articles/today" in listed and f"{BASE}/tags/{quote('ख')}" in listed
    for path in pages:
        lastmod = datetime.fromisoformat(listed[BASE + quote(path)])
        assert http_date(lastmod) == snapshot.get(path).http_date  # the page's Last-Modified


def test_past_50000_urls_the_sitemap_becomes_an_index() -> None:
    urls = Urls(BASE, "news.example")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [(f"/articles/{n}", when + timedelta(days=n)) for n in range(5)]
    files = render_sitemaps(pages, urls, max_urls=2)
    assert sorted(files) == [
        "/sitemap.xml",
        "/sitemaps/1.xml",
        "/sitemaps/2.xml",
        "/sitemaps/3.xml",
    ]
    index = _valid(files["/sitemap.xml"][0], "siteindex.xsd")
    assert [s.findtext("s:loc", namespaces=NS) for s in index.findall("s:sitemap", NS)] == [
        f"{BASE}/sitemaps/{n}.xml" for n in (1, 2, 3)
    ]
    parts = [_valid(files[f"/sitemaps/{n}.xml"][0], "sitemap.xsd") for n in (1, 2, 3)]
    assert [len(p.findall("s:url", NS)) for p in parts] == [2, 2, 1]


def test_the_news_sitemap_holds_the_last_two_days_newest_first(site) -> None:
    publisher, _ = site
    root = _valid(publisher.snapshot.get("/news-sitemap.xml").body, "news-sitemap.xsd")
    urls = root.findall("s:url", NS)
    assert [u.findtext("s:loc", namespaces=NS) for u in urls] == [
        f"{BASE}/articles/today",
        f"{BASE}/articles/yesterday",
    ]
    news = urls[0].find("n:news", NS)
    assert news.findtext("n:publication/n:name", namespaces=NS) == "हिंदी समाचार"
    assert news.findtext("n:publication/n:language", namespaces=NS) == "hi"
    assert news.findtext("n:publication_date", namespaces=NS) == "2026-12-01T09:00:00+05:30"
    assert news.findtext("n:title", namespaces=NS) == "आज की खबर"


def test_the_news_sitemap_holds_at_most_1000() -> None:
    when = NOW - timedelta(hours=1)
    articles = [Article(f"a{n}", f"a{n}.md", f"लेख {n}", when, when, "h") for n in range(1005)]
    cfg = Config()
    body = render_news_sitemap(articles, cfg, Urls(BASE, "news.example"), NOW)
    assert body is not None
    assert len(_valid(body, "news-sitemap.xsd").findall("s:url", NS)) == 1000


def test_articles_age_out_and_an_empty_news_sitemap_is_404(site) -> None:
    publisher, clock = site
    client = create_app(publisher.cfg, lambda: publisher.snapshot).test_client()
    assert client.get("/news-sitemap.xml").status_code == 200
    clock.now = NOW + timedelta(days=1, hours=12)  # yesterday's article is now too old
    publisher.publish_due()  # what the hourly job does
    root = etree.fromstring(client.get("/news-sitemap.xml").data)
    assert [u.findtext("s:loc", namespaces=NS) for u in root.findall("s:url", NS)] == [
        f"{BASE}/articles/today"
    ]
    clock.now = NOW + timedelta(days=3)
    publisher.publish_due()
    assert client.get("/news-sitemap.xml").status_code == 404
    assert client.get("/sitemap.xml").status_code == 200


def test_robots_allows_everything_and_names_both_sitemaps(site) -> None:
    publisher, _ = site
    client = create_app(publisher.cfg, lambda: publisher.snapshot).test_client()
    reply = client.get("/robots.txt")
    assert reply.content_type == "text/plain; charset=utf-8"
    assert reply.data.decode().splitlines() == [
        "User-agent: *",
        "Allow: /",
        "",
        f"Sitemap: {BASE}/sitemap.xml",
        f"Sitemap: {BASE}/news-sitemap.xml",
    ]


def test_the_scheduler_remakes_the_news_sitemap_hourly() -> None:
    schedule = Schedule(60, lambda: None, lambda: None)
    job = schedule._scheduler.get_job(NEWS_JOB)
    assert job is not None and job.trigger.interval == timedelta(hours=1)


def test_the_spliced_sitemap_is_what_lxml_writes_for_the_whole_tree() -> None:
    urls = Urls(BASE, "news.example")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [(f"/articles/लेख-{n}", start + timedelta(hours=n)) for n in range(50)] + [("/", start)]
    urlset = etree.Element(f"{{{sitemaps.SITEMAP_NS}}}urlset", nsmap=sitemaps._NSMAP)
    for path, changed in pages:
        url = etree.SubElement(urlset, f"{{{sitemaps.SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{sitemaps.SITEMAP_NS}}}loc").text = BASE + quote(path)
        etree.SubElement(url, f"{{{sitemaps.SITEMAP_NS}}}lastmod").text = changed.isoformat()
    whole = etree.tostring(urlset, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    assert render_sitemaps(pages, urls)["/sitemap.xml"][0] == whole
    assert render_sitemaps(pages, urls)["/sitemap.xml"][0] == whole  # from the cache too


def test_each_page_url_is_made_once_until_the_page_changes(monkeypatch) -> None:
    """A refresh renders the whole sitemap again; only the pages that changed make
    their <url> anew, however many pages the site has."""
    made: list[str] = []

    def quoted(path: str) -> str:
        made.append(path)
        return quote(path)

    monkeypatch.setattr("feedsvc.sitemaps.quote", quoted)
    urls = Urls("https://news.example", "news.example")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    pages = [(f"/articles/x-{n:05}", start + timedelta(minutes=n)) for n in range(3000)]
    first = render_sitemaps(pages, urls, max_urls=1000)
    assert len(made) == 3000
    made.clear()
    assert render_sitemaps(pages, urls, max_urls=1000) == first and made == []
    pages[1500] = (pages[1500][0], start + timedelta(days=9))
    changed = render_sitemaps(pages, urls, max_urls=1000)
    assert made == ["/articles/x-01500"] and changed["/sitemaps/2.xml"] != first["/sitemaps/2.xml"]
    made.clear()
    other = Urls("https://elsewhere.example", "news.example")
    assert b"elsewhere.example" in render_sitemaps(pages, other)["/sitemap.xml"][0]
    assert len(made) == 3000

"""Sitemaps for search engines and Google News (SPEC §10.4), and robots.txt.

`/sitemap.xml` lists every page with the time it last changed (its Last-Modified);
past 50,000 URLs it becomes a sitemap index with parts under `/sitemaps/`.
`/news-sitemap.xml` lists the articles of the last two days, at most 1,000, newest
first; it changes as articles age out, so it is made for a given moment.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from lxml import etree

from .articles import EPOCH, Article, micros
from .config import Config
from .snapshot import Item, Snapshot, digest, make_resources
from .urls import Urls

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
MAX_URLS = 50_000  # per sitemap file (sitemaps.org)
NEWS_WINDOW = timedelta(days=2)
NEWS_MAX = 1_000
XML = "application/xml; charset=utf-8"
_NSMAP: dict[Any, str] = {None: SITEMAP_NS}  # the default namespace (lxml's None key)
TEXT = "text/plain; charset=utf-8"


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# Each page's <url> element as last made, by path: (base URL, last change, bytes).
# One entry a page, replaced when the page changes: a new article changes one page of
# thousands, so the sitemap is mostly these, reused. (A least-recently-used cache
# smaller than the site missed every time: the pages are walked in order.)
_URLS: dict[str, tuple[str, datetime, bytes]] = {}


def _url(base: str, path: str, changed: datetime) -> bytes:
    held = _URLS.get(path)
    if held is not None and held[0] == base and held[1] == changed:
        return held[2]
    url = etree.Element(f"{{{SITEMAP_NS}}}url", nsmap=_NSMAP)
    etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = base + quote(path)
    etree.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = _w3c(changed)
    element = etree.tostring(url, encoding="UTF-8", pretty_print=True)
    made = b"  " + element.replace(_DECLARED, b"", 1).replace(b"\n", b"\n  ")[:-2]
    _URLS[path] = (base, changed, made)
    return made


_DECLARED = f' xmlns="{SITEMAP_NS}"'.encode()
_URLSET = etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap=_NSMAP)


def _urlset(pages: Sequence[tuple[str, datetime]], urls: Urls) -> bytes:
    """The same bytes lxml writes for the whole tree, spliced from cached elements."""
    head, _, tail = _xml(_URLSET).rpartition(b"/>")
    parts = [_url(urls.base, path, changed) for path, changed in pages]
    return head + b">\n" + b"".join(parts) + b"</urlset>" + tail


def render_sitemaps(
    pages: Sequence[tuple[str, datetime]], urls: Urls, max_urls: int = MAX_URLS
) -> dict[str, tuple[bytes, datetime]]:
    """URL path -> (bytes, newest lastmod) of `/sitemap.xml`, and of its parts when
    the pages (URL path, last change) are more than one file holds."""
    newest = max((changed for _, changed in pages), default=EPOCH)
    if len(pages) <= max_urls:
        return {"/sitemap.xml": (_urlset(pages, urls), newest)}
    files: dict[str, tuple[bytes, datetime]] = {}
    index = etree.Element(f"{{{SITEMAP_NS}}}sitemapindex", nsmap=_NSMAP)
    for number, start in enumerate(range(0, len(pages), max_urls), start=1):
        part = pages[start : start + max_urls]
        path = f"/sitemaps/{number}.xml"
        changed = max(c for _, c in part)
        files[path] = (_urlset(part, urls), changed)
        entry = etree.SubElement(index, f"{{{SITEMAP_NS}}}sitemap")
        etree.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = urls.url(path)
        etree.SubElement(entry, f"{{{SITEMAP_NS}}}lastmod").text = _w3c(changed)
    files["/sitemap.xml"] = (_xml(index), newest)
    return files


def render_news_sitemap(
    newest_first: Sequence[Article], cfg: Config, urls: Urls, now: datetime
) -> bytes | None:
    """The Google News sitemap at `now`, or None when no article is recent enough (an
    empty urlset does not validate)."""
    since, until = micros(now - NEWS_WINDOW), micros(now)
    recent: list[Article] = []
    for article in newest_first:  # the rest are older still: not walked
        if article.order[0] < since or len(recent) == NEWS_MAX:
            break
        if article.order[0] <= until:
            recent.append(article)
    if not recent:
        return None
    urlset = etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap=_NSMAP | {"news": NEWS_NS})
    for article in recent:
        url = etree.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = urls.article(article.id)
        news = etree.SubElement(url, f"{{{NEWS_NS}}}news")
        publication = etree.SubElement(news, f"{{{NEWS_NS}}}publication")
        etree.SubElement(publication, f"{{{NEWS_NS}}}name").text = cfg.site.title
        etree.SubElement(publication, f"{{{NEWS_NS}}}language").text = cfg.site.language
        etree.SubElement(news, f"{{{NEWS_NS}}}publication_date").text = article.date.isoformat()
        try:
            etree.SubElement(news, f"{{{NEWS_NS}}}title").text = article.title
        except ValueError:  # what XML cannot hold (cleaned at parse time; defence in depth)
            urlset.remove(url)
    return _xml(urlset) if len(urlset) else None


def render_robots(urls: Urls) -> bytes:
    """Everything allowed; both sitemaps named by absolute URL."""
    lines = [
        "User-agent: *",
        "Allow: /",
        "",
        f"Sitemap: {urls.url('/sitemap.xml')}",
        f"Sitemap: {urls.url('/news-sitemap.xml')}",
    ]
    return ("\n".join(lines) + "\n").encode()


def refresh_news(
    snapshot: Snapshot, articles: Iterable[Article], cfg: Config, urls: Urls, now: datetime
) -> Snapshot | None:
    """The snapshot with the news sitemap made for `now` (articles age out of it), or
    None when it is the same. Only the recent are sorted: it runs at every look."""
    since, until = micros(now - NEWS_WINDOW), micros(now)
    ordered = sorted(
        [a for a in articles if since <= a.order[0] <= until],
        key=operator.attrgetter("order"),
        reverse=True,
    )
    body = render_news_sitemap(ordered, cfg, urls, now)
    old = snapshot.get("/news-sitemap.xml")
    if (
        body is None
        and old is None
        or body is not None
        and old is not None
        and old.etag == digest(body)
    ):
        return None
    resources = dict(snapshot.resources)
    if body is None:
        del resources["/news-sitemap.xml"]
    else:
        item = Item("/news-sitemap.xml", body, XML, ordered[0].date)
        resources |= make_resources([item], snapshot.resources, now)
    return Snapshot(resources, snapshot.index, snapshot.health)

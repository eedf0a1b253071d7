"""Every URL path, absolute URL and tag: id: ASCII on the wire, Devanagari
percent-encoded (UTF-8), absolute URLs from the configuration, never from a request.
Also the one mapping from feed format to media type."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ID_DATE = "2026"  # the date part of every tag: URI; changing it would change every id


@dataclass(frozen=True)
class FeedFormat:
    extension: str
    media_type: str
    label: str  # as readers name it

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


# By extension, in the order feeds are built and listed.
FEED_FORMATS = {
    "atom": FeedFormat("atom", "application/atom+xml", "Atom"),
    "rss": FeedFormat("rss", "application/rss+xml", "RSS"),
    "json": FeedFormat("json", "application/feed+json", "JSON Feed"),
}


def normalize_base(base_url: str) -> str:
    """Lower-case host, IDNA for a non-ASCII host, percent-encoded path, no trailing /."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    netloc = host + (f":{parts.port}" if parts.port else "")
    path = quote(parts.path, safe="/%-._~").rstrip("/")
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


class Place(Protocol):
    """Where a feed topic's URLs live (topics.Topic is one)."""

    @property
    def segment(self) -> str: ...  # "tags", "sections", "authors"; "" for every article

    @property
    def slug(self) -> str: ...  # a sub-section's is a path: "shahar/lucknow"

    @property
    def id_segment(self) -> str: ...  # in its feed id ("" for tags: their ids never change)


@functools.lru_cache(maxsize=1 << 14)  # every build asks for every topic's paths
def quoted(slug: str) -> str:
    """A slug (or a slug path) on the wire: percent-encoded UTF-8, "/" kept."""
    return quote(slug, safe="/")


@functools.lru_cache(maxsize=1 << 16)
def served(path: str) -> str:
    """A path as a request carries it after decoding: the snapshot's key."""
    return unquote(path)


@functools.lru_cache(maxsize=1 << 17)  # every build asks for every article's path
def article_path(article_id: str) -> str:
    return "/articles/" + quote(article_id, safe="/")


# The paths a cold start's first build leaves for the second (`site.Plan.pages`):
# archive pages, article pages, sitemaps and robots.txt.
PAGES_AFTER_FEEDS = (
    "/articles/",
    "/feeds/archive/",
    "/sitemap.xml",
    "/sitemaps/",
    "/news-sitemap.xml",
    "/robots.txt",
)


def served_article_path(article_id: str) -> str:
    """served(article_path(article_id)): unquoting undoes the quoting, so it is the id
    itself under /articles/, made without either (the memo of `served` is too small
    for every article at 100,000: every build missed it for each). Interned: each
    build names every article's page again, and the snapshots alive at once (served,
    being saved, saved) would otherwise each key it by a string of their own (28 MB
    at 100,000 articles after ten changes)."""
    return sys.intern("/articles/" + article_id)


def page_path(place: Place) -> str:
    """A topic's page: the front page for every article."""
    return f"/{place.segment}/{quoted(place.slug)}" if place.segment else "/"


def feed_path(place: Place, fmt: str) -> str:
    """A topic's subscription document."""
    if not place.segment:
        return f"/feeds/all.{fmt}"
    return f"/feeds/{place.segment}/{quoted(place.slug)}.{fmt}"


def archive_path(place: Place, number: int, fmt: str) -> str:
    """An RFC 5005 archive page of a topic's feed (1 is the oldest)."""
    feed = f"{place.segment}/{quoted(place.slug)}" if place.segment else "all"
    return f"/feeds/archive/{feed}/{number}.{fmt}"


@dataclass(frozen=True)
class Urls:
    """Absolute URLs under `base` (normalized) and tag: ids under `authority`."""

    base: str
    authority: str

    def url(self, path: str) -> str:
        return self.base + path

    def feed(self, place: Place, fmt: str) -> str:
        return self.url(feed_path(place, fmt))

    def archive(self, place: Place, number: int, fmt: str) -> str:
        return self.url(archive_path(place, number, fmt))

    def page(self, place: Place) -> str:
        return self.url(page_path(place))

    def article(self, article_id: str) -> str:
        return self.url(article_path(article_id))

    def entry_id(self, article_id: str) -> str:
        return f"tag:{self.authority},{ID_DATE}:articles/{quote(article_id, safe='/')}"

    def feed_id(self, place: Place) -> str:
        if not place.segment:
            return f"tag:{self.authority},{ID_DATE}:feeds/all"
        within = f"{place.id_segment}/" if place.id_segment else ""
        return f"tag:{self.authority},{ID_DATE}:feeds/{within}{quoted(place.slug)}"

    def image(self, image: str) -> str:
        """A remote image's URL made ASCII, or the served URL of a local one."""
        if "://" in image:
            return quote(image, safe=":/?#[]@!$&'()*+,;=%~")
        return self.url("/media/" + quote(image.lstrip("/"), safe="/"))

"""Every URL path, absolute URL and tag: id: ASCII on the wire, Devanagari
percent-encoded (UTF-8), absolute URLs from the configuration, never from a request.
Also the one mapping from feed format to media type."""

from __future__ import annotations

import functools
from dataclasses import dataclass
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


@functools.lru_cache(maxsize=1 << 14)  # every build asks for every tag's paths
def segment(value: str) -> str:
    return quote(value, safe="")


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
    for every article at 100,000: every build missed it for each)."""
    return "/articles/" + article_id


def tag_page_path(slug: str) -> str:
    return "/tags/" + segment(slug)


def feed_path(slug: str | None, fmt: str) -> str:
    """The feed of one tag, or of every article for slug None."""
    return f"/feeds/all.{fmt}" if slug is None else f"/feeds/tags/{segment(slug)}.{fmt}"


def archive_path(slug: str | None, number: int, fmt: str) -> str:
    """An RFC 5005 archive page of a feed (1 is the oldest)."""
    feed = "all" if slug is None else f"tags/{segment(slug)}"
    return f"/feeds/archive/{feed}/{number}.{fmt}"


def page_path_for_feed(slug: str | None) -> str:
    return "/" if slug is None else tag_page_path(slug)


@dataclass(frozen=True)
class Urls:
    """Absolute URLs under `base` (normalized) and tag: ids under `authority`."""

    base: str
    authority: str

    def url(self, path: str) -> str:
        return self.base + path

    def feed(self, slug: str | None, fmt: str) -> str:
        return self.url(feed_path(slug, fmt))

    def archive(self, slug: str | None, number: int, fmt: str) -> str:
        return self.url(archive_path(slug, number, fmt))

    def page_for_feed(self, slug: str | None) -> str:
        return self.url(page_path_for_feed(slug))

    def article(self, article_id: str) -> str:
        return self.url(article_path(article_id))

    def entry_id(self, article_id: str) -> str:
        return f"tag:{self.authority},{ID_DATE}:articles/{quote(article_id, safe='/')}"

    def feed_id(self, slug: str | None) -> str:
        return f"tag:{self.authority},{ID_DATE}:feeds/{quote(slug or 'all', safe='')}"

    def image(self, image: str) -> str:
        """A remote image's URL made ASCII, or the served URL of a local one."""
        if "://" in image:
            return quote(image, safe=":/?#[]@!$&'()*+,;=%~")
        return self.url("/media/" + quote(image.lstrip("/"), safe="/"))

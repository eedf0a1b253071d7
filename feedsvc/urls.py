"""URL paths and absolute URLs: ASCII on the wire, Devanagari percent-encoded (UTF-8)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

FEED_FORMATS = ("atom", "rss")


def normalize_base(base_url: str) -> str:
    """Lower-case host, IDNA for a non-ASCII host, percent-encoded path, no trailing /."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    netloc = host + (f":{parts.port}" if parts.port else "")
    path = quote(parts.path, safe="/%-._~").rstrip("/")
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def segment(value: str) -> str:
    return quote(value, safe="")


def article_path(article_id: str) -> str:
    return "/articles/" + quote(article_id, safe="/")


def tag_page_path(slug: str) -> str:
    return "/tags/" + segment(slug)


def feed_path(slug: str | None, fmt: str) -> str:
    return f"/feeds/all.{fmt}" if slug is None else f"/feeds/tags/{segment(slug)}.{fmt}"


def page_path_for_feed(slug: str | None) -> str:
    return "/" if slug is None else tag_page_path(slug)

"""Hindi HTML pages: the front page, one per tag, one per article, and the 404."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from jinja2 import Environment, PackageLoader, select_autoescape

from .articles import Article
from .config import Config
from .feeds import Image
from .tags import Catalog, Tag
from .urls import FEED_FORMATS, Urls, article_path, feed_path, tag_page_path

_env = Environment(
    loader=PackageLoader("feedsvc", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
)


def hindi_date(moment: datetime, tz: ZoneInfo) -> str:
    """`27 नवंबर 2026, 3:04 pm` (or just the date at midnight), in the site's zone,
    whatever the process locale. Babel is asked once per distinct day and minute of
    the day: a full build dates tens of thousands of list items and pages."""
    local = moment.astimezone(tz)
    day = _hindi_day(local.date())
    if local.time() == datetime.min.time():
        return day
    return f"{day}, {_hindi_clock(local.hour, local.minute)}"


@functools.lru_cache(maxsize=8192)
def _hindi_day(day: date) -> str:
    return format_date(day, "d MMMM y", locale="hi")


@functools.lru_cache(maxsize=24 * 60)
def _hindi_clock(hour: int, minute: int) -> str:
    return format_time(time(hour, minute), "h:mm a", locale="hi")


class Pages:
    def __init__(self, cfg: Config, urls: Urls) -> None:
        self.cfg = cfg
        self.urls = urls
        self.tz = cfg.tzinfo

    def _feeds(self, slug: str | None, name: str) -> list[dict[str, str]]:
        """The page's <link rel="alternate"> feeds, for autodiscovery."""
        title = self.cfg.site.title if slug is None else f"{self.cfg.site.title} — {name}"
        return [
            {
                "type": feed_format.media_type,
                "title": f"{title} ({feed_format.label})",
                "href": self.urls.feed(slug, fmt),
            }
            for fmt, feed_format in FEED_FORMATS.items()
        ]

    def _tag(self, tag: Tag) -> dict[str, Any]:
        return {
            "name": tag.name,
            "count": tag.count,
            "url": tag_page_path(tag.slug),
            "atom": feed_path(tag.slug, "atom"),
            "rss": feed_path(tag.slug, "rss"),
        }

    def _item(self, article: Article) -> dict[str, Any]:
        return {
            "title": article.title,
            "summary": article.summary,
            "url": article_path(article.id),
            "date_text": hindi_date(article.date, self.tz),
        }

    def _render(self, template: str, feeds: list[dict[str, str]], **context: Any) -> bytes:
        page = _env.get_template(template).render(
            site=self.cfg.site, base=self.urls.base, feeds=feeds, **context
        )
        return page.encode("utf-8")

    def index(self, articles: Sequence[Article], catalog: Catalog, limit: int) -> bytes:
        tags = sorted(catalog.by_key.values(), key=lambda t: (-t.count, t.name))
        return self._render(
            "index.html",
            self._feeds(None, ""),
            articles=[self._item(a) for a in articles[:limit]],
            tags=[self._tag(t) for t in tags],
        )

    def tag(self, tag: Tag, articles: Sequence[Article], limit: int) -> bytes:
        return self._render(
            "tag.html",
            self._feeds(tag.slug, tag.name) + self._feeds(None, ""),
            tag=self._tag(tag),
            articles=[self._item(a) for a in articles[:limit]],
        )

    def article(self, article: Article, catalog: Catalog, image: Image | None, body: str) -> bytes:
        tags = catalog.tags_of(article)
        image_url = image.url if image else None
        feeds = [f for t in tags for f in self._feeds(t.slug, t.name)] + self._feeds(None, "")
        changed = article.updated > article.date
        return self._render(
            "article.html",
            feeds,
            article={
                "title": article.title,
                "author": article.author,
                "date_text": hindi_date(article.date, self.tz),
                "updated_text": hindi_date(article.updated, self.tz) if changed else "",
                "body_html": body,
                "image": image_url,
                "tags": [self._tag(t) for t in tags],
                "related": article.related,
            },
            og=self._open_graph(article, image),
        )

    def _open_graph(self, article: Article, image: Image | None) -> list[tuple[str, str]]:
        """The Open Graph tags aggregators fall back to for a title, summary and image."""
        tags = [
            ("og:type", "article"),
            ("og:title", article.title),
            ("og:url", self.urls.article(article.id)),
            ("og:description", article.summary),
            ("og:locale", "hi_IN"),
            ("og:site_name", self.cfg.site.title),
        ]
        if image is not None:
            tags.append(("og:image", image.url))
            if image.width and image.height:
                tags += [
                    ("og:image:width", str(image.width)),
                    ("og:image:height", str(image.height)),
                ]
        tags.append(("article:published_time", article.date.isoformat()))
        tags.append(("article:modified_time", article.updated.isoformat()))
        return tags

    def not_found(self) -> bytes:
        return self._render("404.html", self._feeds(None, ""))

"""Hindi HTML pages: the front page, one per feed topic (tag, section, author), one per
article, and the 404."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .articles import Article, ArticleText
from .config import Config
from .feeds import Image
from .notices import correction_notice, hindi_date
from .store import Withdrawal
from .topics import EVERY, Catalog, Topic
from .urls import FEED_FORMATS, Urls, article_path, feed_path, page_path

FRONT_AUTHORS = 20

_env = Environment(
    loader=PackageLoader("feedsvc", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
)


class Pages:
    def __init__(self, cfg: Config, urls: Urls, summary: Callable[[Article], str]) -> None:
        """summary: an article's summary, for the lists (read from the store)."""
        self.cfg = cfg
        self.urls = urls
        self.tz = cfg.tzinfo
        self.summary = summary

    def _feeds(self, topic: Topic) -> list[dict[str, str]]:
        """The page's <link rel="alternate"> feeds of one topic, for autodiscovery."""
        site = self.cfg.site.title
        title = f"{site} — {topic.heading}" if topic.segment else site
        return [
            {
                "type": feed_format.media_type,
                "title": f"{title} ({feed_format.label})",
                "href": self.urls.feed(topic, fmt),
            }
            for fmt, feed_format in FEED_FORMATS.items()
        ]

    def _topic(self, topic: Topic, catalog: Catalog | None = None) -> dict[str, Any]:
        """A topic as a page shows it; with the catalog, its sub-sections too."""
        kind = topic.kind
        shown: dict[str, Any] = {
            "name": topic.name,
            "heading": topic.heading,
            "label": kind.label if kind is not None else "",
            "count": topic.count,
            "url": page_path(topic),
            "atom": feed_path(topic, "atom"),
            "rss": feed_path(topic, "rss"),
            "uri": topic.uri,
        }
        if catalog is not None:
            shown["children"] = [self._topic(c, catalog) for c in catalog.children(topic.ref)]
        return shown

    def _item(self, article: Article) -> dict[str, Any]:
        return {
            "title": article.title,
            "summary": self.summary(article),
            "url": article_path(article.id),
            "date_text": hindi_date(article.date, self.tz),
        }

    def _render(self, template: str, feeds: list[dict[str, str]], **context: Any) -> bytes:
        page = _env.get_template(template).render(
            site=self.cfg.site, base=self.urls.base, feeds=feeds, **context
        )
        return page.encode("utf-8")

    def index(self, articles: Sequence[Article], catalog: Catalog, limit: int) -> bytes:
        """The latest articles, then the sections (sub-sections within), the tags (most
        used first) and the most prolific authors."""
        sections = [self._topic(t, catalog) for t in catalog.kind("section") if t.parent is None]
        tags = sorted(catalog.kind("tag"), key=lambda t: (-t.count, t.name))
        # the most prolific: a newsroom has hundreds (each has its page and feeds)
        authors = sorted(catalog.kind("author"), key=lambda t: (-t.count, t.name))[:FRONT_AUTHORS]
        return self._render(
            "index.html",
            self._feeds(EVERY),
            articles=[self._item(a) for a in articles[:limit]],
            sections=sections,
            tags=[self._topic(t) for t in tags],
            authors=[self._topic(t) for t in authors],
        )

    def topic(self, topic: Topic, articles: Sequence[Article], catalog: Catalog) -> bytes:
        """A topic's page, from its kind's template: its feeds and newest articles; a
        section's path and sub-sections."""
        kind = topic.kind
        assert kind is not None, "the front page is the page of every article"
        return self._render(
            kind.template,
            self._feeds(topic) + self._feeds(EVERY),
            topic=self._topic(topic),
            parents=[self._topic(t) for t in catalog.parents(topic)],
            children=[self._topic(t) for t in catalog.children(topic.ref)],
            articles=[self._item(a) for a in articles],
        )

    def article(
        self, article: Article, catalog: Catalog, image: Image | None, text: ArticleText
    ) -> bytes:
        tags = catalog.of(article, "tag")
        sections = catalog.of(article, "section")  # its section's path, the top first
        credits = catalog.credits(article, self.cfg.site.author)
        named = [t for t in credits if t.slug]  # those with a page and feeds
        authors = [{"name": t.name, "url": page_path(t) if t.slug else ""} for t in credits]
        image_url = image.url if image else None
        own = [*sections[-1:], *named, *tags]
        feeds = [f for t in own for f in self._feeds(t)] + self._feeds(EVERY)
        changed = article.updated > article.date
        return self._render(
            "article.html",
            feeds,
            article={
                "title": article.title,
                "authors": authors,
                "date_text": hindi_date(article.date, self.tz),
                "updated_text": hindi_date(article.updated, self.tz) if changed else "",
                "corrections_html": correction_notice(article.corrections, self.tz),
                "body_html": text.body,
                "image": image_url,
                "sections": [self._topic(t) for t in sections],
                "tags": [self._topic(t) for t in tags],
                "related": article.related,
            },
            og=self._open_graph(article, image, text.summary),
        )

    def _open_graph(
        self, article: Article, image: Image | None, summary: str
    ) -> list[tuple[str, str]]:
        """The Open Graph tags aggregators fall back to for a title, summary and image."""
        tags = [
            ("og:type", "article"),
            ("og:title", article.title),
            ("og:url", self.urls.article(article.id)),
            ("og:description", summary),
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

    def withdrawn(self, withdrawal: Withdrawal) -> bytes:
        """The notice a withdrawn article's address answers with (410 Gone)."""
        when = datetime.fromtimestamp(withdrawal.at, self.tz)
        return self._render(
            "withdrawn.html",
            self._feeds(EVERY),
            title=withdrawal.title,
            reason=withdrawal.reason,
            date_text=hindi_date(when, self.tz),
        )

    def not_found(self) -> bytes:
        return self._render("404.html", self._feeds(EVERY))

"""Articles to Atom 1.0, RSS 2.0 and OPML 2.0 bytes. The only module that imports feedgen.

feedgen 1.0.0 has traps this module works around, each pinned by a test:
entries are prepended unless order='append'; `updated`/`lastBuildDate` default to
now; Atom entry links lose rel/type/length, so enclosures are written by our own
extension; the RSS channel <link> is the last link() added; a tag: guid must not be
a permalink; and feedgen's RFC 822 dates swap the process-wide locale, so entry
dates are written by our extension and feeds are built by one thread at a time
(the publisher's lock).
"""

from __future__ import annotations

import email.utils
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from . import __version__
from .articles import Article
from .config import Config
from .tags import Catalog
from .urls import FEED_FORMATS, Urls

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DC_NS = "http://purl.org/dc/elements/1.1/"
ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class FeedSpec:
    slug: str | None  # None: the feed of every article
    name: str  # display name of the tag, or the site title for `all`

    def title(self, cfg: Config) -> str:
        return cfg.site.title if self.slug is None else f"{cfg.site.title} — {self.name}"


def rfc822(moment: datetime) -> str:
    """Locale-independent RFC 822 date, as RSS wants."""
    return email.utils.format_datetime(moment)


# --- feedgen extensions --------------------------------------------------------


class _Extras(BaseExtension):  # type: ignore[misc]
    """Feed-level: the dc namespace, for <dc:creator> on RSS items, and WebSub hub
    links in RSS (feedgen writes Atom's itself, but in RSS only the self link)."""

    def __init__(self) -> None:
        self.hubs: tuple[str, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_rss(self, rss: Any) -> Any:
        channel = rss.find("channel")
        for hub in self.hubs:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", attrib={"href": hub, "rel": "hub"})
        return rss


class _EntryExtras(BaseEntryExtension):  # type: ignore[misc]
    """Entry-level pieces feedgen gets wrong: enclosures, RSS creator, RSS dates."""

    def __init__(self) -> None:
        self.enclosure: dict[str, str] | None = None
        self.creator: str | None = None
        self.pub_date: datetime | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_atom(self, entry: Any) -> Any:
        # Unqualified names, as feedgen writes its Atom elements (the default namespace
        # comes from the root): a qualified name would come out as ns0:published.
        if self.pub_date:
            etree.SubElement(entry, "published").text = self.pub_date.isoformat()
        if self.enclosure:
            etree.SubElement(entry, "link", attrib={"rel": "enclosure", **self.enclosure})
        return entry

    def extend_rss(self, item: Any) -> Any:
        if self.pub_date:
            etree.SubElement(item, "pubDate").text = rfc822(self.pub_date)
        if self.creator:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.creator
        if self.enclosure:
            etree.SubElement(
                item,
                "enclosure",
                url=self.enclosure["href"],
                length=self.enclosure["length"],
                type=self.enclosure["type"],
            )
        return item


# --- feeds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    url: str
    type: str
    length: int


def _generator(spec: FeedSpec, cfg: Config, urls: Urls, fmt: str, updated: datetime) -> Any:
    fg = FeedGenerator()
    fg.register_extension("feedsvc", _Extras, _EntryExtras)
    fg.id(urls.feed_id(spec.slug))
    fg.title(spec.title(cfg))
    fg.subtitle(f"{spec.name} — ताज़ा समाचार" if spec.slug else f"{cfg.site.title} — सभी समाचार")
    fg.author({"name": cfg.site.author})
    fg.language(cfg.site.language)
    fg.generator("feedsvc", version=__version__)
    fg.updated(updated)
    fg.ttl(max(1, math.ceil(cfg.schedule.rescan_seconds / 60)))
    fg.link(href=urls.feed(spec.slug, fmt), rel="self", type=FEED_FORMATS[fmt].media_type)
    for hub in cfg.websub.hubs:  # WebSub discovery
        fg.link(href=hub, rel="hub")
    fg.feedsvc.hubs = cfg.websub.hubs
    # Last: feedgen makes the RSS channel <link> of the last link() added.
    fg.link(href=urls.page_for_feed(spec.slug), rel="alternate", type="text/html")
    return fg


CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_ITEM_NS = {"dc": DC_NS, "content": CONTENT_NS}


class Entries:
    """Every article's Atom <entry> and RSS <item>, made by feedgen and serialized once
    per build, then shared by every feed that carries the article (`all` and each of
    its tags): no entry is rendered twice."""

    def __init__(
        self,
        catalog: Catalog,
        cfg: Config,
        urls: Urls,
        images: dict[str, Image],
        body: Callable[[Article], str],
    ):
        self.body = body
        self.catalog = catalog
        self.cfg = cfg
        self.urls = urls
        self.images = images
        self._entries: dict[str, Any] = {}  # article id -> FeedEntry, for both formats
        self._made: dict[tuple[str, str], bytes] = {}
        self._failed: dict[str, str] = {}  # article id -> why it cannot be an entry
        self.problems: list[str] = []

    def get(self, article: Article, fmt: str) -> bytes | None:
        """The entry's bytes, or None if this article cannot be serialized (reported
        once): the feeds go on without it."""
        key = (article.id, fmt)
        made = self._made.get(key)
        if made is None and article.id not in self._failed:
            try:
                entry = self._entries.get(article.id)
                if entry is None:
                    entry = self._entries[article.id] = self._entry(article)
                made = self._made[key] = self._serialize(entry, fmt)
            except Exception as exc:  # lxml or feedgen refused something in it
                self._failed[article.id] = str(exc)
                self.problems.append(f"{article.path}: left out of the feeds: {exc}")
        return made

    def done_with(self, fmt: str) -> None:
        """Every feed of this format is built: its serialized entries may go."""
        self._made = {key: made for key, made in self._made.items() if key[1] != fmt}

    def _entry(self, article: Article) -> Any:
        urls, fe = self.urls, FeedEntry()
        fe.register_extension("feedsvc", _EntryExtras)
        fe.id(urls.entry_id(article.id))
        fe.guid(urls.entry_id(article.id), permalink=False)
        fe.title(article.title)
        fe.link(href=urls.article(article.id))
        # Not fe.published(): feedgen would also write an RSS pubDate through a
        # process-wide locale swap. Our extension writes both dates.
        fe.updated(article.updated)
        fe.author({"name": article.author})
        for tag in self.catalog.tags_of(article):
            fe.category(term=tag.slug, label=tag.name, scheme=urls.url("/tags/"))
        fe.summary(article.summary or article.title)
        if not self.cfg.feeds.summary_only:
            fe.content(self.body(article), type="html")
        extras = fe.feedsvc
        extras.creator = article.author
        extras.pub_date = article.date
        image = self.images.get(article.id)
        if image:
            extras.enclosure = {"href": image.url, "type": image.type, "length": str(image.length)}
        return fe

    @staticmethod
    def _serialize(fe: Any, fmt: str) -> bytes:
        if fmt == "atom":  # unqualified: it takes the feed's default (Atom) namespace
            return etree.tostring(fe.atom_entry(), encoding="UTF-8", pretty_print=True)
        # Bind dc: and content: to their usual prefixes (not ns0:, ns1:); the feed's root
        # declares them, so the copies on each <item> are dropped.
        holder = etree.Element("holder")
        item = fe.rss_entry()
        holder.append(item)
        etree.cleanup_namespaces(holder, top_nsmap=_ITEM_NS)
        text = etree.tostring(item, encoding="UTF-8", pretty_print=True)
        head, _, rest = text.partition(b">")
        for prefix, uri in _ITEM_NS.items():
            head = head.replace(f' xmlns:{prefix}="{uri}"'.encode(), b"")
        return head + b">" + rest


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    newest: datetime  # the newest entry's updated
    kept: list[Article]
    content: str  # digest of its title and entries: what a WebSub hub is told about


def _skeleton(spec: FeedSpec, cfg: Config, urls: Urls, fmt: str, updated: datetime) -> bytes:
    fg = _generator(spec, cfg, urls, fmt, updated)
    return bytes(fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True))


def render_feed(
    spec: FeedSpec,
    fmt: str,
    articles: Sequence[Article],
    cfg: Config,
    urls: Urls,
    entries: Entries,
) -> RenderedFeed:
    """One feed of `articles` (newest first): at most feeds.max_items entries and never
    more than feeds.max_bytes, the oldest going first."""
    close = b"</feed>" if fmt == "atom" else b"</channel>"
    kept: list[Article] = []
    parts: list[bytes] = []
    for article in articles:
        if len(kept) == cfg.feeds.max_items:
            break
        part = entries.get(article, fmt)
        if part is not None:
            kept.append(article)
            parts.append(part)
    while True:
        updated = max((a.updated for a in kept), default=EPOCH)
        head, _, tail = _skeleton(spec, cfg, urls, fmt, updated).rpartition(close)
        room = cfg.feeds.max_bytes - len(head) - len(close) - len(tail)
        total, count = 0, 0
        for part in parts:
            if total + len(part) > room:
                break
            total, count = total + len(part), count + 1
        if count == len(kept):
            body = head + b"".join(parts) + close + tail
            content = hashlib.sha256(spec.title(cfg).encode() + b"".join(parts)).hexdigest()
            return RenderedFeed(body, updated, kept, content[:32])
        kept, parts = kept[:count], parts[:count]  # the newest that fit; dates re-checked


def render_opml(specs: Sequence[FeedSpec], cfg: Config, urls: Urls, updated: datetime) -> bytes:
    """OPML 2.0 of every feed, grouped by format, Hindi titles."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{cfg.site.title} — सभी फ़ीड"
    etree.SubElement(head, "dateModified").text = rfc822(updated)
    etree.SubElement(head, "ownerName").text = cfg.site.author
    body = etree.SubElement(opml, "body")
    for fmt, feed_format in FEED_FORMATS.items():
        group = etree.SubElement(body, "outline", text=f"{cfg.site.title} ({feed_format.label})")
        for spec in specs:
            outline = etree.SubElement(
                group,
                "outline",
                type="rss",
                text=spec.title(cfg),
                title=spec.title(cfg),
                language=cfg.site.language,
                xmlUrl=urls.feed(spec.slug, fmt),
                htmlUrl=urls.page_for_feed(spec.slug),
            )
            if fmt == "rss":  # OPML knows RSS versions only; Atom outlines name none
                outline.set("version", "RSS2")
    return etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)

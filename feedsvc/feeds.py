"""Articles to Atom 1.0, RSS 2.0, JSON Feed 1.1 and OPML 2.0 bytes. The only module
that imports feedgen (JSON Feed is plain JSON: feedgen does not write it).

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
import itertools
import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from . import __version__
from .articles import EPOCH, Article, ArticleText
from .config import Config
from .errors import STORAGE_ERRORS
from .notices import correction_notice
from .scratch import ScratchFile
from .text import html_safe_json
from .topics import KINDS, Catalog, Ref, Topic
from .urls import FEED_FORMATS, Urls

DC_NS = "http://purl.org/dc/elements/1.1/"
ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
WEBFEEDS_NS = "http://webfeeds.org/rss/1.0"
FH_NS = "http://purl.org/syndication/history/1.0"
AT_NS = "http://purl.org/atompub/tombstones/1.0"


@dataclass(frozen=True)
class Tombstone:
    """An RFC 6721 deleted-entry: an entry the feed held, withdrawn."""

    ref: str  # the entry's id
    when: datetime
    comment: str  # the reason, when one was given


@dataclass(frozen=True)
class FeedSpec:
    topic: Topic  # topics.EVERY: the feed of every article
    archive: int | None = None  # an RFC 5005 archive page of the feed (from 1)
    links: tuple[tuple[str, str], ...] = ()  # (rel, href): prev-archive, current, ...
    tombstones: tuple[Tombstone, ...] = ()  # Atom subscription documents only

    def title(self, cfg: Config) -> str:
        topic = self.topic
        title = f"{cfg.site.title} — {topic.heading}" if topic.segment else cfg.site.title
        return title if self.archive is None else f"{title} — संग्रह {self.archive}"

    def self_url(self, urls: Urls, fmt: str) -> str:
        if self.archive is None:
            return urls.feed(self.topic, fmt)
        return urls.archive(self.topic, self.archive, fmt)

    def feed_id(self, urls: Urls) -> str:
        base = urls.feed_id(self.topic)
        return base if self.archive is None else f"{base}/archive/{self.archive}"


def rfc822(moment: datetime) -> str:
    """Locale-independent RFC 822 date, as RSS wants."""
    return email.utils.format_datetime(moment)


# --- feedgen extensions --------------------------------------------------------


class _Extras(BaseExtension):  # type: ignore[misc]
    """Feed-level: the dc namespace, for <dc:creator> on RSS items, and WebSub hub
    links in RSS (feedgen writes Atom's itself, but in RSS only the self link)."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str]] = []  # (rel, href) besides self, as atom:link
        self.brand = Brand()
        self.rss = False
        self.archive = False
        self.tombstones: tuple[Tombstone, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        spaces = {"dc": DC_NS, "media": MEDIA_NS}
        if self.rss and self.brand != Brand():  # declared only where it is used
            spaces["webfeeds"] = WEBFEEDS_NS
        if self.archive:
            spaces["fh"] = FH_NS
        if self.tombstones and not self.rss:
            spaces["at"] = AT_NS
        return spaces

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        for tombstone in self.tombstones:  # RFC 6721: among the entries, in any order
            when = tombstone.when.isoformat()
            deleted = etree.SubElement(
                feed, f"{{{AT_NS}}}deleted-entry", attrib={"ref": tombstone.ref, "when": when}
            )
            if tombstone.comment:
                comment = etree.SubElement(deleted, f"{{{AT_NS}}}comment")
                comment.set("{http://www.w3.org/XML/1998/namespace}lang", "hi")
                comment.text = tombstone.comment
        return feed

    def extend_rss(self, rss: Any) -> Any:
        channel = rss.find("channel")
        for rel, href in self.links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", attrib={"href": href, "rel": rel})
        if self.archive:
            etree.SubElement(channel, f"{{{FH_NS}}}archive")
        brand = self.brand
        for name, value in (("icon", brand.icon), ("logo", brand.logo)):
            if value:
                etree.SubElement(channel, f"{{{WEBFEEDS_NS}}}{name}").text = value
        if brand.accent:
            etree.SubElement(channel, f"{{{WEBFEEDS_NS}}}accentColor").text = brand.accent
        return rss


class _EntryExtras(BaseEntryExtension):  # type: ignore[misc]
    """Entry-level pieces feedgen gets wrong or lacks: enclosures, RSS creator, RSS
    dates, and Media RSS for the lead image (never inside media:group)."""

    def __init__(self) -> None:
        self.image: Image | None = None
        self.creators: list[str] = []  # RSS: one dc:creator per author
        self.emails: list[str] = []  # Atom: each author's e-mail address, or ""
        self.pub_date: datetime | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS, "media": MEDIA_NS}

    def extend_atom(self, entry: Any) -> Any:
        # Unqualified names, as feedgen writes its Atom elements (the default namespace
        # comes from the root): a qualified name would come out as ns0:published.
        if self.pub_date:
            etree.SubElement(entry, "published").text = self.pub_date.isoformat()
        for person, address in zip(entry.findall("author"), self.emails, strict=True):
            if address:  # here, not through feedgen: it would make an RSS <author> of it
                etree.SubElement(person, "email").text = address
        if self.image:
            image = self.image
            enclosure = {"href": image.url, "type": image.type, "length": str(image.length)}
            etree.SubElement(entry, "link", attrib={"rel": "enclosure", **enclosure})
            self._media(entry)
        return entry

    def _media(self, parent: Any) -> None:
        """media:content and media:thumbnail: what Feedly, Inoreader and MSN show."""
        image = self.image
        assert image is not None
        size = {"width": str(image.width), "height": str(image.height)} if image.width else {}
        content = {"url": image.url, "type": image.type, "medium": "image"}
        etree.SubElement(parent, f"{{{MEDIA_NS}}}content", attrib=content | size)
        etree.SubElement(parent, f"{{{MEDIA_NS}}}thumbnail", attrib={"url": image.url} | size)

    def extend_rss(self, item: Any) -> Any:
        if self.pub_date:
            etree.SubElement(item, "pubDate").text = rfc822(self.pub_date)
        for creator in self.creators:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = creator
        if self.image:
            image = self.image
            attrib = {"url": image.url, "length": str(image.length), "type": image.type}
            etree.SubElement(item, "enclosure", attrib=attrib)
            self._media(item)
        return item


# --- feeds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Brand:
    """The site's icon, logo (absolute URLs) and accent colour, for readers that show
    them (Atom icon and logo, RSS image, JSON Feed icon, Feedly's webfeeds)."""

    icon: str = ""
    logo: str = ""
    accent: str = ""


@dataclass(frozen=True)
class Image:
    """A lead image as feeds and pages name it."""

    url: str
    type: str
    length: int  # bytes; 0 when unknown (a remote image)
    width: int | None = None  # pixels, read from a local file; None for a remote one
    height: int | None = None


def _generator(
    spec: FeedSpec, cfg: Config, urls: Urls, fmt: str, updated: datetime, brand: Brand
) -> Any:
    fg = FeedGenerator()
    fg.register_extension("feedsvc", _Extras, _EntryExtras)
    fg.id(spec.feed_id(urls))
    fg.title(spec.title(cfg))
    fg.subtitle(_subtitle(spec, cfg))
    fg.author({"name": cfg.site.author})
    fg.language(cfg.site.language)
    fg.generator("feedsvc", version=__version__)
    fg.updated(updated)
    fg.ttl(max(1, math.ceil(cfg.schedule.rescan_seconds / 60)))
    page = urls.page(spec.topic)
    if fmt == "atom":  # first: consumers that take the first <link> take it for the site
        fg.link(href=page, rel="alternate", type="text/html")
    fg.link(href=spec.self_url(urls, fmt), rel="self", type=FEED_FORMATS[fmt].media_type)
    # WebSub discovery in subscription documents; RFC 5005 links
    hubs = [("hub", hub) for hub in cfg.websub.hubs] if spec.archive is None else []
    for rel, href in hubs:
        fg.link(href=href, rel=rel)
    for rel, href in spec.links:
        fg.link(href=href, rel=rel, type=FEED_FORMATS[fmt].media_type)
    fg.feedsvc.links = [*hubs, *spec.links]
    fg.feedsvc.archive = spec.archive is not None
    fg.feedsvc.tombstones = spec.tombstones
    fg.feedsvc.brand, fg.feedsvc.rss = brand, fmt == "rss"
    if fmt == "atom":
        if brand.icon:
            fg.icon(brand.icon)
        if brand.logo:
            fg.logo(brand.logo)
    else:
        if brand.logo or brand.icon:  # RSS <image>: the logo, else the icon
            fg.image(url=brand.logo or brand.icon, title=spec.title(cfg), link=page)
        # Last: feedgen makes the RSS channel <link> of the last link() added.
        fg.link(href=page, rel="alternate", type="text/html")
    return fg


CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_ITEM_NS = {"dc": DC_NS, "content": CONTENT_NS, "media": MEDIA_NS}


@dataclass(frozen=True)
class Stamp:
    """All an entry says: equal stamps, equal bytes."""

    article: Article
    topics: tuple[tuple[str, str, str, str, str], ...]  # what it shows of each topic
    image: Image | None


class Kept:
    """Entries serialized by earlier builds, the last `size`: a rebuild renders the
    feeds one new article touches, whose other entries are the bytes made last time
    (an entry changes with its article, its topics' slugs and names, and its image).

    With `folder`, their bytes are in an unnamed file there, in the OS's cache: with
    full contents 3,072 entries are about 37 MB, which a server would otherwise hold
    between rebuilds. Replaced entries leave waste in the file; past `WASTE` bytes
    the live ones are copied to a new file."""

    WASTE = 64 << 20

    def __init__(self, size: int = 3072, folder: Path | None = None) -> None:
        self.size = size
        self._stamps: OrderedDict[tuple[str, str], Stamp] = OrderedDict()
        self._bytes: Made = Made(folder)

    def get(self, key: tuple[str, str], stamp: Stamp) -> bytes | None:
        if self._stamps.get(key) != stamp:
            return None
        self._stamps.move_to_end(key)
        return self._bytes.get(key)

    def put(self, key: tuple[str, str], stamp: Stamp, made: bytes) -> None:
        self._stamps[key] = stamp
        self._stamps.move_to_end(key)
        self._bytes.put(key, made)
        if len(self._stamps) > self.size:
            self._bytes.discard(self._stamps.popitem(last=False)[0])
        self._bytes.compact_past(self.WASTE)

    def close(self) -> None:
        self._bytes.close()


class Made:
    """Serialized entries by (article id, format): in memory, or with `folder` in an
    unnamed file there; one build's, and `Kept`'s between builds. A full build makes
    every entry of the archive (at 100,000 articles, about 3 GB in three formats) and
    every feed of its topics shares it; in the file they are in the OS's cache, not in
    the process, which holds only where each one is."""

    def __init__(self, folder: Path | None = None) -> None:
        # closed by close(), when the build is done with its entries
        self._file = ScratchFile[tuple[str, str]](folder) if folder else None
        self._held: dict[tuple[str, str], bytes] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._held if self._file is None else key in self._file

    def get(self, key: tuple[str, str]) -> bytes | None:
        return self._held.get(key) if self._file is None else self._file.get(key)

    def put(self, key: tuple[str, str], made: bytes) -> None:
        if self._file is None:
            self._held[key] = made
        else:
            self._file.put(key, made)

    def discard(self, key: tuple[str, str]) -> None:
        if self._file is None:
            self._held.pop(key, None)
        else:
            self._file.discard(key)

    def compact_past(self, waste: int) -> None:
        """The file made anew, without what no key refers to, once that passes `waste`."""
        if self._file is not None and self._file.waste > waste:
            self._file.compact()

    def drop(self, fmt: str) -> None:
        """Every entry of this format (the file keeps its bytes until closed)."""
        if self._file is None:
            self._held = {key: made for key, made in self._held.items() if key[1] != fmt}
        else:
            self._file.forget(lambda key: key[1] != fmt)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Entries:
    """Every article's Atom <entry> and RSS <item>, made by feedgen and serialized once
    per build (both formats from one FeedEntry, which is then let go), then shared by
    every feed that carries the article (`all` and each of its topics): no entry is
    rendered twice. With `kept`, nor again in the next build. A context manager: it
    closes the file of `scratch` (see Made)."""

    def __init__(
        self,
        catalog: Catalog,
        cfg: Config,
        urls: Urls,
        images: Mapping[str, Image],
        text: Callable[[Article], ArticleText],
        brand: Brand = Brand(),
        kept: Kept | None = None,
        scratch: Path | None = None,
    ):
        self.text = text
        self.brand = brand
        self.catalog = catalog
        self.cfg = cfg
        self.urls = urls
        self.images = images
        self.kept = kept if kept is not None else Kept(0)
        self._made = Made(scratch)
        self._done: set[str] = set()  # formats whose feeds are all built
        self._failed: dict[str, str] = {}  # article id -> why it cannot be an entry
        self._stamps: dict[str, Stamp] = {}
        self.problems: list[str] = []

    def get(self, article: Article, fmt: str) -> bytes | None:
        """The entry's bytes, or None if this article cannot be serialized (reported
        once): the feeds go on without it."""
        key = (article.id, fmt)
        made = self._made.get(key)
        if made is None and article.id not in self._failed:
            stamp = self._stamp(article)
            made = self.kept.get(key, stamp)
            if made is not None:
                self._made.put(key, made)
                return made
            try:
                made = self._make(article, fmt, stamp)
            except STORAGE_ERRORS:  # its text, the kept entries' file: the build stops
                raise
            except Exception as exc:  # lxml or feedgen refused something in it
                self._failed[article.id] = str(exc)
                self.problems.append(f"{article.path}: left out of the feeds: {exc}")
                return None
        return made

    def _make(self, article: Article, fmt: str, stamp: Stamp) -> bytes:
        if fmt == "json":
            made = self._json_item(article)
        else:  # the other XML format too, while its FeedEntry is at hand
            entry = self._entry(article)
            other = "rss" if fmt == "atom" else "atom"
            key = (article.id, other)
            if other not in self._done and key not in self._made:
                self._keep(key, stamp, self._serialize(entry, other))
            made = self._serialize(entry, fmt)
        self._keep((article.id, fmt), stamp, made)
        return made

    def _keep(self, key: tuple[str, str], stamp: Stamp, made: bytes) -> None:
        self._made.put(key, made)
        self.kept.put(key, stamp, made)

    def _stamp(self, article: Article) -> Stamp:
        """Made once per article and build: every feed of the article asks for it."""
        stamp = self._stamps.get(article.id)
        if stamp is None:
            catalog = self.catalog
            shown = tuple(topic.shown for kind in KINDS for topic in catalog.of(article, kind))
            stamp = self._stamps[article.id] = Stamp(article, shown, self.images.get(article.id))
        return stamp

    def content(self, article: Article, text: ArticleText) -> str:
        """Its HTML as feeds carry it: its corrections first, clearly marked."""
        return correction_notice(article.corrections, self.cfg.tzinfo) + text.body

    def done_with(self, fmt: str) -> None:
        """Every feed of this format is built: its serialized entries may go."""
        self._done.add(fmt)
        self._made.drop(fmt)

    def __enter__(self) -> Entries:
        return self

    def __exit__(self, *exc: object) -> None:
        self._made.close()

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
        credits = self.catalog.credits(article, self.cfg.site.author)
        fe.author([_person(author) for author in credits])
        for tag in self.catalog.of(article, "tag"):
            fe.category(term=tag.slug, label=tag.name, scheme=urls.url("/tags/"))
        sections = self.catalog.of(article, "section")
        if sections:  # its own section: the deepest level
            section = sections[-1]
            fe.category(term=section.slug, label=section.heading, scheme=urls.url("/sections/"))
        text = self.text(article)
        fe.summary(text.summary or article.title)
        if not self.cfg.feeds.summary_only:
            fe.content(self.content(article, text), type="html")
        extras = fe.feedsvc
        extras.creators = [author.name for author in credits]
        extras.emails = [author.email for author in credits]
        extras.pub_date = article.date
        extras.image = self.images.get(article.id)
        return fe

    def _json_item(self, article: Article) -> bytes:
        """One JSON Feed 1.1 item: the same id (tag: URI) as the Atom entry."""
        item: dict[str, object] = {
            "id": self.urls.entry_id(article.id),
            "url": self.urls.article(article.id),
            "title": article.title,
        }
        text = self.text(article)
        if not self.cfg.feeds.summary_only:
            item["content_html"] = self.content(article, text)
        item["summary"] = text.summary or article.title
        item["date_published"] = article.date.isoformat()
        item["date_modified"] = article.updated.isoformat()
        item["authors"] = [
            _json_person(author) for author in self.catalog.credits(article, self.cfg.site.author)
        ]
        tags = [tag.name for tag in self.catalog.of(article, "tag")]
        if tags:
            item["tags"] = tags
        image = self.images.get(article.id)
        if image:
            item["image"] = image.url
        return _json(item)

    @staticmethod
    def _serialize(fe: Any, fmt: str) -> bytes:
        """An <entry> (unqualified: it takes the feed's default Atom namespace) or an
        <item>, with dc:, content: and media: bound to their usual prefixes (not ns0:);
        the feed's root declares them, so the copies on the element are dropped."""
        holder = etree.Element("holder")
        element = fe.atom_entry() if fmt == "atom" else fe.rss_entry()
        holder.append(element)
        etree.cleanup_namespaces(holder, top_nsmap=_ITEM_NS)
        text = etree.tostring(element, encoding="UTF-8", pretty_print=True)
        head, _, rest = text.partition(b">")
        for prefix, uri in _ITEM_NS.items():
            head = head.replace(f' xmlns:{prefix}="{uri}"'.encode(), b"")
        return head + b">" + rest


def _person(author: Topic) -> dict[str, str]:
    """An Atom person; its e-mail address is added by our extension (from one,
    feedgen would also make an RSS <author>, which beside dc:creator the validator
    warns of: DuplicateItemSemantics)."""
    return {"name": author.name, "uri": author.uri} if author.uri else {"name": author.name}


def _json_person(author: Topic) -> dict[str, str]:
    return {"name": author.name, "url": author.uri} if author.uri else {"name": author.name}


_HUB_LINK = re.compile(rb'\s*<(?:atom:)?link href="[^"]*" rel="hub"/>')


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    newest: datetime  # the newest entry's updated
    kept: list[Article]
    plain_head: bytes  # its head without hub links
    head_end: int  # where the body's head ends

    @property
    def content(self) -> str:
        """The digest of its bytes but the hub links: what WebSub hubs are told about
        (a change of [websub] alone is no change of the document). Asked of
        subscription documents only: an archive page's bytes are not hashed twice."""
        hashed = hashlib.sha256(self.plain_head)
        hashed.update(memoryview(self.body)[self.head_end :])
        return hashed.hexdigest()[:32]


def _skeleton(
    spec: FeedSpec, cfg: Config, urls: Urls, fmt: str, updated: datetime, brand: Brand
) -> bytes:
    fg = _generator(spec, cfg, urls, fmt, updated, brand)
    return bytes(fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True))


def render_feed(
    spec: FeedSpec,
    fmt: str,
    articles: Sequence[Article],
    cfg: Config,
    urls: Urls,
    entries: Entries,
    required: frozenset[str] = frozenset(),
) -> RenderedFeed:
    """One feed of `articles` (newest first): at most feeds.max_items entries and never
    more than feeds.max_bytes, the oldest going first; but the `required` articles (ids
    no archive page holds yet) always, whatever their number and size."""
    close = b"</feed>" if fmt == "atom" else b"</channel>"
    chosen = _chosen(articles, cfg.feeds.max_items, required)
    pairs = [(a, part) for a in chosen if (part := entries.get(a, fmt)) is not None]
    withdrawn = max((t.when for t in spec.tombstones), default=EPOCH)
    while True:
        kept = [a for a, _ in pairs]
        updated = max(withdrawn, max((a.updated for a in kept), default=EPOCH))
        head, _, tail = _skeleton(spec, cfg, urls, fmt, updated, entries.brand).rpartition(close)
        room = cfg.feeds.max_bytes - len(head) - len(close) - len(tail)
        room -= sum(len(part) for a, part in pairs if a.id in required)
        fits = _newest_that_fit(pairs, required, room)
        if len(fits) == len(pairs):
            body = b"".join([head, *(part for _, part in pairs), close, tail])  # one copy
            plain_head = _HUB_LINK.sub(b"", head)
            return RenderedFeed(
                body=body, newest=updated, kept=kept, plain_head=plain_head, head_end=len(head)
            )
        pairs = fits  # the newest that fit: dates (and the skeleton) re-checked


def _chosen(articles: Sequence[Article], count: int, required: frozenset[str]) -> list[Article]:
    """The newest `count`, and the required beyond them, in order. Those are almost
    always among the newest: the walk down the rest (10,000 for `all`) stops as soon
    as it has them."""
    chosen = list(articles[:count])
    rest = set(required).difference(a.id for a in chosen)
    for article in itertools.islice(articles, count, None):
        if not rest:
            break
        if article.id in rest:
            chosen.append(article)
            rest.discard(article.id)
    return chosen


def _newest_that_fit(
    pairs: list[tuple[Article, bytes]], required: frozenset[str], room: int
) -> list[tuple[Article, bytes]]:
    """Every required entry, and the newest others while they fit in `room`."""
    fits, total, full = [], 0, False
    for article, part in pairs:
        if article.id in required:
            fits.append((article, part))
        elif not full and total + len(part) <= room:
            fits.append((article, part))
            total += len(part)
        else:
            full = True  # the oldest go first: nothing after the first that does not fit
    return fits


def _json(value: object) -> bytes:
    """Devanagari as UTF-8, not \\u escapes (a third of the bytes), no spaces, and no
    <, > or & in any string (text.html_safe_json)."""
    return html_safe_json(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).encode()


JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def render_json_feed(
    spec: FeedSpec, articles: Sequence[Article], cfg: Config, urls: Urls, entries: Entries
) -> RenderedFeed:
    """The JSON Feed 1.1 of the articles an Atom feed kept (same entries, same order)."""
    head: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": spec.title(cfg),
        "home_page_url": urls.page(spec.topic),
        "feed_url": urls.feed(spec.topic, "json"),
        "description": _subtitle(spec, cfg),
        "language": cfg.site.language,
        "authors": [{"name": cfg.site.author}],
    }
    kept: list[Article] = []
    items: list[bytes] = []
    for article in articles:
        item = entries.get(article, "json")
        if item is not None:
            kept.append(article)
            items.append(item)
    if entries.brand.icon:
        head["icon"] = head["favicon"] = entries.brand.icon
    plain = _json(head)[:-1]
    hubs = [{"type": "WebSub", "url": hub} for hub in cfg.websub.hubs]
    start = _json(head | {"hubs": hubs})[:-1] if hubs else plain
    body = b"".join([start, b',"items":[', b",".join(items), b"]}"])
    newest = max((a.updated for a in kept), default=EPOCH)
    return RenderedFeed(body=body, newest=newest, kept=kept, plain_head=plain, head_end=len(start))


def _subtitle(spec: FeedSpec, cfg: Config) -> str:
    topic = spec.topic
    if not topic.segment:
        return f"{cfg.site.title} — सभी समाचार"
    return f"{topic.heading} — ताज़ा समाचार"


def render_opml(topics: Sequence[Topic], cfg: Config, urls: Urls, updated: datetime) -> bytes:
    """OPML 2.0 with one outline per topic, not one per format: importing it subscribes
    once to each. `all` first, then a group per kind (sections, tags, authors), a
    sub-section inside its section. The outline names the Atom feed."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{cfg.site.title} — सभी फ़ीड"
    etree.SubElement(head, "dateModified").text = rfc822(updated)
    etree.SubElement(head, "ownerName").text = cfg.site.author
    body = etree.SubElement(opml, "body")
    placed: dict[Ref, Any] = {}  # each topic's outline: where its sub-sections go
    groups: dict[str, Any] = {}
    for topic in topics:
        kind = topic.kind
        parent: Any
        if kind is None:
            parent = body
        elif topic.parent in placed:
            parent = placed[topic.parent]
        else:
            parent = groups.get(kind.name)
            if parent is None:
                parent = groups[kind.name] = etree.SubElement(
                    body, "outline", text=kind.label, title=kind.label
                )
        title = FeedSpec(topic).title(cfg)
        placed[topic.ref] = etree.SubElement(
            parent,
            "outline",
            type="rss",  # OPML's word for any feed; it names versions of RSS only
            text=title,
            title=title,
            language=cfg.site.language,
            xmlUrl=urls.feed(topic, "atom"),
            htmlUrl=urls.page(topic),
        )
    return etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)

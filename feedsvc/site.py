"""Published articles to the resources of one Snapshot, in steps that read and test
alone: plan (what to render, what to carry over), media (all the file I/O), feeds,
pages, assemble.

A build can be partial: given the previous snapshot and what changed, it renders only
the feeds and pages touched and carries every other resource over unchanged (same
bytes, same ETag, same Last-Modified).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import mimetypes
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import sitemaps
from .archives import Positions, affected, pages, unarchived
from .arrangement import Arranged
from .articles import EPOCH, Article, Texts
from .config import Config
from .errors import STORAGE_ERRORS
from .feeds import (
    Brand,
    Entries,
    FeedSpec,
    Image,
    Kept,
    RenderedFeed,
    Tombstone,
    render_feed,
    render_json_feed,
    render_opml,
)
from .media import brand_file, image_size, local_image
from .pages import Pages
from .snapshot import HTML, Item, Resource, SiteIndex, Snapshot, Spill, digest, make_resources
from .store import Withdrawal
from .topics import ALL, EVERY, KINDS, Ref, Topic, aliases_of, names_of
from .urls import (
    FEED_FORMATS,
    Urls,
    archive_path,
    feed_path,
    page_path,
    served,
    served_article_path,
)

INDEX_ITEMS = 30
TOPIC_PAGE_ITEMS = 50
OPML = "text/x-opml; charset=utf-8"

Members = Mapping[Ref, Sequence[Article]]  # topic -> its articles, newest first
Names = Mapping[str, tuple[str, str]]  # stored topic ref -> (slug, display name)


# --- plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Which resources a build renders. Every other one is carried over from the
    previous snapshot; one the previous snapshot lacks is always rendered."""

    topics: frozenset[Ref] | None = None  # the topics touched; None: a full build
    articles: frozenset[str] = frozenset()  # ids of the articles touched
    previous: Mapping[str, Resource] = field(default_factory=dict)
    # False: no archive pages, article pages or sitemaps yet (a cold start serves its
    # feeds first, then builds everything again with them)
    pages: bool = True
    # False: `all`'s feeds, the OPML and the front page alone, nothing carried (a
    # first start shows its newest articles while it reads every file)
    others: bool = True

    @classmethod
    def full(cls, previous: Mapping[str, Resource], pages: bool = True) -> Plan:
        """Render everything; `previous` only keeps the validators of unchanged bytes."""
        return cls(None, frozenset(), previous, pages)

    @classmethod
    def partial(
        cls, topics: frozenset[Ref], articles: frozenset[str], previous: Mapping[str, Resource]
    ) -> Plan:
        return cls(topics, articles, previous)

    @classmethod
    def newest(cls) -> Plan:
        return cls(topics=frozenset(), pages=False, others=False)

    @property
    def is_full(self) -> bool:
        return self.topics is None

    def renders(self, ref: Ref, path: str) -> bool:
        """The feed or page of a topic (`all` is touched by every change)."""
        if not self.others:
            return ref == ALL
        touched = self.topics is None or ref == ALL or ref in self.topics
        return touched or path not in self.previous

    def renders_article(self, article_id: str, path: str) -> bool:
        touched = self.topics is None or article_id in self.articles
        return touched or path not in self.previous

    def widened(self, before: Names, after: Names, members: Members) -> Plan:
        """A topic renamed (its most common spelling or its slug changed, or it came or
        went) shows in every entry that carries it, and on its parent's page: those
        entries' feeds and pages are touched too."""
        if self.topics is None or not self.others:
            return self
        renamed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        if not renamed:
            return self
        refs = {Ref.from_stored(stored) for stored in renamed}
        topics, ids = set(self.topics) | refs, set(self.articles)
        for ref in refs:
            ids.update(article.id for article in members.get(ref, ()))
        for ref, articles in members.items():
            if ref not in topics and any(a.id in ids for a in articles):
                topics.add(ref)
        return dataclasses.replace(self, topics=frozenset(topics), articles=frozenset(ids))


# --- what the steps share -------------------------------------------------------------


@dataclass
class Output:
    """What the steps produce: bodies to make resources of, paths carried over."""

    carried: list[str] = field(default_factory=list)
    carried_pages: list[str] = field(default_factory=list)  # article pages: most paths
    windows: dict[str, tuple[str, ...]] = field(default_factory=dict)  # feed: ids it holds
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)  # feed: (URL, content)
    archives: dict[str, Mapping[str, str]] = field(default_factory=dict)  # feed: page: sig
    problems: list[str] = field(default_factory=list)
    feeds_rendered: int = 0
    pages_rendered: int = 0


@dataclass(frozen=True)
class Built:
    snapshot: Snapshot
    feeds_rendered: int
    pages_rendered: int


# --- media: all the file I/O ------------------------------------------------------------


def brand_of(cfg: Config, urls: Urls, served: dict[str, tuple[Path, str]], out: Output) -> Brand:
    """site.icon and site.logo as absolute URLs; a local file is served under /media/."""
    root, found = cfg.articles_dir, {}
    for key in ("icon", "logo"):
        value: str = getattr(cfg.site, key)
        if not value or "://" in value:
            found[key] = urls.image(value) if value else ""
            continue
        file = brand_file(cfg, key)
        if file is None:
            out.problems.append(f"site.{key}: no file {value} in the articles folder; left out")
            found[key] = ""
            continue
        relative = file.relative_to(root).as_posix()
        kind = mimetypes.guess_type(relative)[0] or "application/octet-stream"
        served["/media/" + relative] = (file, kind)
        found[key] = urls.image(relative)
    return Brand(found["icon"], found["logo"], cfg.site.accent_color.lower())


@dataclass(frozen=True)
class Media:
    images: Mapping[str, Image]  # every lead image as an enclosure, by article id
    brand: Brand
    items: list[Item]  # the local files served under /media/ that the plan reads


@dataclass(frozen=True)
class LeadImage:
    image: Image
    file: Path | None  # None: a remote image, not served by us
    path: str  # where a local one is served


def lead_image(article: Article, cfg: Config, urls: Urls, out: Output) -> LeadImage | None:
    """An article's lead image, its size read from a local file's header."""
    if not article.image:
        return None
    kind = mimetypes.guess_type(article.image.split("?")[0])[0] or "application/octet-stream"
    if "://" in article.image:
        return LeadImage(Image(urls.image(article.image), kind, 0), None, "")
    root = cfg.articles_dir
    file = local_image(article, root)
    if file is None:
        return None
    relative = file.relative_to(root).as_posix()
    try:
        width, height = image_size(file)
        size = file.stat().st_size
    except OSError as exc:
        out.problems.append(f"{article.path}: cannot read image: {exc.strerror}")
        return None
    return LeadImage(Image(urls.image(relative), kind, size, width, height), file, relative)


class _Measured(Mapping[str, Image]):
    """Lead images measured when a build first asks for one: a plan that renders a
    few entries reads a few image headers, not every article's."""

    def __init__(self, by_id: Mapping[str, Article], cfg: Config, urls: Urls, out: Output):
        self._by_id, self._cfg, self._urls, self._out = by_id, cfg, urls, out
        self._known: dict[str, Image | None] = {}

    def __getitem__(self, article_id: str) -> Image:
        if article_id not in self._known:
            found = lead_image(self._by_id[article_id], self._cfg, self._urls, self._out)
            self._known[article_id] = None if found is None else found.image
        image = self._known[article_id]
        if image is None:
            raise KeyError(article_id)
        return image

    def __iter__(self) -> Iterator[str]:
        return (i for i in self._by_id if i in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def collect_media(arranged: Arranged, cfg: Config, urls: Urls, plan: Plan, out: Output) -> Media:
    """Every lead image and the site's brand; local image files read when the plan
    needs them, else carried. A plan of `all` alone measures the images of the
    entries it renders, and serves no file yet."""
    if not plan.others:
        measured = _Measured(arranged.by_id, cfg, urls, out)
        return Media(images=measured, brand=brand_of(cfg, urls, {}, out), items=[])
    images: dict[str, Image] = {}
    items: list[Item] = []
    served: dict[str, tuple[Path, str]] = {}
    brand = brand_of(cfg, urls, served, out)
    for article in arranged.ordered:
        found = lead_image(article, cfg, urls, out)
        if found is not None:
            images[article.id] = found.image
            if found.file is not None:
                served["/media/" + found.path] = (found.file, found.image.type)
    for path, (file, kind) in served.items():
        if path in plan.previous and not plan.is_full:
            out.carried.append(path)
            continue
        try:
            data = file.read_bytes()
            mtime = datetime.fromtimestamp(file.stat().st_mtime, UTC)
        except OSError as exc:
            out.problems.append(f"{path}: cannot read image: {exc.strerror}")
            continue
        items.append(Item(path, data, kind, mtime))
    return Media(images=images, brand=brand, items=items)


# --- feeds -----------------------------------------------------------------------------


def hub_links(hubs: Sequence[str], topic: str) -> str:
    """The HTTP Link header of a subscription document: every hub, then its self URL,
    quoted exactly so (some hubs look for these strings)."""
    if not hubs:
        return ""
    return ", ".join([*(f'<{hub}>; rel="hub"' for hub in hubs), f'<{topic}>; rel="self"'])


def feed_topics(arranged: Arranged, job: Job) -> list[Feed]:
    """`all` first, then every topic in catalog order, each with its archive positions
    and the tombstones of the withdrawn articles its Atom document held."""
    size, archive, tombstones = job.cfg.feeds.archive_size, job.archive, active_tombstones(job)

    def feed(topic: Topic, members: Sequence[Article], ids: Mapping[str, Article]) -> Feed:
        return Feed(
            topic,
            members,
            positions=archive.get(topic.ref, Positions()),
            size=size,
            ids=ids,
            tombstones=tombstones.get(served(feed_path(topic, "atom")), ()) if tombstones else (),
        )

    by_id, members = arranged.by_id, arranged.members
    return [feed(EVERY, arranged.ordered, by_id)] + [
        feed(topic, members[ref], _Members(by_id, ref, members[ref]))
        for ref, topic in arranged.catalog.topics.items()
    ]


def tombstones_shown(job: Job) -> list[Withdrawal]:
    """The withdrawn articles whose tombstones the feeds show, the latest first."""
    now, days = job.now.timestamp(), job.cfg.feeds.tombstone_days
    shown = [w for w in job.withdrawals.values() if w.shows_tombstone(now, days)]
    return sorted(shown, key=lambda w: (-w.at, w.id))


def active_tombstones(job: Job) -> dict[str, tuple[Tombstone, ...]]:
    """By Atom subscription document: the withdrawn articles it held, for
    `feeds.tombstone_days` after their withdrawal, the latest first."""
    found: dict[str, list[Tombstone]] = {}
    for withdrawal in tombstones_shown(job):
        when = datetime.fromtimestamp(withdrawal.at, job.cfg.tzinfo)
        tombstone = Tombstone(job.urls.entry_id(withdrawal.id), when, withdrawal.reason)
        for path in withdrawal.feeds:
            found.setdefault(path, []).append(tombstone)
    return {path: tuple(stones) for path, stones in found.items()}


class _Members(Mapping[str, Article]):
    """A topic's members by id, looked up among all articles: made per build for
    thousands of topics, where a dict each would copy the largest ones every build."""

    def __init__(self, every: Mapping[str, Article], ref: Ref, members: Sequence[Article]):
        self._every, self._ref, self._members = every, ref, members
        self._keys = KINDS[ref.kind].keys

    def __getitem__(self, article_id: str) -> Article:
        article = self._every[article_id]
        if self._ref.key not in self._keys(article):
            raise KeyError(article_id)
        return article

    def __iter__(self) -> Iterator[str]:
        return (a.id for a in self._members)

    def __len__(self) -> int:
        return len(self._members)


@dataclass(frozen=True)
class Feed:
    """One feed topic with its members (newest first) and its archive state."""

    topic: Topic
    members: Sequence[Article]
    positions: Positions
    size: int  # articles per archive page; 0: no archives
    ids: Mapping[str, Article] | None = None  # the members by id, when known already
    tombstones: tuple[Tombstone, ...] = ()  # for its Atom subscription document

    def subscription(self, fmt: str, urls: Urls) -> tuple[FeedSpec, frozenset[str]]:
        """The subscription document's spec (linking the newest complete archive page,
        and in Atom its tombstones) and the articles it must hold (those no complete
        page holds)."""
        tombstones = self.tombstones if fmt == "atom" else ()
        complete = self.positions.complete_pages(self.size) if fmt != "json" else 0
        if not complete:
            return FeedSpec(self.topic, tombstones=tombstones), frozenset()
        link = ("prev-archive", urls.archive(self.topic, complete, fmt))
        return FeedSpec(self.topic, links=(link,), tombstones=tombstones), self.open_ids

    @functools.cached_property
    def by_id(self) -> Mapping[str, Article]:
        """The members by id, made once for the feed's formats."""
        return self.ids if self.ids is not None else {a.id: a for a in self.members}

    @functools.cached_property
    def open_ids(self) -> frozenset[str]:
        """The members no complete page holds; found once per feed, not per format."""
        return unarchived(self.positions, self.by_id, self.size)


def render_feeds(
    feeds: Sequence[Feed],
    entries: Entries,
    plan: Plan,
    out: Output,
    *,
    previous: SiteIndex,
    compress: Callable[[Iterable[Item]], None],
    newest: datetime,  # the latest `updated` of all: the OPML's date
) -> Iterator[Item]:
    """Every subscription document the plan needs, and the OPML, one format at a time
    (its entries go after), each yielded as it is rendered: a full build's thousands of
    feeds (a few hundred KB each) are compressed and put on disk in batches, never all
    in memory at once. Archive pages go to `compress` as they are rendered."""
    cfg, urls = entries.cfg, entries.urls
    kept: dict[Ref, list[Article]] = {}  # what each topic's Atom feed holds
    for fmt, feed_format in FEED_FORMATS.items():
        if fmt != "json" and plan.pages:  # one stream: compressed in batches on every core
            compress(
                itertools.chain.from_iterable(
                    render_archive_pages(
                        t, fmt, served(feed_path(t.topic, fmt)), entries, plan, previous, out
                    )
                    for t in feeds
                    if t.size
                )
            )
        for topic in feeds:
            path = served(feed_path(topic.topic, fmt))
            if not plan.renders(topic.topic.ref, path):
                out.carried.append(path)
                continue
            try:
                feed = _subscription_document(topic, fmt, entries, kept)
            except STORAGE_ERRORS:
                raise
            except Exception as exc:  # one bad entry must not take the site down
                out.problems.append(f"{path}: cannot render: {exc}")
                continue
            out.windows[path] = tuple(a.id for a in feed.kept)
            self_url = urls.feed(topic.topic, fmt)
            out.topics[path] = (self_url, feed.content)
            link = hub_links(cfg.websub.hubs, self_url)
            out.feeds_rendered += 1
            yield Item(path, feed.body, feed_format.content_type, feed.newest, link=link)
        entries.done_with(fmt)
    listed = [feed.topic for feed in feeds]
    yield Item("/feeds.opml", render_opml(listed, cfg, urls, newest), OPML, newest)
    out.problems.extend(entries.problems)


def _subscription_document(
    topic: Feed, fmt: str, entries: Entries, kept: dict[Ref, list[Article]]
) -> RenderedFeed:
    """A feed's subscription document; `kept` remembers what each Atom feed holds, for
    the JSON Feed of the same topic."""
    cfg, urls = entries.cfg, entries.urls
    spec, required = topic.subscription(fmt, urls)
    if fmt != "json":
        feed = render_feed(spec, fmt, topic.members, cfg, urls, entries, required)
        kept.setdefault(topic.topic.ref, feed.kept)
        return feed
    held = kept.get(topic.topic.ref)  # the same entries as the Atom feed
    if held is None:  # the Atom feed was carried over: select again
        atom, required = topic.subscription("atom", urls)
        held = render_feed(atom, "atom", topic.members, cfg, urls, entries, required).kept
    return render_json_feed(spec, held, cfg, urls, entries)


def render_archive_pages(
    topic: Feed,
    fmt: str,
    current: str,
    entries: Entries,
    plan: Plan,
    previous: SiteIndex,
    out: Output,
) -> Iterator[Item]:
    """The complete archive pages of one feed (subscription document `current`) in one
    format. A page is rendered when one of its own articles changed, its set or its
    links changed, or it is new; else it is carried over (a complete page's bytes are
    stable). A feed no change touched keeps all its pages without looking."""
    before = previous.archives.get(current, {})
    if not plan.renders(topic.topic.ref, current) and before.keys() <= plan.previous.keys():
        out.carried.extend(before)
        out.archives[current] = before  # (never changed: a rendered feed gets a new one)
        return
    cfg, urls, place = entries.cfg, entries.urls, topic.topic
    signatures: dict[str, str] = {}
    out.archives[current] = signatures
    only = None  # a full build looks at every page; a partial one at those it can alter
    if not plan.is_full:
        only = affected(topic.positions, topic.size, plan.articles, len(before))
        for number in set(range(1, len(before) + 1)) - only:
            path = served(archive_path(place, number, fmt))
            if path in before and path in plan.previous:
                out.carried.append(path)
                signatures[path] = before[path]
            else:
                only.add(number)
    by_id = topic.by_id
    for page in pages(topic.positions, by_id, topic.size, only):
        path = served(archive_path(place, page.number, fmt))
        links = [("current", urls.feed(place, fmt))]
        if page.number > 1:
            links.append(("prev-archive", urls.archive(place, page.number - 1, fmt)))
        if not page.newest:
            links.append(("next-archive", urls.archive(place, page.number + 1, fmt)))
        spec = FeedSpec(place, page.number, tuple(links))
        signature = digest(repr((spec.title(cfg), page.ids, links)).encode())
        signatures[path] = signature
        changed = plan.is_full or before.get(path) != signature
        if not changed and path in plan.previous and not plan.articles & set(page.ids):
            out.carried.append(path)
            continue
        articles = [by_id[i] for i in page.ids]
        try:
            feed = render_feed(spec, fmt, articles, cfg, urls, entries, frozenset(page.ids))
        except STORAGE_ERRORS:
            raise
        except Exception as exc:  # one bad entry must not take the site down
            out.problems.append(f"{path}: cannot render: {exc}")
            continue
        out.feeds_rendered += 1
        yield Item(path, feed.body, FEED_FORMATS[fmt].content_type, feed.newest)


# --- pages -----------------------------------------------------------------------------


def render_pages(arranged: Arranged, pages: Pages, plan: Plan, out: Output) -> list[Item]:
    """The front page, every topic page the plan needs, and the 404."""
    ordered, members, catalog = arranged.ordered, arranged.members, arranged.catalog
    newest = arranged.newest_update
    items = [Item("/", pages.index(ordered, catalog, INDEX_ITEMS), HTML, newest)]
    for ref, topic in catalog.topics.items():
        path = served(page_path(topic))
        if not plan.renders(ref, path):
            out.carried.append(path)
            continue
        articles = members[ref]
        body = pages.topic(topic, articles[:TOPIC_PAGE_ITEMS], catalog)
        items.append(Item(path, body, HTML, articles[0].updated))
        out.pages_rendered += 1
    items.append(Item("/404", pages.not_found(), HTML, EPOCH))
    return items


def article_pages(
    arranged: Arranged,
    pages: Pages,
    images: Mapping[str, Image],
    plan: Plan,
    job: Job,
    out: Output,
) -> Iterator[Item]:
    """Rendered as they are compressed, never all at once: they are most of the bytes.
    Those carried over are listed apart (`Output.carried_pages`): 100,000 paths."""
    renders, carried = plan.renders_article, out.carried_pages
    catalog, text_of = arranged.catalog, job.texts.text
    for article in arranged.ordered:
        path = served_article_path(article.id)
        if not renders(article.id, path):
            carried.append(path)
            continue
        body = pages.article(article, catalog, images.get(article.id), text_of(article))
        out.pages_rendered += 1
        yield Item(path, body, HTML, article.updated)


def withdrawn_pages(
    withdrawals: Mapping[str, Withdrawal], pages: Pages, plan: Plan, out: Output
) -> Iterator[Item]:
    """A withdrawn article's page answers 410 Gone with a Hindi notice, from then on."""
    for withdrawal in withdrawals.values():
        path = served_article_path(withdrawal.id)
        if not plan.renders_article(withdrawal.id, path):
            out.carried_pages.append(path)
            continue
        out.pages_rendered += 1
        since = datetime.fromtimestamp(withdrawal.at, UTC)
        yield Item(path, pages.withdrawn(withdrawal), HTML, since, status=410)


# --- sitemaps: made from the pages' own Last-Modified ------------------------------------


def site_maps(
    resources: Mapping[str, Resource],
    ordered: Sequence[Article],
    cfg: Config,
    urls: Urls,
    now: datetime,
) -> list[Item]:
    """/sitemap.xml (and its parts), /news-sitemap.xml (when an article is recent
    enough) and /robots.txt."""
    pages = sorted(
        (path, resource.last_modified)
        for path, resource in resources.items()
        if resource.content_type == HTML and resource.status == 200 and path != "/404"
    )
    items = [
        Item(path, body, sitemaps.XML, newest)
        for path, (body, newest) in sitemaps.render_sitemaps(pages, urls).items()
    ]
    news = sitemaps.render_news_sitemap(ordered, cfg, urls, now)
    if news is not None:
        items.append(Item("/news-sitemap.xml", news, sitemaps.XML, ordered[0].date))
    items.append(Item("/robots.txt", sitemaps.render_robots(urls), sitemaps.TEXT, EPOCH))
    return items


# --- the whole build --------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What one build is given."""

    arranged: Arranged  # the published articles
    cfg: Config
    urls: Urls
    plan: Plan
    previous: SiteIndex  # of the snapshot the plan's resources come from
    texts: Texts  # the articles' summaries and HTML
    now: datetime
    archive: Mapping[Ref, Positions] = field(default_factory=dict)  # by topic
    kept: Kept | None = None  # entries serialized by the builds before
    withdrawals: Mapping[str, Withdrawal] = field(default_factory=dict)  # by article id
    spill: Spill | None = None  # a full build's bytes to disk as they are made
    scratch: Path | None = None  # a full build's serialized feed entries go to a file here


def build(job: Job) -> Built:
    """The steps of a build, in order; each reads and writes `out`."""
    arranged, cfg, urls = job.arranged, job.cfg, job.urls
    names = names_of(arranged.catalog)  # each topic's slug and heading: renames widen the plan
    plan = job.plan.widened(job.previous.catalog, names, arranged.members)
    out = Output(problems=list(arranged.catalog.problems))
    media = collect_media(arranged, cfg, urls, plan, out)
    pages = Pages(cfg, urls, job.texts.summary)
    resources = _made(media.items, plan, job)
    resources |= feed_resources(arranged, media, plan, job, out)
    resources |= list_resources(arranged, pages, plan, job, out)
    if plan.pages:
        resources |= article_resources(arranged, pages, media.images, plan, job, out)
    if plan.others:
        resources |= carried_over(plan, out)
    if plan.pages:
        resources |= sitemap_resources(resources, arranged.ordered, plan, job)
    index = site_index(arranged, names, job, out)
    return Built(Snapshot(resources, index), out.feeds_rendered, out.pages_rendered)


def _made(
    items: Iterable[Item], plan: Plan, job: Job, compact: bool = False
) -> dict[str, Resource]:
    """Resources of rendered items: compact (only gzip kept) for the thousands of
    archive and article pages; the others lazy when the plan is (see _lazy)."""
    if compact:
        return make_resources(items, plan.previous, job.now, compact=_gzip_only, spill=job.spill)
    return make_resources(items, plan.previous, job.now, lazy=_lazy(plan), spill=job.spill)


def _lazy(plan: Plan) -> bool:
    """Feeds and lists compressed when first asked for (see snapshot.Held): on the way
    of a change to its feeds, and of a cold start to its first feed."""
    return not plan.is_full or not plan.pages


def _gzip_only(path: str) -> bool:
    return True


def feed_resources(
    arranged: Arranged, media: Media, plan: Plan, job: Job, out: Output
) -> dict[str, Resource]:
    """Subscription documents and OPML (lazy when the plan is), and archive pages
    (gzip only, compressed as they are rendered)."""
    archived: dict[str, Resource] = {}
    entries = Entries(
        arranged.catalog,
        job.cfg,
        job.urls,
        images=media.images,
        text=job.texts.text,
        brand=media.brand,
        kept=job.kept,
        scratch=job.scratch,
    )

    def compress(items: Iterable[Item]) -> None:
        archived.update(_made(items, plan, job, compact=True))

    topics = feed_topics(arranged, job)
    with entries:
        made = render_feeds(
            topics,
            entries,
            plan,
            out,
            previous=job.previous,
            compress=compress,
            newest=arranged.newest_update,
        )
        return _made(made, plan, job) | archived


def list_resources(
    arranged: Arranged, pages: Pages, plan: Plan, job: Job, out: Output
) -> dict[str, Resource]:
    return _made(render_pages(arranged, pages, plan, out), plan, job)


def article_resources(
    arranged: Arranged,
    pages: Pages,
    images: Mapping[str, Image],
    plan: Plan,
    job: Job,
    out: Output,
) -> dict[str, Resource]:
    """Rendered and compressed a batch at a time: never all in memory at once; then
    the notices of withdrawn articles (410)."""
    made = article_pages(arranged, pages, images, plan, job, out)
    gone = withdrawn_pages(job.withdrawals, pages, plan, out)
    return _made(itertools.chain(made, gone), plan, job, compact=True)


def carried_over(plan: Plan, out: Output) -> dict[str, Resource]:
    """The resources the plan did not render, as they were."""
    previous = plan.previous
    carried = {path: previous[path] for path in out.carried}
    kept = out.carried_pages  # article pages: most paths, merged in one pass
    carried.update(zip(kept, map(previous.__getitem__, kept), strict=True))
    return carried


def sitemap_resources(
    resources: Mapping[str, Resource], ordered: Sequence[Article], plan: Plan, job: Job
) -> dict[str, Resource]:
    """Made last: from every page's own Last-Modified."""
    maps = site_maps(resources, ordered, job.cfg, job.urls, job.now)
    return _made(maps, plan, job)


def site_index(
    arranged: Arranged, names: dict[str, tuple[str, str]], job: Job, out: Output
) -> SiteIndex:
    """What the new snapshot holds besides bytes; the carried feeds keep their windows
    and topics."""
    catalog, previous = arranged.catalog, job.previous
    carried_windows = {p: previous.windows[p] for p in out.carried if p in previous.windows}
    carried_topics = {p: previous.topics[p] for p in out.carried if p in previous.topics}
    return SiteIndex(
        articles=len(arranged.ordered),
        counts=dict(Counter(ref.kind for ref in catalog.topics)),
        catalog=names,
        aliases=aliases_of(catalog),
        windows=carried_windows | out.windows,
        topics=carried_topics | out.topics,
        archives=out.archives,
        problems=tuple(out.problems),
        tombstoned=tuple(sorted(w.id for w in tombstones_shown(job))),
    )

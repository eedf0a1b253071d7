"""Published articles to one Snapshot: every feed, the OPML, every page, the media.

A build can be partial: given the previous snapshot and what changed, it renders
only the feeds and pages touched and carries every other resource over unchanged
(same bytes, same ETag).
"""

from __future__ import annotations

import mimetypes
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from . import snapshot as snap
from .articles import Article
from .config import Config
from .feeds import EPOCH, Entries, FeedSpec, Image, Links, render_feed, render_opml
from .pages import Pages
from .snapshot import Item, Resource, Snapshot, make_resources
from .tags import Catalog, build_catalog
from .text import tag_slug
from .urls import FEED_FORMATS, article_path, feed_path, tag_page_path

INDEX_ITEMS = 30
TAG_PAGE_ITEMS = 50


@dataclass(frozen=True)
class Changes:
    """What a partial build must redo: tag keys (None is `all`) and article ids."""

    tags: frozenset[str] = frozenset()
    articles: frozenset[str] = frozenset()


@dataclass
class BuildReport:
    feeds_rendered: int = 0
    pages_rendered: int = 0
    problems: list[str] = field(default_factory=list)
    windows: dict[str, list[str]] = field(default_factory=dict)  # feed path -> ids it holds


def newest_first(articles: Sequence[Article]) -> list[Article]:
    return sorted(articles, key=lambda a: (a.date, a.updated, a.id), reverse=True)


def local_image(article: Article, root: Path) -> Path | None:
    """The lead image's file: beside the article, else from the articles dir's top,
    and only inside the articles dir. None for a URL or a missing file."""
    if not article.image or "://" in article.image:
        return None
    folder = (root / article.path).parent
    for candidate in ((folder / article.image), (root / article.image.lstrip("/"))):
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    return None


def resolve_image(article: Article, cfg: Config, links: Links) -> tuple[Image, Path | None] | None:
    """The lead image as an enclosure (length 0 when unknown) and its local file."""
    if not article.image:
        return None
    kind = mimetypes.guess_type(article.image.split("?")[0])[0] or "application/octet-stream"
    if "://" in article.image:
        return Image(links.image(article.image), kind, 0), None
    root = cfg.articles_dir
    path = local_image(article, root)
    if path is None:
        return None
    return Image(links.image(path.relative_to(root).as_posix()), kind, path.stat().st_size), path


def build(
    articles: Sequence[Article],
    cfg: Config,
    authority: str,
    previous: Snapshot | None = None,
    changes: Changes | None = None,
    info: dict[str, object] | None = None,
    body_of: Callable[[Article], str] = lambda article: article.body_html or "",
) -> tuple[Snapshot, BuildReport]:
    """`articles` are the published ones with resolved dates; changes=None is a full build.

    `body_of` gives an article's HTML, also for one whose body is no longer in memory."""
    report = BuildReport()
    links = Links(cfg.base_url, authority)
    pages = Pages(cfg, links.base)
    ordered = newest_first(articles)
    catalog = build_catalog(reversed(ordered), cfg.tags)
    report.problems.extend(catalog.problems)
    by_tag: dict[str, list[Article]] = defaultdict(list)
    for article in ordered:
        for key in catalog.keys_of(article):
            by_tag[key].append(article)
    names = {key: [tag.slug, tag.name] for key, tag in catalog.by_key.items()}
    if changes is not None and previous is not None:
        changes = _widen(changes, previous.info.get("catalog", {}), names, by_tag)

    images: dict[str, Image] = {}
    media: dict[str, tuple[Path, str]] = {}
    for article in ordered:
        found = resolve_image(article, cfg, links)
        if found:
            images[article.id] = found[0]
            if found[1] is not None:
                media["/media/" + found[1].relative_to(cfg.articles_dir).as_posix()] = (
                    found[1],
                    found[0].type,
                )

    full = previous is None or changes is None
    old = previous.resources if previous is not None else {}
    resources: dict[str, Resource] = {}
    rendered: list[Item] = []

    def keep(path: str) -> bool:
        if full or path not in old:
            return False
        resources[path] = old[path]
        return True

    shared = Entries(catalog, cfg, links, images, body_of)
    specs = [FeedSpec(None, cfg.site.title)] + [
        FeedSpec(catalog.by_key[key].slug, catalog.by_key[key].name) for key in catalog.by_key
    ]
    for fmt in FEED_FORMATS:  # one format at a time: its serialized entries go after
        for spec in specs:
            key = None if spec.slug is None else catalog.by_slug[spec.slug].key
            path = unquote(feed_path(spec.slug, fmt))
            touched = full or key is None or key in changes.tags  # type: ignore[union-attr]
            if not touched and keep(path):
                continue
            candidates = ordered if key is None else by_tag[key]
            try:
                rendered_feed, updated, kept = render_feed(
                    spec, fmt, candidates, cfg, links, shared
                )
            except Exception as exc:  # one bad entry must not take the site down
                report.problems.append(f"{path}: cannot render: {exc}")
                continue
            report.windows[path] = [a.id for a in kept]
            kind = snap.ATOM if fmt == "atom" else snap.RSS
            rendered.append((path, rendered_feed, kind, updated))
            report.feeds_rendered += 1
        shared.done_with(fmt)
    report.problems.extend(shared.problems)

    newest = max((a.updated for a in ordered), default=EPOCH)
    rendered.append(("/feeds.opml", render_opml(specs, cfg, links, newest), snap.OPML, newest))
    rendered.append(("/", pages.index(ordered, catalog, INDEX_ITEMS), snap.HTML, newest))
    for key, tag in catalog.by_key.items():
        path = unquote(tag_page_path(tag.slug))
        if not full and key not in changes.tags and keep(path):  # type: ignore[union-attr]
            continue
        entries = by_tag[key]
        body = pages.tag(tag, entries, TAG_PAGE_ITEMS)
        rendered.append((path, body, snap.HTML, entries[0].updated))
        report.pages_rendered += 1

    def article_pages() -> Iterator[Item]:
        """Rendered as they are compressed, never all at once: they are most of the bytes."""
        for article in ordered:
            path = unquote(article_path(article.id))
            if not full and article.id not in changes.articles and keep(path):  # type: ignore[union-attr]
                continue
            image = images.get(article.id)
            report.pages_rendered += 1
            yield (
                path,
                pages.article(article, catalog, image.url if image else None, body_of(article)),
                snap.HTML,
                article.updated,
            )

    for path, (file, kind) in media.items():
        if keep(path):
            continue
        try:
            data = file.read_bytes()
            mtime = datetime.fromtimestamp(file.stat().st_mtime, UTC)
        except OSError as exc:
            report.problems.append(f"{path}: cannot read image: {exc.strerror}")
            continue
        rendered.append((path, data, kind, mtime))

    rendered.append(("/404", pages.not_found(), snap.HTML, EPOCH))
    resources.update(make_resources(rendered, previous))
    resources.update(make_resources(article_pages(), previous, compact=_is_article_page))
    meta = {
        "articles": len(ordered),
        "tags": len(catalog.by_key),
        "catalog": names,
        "tag_aliases": _aliases(catalog),
        **(info or {}),
    }
    return Snapshot(resources, meta), report


def _aliases(catalog: Catalog) -> dict[str, str]:
    """Every spelling a request may use for a tag (its key, its Devanagari slug, its
    slug) -> the canonical slug; built once per snapshot, looked up per request."""
    aliases = {tag.slug: tag.slug for tag in catalog.by_key.values()}  # canonical first
    for key, tag in catalog.by_key.items():
        aliases.setdefault(key, tag.slug)
        aliases.setdefault(tag_slug(key), tag.slug)
    return aliases


def _is_article_page(path: str) -> bool:
    return path.startswith("/articles/")


def _widen(
    changes: Changes,
    before: dict[str, list[str]],
    after: dict[str, list[str]],
    by_tag: dict[str, list[Article]],
) -> Changes:
    """A tag renamed (its most common spelling changed, or it came or went) shows in
    every entry that carries it: those entries' feeds and pages are touched too."""
    renamed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if not renamed:
        return changes
    tags, ids = set(changes.tags) | renamed, set(changes.articles)
    for key in renamed:
        for article in by_tag.get(key, ()):
            ids.add(article.id)
    for key, articles in by_tag.items():
        if key not in tags and any(a.id in ids for a in articles):
            tags.add(key)
    return Changes(frozenset(tags), frozenset(ids))

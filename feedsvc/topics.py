"""Feed topics: every article (`all`), a tag, a section, an author.

A topic is a value: its identity (`Ref`: kind and key), its URL slug and its display
name. Its kind is one entry of `KINDS`, which knows which of its topics an article
is in, where the kind's URLs live, its words, its page template and its table of
editors' choices in config.toml. The arrangement, plans, archive positions, feeds,
pages and the site index are all keyed by topic, so a new kind of feed is one entry
here, a template, and a config table.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from .articles import Article
from .config import Config, Overrides, TopicOverride
from .text import path_key, tag_key, tag_slug
from .urls import FEED_FORMATS

TAG_MAX = 100  # characters; a longer "tag" is a mistake (a sentence pasted in)
STORED_SEPARATOR = "\x1f"  # no key holds a control character (text.clean removes them)


class Ref(NamedTuple):
    """A topic's identity: its kind (a name in KINDS, or "all") and its key."""

    kind: str
    key: str  # "" for all; a section's is a path of level keys joined by "/"

    @property
    def stored(self) -> str:
        """As the state file and the saved index keep it: "" for all, a tag's bare key
        (state files of tag-only sites stay readable), any other kind's name and key
        around a separator no key holds."""
        if self.kind == "all":
            return ""
        return self.key if self.kind == "tag" else f"{self.kind}{STORED_SEPARATOR}{self.key}"

    @classmethod
    def from_stored(cls, value: str) -> Ref:
        if not value:
            return ALL
        kind, separated, key = value.partition(STORED_SEPARATOR)
        return cls(kind, key) if separated else cls("tag", value)


ALL = Ref("all", "")


@dataclass(frozen=True)
class Kind:
    """One kind of feed topic: what it takes from an article and where it lives."""

    name: str  # in refs and stored keys
    segment: str  # its URLs: /feeds/<segment>/<slug>.atom, /<segment>/<slug>, archives
    label: str  # its Hindi word on pages and in OPML
    template: str  # its page
    table: str  # its table of editors' choices in config.toml (Config attribute)
    spellings: Callable[[Article], tuple[str, ...]]  # its topics as the article spells them
    keys: Callable[[Article], tuple[str, ...]]  # their keys, in the same order
    nested: bool = False  # a key is a path: each level a topic, a parent holding its children
    id_segment: str = ""  # feed ids: tag:…:feeds/<id_segment>/<slug> ("" for tags)

    def key_of(self, spelling: str) -> str:
        return path_key(spelling) if self.nested else tag_key(spelling)


KINDS: dict[str, Kind] = {  # in the order pages and OPML list them
    "section": Kind(
        name="section",
        segment="sections",
        label="खंड",
        template="section.html",
        table="sections",
        spellings=lambda article: article.section_levels,
        keys=lambda article: article.section_keys,
        nested=True,
        id_segment="sections",
    ),
    "tag": Kind(
        name="tag",
        segment="tags",
        label="विषय",
        template="tag.html",
        table="tags",
        spellings=lambda article: article.tags,
        keys=lambda article: article.tag_keys,
    ),
    "author": Kind(
        name="author",
        segment="authors",
        label="लेखक",
        template="author.html",
        table="authors",
        spellings=lambda article: article.authors,
        keys=lambda article: article.author_keys,
        id_segment="authors",
    ),
}


KIND_OF_SEGMENT = {kind.segment: kind for kind in KINDS.values()}
PAGE_PREFIXES = tuple(f"/{kind.segment}/" for kind in KINDS.values())


@dataclass(frozen=True)
class Requested:
    """A request's path to a topic's page or subscription document, taken apart."""

    kind: Kind | None  # None: the feed of every article
    slug: str  # as the request spells it ("" for all)
    fmt: str  # the feed's format; "" for a page


def requested(path: str) -> Requested | None:
    """`/feeds/all.<fmt>`, `/feeds/<segment>/<slug>.<fmt>` or `/<segment>/<slug>`;
    None for any other path (an archive page, an article, ...)."""
    feed = path.startswith("/feeds/")
    if feed and path.startswith("/feeds/archive/"):
        return None
    rest, fmt = path[len("/feeds/") if feed else 1 :], ""
    if feed:
        rest, dot, fmt = rest.rpartition(".")
        if not dot or fmt not in FEED_FORMATS:
            return None
        if rest == "all":
            return Requested(None, "", fmt)
    segment, _, slug = rest.partition("/")
    kind = KIND_OF_SEGMENT.get(segment)
    if kind is None or not slug:
        return None
    return Requested(kind, slug, fmt)


@dataclass(frozen=True)
class Topic:
    """One feed topic as a build shows it."""

    ref: Ref
    slug: str  # "" for all; a sub-section's is its parent's, "/", its own
    name: str  # display name ("" for all: the site's title names it)
    heading: str = ""  # its name after its parents' (a sub-section's "शहर › लखनऊ")
    count: int = 0  # its articles
    parent: Ref | None = None  # a sub-section's section
    uri: str = ""  # an author's page ([authors])
    email: str = ""  # an author's address ([authors])
    # from its kind, set once: every build asks every topic's paths
    segment: str = field(init=False, default="")  # where its URLs live ("" for all)
    id_segment: str = field(init=False, default="")

    def __post_init__(self) -> None:
        kind = self.kind
        if kind is not None:
            object.__setattr__(self, "segment", kind.segment)
            object.__setattr__(self, "id_segment", kind.id_segment)

    @property
    def kind(self) -> Kind | None:
        return KINDS.get(self.ref.kind)

    @property
    def shown(self) -> tuple[str, str, str, str, str]:
        """All an entry or a page shows of it (its count changes with every article)."""
        return self.ref.kind, self.slug, self.heading, self.uri, self.email


EVERY = Topic(ALL, "", "")  # the feed of every article

Use = tuple[tuple[int, int, str], int]  # (article order, index among its spellings)


def uses_of(article: Article) -> list[tuple[Ref, str, Use]]:
    """(topic, spelling, use) of each topic the article is in, each once (parsing
    already drops a repeated tag or author; an empty key names nothing)."""
    uses = []
    for kind in KINDS.values():
        seen: set[str] = set()
        spelled, keys = kind.spellings(article), kind.keys(article)
        for index, (spelling, key) in enumerate(zip(spelled, keys, strict=True)):
            if key and key not in seen:
                seen.add(key)
                uses.append((Ref(kind.name, key), spelling, (article.order, index)))
    return uses


def refs_of(article: Article) -> list[Ref]:
    """Every topic but `all` the article is in."""
    return [Ref(name, key) for name, kind in KINDS.items() for key in kind.keys(article) if key]


@dataclass(frozen=True)
class Catalog:
    """Which topics exist, with their slugs and display names."""

    topics: dict[Ref, Topic]  # kind by kind in KINDS' order, each in order of first use
    problems: tuple[str, ...] = ()
    below: dict[Ref, list[Topic]] = field(default_factory=dict)  # a section's sub-sections

    def of(self, article: Article, kind: str) -> list[Topic]:
        """The article's topics of one kind (a section's levels: the top first)."""
        topics = self.topics
        return [
            topics[ref] for key in KINDS[kind].keys(article) if (ref := Ref(kind, key)) in topics
        ]

    def credits(self, article: Article, site_author: str) -> list[Topic]:
        """Its authors as the catalog names them (one with no feed as written: no
        slug); the site's author when it names none."""
        named = {topic.ref.key: topic for topic in self.of(article, "author")}
        return [
            named.get(key) or Topic(Ref("author", key), "", name)
            for name, key in zip(article.authors, article.author_keys, strict=True)
        ] or [Topic(Ref("author", ""), "", site_author)]

    def kind(self, name: str) -> list[Topic]:
        return [topic for ref, topic in self.topics.items() if ref.kind == name]

    def children(self, parent: Ref) -> list[Topic]:
        return self.below.get(parent, [])

    def parents(self, topic: Topic) -> list[Topic]:
        """The sections above a sub-section, the top first."""
        found: list[Topic] = []
        while topic.parent is not None:
            topic = self.topics[topic.parent]
            found.insert(0, topic)
        return found


def build_catalog(articles: Iterable[Article], cfg: Config) -> Catalog:
    """The catalog of these articles, counted from scratch (in any order)."""
    counts: dict[Ref, dict[str, int]] = defaultdict(dict)
    firsts: dict[Ref, dict[str, Use]] = defaultdict(dict)
    for article in articles:
        for ref, spelling, use in uses_of(article):
            counts[ref][spelling] = counts[ref].get(spelling, 0) + 1
            if spelling not in firsts[ref] or use < firsts[ref][spelling]:
                firsts[ref][spelling] = use
    return make_catalog(counts, firsts, cfg)


def make_catalog(
    counts: Mapping[Ref, Mapping[str, int]],
    firsts: Mapping[Ref, Mapping[str, Use]],
    cfg: Config,
) -> Catalog:
    """Each kind's topics in the order they were first used (a section before its
    sub-sections); each named by its most used spelling, ties going to the spelling
    used first (by the oldest article), unless config.toml names it."""
    made: dict[Ref, Topic] = {}
    problems: list[str] = []
    for kind in KINDS.values():
        chosen = _by_key(kind, getattr(cfg, kind.table))
        refs = [ref for ref in counts if ref.kind == kind.name]
        refs.sort(key=lambda r: (min(firsts[r].values()), r.key.count("/")))
        taken: set[str] = set()
        for ref in refs:
            topic = _topic(
                kind,
                ref,
                used=counts[ref],
                first=firsts[ref],
                chosen=chosen,
                made=made,
                problems=problems,
            )
            if topic is None:
                continue
            base, slug, n = topic.slug, topic.slug, 2
            while slug in taken:
                slug, n = f"{base}-{n}", n + 1
            taken.add(slug)
            made[ref] = topic if slug == base else dataclasses.replace(topic, slug=slug)
    below: dict[Ref, list[Topic]] = {}
    for topic in made.values():
        if topic.parent is not None:
            below.setdefault(topic.parent, []).append(topic)
    return Catalog(made, tuple(problems), below)


def _by_key(kind: Kind, overrides: Overrides) -> dict[str, TopicOverride]:
    return {kind.key_of(spelling): value for spelling, value in overrides.items()}


def _topic(
    kind: Kind,
    ref: Ref,
    *,
    used: Mapping[str, int],
    first: Mapping[str, Use],
    chosen: Mapping[str, TopicOverride],
    made: Mapping[Ref, Topic],
    problems: list[str],
) -> Topic | None:
    """One topic, or None (and a problem) when it cannot have a URL."""
    parent_key, _, leaf = ref.key.rpartition("/") if kind.nested else ("", "", ref.key)
    # [sections] may name a sub-section by its whole path or by its own level
    override = chosen.get(ref.key) or chosen.get(leaf) or TopicOverride()
    spelled = min(used, key=lambda s: (-used[s], first[s]))
    name = override.name or (spelled.rsplit("/", 1)[-1] if kind.nested else spelled)
    own = override.slug or tag_slug(leaf)
    if not own:
        problems.append(f"{kind.name} {name!r} has no letters or digits for a URL; dropped")
        return None
    if len(leaf) > TAG_MAX:  # (a section's levels are 80 characters at most each)
        problems.append(f"{kind.name} {name[:40]!r}… is longer than {TAG_MAX} characters; dropped")
        return None
    parent = made.get(Ref(kind.name, parent_key)) if parent_key else None
    if parent_key and parent is None:
        problems.append(f"{kind.name} {spelled!r}: its parent has no URL; dropped")
        return None
    return Topic(
        ref=ref,
        slug=f"{parent.slug}/{own}" if parent is not None else own,
        name=name,
        heading=f"{parent.heading} › {name}" if parent is not None else name,
        count=sum(used.values()),
        parent=parent.ref if parent is not None else None,
        uri=override.uri or "",
        email=override.email or "",
    )


def names_of(catalog: Catalog) -> dict[str, tuple[str, str]]:
    """Each topic's slug and name, by stored ref: what the site index keeps, and what
    tells the next build which topics were renamed."""
    return {ref.stored: (topic.slug, topic.heading) for ref, topic in catalog.topics.items()}


def aliases_of(catalog: Catalog) -> dict[str, dict[str, str]]:
    """By kind, every spelling a request may use for a topic (its key, its key's slug,
    its slug) -> the canonical slug; made once per snapshot, looked up per request."""
    aliases: dict[str, dict[str, str]] = {name: {} for name in KINDS}
    for ref, topic in catalog.topics.items():
        aliases[ref.kind].setdefault(topic.slug, topic.slug)  # canonical first
    for ref, topic in catalog.topics.items():
        found = aliases[ref.kind]
        found.setdefault(ref.key, topic.slug)
        found.setdefault(slug_of_key(ref.key), topic.slug)
    return aliases


def slug_of_key(key: str) -> str:
    """The slug a key gives without an editor's choice (level by level for a path)."""
    return "/".join(tag_slug(level) for level in key.split("/"))

"""The tag catalog: which tags exist, their display names and URL slugs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .articles import Article
from .config import TagOverride
from .text import tag_key, tag_slug

TAG_MAX = 100  # characters; a longer "tag" is a mistake (a sentence pasted in)


@dataclass(frozen=True)
class Tag:
    key: str
    slug: str
    name: str
    count: int


@dataclass(frozen=True)
class Catalog:
    by_key: dict[str, Tag]
    by_slug: dict[str, Tag]
    problems: tuple[str, ...] = ()

    def tags_of(self, article: Article) -> list[Tag]:
        return [self.by_key[k] for k in article.tag_keys if k in self.by_key]


def overrides_by_key(overrides: dict[str, TagOverride]) -> dict[str, TagOverride]:
    return {tag_key(spelling): value for spelling, value in overrides.items()}


Use = tuple[tuple[int, int, str], int]  # (article order, index in its tags): oldest first


def build_catalog(articles: Iterable[Article], overrides: dict[str, TagOverride]) -> Catalog:
    """The catalog of these articles, counted from scratch (in any order)."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    firsts: dict[str, dict[str, Use]] = defaultdict(dict)
    for article in articles:
        for index, (spelling, key) in enumerate(zip(article.tags, article.tag_keys, strict=True)):
            counts[key][spelling] = counts[key].get(spelling, 0) + 1
            use = (article.order, index)
            if spelling not in firsts[key] or use < firsts[key][spelling]:
                firsts[key][spelling] = use
    return make_catalog(counts, firsts, overrides)


def make_catalog(
    counts: Mapping[str, Mapping[str, int]],
    firsts: Mapping[str, Mapping[str, Use]],
    overrides: dict[str, TagOverride],
) -> Catalog:
    """Tags in the order they were first used; each named by its most used spelling,
    ties going to the spelling used first (by the oldest article)."""
    chosen = overrides_by_key(overrides)
    by_key: dict[str, Tag] = {}
    by_slug: dict[str, Tag] = {}
    problems = []
    for key in sorted(counts, key=lambda k: min(firsts[k].values())):
        override = chosen.get(key, TagOverride())
        used, first = counts[key], firsts[key]
        name = override.name or min(used, key=lambda s: (-used[s], first[s]))
        slug = override.slug or tag_slug(key)
        if not slug:
            problems.append(f"tag {name!r} has no letters or digits for a URL; dropped")
            continue
        if len(key) > TAG_MAX:
            problems.append(f"tag {name[:40]!r}… is longer than {TAG_MAX} characters; dropped")
            continue
        base, n = slug, 2
        while slug in by_slug:
            slug, n = f"{base}-{n}", n + 1
        tag = Tag(key=key, slug=slug, name=name, count=sum(used.values()))
        by_key[key] = by_slug[slug] = tag
    return Catalog(by_key, by_slug, tuple(problems))

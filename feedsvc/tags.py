"""The tag catalog: which tags exist, their display names and URL slugs."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
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

    def keys_of(self, article: Article) -> list[str]:
        return [k for k in article.tag_keys if k in self.by_key]

    def tags_of(self, article: Article) -> list[Tag]:
        return [self.by_key[k] for k in self.keys_of(article)]


def overrides_by_key(overrides: dict[str, TagOverride]) -> dict[str, TagOverride]:
    return {tag_key(spelling): value for spelling, value in overrides.items()}


def build_catalog(articles: Iterable[Article], overrides: dict[str, TagOverride]) -> Catalog:
    """Articles come oldest first, so that ties in spelling go to the earliest article."""
    chosen = overrides_by_key(overrides)
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    first_seen: dict[str, dict[str, int]] = defaultdict(dict)
    order = 0
    for article in articles:
        for spelling, key in zip(article.tags, article.tag_keys, strict=True):
            spellings[key][spelling] += 1
            first_seen[key].setdefault(spelling, order)
            order += 1
    by_key: dict[str, Tag] = {}
    by_slug: dict[str, Tag] = {}
    problems = []
    for key in sorted(spellings, key=lambda k: min(first_seen[k].values())):
        override = chosen.get(key, TagOverride())
        counts = spellings[key]
        name = override.name or min(counts, key=lambda s: (-counts[s], first_seen[key][s]))
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
        tag = Tag(key=key, slug=slug, name=name, count=sum(counts.values()))
        by_key[key] = by_slug[slug] = tag
    return Catalog(by_key, by_slug, tuple(problems))

"""The published articles arranged as every build needs them: newest first, the
catalog of feed topics (tags, sections, authors), and each topic's members, kept
from build to build.

A rebuild after one new file changes one or two articles of thousands. Sorting,
counting every topic's spellings and grouping by topic again would be most of such a
rebuild (figures in docs/design.md); here the articles that changed are taken out and put in
(by identity: the library keeps an unchanged article the same object), and only the
topics they are in are looked at again. The result is the same as arranging from
scratch (`topics.build_catalog`, a sort, a grouping), which
`tests/test_arrangement.py` checks on random histories.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .articles import EPOCH, Article
from .config import Config
from .topics import Catalog, Ref, Use, make_catalog, uses_of

_ORDER = operator.attrgetter("order")


def _update_order(article: Article) -> tuple[int, tuple[int, int, str]]:
    """The latest `updated` first (by the integer key: aware datetimes compare slowly);
    among equals, the newest in `ordered` (as the first maximum of a walk finds it)."""
    return article.order[1], article.order


REARRANGE = 0.25  # past this share of articles changed, arranging anew is cheaper


@dataclass(frozen=True)
class Arranged:
    ordered: list[Article]  # newest first
    catalog: Catalog
    members: dict[Ref, list[Article]]  # each topic of the catalog -> its articles, newest first
    by_id: dict[str, Article]
    newest_update: datetime  # the latest `updated` of all (EPOCH: no articles)


class Arrangement:
    """Not thread-safe: the publisher's lock guards it, as it guards the builds."""

    def __init__(self) -> None:
        self._by_path: dict[str, Article] = {}  # what was arranged last, by path
        self._reset()

    def _reset(self) -> None:
        """Everything made from the articles (arranging anew makes it again)."""
        self._oldest_first: list[Article] = []
        self._members: dict[Ref, list[Article]] = {}  # oldest first
        # topic -> spelling -> how many articles spell it so: counts, not each
        # article's use (one per topic an article is in: 50 MB at 100,000 articles)
        self._spelled: dict[Ref, dict[str, int]] = {}
        self._first: dict[tuple[Ref, str], Use] = {}  # the earliest use, when known
        self._by_id: dict[str, Article] = {}
        self._newest: Article | None = None  # of the latest update, when known

    def arrange(self, articles: Iterable[Article], cfg: Config) -> Arranged:
        """These articles (each path once), arranged; the arrangement remembers them.
        `cfg` gives the editors' choices of names and slugs."""
        now = {article.path: article for article in articles}
        gone = [a for path, a in self._by_path.items() if now.get(path) is not a]
        came = [a for path, a in now.items() if self._by_path.get(path) is not a]
        self._move(gone, came, now)
        self._by_path = now
        return self._arranged(cfg)

    def rearrange(
        self,
        articles: Mapping[str, Article],
        changed: Iterable[str],
        cfg: Config,
    ) -> Arranged:
        """As `arrange(articles.values())` when the articles differ from the last ones
        arranged at the `changed` paths only: those alone are looked at."""
        by_path, gone, came = self._by_path, [], []
        for path in set(changed):
            before, after = by_path.get(path), articles.get(path)
            if before is after:
                continue
            if before is not None:
                gone.append(before)
                del by_path[path]
            if after is not None:
                came.append(after)
                by_path[path] = after
        self._move(gone, came, by_path)
        return self._arranged(cfg)

    def _move(self, gone: list[Article], came: list[Article], now: dict[str, Article]) -> None:
        if len(gone) + len(came) > REARRANGE * max(len(now), 1):
            self._arrange_anew(now.values())
            return
        try:
            for article in gone:
                self._take_out(article)
            for article in came:
                self._put_in(article)
        except LookupError:  # never expected; arranging anew is always right
            self._arrange_anew(now.values())

    def _arranged(self, cfg: Config) -> Arranged:
        catalog = make_catalog(self._counts(), self._firsts(), cfg)
        members = {ref: self._members[ref][::-1] for ref in catalog.topics}
        if self._newest is None and self._oldest_first:
            self._newest = max(self._oldest_first, key=_update_order)
        newest = EPOCH if self._newest is None else self._newest.updated
        return Arranged(self._oldest_first[::-1], catalog, members, dict(self._by_id), newest)

    def _arrange_anew(self, articles: Iterable[Article]) -> None:
        self._reset()
        self._oldest_first = sorted(articles, key=_ORDER)
        for article in self._oldest_first:
            self._add(article, in_order=True)

    # -- one article out or in --------------------------------------------------------

    def _take_out(self, article: Article) -> None:
        _remove(self._oldest_first, article)
        if self._by_id.get(article.id) is article:
            del self._by_id[article.id]
        if article is self._newest:
            self._newest = None
        for key, spelling, use in uses_of(article):
            members = self._members[key]
            _remove(members, article)
            if not members:
                del self._members[key]
            spellings = self._spelled[key]
            spellings[spelling] -= 1
            if self._first.get((key, spelling)) == use:  # found again when asked
                del self._first[(key, spelling)]
            if not spellings[spelling]:
                del spellings[spelling]
                self._first.pop((key, spelling), None)
                if not spellings:
                    del self._spelled[key]

    def _put_in(self, article: Article) -> None:
        bisect.insort(self._oldest_first, article, key=_ORDER)
        self._add(article, in_order=False)

    def _add(self, article: Article, in_order: bool) -> None:
        """Its topics' members and uses. `in_order`: it is the newest so far (arranging
        anew, oldest first), so appending keeps each topic's members sorted."""
        self._by_id[article.id] = article
        newest = self._newest
        if newest is not None and _update_order(article) > _update_order(newest):
            self._newest = article
        for key, spelling, use in uses_of(article):
            members = self._members.setdefault(key, [])
            if in_order:
                members.append(article)
            else:
                bisect.insort(members, article, key=_ORDER)
            spellings = self._spelled.setdefault(key, {})
            spellings[spelling] = spellings.get(spelling, 0) + 1
            first = self._first.get((key, spelling))
            if spellings[spelling] == 1 or first is not None and use < first:
                self._first[(key, spelling)] = use

    # -- what the catalog is made of ---------------------------------------------------

    def _counts(self) -> dict[Ref, dict[str, int]]:
        return {key: dict(spellings) for key, spellings in self._spelled.items()}

    def _firsts(self) -> dict[Ref, dict[str, Use]]:
        firsts: dict[Ref, dict[str, Use]] = {}
        for key, spellings in self._spelled.items():
            missing = {s for s in spellings if (key, s) not in self._first}
            if missing:  # the earliest user of a spelling left: the oldest one now
                self._find_firsts(key, missing)
            firsts[key] = {s: self._first[(key, s)] for s in spellings}
        return firsts

    def _find_firsts(self, key: Ref, spellings: set[str]) -> None:
        """The earliest use of each of these spellings of a topic: its members are
        oldest first, so the first found of each is the earliest."""
        for article in self._members[key]:
            for ref, spelling, use in uses_of(article):
                if ref == key and spelling in spellings:
                    self._first[(key, spelling)] = use
                    spellings.discard(spelling)
            if not spellings:
                return


def _remove(articles: list[Article], article: Article) -> None:
    at = bisect.bisect_left(articles, article.order, key=_ORDER)
    if at == len(articles) or articles[at] is not article:
        raise LookupError(f"{article.path} is not arranged")  # a bug, never input
    del articles[at]

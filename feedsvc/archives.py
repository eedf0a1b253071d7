"""Feed history (RFC 5005, SPEC §10.2): which article goes on which archive page.

Every (feed, article) gets a position the first time the article appears in that
feed, and keeps it: positions are never reused, and an article that leaves a feed
keeps its row. Page n of a feed holds positions (n-1)*size+1 .. n*size; it is
complete once the feed has handed out position n*size. So adding articles never
changes a complete page; only editing, deleting or retagging one of its own articles
does. Decisions only here; the state store keeps the positions.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Container, Mapping, Sequence
from dataclasses import dataclass

from .articles import Article


@dataclass(frozen=True)
class Positions:
    """One feed's positions: the article id at each, the first at index 0 (None: a
    position whose row is gone). Positions are handed out in turn, so this list is
    all there is: a server holds one pointer per (feed, article) of the archive, to
    the id its Article holds (interned). An article's position is found by looking
    in the list: a partial build asks for a few, and many are found in one pass."""

    at: Sequence[str | None] = ()

    @classmethod
    def remembered(cls, of: Mapping[str, int]) -> Positions:
        """As the state store keeps them."""
        at: list[str | None] = [None] * max(of.values(), default=0)
        for article, position in of.items():
            at[position - 1] = sys.intern(article)
        return cls(at)

    @property
    def next(self) -> int:
        """The position the next new member gets."""
        return len(self.at) + 1

    def article_at(self, position: int) -> str | None:
        return self.at[position - 1] if 0 < position <= len(self.at) else None

    def of(self, ids: Collection[str]) -> list[int]:
        """The positions of those of these articles that have one."""
        at = self.at
        if len(ids) > _FEW:  # one pass over the list answers them all
            wanted = ids if isinstance(ids, set | frozenset) else set(ids)
            return [n for n, i in enumerate(at, start=1) if i in wanted]
        found = []
        for i in ids:  # each a pass of its own, in C, that stops where it finds it
            try:
                found.append(at.index(i) + 1)
            except ValueError:
                continue
        return found

    def complete_pages(self, size: int) -> int:
        return (self.next - 1) // size if size else 0


_FEW = 4  # ids looked up by a pass each; more are looked up together in one


def assign(
    positions: Positions, members: Collection[Article]
) -> tuple[Positions, list[tuple[str, int]]]:
    """Positions for the members that have none yet, in publication order (date, then
    id): the feed's new positions and the (article id, position) rows to remember."""
    known: Container[str | None] = positions.at
    if len(members) > _FEW:
        known = set(positions.at)
    new = sorted((a for a in members if a.id not in known), key=lambda a: (a.date, a.id))
    if not new:
        return positions, []
    rows = [(article.id, positions.next + n) for n, article in enumerate(new)]
    return Positions([*positions.at, *(article.id for article in new)]), rows


@dataclass(frozen=True)
class Page:
    number: int  # from 1, the oldest
    ids: tuple[str, ...]  # the members on it, newest position first
    newest: bool  # the newest complete page: it has no next-archive link


def pages(
    positions: Positions, members: Container[str], size: int, only: set[int] | None = None
) -> list[Page]:
    """The complete archive pages of a feed whose current members are `members` (or
    only those numbered in `only`)."""
    count = positions.complete_pages(size)
    wanted = range(1, count + 1) if only is None else sorted(n for n in only if 1 <= n <= count)
    return [
        Page(n, _held(positions, members, n * size, (n - 1) * size), n == count) for n in wanted
    ]


def _held(positions: Positions, members: Container[str], top: int, bottom: int) -> tuple[str, ...]:
    """The members at positions top down to (not including) bottom."""
    at = positions.article_at
    return tuple(
        i for i in (at(p) for p in range(top, bottom, -1)) if i is not None and i in members
    )


def affected(positions: Positions, size: int, ids: Collection[str], pages_before: int) -> set[int]:
    """The pages a change to these articles can alter: their own pages, the newest two
    (one gains or keeps its next-archive link) and every page that is new."""
    count = positions.complete_pages(size)
    numbers = {(position - 1) // size + 1 for position in positions.of(ids)}
    return numbers | {count - 1, count} | set(range(pages_before + 1, count + 1))


def unarchived(positions: Positions, members: Container[str], size: int) -> frozenset[str]:
    """The members no complete page holds: the subscription document must carry them.
    Every member has its position (`assign` gives them before a build)."""
    if not size:
        return frozenset()
    first_open = positions.complete_pages(size) * size
    return frozenset(_held(positions, members, positions.next - 1, first_open))

"""Feed history (RFC 5005, SPEC §10.2): which article goes on which archive page.

Every (feed, article) gets a position the first time the article appears in that
feed, and keeps it: positions are never reused, and an article that leaves a feed
keeps its row. Page n of a feed holds positions (n-1)*size+1 .. n*size; it is
complete once the feed has handed out position n*size. So adding articles never
changes a complete page; only editing, deleting or retagging one of its own articles
does. Decisions only here; the state store keeps the positions.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .articles import Article


@dataclass(frozen=True)
class Positions:
    """One feed's positions: article id -> position (from 1), the next to give, and
    the article id at each position, the first at 0 (a page's members are found from
    its positions, not by a walk over all of a feed's members: 100,000 for `all`).
    Positions are handed out in turn, so `at` is a list, not a second dict: a server
    holds one entry per (feed, article) of the archive."""

    of: Mapping[str, int] = field(default_factory=dict)
    next: int = 1
    at: Sequence[str | None] = ()  # None: a position whose row is gone

    @classmethod
    def remembered(cls, of: Mapping[str, int]) -> Positions:
        """As the state store keeps them."""
        last = max(of.values(), default=0)
        at: list[str | None] = [None] * last
        for article, position in of.items():
            at[position - 1] = article
        return cls(of, last + 1, at)

    def article_at(self, position: int) -> str | None:
        return self.at[position - 1] if 0 < position <= len(self.at) else None

    def complete_pages(self, size: int) -> int:
        return (self.next - 1) // size if size else 0


def assign(
    positions: Positions, members: Iterable[Article]
) -> tuple[Positions, list[tuple[str, int]]]:
    """Positions for the members that have none yet, in publication order (date, then
    id): the feed's new positions and the (article id, position) rows to remember."""
    new = sorted((a for a in members if a.id not in positions.of), key=lambda a: (a.date, a.id))
    if not new:
        return positions, []
    rows = [(article.id, positions.next + n) for n, article in enumerate(new)]
    at = [*positions.at, *(article.id for article in new)]  # rows are next, next + 1, ...
    return Positions({**positions.of, **dict(rows)}, positions.next + len(rows), at), rows


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


def affected(positions: Positions, size: int, ids: Iterable[str], pages_before: int) -> set[int]:
    """The pages a change to these articles can alter: their own pages, the newest two
    (one gains or keeps its next-archive link) and every page that is new."""
    count = positions.complete_pages(size)
    numbers = {(positions.of[i] - 1) // size + 1 for i in ids if i in positions.of}
    return numbers | {count - 1, count} | set(range(pages_before + 1, count + 1))


def unarchived(positions: Positions, members: Container[str], size: int) -> frozenset[str]:
    """The members no complete page holds: the subscription document must carry them.
    Every member has its position (`assign` gives them before a build)."""
    if not size:
        return frozenset()
    first_open = positions.complete_pages(size) * size
    return frozenset(_held(positions, members, positions.next - 1, first_open))

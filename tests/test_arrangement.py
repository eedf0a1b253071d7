"""The arrangement kept across builds equals arranging from scratch, whatever the
history of additions, edits, retags and removals that led to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc import arrangement
from feedsvc.arrangement import Arranged, Arrangement
from feedsvc.articles import EPOCH, Article
from feedsvc.config import from_dict
from feedsvc.text import tag_key
from feedsvc.topics import build_catalog, refs_of

# Spellings of few keys (case, digits, scripts), and one with no letters for a URL.
SPELLINGS = ["खेल", "Khel", "khel", "KHEL", "राजनीति", "Rajniti", "rajniti", "१२", "12", "!!!"]
# Sections: levels spelled two ways, and a parent with no letters for a URL.
SECTIONS = ["", "देश", "Desh", "शहर", "शहर/लखनऊ", "शहर/Lucknow", "SHAHAR/lucknow", "!!!/x"]
AUTHORS = ["रीना", "Reena", "REENA", "अमित", "!!!"]
IST = timezone(timedelta(hours=5, minutes=30))
CONFIG = from_dict(
    {
        "tags": {"rajniti": "राजनीति और सरकार"},
        "sections": {"lucknow": {"name": "लखनऊ", "slug": "lko"}},
        "authors": {"reena": {"name": "रीना शर्मा", "email": "reena@news.example"}},
    },
    Path("."),
)

version = st.tuples(
    st.integers(0, 5),  # day: ties in date are common
    st.sampled_from([UTC, IST]),
    st.lists(st.sampled_from(SPELLINGS), max_size=4),
    st.sampled_from(SECTIONS),
    st.lists(st.sampled_from(AUTHORS), max_size=3),
)
step = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 29), version),
    st.tuples(st.just("remove"), st.integers(0, 29)),
    st.tuples(st.just("many"), st.integers(0, 5)),  # a bulk change: arranged anew
)


def _article(
    n: int,
    day: int,
    zone: timezone,
    tags: list[str],
    edit: int,
    section: str = "",
    authors: tuple[str, ...] = (),
) -> Article:
    date = datetime(2025, 3, 1 + day, 12, tzinfo=zone)
    return Article(
        id=f"a{n}",
        path=f"{n}.md",
        title=f"लेख {n}",
        date=date,
        updated=date + timedelta(minutes=edit),
        source=f"{n}-{edit}",
        tags=_as_parsed(tags),
        authors=_as_parsed(list(authors)),
        section=section,
    )


def _as_parsed(tags: list[str]) -> tuple[str, ...]:
    """One spelling per key, the first; none without a key."""
    keys: dict[str, str] = {}
    for tag in tags:
        if tag_key(tag):
            keys.setdefault(tag_key(tag), tag)
    return tuple(keys.values())


def _from_scratch(articles: list[Article]) -> Arranged:
    ordered = sorted(articles, key=lambda a: a.order, reverse=True)
    catalog = build_catalog(articles, CONFIG)
    members = {ref: [a for a in ordered if ref in refs_of(a)] for ref in catalog.topics}
    newest = max(ordered, key=lambda a: a.updated).updated if ordered else EPOCH
    return Arranged(ordered, catalog, members, {a.id: a for a in articles}, newest)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(step, st.booleans()), max_size=25))
def test_kept_arrangement_equals_arranging_anew(steps: list[tuple[tuple, bool]]) -> None:
    live = {n: _article(n, n % 6, UTC, [SPELLINGS[n % len(SPELLINGS)]], 0) for n in range(20)}
    kept = Arrangement()
    kept.arrange(live.values(), CONFIG)  # then one article at a time: kept, not anew
    changed: set[str] = set()
    for edit, (action, told) in enumerate(steps, start=1):
        if action[0] == "put":
            n, (day, zone, tags, section, authors) = action[1], action[2]
            live[n] = _article(n, day, zone, tags, edit, section, tuple(authors))
            changed.add(f"{n}.md")
        elif action[0] == "remove":
            live.pop(action[1], None)
            changed.add(f"{action[1]}.md")
        else:
            for n in list(live)[action[1] :: 2]:
                live[n] = _article(n, (n + edit) % 6, IST, ["Khel", "!!!"], edit)
                changed.add(f"{n}.md")
        if told:  # told what changed (a refresh), or left to find it (a rescan)
            by_path = {a.path: a for a in live.values()}
            got = kept.rearrange(by_path, changed | {"never-there.md"}, CONFIG)
        else:
            got = kept.arrange(list(live.values()), CONFIG)
        changed = set()
        want = _from_scratch(list(live.values()))
        assert got.ordered == want.ordered
        assert got.catalog == want.catalog
        assert list(got.catalog.topics) == list(want.catalog.topics)  # the order they came
        assert got.members == want.members
        assert got.by_id == want.by_id
        newest = got.newest_update
        assert (newest, newest.tzinfo) == (want.newest_update, want.newest_update.tzinfo)


def test_an_unchanged_set_is_not_arranged_again() -> None:
    articles = [_article(n, n % 6, IST, ["खेल"], 0) for n in range(10)]
    kept = Arrangement()
    first = kept.arrange(articles, CONFIG)
    with mock.patch.object(arrangement.Arrangement, "_arrange_anew") as anew:
        again = kept.arrange(articles, CONFIG)
    anew.assert_not_called()
    assert again == first

"""A live publisher's site, after any history of changes told one refresh at a time,
equals what a fresh process builds from the same folder (and the same withdrawals):
partial builds carry over, render and drop exactly what a full build would have."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedsvc.config import Config, from_dict
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot
from feedsvc.store import Store

from .conftest import Clock, md

# Spellings of three keys (a change of majority renames a tag everywhere); sections
# and authors likewise, a sub-section among them.
SPELLINGS = ["खेल", "Cricket", "cricket", "राजनीति"]
SECTIONS = ["", "देश", "Desh", "शहर", "शहर/लखनऊ", "SHAHAR/लखनऊ"]
AUTHORS = ["रीना", "Reena", "reena", "अमित"]
change = st.one_of(
    st.tuples(
        st.just("write"),
        st.integers(0, 7),
        st.lists(st.sampled_from(SPELLINGS), max_size=2),
        st.booleans(),  # dated in 2030: scheduled until the clock gets there
        st.sampled_from(SECTIONS),
        st.lists(st.sampled_from(AUTHORS), max_size=2),
    ),
    st.tuples(st.just("delete"), st.integers(0, 7)),
    st.tuples(st.just("time passes")),
    st.tuples(st.just("restart")),  # a warm start, then the changes after it
)
BEFORE, AFTER = datetime(2029, 12, 31, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC)


def _config(root: Path, state: str, max_items: int) -> Config:
    return from_dict(
        {
            "site": {"id_authority": "news.example"},
            "articles": {"dir": str(root / "articles")},
            "state": {"path": state},
            "feeds": {"max_items": max_items},
            "schedule": {"settle_ms": 0},
        },
        root,
    )


def _write(
    root: Path,
    n: int,
    tags: list[str],
    version: int,
    later: bool = False,
    section: str = "",
    authors: tuple[str, ...] = (),
) -> None:
    path = root / "articles" / f"{n}.md"
    day = f"{2030 if later else 2025}-01-0{1 + n % 5}"
    # Its own `updated`: the store's (first seen, last changed) is history a fresh
    # process does not have.
    updated = f"{day}T10:{version:02d}:00+05:30"
    byline = "[" + ", ".join(f'"{a}"' for a in authors) + "]"
    text = md(
        f"लेख {n} ({version})", tags, day, updated=updated, section=f'"{section}"', author=byline
    )
    path.write_text(text, encoding="utf-8")
    stamp = 1_700_000_000 + version  # settled, and moved by every write
    os.utime(path, (stamp, stamp))


def _comparable(snapshot: Snapshot, with_feeds: bool) -> dict[str, Any]:
    """Every path, and the bytes of all but what history may rightly change: the
    sitemaps' lastmod (Last-Modified moves with time) and, with archives, the feeds
    and which archive pages there are (an article keeps its archive position, and
    positions are never given again; a fresh build gives them anew)."""
    bodies: dict[str, Any] = {}
    for path, resource in snapshot.resources.items():
        if not with_feeds and path.startswith("/feeds/archive/"):
            continue
        history = "sitemap" in path or (not with_feeds and path.startswith("/feeds/"))
        bodies[path] = None if history else resource.body
    return bodies


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([1, 3]), st.lists(change, min_size=1, max_size=8))
def test_a_live_site_equals_a_fresh_build(max_items: int, changes: list[tuple[Any, ...]]) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        (root / "articles").mkdir()
        for n in range(4):
            _write(root, n, [SPELLINGS[n % 4]], 0, section=SECTIONS[n], authors=(AUTHORS[n],))
        clock = Clock(BEFORE)
        live = Publisher(_config(root, "live.sqlite3", max_items), workers=1, clock=clock)
        try:
            live.rescan()
            for version, step in enumerate(changes, start=1):
                if step[0] == "time passes":
                    clock.now = AFTER
                    snapshot = live.publish_due()
                elif step[0] == "restart":
                    live.close()
                    live = Publisher(
                        _config(root, "live.sqlite3", max_items), workers=1, clock=clock
                    )
                    snapshot = live.rescan()
                elif step[0] == "write":
                    _write(root, step[1], step[2], version, step[3], step[4], tuple(step[5]))
                    snapshot = live.refresh({f"{step[1]}.md"})
                else:
                    (root / "articles" / f"{step[1]}.md").unlink(missing_ok=True)
                    snapshot = live.refresh({f"{step[1]}.md"})
                # The same history of withdrawals (deleted articles: 410 pages, and
                # tombstones in the feeds that held them), which a new state lacks.
                state = f"fresh{version}.sqlite3"
                store = Store(root / state)
                store.withdraw(list(live.store.withdrawals().values()))
                cfg = _config(root, state, max_items)
                fresh = Publisher(cfg, store=store, workers=1, clock=clock)
                try:
                    expected = fresh.rescan()
                finally:
                    fresh.close()
                with_feeds = max_items == 1  # no archives
                assert _comparable(snapshot, with_feeds) == _comparable(expected, with_feeds)
                assert live.scheduled() == fresh.scheduled()
        finally:
            live.close()
    finally:
        shutil.rmtree(root)

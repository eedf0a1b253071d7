"""Feed history, RFC 5005 (SPEC §10.2): archive pages walked from the subscription
document, their links, and their stability under random add / edit / delete / retag."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import feedparser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.archives import Positions
from feedsvc.config import Config, from_dict
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot
from feedsvc.web import create_app

from .conftest import md
from .server import feedsvc

BASE = "http://news.example"
_WRITES = itertools.count()
FH = "{http://purl.org/syndication/history/1.0}archive"


def _config(root: Path, **feeds: Any) -> Config:
    return from_dict(
        {
            "site": {"base_url": BASE, "id_authority": "news.example"},
            "articles": {"dir": str(root / "articles")},
            "feeds": {"max_items": 4, **feeds},
            "schedule": {"settle_ms": 0},
            "websub": {"hubs": ["http://127.0.0.1:9/hub"]},
        },
        root,
    )


def _article(root: Path, n: int, tags: list[str], title: str = "") -> str:
    name = f"a{n:03d}.md"
    path = root / "articles" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    day = f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}"
    path.write_text(md(title or f"लेख {n}", tags, day, f"पाठ {n}।"), encoding="utf-8")
    stamp = 1_700_000_000 + next(_WRITES)  # settled, and moved by every write (an edit)
    os.utime(path, (stamp, stamp))
    return name


def _links(body: bytes) -> dict[str, str]:
    root = etree.fromstring(body)
    found: dict[str, str] = {}
    for link in root.iter("{http://www.w3.org/2005/Atom}link"):
        found.setdefault(link.get("rel") or "", link.get("href") or "")
    return found


def _path(url: str) -> str:
    from urllib.parse import unquote

    return unquote(url[len(BASE) :])


def _entry_ids(body: bytes) -> list[str]:
    root = etree.fromstring(body)
    if root.tag == "rss":
        return [item.findtext("guid") or "" for item in root.iter("item")]
    return [
        e.findtext("{http://www.w3.org/2005/Atom}id") or ""
        for e in root.iter("{http://www.w3.org/2005/Atom}entry")
    ]


def walk(snapshot: Snapshot, feed: str, fmt: str = "atom") -> list[list[str]]:
    """The entry ids of the subscription document, then of each archive page reached by
    following prev-archive."""
    documents, path = [], feed
    seen: set[str] = set()
    while path:
        assert path not in seen, "prev-archive runs in a circle"
        seen.add(path)
        body = snapshot.get(path).body
        documents.append(_entry_ids(body))
        previous = _links(body).get("prev-archive")
        path = _path(previous) if previous else ""
    return documents


def test_walking_prev_archive_reaches_every_article_once(tmp_path: Path) -> None:
    root = tmp_path
    for n in range(11):
        _article(root, n, ["क"] if n % 2 else ["क", "ख"])
    publisher = Publisher(_config(root), workers=1)
    try:
        snapshot = publisher.rescan()
        for feed, expected in (
            ("/feeds/all.atom", 11),
            ("/feeds/tags/क.atom", 11),
            ("/feeds/tags/ख.rss", 6),
        ):
            fmt = feed.rsplit(".", 1)[1]
            documents = walk(snapshot, feed, fmt)
            archived = [i for page in documents[1:] for i in page]
            assert len(archived) == len(set(archived)), "an article on two pages"
            assert len(set(archived) | set(documents[0])) == expected, feed
        # size 2 (max_items 4 // 2): 11 articles make 5 complete pages, the 11th is open
        pages = [p for p in snapshot.resources if p.startswith("/feeds/archive/all/")]
        assert sorted(pages) == sorted(
            f"/feeds/archive/all/{n}.{f}" for n in range(1, 6) for f in ("atom", "rss")
        )
    finally:
        publisher.close()


def test_an_old_article_published_late_stays_in_the_subscription_document(
    tmp_path: Path,
) -> None:
    """It is the newest by position, the oldest by date: past max_items in date order,
    but no complete page holds it yet, so the subscription document must."""
    for n in range(20, 26):
        _article(tmp_path, n, ["क"])
    publisher = Publisher(_config(tmp_path), workers=1)
    try:
        publisher.rescan()
        snapshot = publisher.refresh({_article(tmp_path, 1, ["क"])})
    finally:
        publisher.close()
    late = "tag:news.example,2026:articles/a001"
    for feed in ("/feeds/all.atom", "/feeds/all.rss", "/feeds/tags/क.atom"):
        documents = walk(snapshot, feed, feed.rsplit(".", 1)[1])
        assert late in documents[0], feed
        assert len(documents[0]) == 5  # the newest four by date, and the late one
        assert late not in {i for page in documents[1:] for i in page}


def test_archive_documents_link_as_rfc_5005_says(tmp_path: Path) -> None:
    root = tmp_path
    for n in range(7):
        _article(root, n, ["क"])
    publisher = Publisher(_config(root), workers=1)
    try:
        snapshot = publisher.rescan()
    finally:
        publisher.close()
    first, newest = (
        snapshot.get("/feeds/archive/all/1.atom"),
        snapshot.get("/feeds/archive/all/3.atom"),
    )
    links = _links(first.body)
    assert links["self"] == f"{BASE}/feeds/archive/all/1.atom"
    assert links["current"] == f"{BASE}/feeds/all.atom"
    assert links["next-archive"] == f"{BASE}/feeds/archive/all/2.atom"
    assert "prev-archive" not in links and "hub" not in links
    assert etree.fromstring(first.body).find(FH) is not None
    for body in (first.body, newest.body, snapshot.get("/feeds/all.atom").body):
        first_link = etree.fromstring(body).find("{http://www.w3.org/2005/Atom}link")
        assert first_link.get("rel") == "alternate"  # what a first-link reader takes
    links = _links(newest.body)
    assert (
        links["prev-archive"] == f"{BASE}/feeds/archive/all/2.atom" and "next-archive" not in links
    )
    assert (
        _links(snapshot.get("/feeds/all.atom").body)["prev-archive"]
        == f"{BASE}/feeds/archive/all/3.atom"
    )
    assert [e.id.rsplit("/", 1)[1] for e in feedparser.parse(first.body).entries] == [
        "a001",
        "a000",
    ]

    rss = etree.fromstring(snapshot.get("/feeds/archive/tags/क/2.rss").body)
    channel = rss.find("channel")
    assert channel.find(FH) is not None
    rels = {
        ln.get("rel"): ln.get("href") for ln in channel.iter("{http://www.w3.org/2005/Atom}link")
    }
    assert rels["current"] == f"{BASE}/feeds/tags/%E0%A4%95.rss"
    assert {"prev-archive", "next-archive", "self"} <= rels.keys() and "hub" not in rels

    assert not [p for p in snapshot.index.topics if "archive" in p]  # never announced
    assert first.link == ""  # no WebSub Link header
    client = create_app(_config(root), lambda: snapshot).test_client()
    assert (
        client.get("/feeds/archive/all/1.atom").headers["Cache-Control"] == "public, max-age=86400"
    )
    assert client.get("/feeds/all.atom").headers["Cache-Control"] == "public, max-age=60"


def test_complete_pages_keep_their_bytes_as_articles_are_added(tmp_path: Path) -> None:
    root = tmp_path
    for n in range(6):
        _article(root, n, ["क"])
    publisher = Publisher(_config(root), workers=1)
    try:
        before = publisher.rescan()
        _article(root, 6, ["क"])
        _article(root, 7, ["क"])
        after = publisher.refresh({"a006.md", "a007.md"})
        assert after.get("/feeds/archive/all/1.atom") is before.get("/feeds/archive/all/1.atom")
        assert after.get("/feeds/archive/all/2.atom") is before.get("/feeds/archive/all/2.atom")
        # the newest complete page gains its next-archive link, once
        assert (
            after.get("/feeds/archive/all/3.atom").etag
            != before.get("/feeds/archive/all/3.atom").etag
        )
        assert "next-archive" in _links(after.get("/feeds/archive/all/3.atom").body)

        _article(root, 1, ["क"], title="बदला हुआ लेख")  # edit an article of page 1
        edited = publisher.refresh({"a001.md"})
        assert (
            edited.get("/feeds/archive/all/1.atom").etag
            != after.get("/feeds/archive/all/1.atom").etag
        )
        assert edited.get("/feeds/archive/all/2.atom") is after.get("/feeds/archive/all/2.atom")

        (root / "articles" / "a002.md").unlink()  # page 2 loses one
        gone = publisher.refresh({"a002.md"})
        ids = [e.id for e in feedparser.parse(gone.get("/feeds/archive/all/2.atom").body).entries]
        assert ids == ["tag:news.example,2026:articles/a003"]
        assert gone.get("/feeds/archive/all/1.atom") is edited.get("/feeds/archive/all/1.atom")
    finally:
        publisher.close()


def test_positions_survive_a_restart(tmp_path: Path) -> None:
    root = tmp_path
    for n in range(6):
        _article(root, n, ["क"])
    publisher = Publisher(_config(root), workers=1)
    first = publisher.rescan().get("/feeds/archive/all/1.atom").body
    publisher.close()
    (root / "var" / "feedsvc-snapshot.sqlite3").unlink()  # a full build from the state file
    publisher = Publisher(_config(root), workers=1)
    try:
        assert publisher.rescan().get("/feeds/archive/all/1.atom").body == first
    finally:
        publisher.close()


def test_archive_page_size_is_checked_and_small_feeds_have_none(tmp_path: Path) -> None:
    root = tmp_path
    (root / "config.toml").write_text("[feeds]\nmax_items = 10\narchive_page_size = 6\n")
    result = subprocess.run(
        feedsvc("check", "--config", str(root / "config.toml")), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "feeds.archive_page_size must be at most feeds.max_items / 2 (5), not 6" in result.stderr
    for n in range(4):
        _article(root, n, ["क"])
    publisher = Publisher(_config(root, max_items=1), workers=1)
    try:
        snapshot = publisher.rescan()
    finally:
        publisher.close()
    assert not [p for p in snapshot.resources if "archive" in p]
    assert "prev-archive" not in _links(snapshot.get("/feeds/all.atom").body)


# --- random histories -------------------------------------------------------------------

TAGS = ["क", "ख", "ग"]
operation = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(TAGS)),
    st.tuples(st.just("edit"), st.integers(0, 40)),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("retag"), st.integers(0, 40), st.sampled_from(TAGS)),
)


def _complete_pages(snapshot: Snapshot) -> dict[str, tuple[str, set[str]]]:
    pages = {}
    for path, resource in snapshot.resources.items():
        if path.startswith("/feeds/archive/") and path.endswith(".atom"):
            pages[path] = (resource.etag, set(_entry_ids(resource.body)))
    return pages


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=12))
def test_random_histories_keep_archives_whole_and_stable(operations: list[tuple[Any, ...]]) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        live: dict[int, list[str]] = {}
        ever = set(range(5))
        for n in range(5):
            _article(root, n, [TAGS[n % 3]])
            live[n] = [TAGS[n % 3]]
        publisher = Publisher(_config(root), workers=1)
        try:
            snapshot = publisher.rescan()
            for op in operations:
                before = _complete_pages(snapshot)
                touched: set[str] = set()
                if op[0] == "add":
                    n = max(live, default=-1) + 1
                    live[n] = [op[1]]
                    name = _article(root, n, live[n])
                    if n in ever:  # the same file again: that article is back, with its place
                        touched.add(f"tag:news.example,2026:articles/a{n:03d}")
                    ever.add(n)
                elif op[0] in ("edit", "retag") and live:
                    n = sorted(live)[op[1] % len(live)]
                    if op[0] == "retag":
                        live[n] = [op[2]]
                    name = _article(root, n, live[n], title=f"बदला {n} {len(operations)}")
                    touched.add(f"tag:news.example,2026:articles/a{n:03d}")
                elif op[0] == "delete" and live:
                    n = sorted(live)[op[1] % len(live)]
                    del live[n]
                    name = f"a{n:03d}.md"
                    (root / "articles" / name).unlink()
                    touched.add(f"tag:news.example,2026:articles/a{n:03d}")
                else:
                    continue
                snapshot = publisher.refresh({name})
                after = _complete_pages(snapshot)
                for path, (etag, ids) in before.items():
                    if path in after and after[path][0] != etag:
                        own = bool((ids | after[path][1]) & touched)
                        gained_next = "next-archive" in _links(snapshot.get(path).body)
                        assert own or gained_next, f"{path} changed without cause"
                _check_walks(snapshot, live)
        finally:
            publisher.close()
    finally:
        shutil.rmtree(root)


def _check_walks(snapshot: Snapshot, live: dict[int, list[str]]) -> None:
    everyone = {f"tag:news.example,2026:articles/a{n:03d}" for n in live}
    documents = walk(snapshot, "/feeds/all.atom")
    archived = [i for page in documents[1:] for i in page]
    assert len(archived) == len(set(archived))
    assert set(archived) | set(documents[0]) == everyone
    for tag in TAGS:
        members = {
            f"tag:news.example,2026:articles/a{n:03d}" for n, tags in live.items() if tag in tags
        }
        if not members:
            continue
        documents = walk(snapshot, f"/feeds/tags/{tag}.atom")
        archived = [i for page in documents[1:] for i in page]
        assert len(archived) == len(set(archived))
        assert set(archived) | set(documents[0]) == members, tag


@given(
    st.lists(st.one_of(st.none(), st.sampled_from([f"id-{n}" for n in range(400)])), unique=True),
    st.sets(st.sampled_from([f"id-{n}" for n in range(420)]), max_size=60),
)
def test_an_articles_position_is_found_however_many_are_asked(
    at: list[str | None], ids: set[str]
) -> None:
    """A few ids are looked up in the list one by one, many in one pass: both give the
    positions the remembered rows say."""
    rows = {i: n for n, i in enumerate(at, start=1) if i is not None}
    positions = Positions.remembered(rows)
    assert positions.next == max(rows.values(), default=0) + 1
    want = sorted(n for n, i in enumerate(at, start=1) if i in ids)
    assert sorted(positions.of(ids)) == want
    assert sorted(positions.of(list(ids))) == want

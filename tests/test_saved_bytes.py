"""Saved bytes live in the warm-start file, not in memory: a full build writes them as
it makes them, a partial build's stay in memory only until the save that writes them,
a warm start loads none, and what readers ask for most is kept within a budget."""

from __future__ import annotations

import gc
import gzip
import random
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import feedparser
import pytest

from feedsvc import snapshot as snapshot_module
from feedsvc import warmstart
from feedsvc.articles import Article
from feedsvc.config import Config, from_dict
from feedsvc.errors import Gone
from feedsvc.feeds import Kept, Made, Stamp
from feedsvc.publisher import Publisher
from feedsvc.snapshot import HTML, Resource, Snapshot
from feedsvc.web import create_app

from .conftest import md, write

TITLES = ["पहली ख़बर", "दूसरी ख़बर", "तीसरी ख़बर"]


def _config(tmp_path: Path) -> Config:
    folder = tmp_path / "articles"
    for day, title in enumerate(TITLES, start=1):
        write(folder, f"{day}.md", md(title, ["राजनीति"], f"2025-01-0{day}", f"{title} का पाठ।"))
    return from_dict(
        {
            "articles": {"dir": str(folder)},
            "schedule": {"settle_ms": 0},
            "site": {"id_authority": "x.example"},
        },
        tmp_path,
    )


def _in_memory(snapshot: Snapshot) -> list[str]:
    """Resources holding bytes in memory: a saved one holds none."""
    return [p for p, r in snapshot.resources.items() if r.held.resident()]


def test_saved_bytes_leave_memory_and_are_served_the_same(tmp_path: Path) -> None:
    publisher = Publisher(_config(tmp_path), workers=1)
    try:
        built = publisher.rescan()
        assert _in_memory(built) == []  # a full build wrote its bytes as it went
        before = {p: (r.body, r.gzip) for p, r in built.resources.items()}
        publisher.wait_saved()
        assert _in_memory(built) == []  # the same objects, their bytes in the file
        assert {p: (r.body, r.gzip) for p, r in built.resources.items()} == before

        client = create_app(publisher.cfg, lambda: publisher.snapshot).test_client()
        plain = client.get("/feeds/all.atom")
        zipped = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
        assert plain.data == before["/feeds/all.atom"][0]
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.data) == plain.data
        feed = feedparser.parse(plain.data)
        assert [e.title for e in feed.entries] == TITLES[::-1]
        again = client.get("/feeds/all.atom", headers={"If-None-Match": plain.headers["ETag"]})
        assert again.status_code == 304

        # An edit: what it rebuilt is in memory until saved; the rest is as it was.
        write(tmp_path / "articles", "3.md", md("तीसरी ख़बर, बदली", ["खेल"], "2025-01-03"))
        edited = publisher.refresh({"3.md"})
        fresh = set(_in_memory(edited))
        assert "/feeds/all.atom" in fresh and "/feeds/tags/खेल.atom" in fresh
        assert edited.get("/articles/1") is built.get("/articles/1")
        publisher.wait_saved()
        assert _in_memory(edited) == []
        assert (
            "तीसरी ख़बर, बदली"
            in feedparser.parse(edited.get("/feeds/all.atom").body).entries[0].title
        )
        assert built.get("/feeds/all.atom").body == before["/feeds/all.atom"][0]  # still whole
    finally:
        publisher.close()


def test_a_warm_start_loads_no_bytes(tmp_path: Path, caplog) -> None:
    cfg = _config(tmp_path)
    first = Publisher(cfg, workers=1)
    try:
        built = {p: r.body for p, r in first.rescan().resources.items()}
    finally:
        first.close()
    again = Publisher(cfg, workers=1)
    try:
        with caplog.at_level("INFO", logger="feedsvc"):
            snapshot = again.rescan()
        assert "serving the saved snapshot" in caplog.text
        assert _in_memory(snapshot) == []
        assert {p: r.body for p, r in snapshot.resources.items()} == built
        page = create_app(cfg, lambda: again.snapshot).test_client().get("/articles/2")
        assert page.status_code == 200 and "दूसरी ख़बर का पाठ।" in page.text
    finally:
        again.close()


def test_a_cold_starts_feeds_wait_in_a_scratch_file_until_saved(tmp_path: Path) -> None:
    """A server's first build on an empty state serves its feeds before anything is
    saved: their bytes wait in a scratch file, not in memory (at 100,000 articles,
    gigabytes), and are served, compressed and saved as any others."""
    cfg = _config(tmp_path)
    publisher = Publisher(cfg, workers=1, pages_later=True)
    try:
        first = publisher.rescan()
        assert first.health.pages_pending and "/feeds/all.atom" in first.resources
        assert _in_memory(first) == []
        client = create_app(cfg, lambda: publisher.snapshot).test_client()
        plain = client.get("/feeds/all.atom")
        assert plain.status_code == 200
        assert [e.title for e in feedparser.parse(plain.data).entries] == TITLES[::-1]
        zipped = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
        assert gzip.decompress(zipped.data) == plain.data
        feed = first.get("/feeds/all.atom")
        assert feed.held.resident() == ("gzip",)  # made from the file once, kept
        assert not feed.held.saved

        whole = publisher.finish_pages()
        publisher.wait_saved()
        assert whole.get("/feeds/all.atom") is feed  # the same bytes: the same resource
        assert feed.held.saved and _in_memory(whole) == []
        served = {p: r.body for p, r in whole.resources.items()}
    finally:
        publisher.close()
    (tmp_path / "var").rename(tmp_path / "cold-var")
    at_once = Publisher(cfg, workers=1)  # a build of everything in one go
    try:
        assert {p: r.body for p, r in at_once.rescan().resources.items()} == served
    finally:
        at_once.close()


def _saved(
    path: Path, resources: dict[str, Resource], previous: warmstart.Built | None, now: float
):
    built = warmstart.Built(Snapshot(resources), {}, warmstart.Inputs("s", {}, str(now)))
    source = warmstart.SavedBytes(path, hot_bytes=0)  # every read goes to the file
    for resource in warmstart.save(path, built, previous, now=lambda: now):
        resource.held.spill(source)
    return built


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])


def test_unused_bytes_are_kept_an_hour_then_deleted(tmp_path: Path) -> None:
    path = tmp_path / "s-snapshot.sqlite3"
    when = datetime(2026, 1, 1, tzinfo=UTC)

    def page(text: str) -> Resource:
        return Resource.make(text.encode(), HTML, when, compact=True)

    old, shared = page("पुराना पन्ना"), page("साझा पन्ना")
    first = _saved(path, {"/a": old, "/b": shared, "/c": page("साझा पन्ना")}, None, 1000.0)
    assert _rows(path) == 2  # the same bytes under two paths are kept once

    # /a changes and /c goes: the old /a bytes are unused; /c's are still /b's.
    second = _saved(path, {"/a": page("नया पन्ना"), "/b": shared}, first, 2000.0)
    assert old.body == "पुराना पन्ना".encode()  # a replaced snapshot still reads whole
    third = _saved(path, dict(second.snapshot.resources), second, 2000.0 + 3599)
    assert old.body == "पुराना पन्ना".encode()

    _saved(path, dict(third.snapshot.resources), third, 2000.0 + 3601)
    with pytest.raises(Gone, match="no longer holds"):
        old.encoded("gzip")
    assert shared.body == "साझा पन्ना".encode() and _rows(path) == 2
    assert warmstart.load(path) is not None


def _written() -> int:
    """Bytes this process has handed to write() so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_a_full_save_does_not_write_the_saved_bytes_again(tmp_path: Path) -> None:
    """A full save over bytes the file holds marks which are used without rewriting
    them: at 300,000 articles the archive is tens of GB."""
    path = tmp_path / "s-snapshot.sqlite3"
    when = datetime(2026, 1, 1, tzinfo=UTC)
    noise = random.Random(7)
    pages = {
        f"/archive/{n}": Resource.make(noise.randbytes(100_000), HTML, when, compact=True)
        for n in range(40)
    }
    first = _saved(path, pages, None, 1000.0)
    stored = sum(len(r.encoded("gzip")) for r in pages.values())
    before = _written()
    again = _saved(path, dict(first.snapshot.resources), None, 2000.0)  # full: all marked
    assert _written() - before < stored // 10
    _saved(path, dict(again.snapshot.resources), None, 2000.0 + 7200)  # none went unused
    assert _rows(path) == 40 and all(r.body for r in pages.values())


def test_marks_an_older_file_kept_beside_the_bytes_still_expire(tmp_path: Path) -> None:
    path = tmp_path / "s-snapshot.sqlite3"
    when = datetime(2026, 1, 1, tzinfo=UTC)
    kept, dropped = (Resource.make(t.encode(), HTML, when) for t in ("<p>क</p>", "<p>ख</p>"))
    first = _saved(path, {"/a": kept, "/b": dropped}, None, 1000.0)
    with sqlite3.connect(path) as db:  # as a file of this format saved before the table
        db.execute("DELETE FROM resources WHERE path = '/b'")
        db.execute("UPDATE blobs SET unused = 1000.0 WHERE etag = ?", (dropped.etag,))
    _saved(path, {"/a": kept}, first, 1000.0 + 7200)
    assert _rows(path) == 1 and kept.body == "<p>क</p>".encode()


def test_bytes_used_again_within_the_hour_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "s-snapshot.sqlite3"
    when = datetime(2026, 1, 1, tzinfo=UTC)
    first = _saved(path, {"/a": Resource.make(b"<p>1</p>", HTML, when)}, None, 1000.0)
    second = _saved(path, {"/a": Resource.make(b"<p>2</p>", HTML, when)}, first, 1100.0)
    back = Resource.make(b"<p>1</p>", HTML, when)  # the edit undone
    third = _saved(path, {"/a": back}, second, 1200.0)
    _saved(path, dict(third.snapshot.resources), third, 1200.0 + 7200)
    assert back.body == b"<p>1</p>" and back.held.resident() == ()
    assert _rows(path) == 1


def test_a_thread_that_ends_leaves_no_connection_open(tmp_path: Path) -> None:
    path = tmp_path / "s-snapshot.sqlite3"
    page = Resource.make("पन्ना".encode(), HTML, datetime(2026, 1, 1, tzinfo=UTC), compact=True)
    _saved(path, {"/a": page}, None, 1000.0)
    source = page.held.source
    assert isinstance(source, warmstart.SavedBytes)
    read: list[bytes] = []
    for _ in range(20):  # as a pool's short-lived threads would
        thread = threading.Thread(target=lambda: read.append(page.body))
        thread.start()
        thread.join()
    assert read == ["पन्ना".encode()] * 20
    gc.collect()
    assert source.connections == 0
    assert page.body == "पन्ना".encode() and source.connections == 1  # this thread's
    source.close()
    assert source.connections == 0
    assert page.body == "पन्ना".encode()  # opened again when asked after close


def test_a_lazy_resource_is_compressed_once_when_first_asked(tmp_path: Path) -> None:
    """A partial build leaves feeds to be compressed by whoever asks first (a reader,
    the mirror, the save): the same bytes as compressing at once, made once however
    many ask together, and saved and spilled like any other."""
    body = random.Random(1).randbytes(2_000_000)  # slow to compress: the threads meet
    when = datetime(2026, 1, 1, tzinfo=UTC)
    eager = Resource.make(body, HTML, when)
    lazy = Resource.make(body, HTML, when, lazy=True)
    assert lazy.held.resident() == ("identity",) and lazy.etag == eager.etag
    made: list[bytes] = []
    real = snapshot_module._encode

    def counted(data: bytes, coding: str) -> bytes:
        made.append(data)
        return real(data, coding)

    with mock.patch.object(snapshot_module, "_encode", counted):
        got: list[bytes] = []
        together = threading.Barrier(8)

        def ask() -> None:
            together.wait()
            got.append(lazy.gzip)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert got == [eager.gzip] * 8 and len(made) == 1
    assert gzip.decompress(lazy.encoded("gzip")) == body

    path = tmp_path / "s-snapshot.sqlite3"
    fresh = Resource.make(body, HTML, when, lazy=True)  # saved before anyone asked
    _saved(path, {"/a": fresh}, None, 1000.0)
    assert fresh.held.resident() == ()  # the save made and wrote them
    assert fresh.gzip == eager.gzip and fresh.body == body


def test_the_most_read_compressed_bytes_stay_in_memory_within_a_budget(tmp_path: Path) -> None:
    path = tmp_path / "s-snapshot.sqlite3"
    when = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(2)
    feeds = {f"/f{i}": Resource.make(rng.randbytes(20_000), HTML, when) for i in range(10)}
    built = warmstart.Built(Snapshot(feeds), {}, warmstart.Inputs("s", {}, "1"))
    source = warmstart.SavedBytes(path, hot_bytes=100_000)  # four of them, not five
    for resource in warmstart.save(path, built):
        resource.held.spill(source)
    hot, cold = feeds["/f0"], feeds["/f1"]
    first = hot.gzip
    assert source.hot_bytes == len(first)
    with sqlite3.connect(path) as db:  # the file no longer has it: memory answers
        db.execute("UPDATE blobs SET gzip = x'00' WHERE etag = ?", (hot.etag,))
    assert hot.gzip == first
    for resource in feeds.values():  # everything read once: the budget holds
        resource.encoded("gzip")
        assert source.hot_bytes <= 100_000
    assert hot.gzip == b"\x00"  # pushed out by the others, read from the file again
    assert cold.body == gzip.decompress(cold.gzip)  # identity is never kept
    assert all(coding == "gzip" for _, coding in source._hot)


@pytest.mark.parametrize("in_a_file", [True, False])
def test_serialized_entries_read_back_the_same_from_a_scratch_file(
    tmp_path: Path, in_a_file: bool
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    made = Made(folder if in_a_file else None)
    entries = {
        (f"id-{n}", fmt): f"<entry>{TITLES[n % 3]} {n} {fmt}</entry>".encode() * (n + 1)
        for n in range(50)
        for fmt in ("atom", "rss", "json")
    }
    for key, value in entries.items():
        made.put(key, value)
    assert all(made.get(key) == value for key, value in entries.items())
    assert list(folder.iterdir()) == []  # unnamed: nothing left behind, even by a kill -9
    made.drop("atom")
    assert ("id-3", "atom") not in made and made.get(("id-3", "atom")) is None
    assert made.get(("id-3", "rss")) == entries[("id-3", "rss")]
    made.close()


def test_entries_kept_between_builds_wait_in_a_file_that_does_not_grow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server keeps the last entries it serialized for the next rebuild: their bytes
    in an unnamed file, the newest `size` of them, and the file made anew once what was
    replaced or let go passes its bound."""
    monkeypatch.setattr(Kept, "WASTE", 4_000)
    folder = tmp_path / "state"
    folder.mkdir()
    kept = Kept(size=6, folder=folder)
    when = datetime(2026, 1, 1, tzinfo=UTC)

    def stamp(n: int, edit: int) -> Stamp:
        title = f"{TITLES[n % 3]} {n}"
        return Stamp(Article(f"id-{n}", f"{n}.md", title, when, when, f"{edit}"), (), None)

    def entry(n: int, edit: int) -> bytes:
        return f"<entry>{TITLES[n % 3]} {n} ({edit})</entry>".encode() * 20

    try:
        for edit in range(30):  # each round edits three articles of ten: 900 bytes each
            for n in (edit % 10, (edit + 3) % 10, (edit + 7) % 10):
                kept.put((f"id-{n}", "atom"), stamp(n, edit), entry(n, edit))
            assert kept._bytes._file is not None and kept._bytes._file.waste <= 4_000
        assert list(folder.iterdir()) == []  # unnamed: nothing left behind
        newest = {(29 + k) % 10: 29 for k in (0, 3, 7)} | {(28 + k) % 10: 28 for k in (0, 3, 7)}
        for n in range(10):
            got = kept.get((f"id-{n}", "atom"), stamp(n, newest.get(n, -1)))
            assert got == (entry(n, newest[n]) if n in newest else None)
            assert kept.get((f"id-{n}", "atom"), stamp(n, 99)) is None  # an edit since
    finally:
        kept.close()


def test_bytes_staged_by_a_build_that_never_saved_leave_the_saved_site_whole_then_go(
    tmp_path: Path,
) -> None:
    """A full build stages its bytes as it goes; killed or failed before its save, it
    leaves blobs no saved resource names: the saved site loads as it was, and the next
    full save marks them unused, deleted an hour later like any others."""
    path = tmp_path / "s-snapshot.sqlite3"
    when = datetime(2026, 1, 1, tzinfo=UTC)
    old = Resource.make("<p>पुराना</p>".encode(), HTML, when)
    first = _saved(path, {"/a": old}, None, 1000.0)
    source = warmstart.SavedBytes(path, hot_bytes=0)
    stager = warmstart.Stager(path, source)
    orphan = Resource.make("<p>अधूरा</p>".encode(), HTML, when)
    stager([orphan])
    stager.close()
    assert orphan.held.resident() == () and orphan.body == "<p>अधूरा</p>".encode()
    saved = warmstart.load(path)
    assert saved is not None and {p: r.etag for p, r in saved.snapshot.resources.items()} == {
        "/a": old.etag
    }
    assert _rows(path) == 2
    _saved(path, dict(first.snapshot.resources), None, 2000.0)  # the next full save
    assert _rows(path) == 2  # marked unused, kept an hour for readers of older snapshots
    _saved(path, dict(first.snapshot.resources), None, 2000.0 + 7200)
    assert _rows(path) == 1
    with pytest.raises(Gone):
        orphan.encoded("gzip")
    assert old.body == "<p>पुराना</p>".encode()


def test_a_scan_larger_than_the_bodies_held_builds_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past HELD_TEXTS, parsed texts are read back from the state file for the build:
    the site is byte for byte the one built from bodies held in memory."""
    from feedsvc import ingest

    def built(folder: Path) -> dict[str, bytes]:
        folder.mkdir()
        publisher = Publisher(_config(folder), workers=1)
        try:
            return {p: r.body for p, r in publisher.rescan().resources.items()}
        finally:
            publisher.close()

    held = built(tmp_path / "held")
    monkeypatch.setattr(ingest, "HELD_TEXTS", 1)
    assert built(tmp_path / "read back") == held
    assert any(TITLES[2].encode() in body for body in held.values())

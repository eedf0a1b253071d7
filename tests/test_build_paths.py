"""The same articles give the same bytes whichever way they were parsed: in a process
pool or one by one, fresh or from the state store's parse cache."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import feedparser

from feedsvc import warmstart
from feedsvc.articles import Article
from feedsvc.config import Config, from_dict
from feedsvc.ingest import POOL_MIN_FILES
from feedsvc.publisher import Publisher

from .conftest import SEED, md, write


def _corpus(folder: Path) -> None:
    for i in range(POOL_MIN_FILES + 20):
        if i % 10 == 9:
            write(
                folder,
                f"plain/{i}.txt",
                f"सादा लेख {i}\n\nपहला वाक्य {i}। दूसरा वाक्य।\n\nक{i % 4}, सादा",
            )
        else:
            write(
                folder,
                f"md/{i}.md",
                md(
                    f"लेख {i}",
                    [f"विषय {i % 7}", "सब"],
                    f"2025-02-{i % 28 + 1:02d}T0{i % 10}:00:00",
                    f"**पाठ** {i}। " * 40,
                ),
            )
    write(folder, "seed.txt", SEED.read_bytes())


def _build(root: Path, folder: Path, state: str, workers: int) -> dict[str, bytes]:
    cfg = from_dict(
        {
            "articles": {"dir": str(folder)},
            "state": {"path": state},
            "schedule": {"settle_ms": 0},
            "site": {"id_authority": "x.example"},
        },
        root,
    )
    publisher = Publisher(cfg, workers=workers)
    try:
        snapshot = publisher.rescan()
        return {path: r.body for path, r in snapshot.resources.items()}
    finally:
        publisher.close()


def test_pool_serial_and_cache_give_identical_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    _corpus(folder)
    pooled = _build(tmp_path, folder, "pool.sqlite3", workers=2)
    serial = _build(tmp_path, folder, "serial.sqlite3", workers=1)
    saved = _build(tmp_path, folder, "pool.sqlite3", workers=2)  # the saved snapshot
    (tmp_path / "pool-snapshot.sqlite3").unlink()
    cached = _build(tmp_path, folder, "pool.sqlite3", workers=2)  # rebuilt from the parse cache
    assert pooled.keys() == serial.keys() == cached.keys() == saved.keys()
    assert len(pooled) > POOL_MIN_FILES
    for path in pooled:
        assert pooled[path] == serial[path] == cached[path] == saved[path], path


def test_a_warm_start_serves_the_saved_snapshot_only_when_nothing_changed(
    tmp_path: Path, caplog
) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    first = _build(tmp_path, folder, "s.sqlite3", workers=1)
    with caplog.at_level("INFO", logger="feedsvc"):
        again = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert "serving the saved snapshot" in caplog.text and again == first
    write(folder, "b.md", md("दूसरा बदला", ["ख"], "2025-01-02"), age=1)  # while it was down
    caplog.clear()
    with caplog.at_level("INFO", logger="feedsvc"):
        changed = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert "serving the saved snapshot" not in caplog.text
    assert "दूसरा बदला".encode() in changed["/feeds/all.atom"]
    assert changed["/feeds/tags/क.atom"] == first["/feeds/tags/क.atom"]


def test_a_restart_serves_the_saved_site_before_its_first_look(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    cfg = from_dict({"articles": {"dir": str(folder)}, "schedule": {"settle_ms": 0}}, tmp_path)
    fresh = Publisher(cfg, workers=1)
    try:
        assert fresh.serve_saved() is False  # nothing saved yet: the first look builds
        assert fresh.snapshot.resources == {}
        before = fresh.rescan()
        fresh.wait_saved()
        assert fresh.serve_saved() is False  # only before the first look
    finally:
        fresh.close()
    write(folder, "b.md", md("दूसरा बदला", ["ख"], "2025-01-02"), age=1)  # while it was down

    publisher = Publisher(cfg, workers=1)
    try:
        assert publisher.serve_saved() is True
        served = publisher.snapshot
        assert served.health.checking and publisher.library.articles == {}  # not read yet
        for path, resource in before.resources.items():  # the site as it was at the stop
            assert served.get(path).body == resource.body, path
        assert "दूसरा बदला".encode() not in served.get("/feeds/all.atom").body

        after = publisher.rescan()  # the look: what changed while it was down is built
        assert not after.health.checking
        entries = feedparser.parse(after.get("/feeds/all.atom").body).entries
        assert [e.title for e in entries] == ["दूसरा बदला", "पहला"]
        assert after.get("/feeds/tags/क.atom") is served.get("/feeds/tags/क.atom")
    finally:
        publisher.close()


def _one_article(root: Path) -> tuple[Path, Config]:
    """A folder with one article, and a configuration that builds it at once."""
    folder = root / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    return folder, from_dict({"articles": {"dir": str(folder)}, "schedule": {"settle_ms": 0}}, root)


def test_a_first_look_that_fails_keeps_the_saved_site_served(tmp_path: Path) -> None:
    _, cfg = _one_article(tmp_path)
    fresh = Publisher(cfg, workers=1)
    try:
        before = fresh.rescan()
        fresh.wait_saved()
    finally:
        fresh.close()

    publisher = Publisher(cfg, workers=1)
    try:
        assert publisher.serve_saved() is True
        publisher.store.close()  # the state file is gone from under it
        failed = publisher.rescan()  # no exception: the saved site is there to serve
        assert failed.health.checking and "could not build" in failed.health.error
        assert failed.get("/feeds/all.atom").body == before.get("/feeds/all.atom").body
    finally:
        publisher.close()


def test_snapshots_share_the_path_of_an_article_page(tmp_path: Path) -> None:
    """Every build names every article's page; the snapshots alive at once (served,
    being saved, saved) key it by one string, not one each."""
    folder, cfg = _one_article(tmp_path)
    publisher = Publisher(cfg, workers=1)
    try:
        first = publisher.rescan()
        write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
        second = publisher.rescan()
    finally:
        publisher.close()
    assert second.get("/articles/a") is first.get("/articles/a")  # carried over
    keys = [next(k for k in s.resources if k == "/articles/a") for s in (first, second)]
    assert keys[0] is keys[1]


def test_a_site_read_back_names_each_path_and_moment_once(tmp_path: Path) -> None:
    """A server holds a saved site for every article of the archive: the site index's
    archive pages are the resources' own path strings, a Devanagari tag is its own
    key, an article never updated has one moment for both times."""
    folder = tmp_path / "articles"
    for day in range(1, 6):
        write(folder, f"d{day}.md", md(f"दिन {day}", ["खेल", "Cricket"], f"2025-01-0{day}"))
    settings = {"articles": {"dir": str(folder)}, "feeds": {"max_items": 2}}
    publisher = Publisher(from_dict(settings | {"schedule": {"settle_ms": 0}}, tmp_path), workers=1)
    try:
        publisher.rescan()
        publisher.wait_saved()
    finally:
        publisher.close()
    saved = warmstart.load(publisher.snapshot_path)
    assert saved is not None
    resources, archives = saved.snapshot.resources, saved.snapshot.index.archives
    pages = [page for feed in archives.values() for page in feed]
    assert len(pages) >= 4 and "/feeds/archive/all/1.atom" in pages
    for page in pages:
        assert next(key for key in resources if key == page) is page
    article = saved.published["d1.md"]
    assert next(path for path in saved.published if path == "d1.md") is article.path
    assert article.tags == ("खेल", "Cricket") and article.tag_keys == ("खेल", "cricket")
    assert article.section_keys == () and article.updated is article.date
    hindi = Article.from_json({**article.to_json(), "tags": ["खेल"]})
    assert hindi.tag_keys is hindi.tags


def test_bodies_are_read_from_the_store_once_built(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    for day in range(1, 5):
        write(folder, f"d{day}.md", md(f"दिन {day}", ["क"], f"2025-01-0{day}", f"पाठ संख्या {day}।"))
    cfg = from_dict(
        {"articles": {"dir": str(folder)}, "feeds": {"max_items": 2}, "schedule": {"settle_ms": 0}},
        tmp_path,
    )
    publisher = Publisher(cfg, workers=1)
    try:
        first = publisher.rescan()
        assert publisher.library._texts == {}  # the build used them; the store has them
        assert "पाठ संख्या 1।".encode() in first.get("/articles/d1").body  # pages have them all
        assert publisher.store.text("d1.md").body == "<p>पाठ संख्या 1।</p>"
        assert publisher.store.get("d1.md").article.body_html == ""  # records come without

        again = publisher.rescan()  # nothing changed: nothing rebuilt, nothing reloaded
        assert again.get("/feeds/all.atom") is first.get("/feeds/all.atom")

        for day in (3, 4):
            (folder / f"d{day}.md").unlink()
        after = publisher.refresh({"d3.md", "d4.md"})  # d1 and d2 come back into the feeds
        feed = after.get("/feeds/tags/क.atom").body.decode()
        assert "पाठ संख्या 1।" in feed and "पाठ संख्या 2।" in feed
    finally:
        publisher.close()


def test_a_state_file_of_the_previous_layout_still_gives_its_bodies(tmp_path: Path) -> None:
    """Before, a row kept its body inside the parse cache's JSON, and had no body column."""
    from feedsvc.store import Store

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE files (path TEXT PRIMARY KEY, id TEXT NOT NULL, hash TEXT NOT NULL,"
            " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, first_seen REAL NOT NULL,"
            " changed_at REAL NOT NULL, present INTEGER NOT NULL DEFAULT 1, fingerprint TEXT,"
            " article TEXT, error TEXT, error_line INTEGER)"
        )
        article: dict[str, object] = {
            "id": "a",
            "path": "a.md",
            "title": "शीर्षक",
            "body_html": "<p>पुराना</p>",
            "summary": "",
            "tags": [],
            "date": None,
            "updated": None,
            "related": [],
        }
        db.execute(
            "INSERT INTO files VALUES ('a.md', 'a', 'h', 1, 1, 0, 0, 1, 'old', ?, NULL, NULL)",
            (json.dumps(article, ensure_ascii=False),),
        )
    store = Store(path)
    try:
        assert store.text("a.md") == ("", "<p>पुराना</p>")
        assert store.all()["a.md"].article.title == "शीर्षक"
    finally:
        store.close()


def _edits_while_stopped(folder: Path) -> None:
    write(folder, "md/3.md", md("लेख 3, बदला", ["विषय 3", "सब"], "2025-02-04", "नया पाठ।"), age=1)
    (folder / "md" / "4.md").unlink()
    write(folder, "new.md", md("नया लेख", ["नया विषय"], "2025-03-01", "बिलकुल नया।"), age=1)


def test_a_restart_builds_only_what_changed_while_stopped(tmp_path: Path, caplog) -> None:
    """The result equals a full build from the same state file, byte for byte."""
    folder = tmp_path / "articles"
    _corpus(folder)
    first = _build(tmp_path, folder, "s.sqlite3", workers=2)
    _edits_while_stopped(folder)
    with caplog.at_level("INFO", logger="feedsvc"):
        partial = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert "3 articles changed while stopped" in caplog.text  # edited, deleted, new
    rendered = [line for line in caplog.text.splitlines() if "rebuilt" in line]
    pages = int(rendered[0].split(" feeds, ")[1].split()[0])
    assert pages < 10 < len(partial)  # the changed articles' pages and their lists
    assert "लेख 3, बदला".encode() in partial["/articles/md/3"]
    assert "यह समाचार वापस ले लिया गया है".encode() in partial["/articles/md/4"]  # 410
    assert "/articles/new" in partial
    untouched = [p for p in first if p.startswith("/feeds/tags/विषय") and "1." in p]
    assert untouched and all(partial[p] == first[p] for p in untouched)

    # The same state file, without the saved snapshot: everything built again. Only
    # the sitemap's <lastmod> may differ: without a saved site, Last-Modified cannot
    # move forward from the saved one.
    (tmp_path / "s-snapshot.sqlite3").rename(tmp_path / "kept.sqlite3")
    full = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert partial.keys() == full.keys()
    for path in full:
        if path == "/sitemap.xml":
            lastmod = re.compile(rb"<lastmod>[^<]*</lastmod>")
            assert lastmod.sub(b"", partial[path]) == lastmod.sub(b"", full[path])
        else:
            assert partial[path] == full[path], path

    # And the next restart, with nothing changed, serves what the partial one saved.
    (tmp_path / "kept.sqlite3").replace(tmp_path / "s-snapshot.sqlite3")
    write(folder, "md/5.md", (folder / "md" / "5.md").read_bytes(), age=0)  # same bytes
    caplog.clear()
    with caplog.at_level("INFO", logger="feedsvc"):
        again = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert "serving the saved snapshot" in caplog.text and again == partial


def test_a_warm_start_takes_unchanged_articles_from_the_saved_snapshot(
    tmp_path: Path, monkeypatch
) -> None:
    """A restart decodes no parse cache for a file the saved snapshot already has."""
    from feedsvc.articles import ParsedArticle

    folder = tmp_path / "articles"
    _corpus(folder)
    first = _build(tmp_path, folder, "s.sqlite3", workers=2)
    decoded: list[str] = []
    real = ParsedArticle.from_json.__func__  # type: ignore[attr-defined]

    def counted(cls: type[ParsedArticle], data: dict[str, object]) -> ParsedArticle:
        decoded.append(str(data["path"]))
        return real(cls, data)  # type: ignore[no-any-return]

    monkeypatch.setattr(ParsedArticle, "from_json", classmethod(counted))
    assert _build(tmp_path, folder, "s.sqlite3", workers=1) == first
    assert decoded == []
    _edits_while_stopped(folder)
    partial = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert decoded == []  # the edited and new files were read, the rest recalled
    assert "लेख 3, बदला".encode() in partial["/articles/md/3"]


def test_a_file_still_being_written_at_start_keeps_its_last_published_version(
    tmp_path: Path,
) -> None:
    """SPEC §6: never half-written. Edited (young) while stopped, it is not read yet at
    the next start; what the saved snapshot published of it is served meanwhile."""
    folder = tmp_path / "articles"
    _corpus(folder)
    first = _build(tmp_path, folder, "s.sqlite3", workers=2)
    write(folder, "md/3.md", '---\ntitle: "आधा लिख', age=0)  # young, and half-written
    cfg = from_dict(
        {
            "articles": {"dir": str(folder)},
            "state": {"path": "s.sqlite3"},
            "schedule": {"settle_ms": 60_000},
            "site": {"id_authority": "x.example"},
        },
        tmp_path,
    )
    publisher = Publisher(cfg, workers=1)
    try:
        snapshot = publisher.rescan()
        assert publisher.pending() == {"md/3.md"}
    finally:
        publisher.close()
    assert snapshot.get("/articles/md/3") is not None
    assert snapshot.get("/articles/md/3").body == first["/articles/md/3"]


def test_a_state_file_newer_than_the_saved_snapshot_wins(tmp_path: Path) -> None:
    """A file read and remembered, but stopped (kill -9) before the snapshot was
    saved: at the next start its row names other bytes than the saved article, and
    the row is what counts."""
    from feedsvc.ingest import Library
    from feedsvc.store import Store

    folder = tmp_path / "articles"
    _corpus(folder)
    _build(tmp_path, folder, "s.sqlite3", workers=2)
    write(folder, "md/3.md", md("लेख 3, बदला", ["विषय 3", "सब"], "2025-02-04", "नया पाठ।"), age=1)
    store = Store(tmp_path / "s.sqlite3")
    cfg = from_dict({"articles": {"dir": str(folder)}, "schedule": {"settle_ms": 0}}, tmp_path)
    Library(cfg, store, workers=1).scan()  # remembered, never built nor saved
    store.close()
    again = _build(tmp_path, folder, "s.sqlite3", workers=1)
    edited = "लेख 3, बदला".encode()
    assert edited in again["/articles/md/3"]
    assert [p for p, body in again.items() if edited in body and p.endswith(".atom")]


def test_entries_kept_from_the_last_build_give_the_same_bytes(tmp_path: Path, monkeypatch) -> None:
    """A rebuild serializes only the entries of what changed; its feeds are the bytes
    a fresh process builds from the same folder."""
    from feedsvc.feeds import Entries

    folder = tmp_path / "articles"
    _corpus(folder)

    def publisher(state: str) -> Publisher:
        settings = {"articles": {"dir": str(folder)}, "state": {"path": state}}
        cfg = from_dict(settings | {"schedule": {"settle_ms": 0}}, tmp_path)
        return Publisher(cfg, workers=1)

    live = publisher("live.sqlite3")
    try:
        live.rescan()
        made: list[str] = []
        real = Entries._serialize

        def counted(fe: object, fmt: str) -> bytes:
            made.append(fmt)
            return real(fe, fmt)

        monkeypatch.setattr(Entries, "_serialize", staticmethod(counted))
        # Undated, written last: the newest, as it would be in a fresh build's order
        write(folder, "new.md", md("नया लेख", ["विषय 1", "सब"], "", "बिलकुल नया।"), age=1)
        after = live.refresh({"new.md"}).resources
    finally:
        live.close()
    assert sorted(made) == ["atom", "rss"]  # the new article's entry, once per format
    fresh = publisher("fresh.sqlite3")
    try:
        again = fresh.rescan().resources
    finally:
        fresh.close()
    feeds = sorted(path for path in again if path.startswith("/feeds/"))
    assert len(feeds) > 30 and feeds == sorted(p for p in after if p.startswith("/feeds/"))
    for path in feeds:
        assert after[path].body == again[path].body, path


def test_a_tag_renamed_reaches_the_entries_of_earlier_builds(tmp_path: Path) -> None:
    """A tag's name is its most used spelling: more articles spelling it otherwise
    rename it in every entry that carries it, entries kept from the last build too."""
    folder = tmp_path / "articles"
    for n, spelling in enumerate(["Cricket", "Cricket", "cricket"]):
        write(folder, f"{n}.md", md(f"लेख {n}", [spelling], f"2025-01-0{n + 1}"))
    cfg = from_dict({"articles": {"dir": str(folder)}, "schedule": {"settle_ms": 0}}, tmp_path)
    publisher = Publisher(cfg, workers=1)
    try:
        before = publisher.rescan().get("/feeds/all.atom")
        assert before is not None and before.body.count(b'label="Cricket"') == 3
        for n in (3, 4):
            write(folder, f"{n}.md", md(f"लेख {n}", ["cricket"], f"2025-01-0{n + 1}"))
        after = publisher.refresh({"3.md", "4.md"}).get("/feeds/all.atom")
    finally:
        publisher.close()
    assert after is not None and after.body.count(b'label="cricket"') == 5


def test_a_restart_after_a_settings_change_builds_everything(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    _build(tmp_path, folder, "s.sqlite3", workers=1)
    cfg = from_dict(
        {
            "articles": {"dir": str(folder)},
            "state": {"path": "s.sqlite3"},
            "schedule": {"settle_ms": 0},
            "site": {"id_authority": "x.example", "title": "नया नाम"},
        },
        tmp_path,
    )
    publisher = Publisher(cfg, workers=1)
    try:
        with caplog.at_level("INFO", logger="feedsvc"):
            snapshot = publisher.rescan()
    finally:
        publisher.close()
    assert "changed while stopped" not in caplog.text
    assert "rebuilt 9 feeds" in caplog.text  # all, क and ख in three formats
    for path, resource in snapshot.resources.items():
        if path.startswith("/articles/"):
            assert "नया नाम".encode() in resource.body, path


def test_a_saved_site_whose_articles_hold_summaries_serves_through_an_upgrade(
    tmp_path: Path,
) -> None:
    """Saved articles once carried their summary: after the upgrade that left it out,
    the saved site still loads, is served, and the rebuild gives the summaries."""
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01", "पहला वाक्य। दूसरा वाक्य।"))
    built = _build(tmp_path, folder, "s.sqlite3", workers=1)
    saved = tmp_path / "s-snapshot.sqlite3"
    with sqlite3.connect(saved) as db:
        for path, row in db.execute("SELECT path, article FROM articles").fetchall():
            article, image = json.loads(row)
            older = json.dumps([{**article, "summary": "पुराना सार"}, image], ensure_ascii=False)
            db.execute("UPDATE articles SET article = ? WHERE path = ?", (older, path))
    loaded = warmstart.load(saved)
    assert loaded is not None and loaded.published["a.md"].title == "पहला"
    cfg = from_dict(
        {
            "articles": {"dir": str(folder)},
            "state": {"path": "s.sqlite3"},
            "site": {"id_authority": "x.example", "title": "नया नाम"},  # as an upgrade does
        },
        tmp_path,
    )
    publisher = Publisher(cfg, workers=1)
    try:
        assert publisher.snapshot_path == saved
        assert publisher.serve_saved()  # served before the look
        assert publisher.snapshot.get("/feeds/all.atom").body == built["/feeds/all.atom"]
        snapshot = publisher.rescan()
    finally:
        publisher.close()
    entry = feedparser.parse(snapshot.get("/feeds/all.atom").body).entries[0]
    assert entry.summary == "पहला वाक्य। दूसरा वाक्य।"
    assert snapshot.index.articles == 1


def test_an_image_changed_while_stopped_rebuilds_its_article(tmp_path: Path) -> None:
    import PIL.Image

    folder = tmp_path / "articles"
    PIL.Image.new("RGB", (800, 450)).save(folder.parent / "lead.png")
    folder.mkdir()
    (folder.parent / "lead.png").rename(folder / "lead.png")
    write(folder, "a.md", md("चित्र वाला", ["क"], "2025-01-01", image="lead.png"))
    write(folder, "b.md", md("बिना चित्र", ["ख"], "2025-01-02"))
    first = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert b'width="800"' in first["/feeds/tags/\u0915.rss"]
    PIL.Image.new("RGB", (1200, 675)).save(folder / "lead.png")
    again = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert b'width="1200"' in again["/feeds/tags/\u0915.rss"]
    assert again["/feeds/tags/\u0916.rss"] == first["/feeds/tags/\u0916.rss"]


def test_a_cancelled_save_keeps_the_saved_state(tmp_path: Path) -> None:
    """What `feedsvc serve` does at SIGTERM while a save is under way: the save stops,
    and the file keeps its last whole state for the next start."""
    import pytest

    folder = tmp_path / "articles"
    _corpus(folder)
    first = _build(tmp_path, folder, "s.sqlite3", workers=2)
    path = tmp_path / "s-snapshot.sqlite3"
    saved = warmstart.load(path)
    assert saved is not None
    inputs = warmstart.Inputs(saved.settings, saved.images, "other inputs")
    built = warmstart.Built(saved.snapshot, saved.published, inputs)
    with pytest.raises(sqlite3.OperationalError, match="interrupt"):
        warmstart.save(path, built, None, cancelled=lambda: True)
    again = warmstart.load(path)
    assert again is not None and again.inputs == saved.inputs
    assert {p: r.body for p, r in again.snapshot.resources.items()} == first

"""The publisher's guarantees to its readers: queries under its lock, and validators
that never hide a change (SPEC §5)."""

from __future__ import annotations

import gzip
import shutil
import threading
from pathlib import Path
from typing import Any

import feedparser
import pytest
from PIL import Image as PILImage
from werkzeug.http import http_date

from feedsvc import warmstart
from feedsvc.config import Config, from_dict
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot
from feedsvc.urls import PAGES_AFTER_FEEDS
from feedsvc.web import create_app

from .conftest import folder_config, md, write

FEED = "/feeds/tags/क.atom"


def test_queries_wait_for_a_rebuild_in_progress(tmp_path: Path) -> None:
    """scheduled() and pending() read the library only under the publisher's lock, so
    never while a rescan on another thread is changing it."""
    write(tmp_path / "articles", "later.md", md("बाद में", ["क"], "2099-01-01"))
    publisher = Publisher(folder_config(tmp_path), workers=1)
    try:
        publisher.rescan()
        for query in (publisher.scheduled, publisher.pending):
            answered = threading.Event()
            thread = threading.Thread(target=lambda q=query, a=answered: (q(), a.set()))
            with publisher._lock:  # what a rebuild on the scheduler's thread holds
                thread.start()
                assert not answered.wait(0.3), f"{query.__name__} did not take the lock"
            assert answered.wait(5)
            thread.join()
        assert [path for _, path in publisher.scheduled()] == ["later.md"]
    finally:
        publisher.close()


def _poll(publisher: Publisher, since: str) -> tuple[int, str, bytes]:
    """A client polling with If-Modified-Since alone."""
    client = create_app(publisher.cfg, lambda: publisher.snapshot).test_client()
    reply = client.get(FEED, headers={"If-Modified-Since": since})
    return reply.status_code, reply.headers.get("Last-Modified", ""), reply.data


def test_deleting_an_older_article_moves_last_modified_forward(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write(folder, "old.md", md("पुराना", ["क"], "2025-01-01"))
    write(folder, "new.md", md("नया", ["क"], "2025-02-01"))
    publisher = Publisher(folder_config(tmp_path), workers=1)
    try:
        before = publisher.rescan().get(FEED)
        assert before is not None and before.http_date == http_date(before.last_modified)
        assert _poll(publisher, before.http_date)[0] == 304  # nothing changed yet

        (folder / "old.md").unlink()  # the newest entry stays the same
        after = publisher.refresh({"old.md"}).get(FEED)
        assert after is not None and after.etag != before.etag
        status, last_modified, body = _poll(publisher, before.http_date)
        assert status == 200 and body == after.body
        assert after.last_modified > before.last_modified
        assert _poll(publisher, last_modified)[0] == 304  # and it stays put
    finally:
        publisher.close()


def test_last_modified_moves_forward_across_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    for day in (1, 2, 3):
        write(folder, f"d{day}.md", md(f"दिन {day}", ["क"], f"2025-01-0{day}"))
    first = Publisher(folder_config(tmp_path), workers=1)
    before = first.rescan().get(FEED)
    first.close()
    assert before is not None

    restarted = Publisher(folder_config(tmp_path), workers=1)
    try:  # nothing changed: the same validators
        same = restarted.rescan().get(FEED)
        assert same is not None and same.last_modified == before.last_modified
    finally:
        restarted.close()

    (folder / "d1.md").unlink()  # while stopped
    again = Publisher(folder_config(tmp_path), workers=1)
    try:
        after = again.rescan().get(FEED)
        assert after is not None and after.etag != before.etag
        status, _, body = _poll(again, before.http_date)
        assert status == 200 and body == after.body
        untouched = again.snapshot.get("/articles/d3")
        assert untouched is not None and untouched.last_modified <= after.last_modified
    finally:
        again.close()


# --- a cold start serves its feeds first ---------------------------------------------

TITLES = ["पहली ख़बर", "दूसरी ख़बर", "तीसरी ख़बर"]


def _three_articles(root: Path) -> None:
    for day, title in enumerate(TITLES, start=1):
        write(root / "articles", f"{day}.md", md(title, ["क"], f"2025-01-0{day}"))


def _pages(snapshot: Snapshot) -> list[str]:
    return sorted(p for p in snapshot.resources if p.startswith(PAGES_AFTER_FEEDS))


def _small_feeds(root: Path) -> Config:
    """Two items a feed: three articles make archive pages."""
    return from_dict(
        {
            "site": {"id_authority": "news.example"},
            "articles": {"dir": str(root / "articles")},
            "feeds": {"max_items": 2},
            "schedule": {"settle_ms": 0},
        },
        root,
    )


def test_a_cold_start_serves_its_feeds_first_and_saves_only_the_whole_site(
    tmp_path: Path,
) -> None:
    _three_articles(tmp_path)
    shutil.copytree(tmp_path / "articles", tmp_path / "other" / "articles")
    whole_site = Publisher(_small_feeds(tmp_path / "other"), workers=1)  # all at once
    publisher = Publisher(_small_feeds(tmp_path), workers=1, pages_later=True)
    try:
        expected = whole_site.rescan()
        first = publisher.rescan()
        titles = [e.title for e in feedparser.parse(first.get("/feeds/all.atom").body).entries]
        assert titles == TITLES[::-1][:2] and first.health.pages_pending
        assert _pages(first) == []  # no archive or article page, sitemap, robots.txt yet
        later = expected.resources.keys() - first.resources.keys()
        assert later and all(p.startswith(PAGES_AFTER_FEEDS) for p in later)  # all say 503
        assert [p for p in _pages(expected) if p.startswith("/feeds/archive/")]
        assert first.get("/feeds/all.atom").body == expected.get("/feeds/all.atom").body
        client = create_app(publisher.cfg, lambda: publisher.snapshot).test_client()
        for waiting in (client.get("/articles/3"), client.get("/feeds/archive/all/1.atom")):
            assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "5"
        assert client.get("/healthz").get_json()["pages"] == "building"
        assert client.get("/nothing-here").status_code == 404  # not a page to come
        zipped = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
        assert gzip.decompress(zipped.data) == expected.get("/feeds/all.atom").body
        publisher.wait_saved()
        assert warmstart.load(publisher.snapshot_path) is None  # never saved without pages

        whole = publisher.finish_pages()
        assert not whole.health.pages_pending and client.get("/articles/3").status_code == 200
        assert client.get("/healthz").get_json()["pages"] == "ready"
        assert {p: r.body for p, r in whole.resources.items()} == {
            p: r.body for p, r in expected.resources.items()
        }
        assert whole.get("/feeds/all.atom") is first.get("/feeds/all.atom")  # kept
        assert publisher.finish_pages() is whole  # nothing more to do
        publisher.wait_saved()
        saved = warmstart.load(publisher.snapshot_path)
        assert saved is not None and saved.snapshot.resources.keys() == whole.resources.keys()
    finally:
        publisher.close()
        whole_site.close()


def test_a_change_before_the_pages_come_waits_for_them(tmp_path: Path) -> None:
    _three_articles(tmp_path)
    publisher = Publisher(folder_config(tmp_path), workers=1, pages_later=True)
    try:
        assert _pages(publisher.rescan()) == []
        write(tmp_path / "articles", "4.md", md("चौथी ख़बर", ["ख"], "2025-01-04"))
        after = publisher.refresh({"4.md"})
        assert not after.health.pages_pending
        assert [p for p in _pages(after) if p.startswith("/articles/")] == [
            f"/articles/{n}" for n in range(1, 5)
        ]
        sitemap = after.get("/sitemap.xml")
        assert sitemap is not None and b"/articles/4" in sitemap.body
    finally:
        publisher.close()


def _first_start_folder(root: Path) -> None:
    """Three dated articles, and beside them what a first look leaves out or dates
    from the file: a draft, a withdrawn one, one scheduled, a broken one, an id
    claimed twice, and a plain-text one (dated by its file: the newest)."""
    _three_articles(root)
    folder = root / "articles"
    write(folder, "4.md", md("मसौदा", ["क"], "2025-02-01", draft="true"))
    write(folder, "5.md", md("वापस ली गई", ["क"], "2025-02-01", withdrawn='"ग़लत"'))
    write(folder, "6.md", md("आने वाली", ["क"], "2999-01-01"))
    write(folder, "7.md", "---\ntitle: [\n---\nपाठ।\n")
    PILImage.new("RGB", (64, 48), (200, 40, 40)).save(folder / "lead.png")
    PILImage.new("RGB", (32, 24), (40, 40, 200)).save(folder / "old.png")
    write(folder, "3.md", md(TITLES[2], ["क"], "2025-01-03", image="old.png"))
    write(
        folder,
        "8.md",
        md("एक पहचान", ["ख"], "2025-01-05", id="same", summary="सार", image="lead.png"),
    )
    write(folder, "9.md", md("वही पहचान", ["ख"], "2025-01-06", id="same"))
    write(folder, "10.txt", "सादी ख़बर\n\nपहला अनुच्छेद।\n\nग\n")


NEWEST = ("/", "/404", "/feeds.opml", "/feeds/all.atom", "/feeds/all.rss", "/feeds/all.json")


def test_a_first_start_serves_the_newest_articles_from_front_matter(tmp_path: Path) -> None:
    """Before it reads every file in full, a first start serves `all` and its front
    page, chosen from the front matter: the same bytes the whole site will have. Only
    the images of the entries it shows are measured, and none is served yet."""
    _first_start_folder(tmp_path)
    shutil.copytree(tmp_path / "articles", tmp_path / "other" / "articles")
    whole_site = Publisher(_small_feeds(tmp_path / "other"), workers=1)
    publisher = Publisher(_small_feeds(tmp_path), workers=2, pages_later=True)
    try:
        expected = whole_site.rescan()
        assert publisher.serve_newest()
        newest = publisher.snapshot
        assert sorted(newest.resources) == sorted(NEWEST)
        for path in NEWEST:
            assert newest.get(path).body == expected.get(path).body, path
        entries = feedparser.parse(newest.get("/feeds/all.atom").body).entries
        assert [e.title for e in entries] == ["सादी ख़बर", "एक पहचान"]
        assert entries[1].summary == "सार"
        assert entries[1].enclosures[0]["href"].endswith("/media/lead.png")  # measured, not served
        assert "/media/lead.png" in expected.resources and "/media/old.png" in expected.resources
        assert b'rel="prev-archive"' in newest.get("/feeds/all.atom").body
        assert not publisher.store.knows_files()  # the first look records every file

        client = create_app(publisher.cfg, lambda: publisher.snapshot).test_client()
        for path in ("/feeds/tags/ka.atom", "/articles/3", "/feeds/archive/all/1.atom", "/x"):
            waiting = client.get(path)
            assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "5", path
        health = client.get("/healthz").get_json()
        assert (health["feeds"], health["pages"], health["articles"]) == ("building",) * 2 + (5,)

        first = publisher.rescan()
        assert first.get("/feeds/all.atom") is newest.get("/feeds/all.atom")  # validators kept
        assert not first.health.feeds_pending and first.health.pages_pending
        assert client.get("/healthz").get_json()["feeds"] == "ready"
        assert client.get("/x").status_code == 404
        whole = publisher.finish_pages()
        assert {p: r.body for p, r in whole.resources.items()} == {
            p: r.body for p, r in expected.resources.items()
        }
    finally:
        publisher.close()
        whole_site.close()


@pytest.mark.parametrize(
    "failure",
    [OSError(28, "No space left on device"), RuntimeError("a parse worker was killed")],
)
def test_a_first_look_that_fails_keeps_the_newest_articles_served(
    tmp_path: Path, monkeypatch, failure: Exception
) -> None:
    """The disk, or anything else, fails the first look after the newest articles are
    served: they stay served, /healthz says why, and the next look builds everything."""
    _three_articles(tmp_path)
    publisher = Publisher(folder_config(tmp_path), workers=1, pages_later=True)
    try:
        assert publisher.serve_newest()
        newest = publisher.snapshot
        real = publisher.library.scan

        def fail(busy: frozenset[str] = frozenset()) -> Any:
            raise failure

        monkeypatch.setattr(publisher.library, "scan", fail)
        failed = publisher.rescan()
        assert failed.resources == newest.resources and failed.health.feeds_pending
        assert str(failure) in failed.health.error
        monkeypatch.setattr(publisher.library, "scan", real)
        looked = publisher.rescan()
        assert not looked.health.feeds_pending and not looked.health.error
        assert any(path.startswith("/feeds/tags/") for path in looked.resources)
    finally:
        publisher.close()


def test_a_state_that_knows_files_decides_their_ids_first(tmp_path: Path) -> None:
    """Ids and dates of files a state file has seen are the store's: without the
    saved site, the first look's build is the first thing served."""
    _three_articles(tmp_path)
    publisher = Publisher(folder_config(tmp_path), workers=1)
    try:
        publisher.rescan()
        publisher.wait_saved()
        assert not publisher.serve_newest()  # built already
    finally:
        publisher.close()
    publisher.snapshot_path.unlink()
    again = Publisher(folder_config(tmp_path), workers=1, pages_later=True)
    try:
        assert not again.serve_saved() and not again.serve_newest()
        assert again.snapshot.resources == {}
    finally:
        again.close()


def test_a_change_a_failed_build_lost_is_in_the_next_one(tmp_path: Path, monkeypatch) -> None:
    """A refresh compares only the paths it was told of; after a failed build the
    next look compares everything, so the change that build lost is not lost."""
    from feedsvc import site

    _three_articles(tmp_path)
    publisher = Publisher(folder_config(tmp_path), workers=1)
    try:
        publisher.rescan()
        real = site.build
        monkeypatch.setattr(site, "build", lambda *args, **kwargs: 1 / 0)
        write(tmp_path / "articles", "4.md", md("चौथी ख़बर", ["क"], "2025-01-04"))
        failed = publisher.refresh({"4.md"})
        assert failed.get("/articles/4") is None  # still the site before
        monkeypatch.setattr(site, "build", real)
        write(tmp_path / "articles", "5.md", md("पाँचवीं ख़बर", ["क"], "2025-01-05"))
        after = publisher.refresh({"5.md"})
        titles = [e.title for e in feedparser.parse(after.get("/feeds/all.atom").body).entries]
        assert titles[:2] == ["पाँचवीं ख़बर", "चौथी ख़बर"]
        assert after.get("/articles/4") is not None
    finally:
        publisher.close()


def test_after_a_warm_start_the_first_change_finds_everything_arranged(
    tmp_path: Path, monkeypatch
) -> None:
    """A start that served the saved site built nothing; `prepare` arranges every
    article then, so the first change arranges only itself, and ends as a fresh
    build would."""
    from feedsvc import arrangement

    _three_articles(tmp_path)
    first = Publisher(folder_config(tmp_path), workers=1)
    try:
        first.rescan()
    finally:
        first.close()
    publisher = Publisher(folder_config(tmp_path), workers=1)
    try:
        publisher.rescan()  # nothing changed: the saved site, nothing arranged
        publisher.prepare()
        anew: list[int] = []
        real = arrangement.Arrangement._arrange_anew

        def counted(self: arrangement.Arrangement, articles: Any) -> None:
            anew.append(1)
            real(self, articles)

        monkeypatch.setattr(arrangement.Arrangement, "_arrange_anew", counted)
        write(tmp_path / "articles", "4.md", md("चौथी ख़बर", ["क"], "2025-01-04"))
        after = publisher.refresh({"4.md"})
        assert anew == []
        titles = [e.title for e in feedparser.parse(after.get("/feeds/all.atom").body).entries]
        assert titles == ["चौथी ख़बर", *TITLES[::-1]]
    finally:
        publisher.close()

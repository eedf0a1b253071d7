"""The publisher's guarantees to its readers: queries under its lock, and validators
that never hide a change (SPEC §5)."""

from __future__ import annotations

import threading
from pathlib import Path

from werkzeug.http import http_date

from feedsvc.publisher import Publisher
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

"""WebSub (SPEC §9) against the real `feedsvc serve` and `feedsvc build --ping`, with
a real hub (flask-websub's) and recording hubs that misbehave on purpose."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
import requests
from lxml import etree

from feedsvc.snapshot import SiteIndex
from feedsvc.store import Notification
from feedsvc.websub import Answer, changed_topics, retry_at

from .conftest import md, wait_for, write
from .hubs import RecordingHub, Subscriber, start_hub
from .server import Server, feedsvc, free_port, start

BASE = "http://news.example"
FORMATS = ("atom", "rss", "json")
ALL = [f"{BASE}/feeds/all.{fmt}" for fmt in FORMATS]
KA = [f"{BASE}/feeds/tags/{urllib.parse.quote('क')}.{fmt}" for fmt in FORMATS]
KHA = [f"{BASE}/feeds/tags/{urllib.parse.quote('ख')}.{fmt}" for fmt in FORMATS]


# --- the decisions alone ------------------------------------------------------------------


def _index(**topics: str) -> SiteIndex:
    return SiteIndex(topics={f"/{path}": (f"{BASE}/{path}", c) for path, c in topics.items()})


def test_only_documents_that_changed_or_appeared_are_announced() -> None:
    before = _index(a="1", b="1", gone="1")
    after = _index(a="1", b="2", new="1")
    assert changed_topics(before, after) == [f"{BASE}/b", f"{BASE}/new"]
    assert changed_topics(None, after) == []  # a first start with an empty state


def test_backoff_doubles_from_one_second_to_ten_minutes_for_a_day() -> None:
    now = 1_000_000.0
    failing = Answer(False, True, "HTTP 503")
    waits = [retry_at(Notification("h", "t", now, now, n), failing, now) for n in range(12)]
    assert [w - now for w in waits if w] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    late = Notification("h", "t", now - 24 * 3600 + 100, now, 30)
    assert retry_at(late, failing, now) is None  # tried for 24 h: dropped
    assert retry_at(Notification("h", "t", now, now, 0), Answer(False, False), now) is None
    told = Answer(False, True, "HTTP 429", retry_after=30)
    assert retry_at(Notification("h", "t", now, now, 5), told, now) == now + 30
    told_long = Answer(False, True, "HTTP 503", retry_after=7200)
    assert retry_at(Notification("h", "t", now, now, 0), told_long, now) == now + 600


# --- the real server ---------------------------------------------------------------------


@pytest.fixture
def hubs() -> Iterator[tuple[RecordingHub, RecordingHub]]:
    one, two = RecordingHub(), RecordingHub()
    yield one, two
    one.close()
    two.close()


def _serve(root: Path, *hubs: str, base: str = BASE, port: int | None = None) -> Server:
    listed = ", ".join(f'"{hub}"' for hub in hubs)
    (root / "config.toml").write_text(
        f'[site]\nbase_url = "{base}"\nid_authority = "news.example"\n'
        f"[schedule]\nsettle_ms = 100\n[websub]\nhubs = [{listed}]\ntimeout_seconds = 2\n"
    )
    return start(root / "config.toml", port=port)


def _health(server: Server) -> list[dict[str, object]]:
    hubs: list[dict[str, object]] = json.loads(server.request("/healthz").body)["websub"]["hubs"]
    return hubs


def test_discovery_in_documents_and_link_headers(tmp_path: Path, hubs) -> None:
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    server = _serve(tmp_path, hubs[0].url, hubs[1].url)
    try:
        for path, topic in (("/feeds/all.atom", ALL[0]), ("/feeds/tags/क.rss", KA[1])):
            reply = server.request(path)
            expected = (
                f'<{hubs[0].url}>; rel="hub", <{hubs[1].url}>; rel="hub", <{topic}>; rel="self"'
            )
            assert reply.headers["link"] == expected
            tree = etree.fromstring(reply.body)
            links = tree.xpath("//*[local-name()='link'][@rel]")
            rels = [(link.get("rel"), link.get("href")) for link in links]
            assert ("hub", hubs[0].url) in rels and ("hub", hubs[1].url) in rels
            assert ("self", topic) in rels
            if path.endswith(".rss"):
                atom = "{http://www.w3.org/2005/Atom}link"
                assert [ln.get("href") for ln in tree.iter(atom) if ln.get("rel") == "hub"] == [
                    hubs[0].url,
                    hubs[1].url,
                ]
            assert not feedparser.parse(reply.body).bozo
            again = server.request(path, headers={"If-None-Match": reply.headers["etag"]})
            assert again.status == 304 and again.headers["link"] == expected
            assert server.request(path, method="HEAD").headers["link"] == expected
        reply = server.request("/feeds/all.json")
        assert reply.headers["link"].endswith(f'<{ALL[2]}>; rel="self"')
        hubs_named = json.loads(reply.body)["hubs"]
        assert hubs_named == [{"type": "WebSub", "url": hub.url} for hub in hubs]
        for other in ("/", "/feeds.opml", "/tags/क", "/articles/a"):
            assert "link" not in server.request(other).headers
        assert hubs[0].posts() == []  # a first start with an empty state announces nothing
    finally:
        assert server.stop() == 0


def test_two_hubs_are_told_of_the_changed_documents_only(tmp_path: Path, hubs) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    server = _serve(tmp_path, hubs[0].url, hubs[1].url)
    try:
        write(folder, "c.md", md("तीसरा", ["क"], "2025-01-03"), age=0)
        wait_for(lambda: all(hub.topics() == set(ALL + KA) for hub in hubs))
        wait_for(lambda: all(h["pending"] == 0 for h in _health(server)))
        for hub in hubs:
            assert len(hub.posts()) == len(ALL + KA)  # once per topic
            post = hub.posts()[0]
            assert post.content_type == "application/x-www-form-urlencoded"
            assert post.form == {
                "hub.mode": "publish",
                "hub.url": post.form["hub.topic"],
                "hub.topic": post.form["hub.topic"],
            }
        health = _health(server)
        assert [h["url"] for h in health] == [hubs[0].url, hubs[1].url]
        assert all(h["last_delivery"] and h["last_error"] is None for h in health)
        assert not set(KHA) & hubs[0].topics()
    finally:
        assert server.stop() == 0


def test_a_change_of_hubs_alone_announces_nothing(tmp_path: Path, hubs) -> None:
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    port = free_port()
    server = _serve(tmp_path, hubs[0].url, port=port)
    before = server.request("/feeds/all.atom").body
    assert server.stop() == 0
    server = _serve(tmp_path, hubs[0].url, hubs[1].url, port=port)  # a hub added
    try:
        after = server.request("/feeds/all.atom").body
        assert after != before and hubs[1].url.encode() in after  # the bytes changed
        write(tmp_path / "articles", "b.md", md("दूसरा", ["क"], "2025-01-02"), age=0)
        wait_for(lambda: all(hub.topics() == set(ALL + KA) for hub in hubs))
        assert all(len(hub.posts()) == len(ALL + KA) for hub in hubs)  # the article's change
    finally:
        assert server.stop() == 0


def test_a_document_that_disappears_is_not_announced(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    write(tmp_path / "articles", "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    server = _serve(tmp_path, hub.url)
    try:
        (tmp_path / "articles" / "b.md").unlink()  # the only article of ख
        wait_for(lambda: server.request("/feeds/tags/ख.atom").status == 404)
        wait_for(lambda: hub.topics() == set(ALL))
        wait_for(lambda: _health(server)[0]["pending"] == 0)
        assert hub.topics() == set(ALL)
    finally:
        assert server.stop() == 0


def test_a_failing_hub_is_retried_with_growing_gaps_until_it_answers(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    server = _serve(tmp_path, hub.url)
    try:
        hub.answer(*[(503, {})] * 2 * len(ALL + KA))  # two failures for each topic
        write(tmp_path / "articles", "b.md", md("दूसरा", ["क"], "2025-01-02"), age=0)
        wait_for(lambda: all(len(hub.posts(t)) == 3 for t in ALL + KA), timeout=20)
        wait_for(lambda: _health(server)[0]["pending"] == 0)
        for topic in ALL + KA:
            times = [post.at for post in hub.posts(topic)]
            first, second = times[1] - times[0], times[2] - times[1]
            assert 0.9 <= first < second, (topic, first, second)  # 1 s, then 2 s
        health = _health(server)[0]
        assert health["last_delivery"] is not None and "503" in str(health["last_error"])
    finally:
        assert server.stop() == 0


def test_a_hub_refusing_with_400_is_not_retried(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    server = _serve(tmp_path, hub.url)
    try:
        hub.answer(default=400)
        write(tmp_path / "articles", "b.md", md("दूसरा", ["क"], "2025-01-02"), age=0)
        wait_for(lambda: hub.topics() == set(ALL + KA))
        wait_for(lambda: _health(server)[0]["pending"] == 0)  # dropped: nothing to retry
        assert all(len(hub.posts(t)) == 1 for t in ALL + KA)
        assert "HTTP 400" in str(_health(server)[0]["last_error"])
        assert "not retried" in server.log.read_text()
    finally:
        assert server.stop() == 0


def test_pending_notifications_survive_kill_9(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    port = free_port()
    server = _serve(tmp_path, hub.url, port=port)
    hub.answer(default=503)
    write(tmp_path / "articles", "b.md", md("दूसरा", ["क"], "2025-01-02"), age=0)
    wait_for(lambda: hub.topics() == set(ALL + KA))
    assert _health(server)[0]["pending"] == len(ALL + KA)
    server.stop(signal.SIGKILL)

    hub.answer(default=204)
    before = len(hub.posts())
    server = _serve(tmp_path, hub.url, port=port)
    try:
        wait_for(lambda: _health(server)[0]["pending"] == 0)
        delivered = hub.posts()[before:]
        assert {p.form["hub.topic"] for p in delivered} == set(ALL + KA)
        assert len(delivered) == len(ALL + KA)
    finally:
        assert server.stop() == 0


def test_a_kill_before_the_snapshot_was_saved_still_notifies_once(tmp_path: Path, hubs) -> None:
    """Killed after the outbox was written but before the warm-start save: the next
    start finds the article changed while stopped and announces its topics again;
    with the pending rows (in flight at the kill) that is still one POST each."""
    hub = hubs[0]
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    port = free_port()
    server = _serve(tmp_path, hub.url, port=port)
    assert server.stop() == 0  # its snapshot saved whole
    saved = sorted((tmp_path / "var").glob("*-snapshot.sqlite3*"))
    assert saved
    kept = {path: path.read_bytes() for path in saved}
    hub.answer(default=503)
    server = _serve(tmp_path, hub.url, port=port)
    write(tmp_path / "articles", "b.md", md("दूसरा", ["क"], "2025-01-02"), age=0)
    wait_for(lambda: hub.topics() == set(ALL + KA))
    server.stop(signal.SIGKILL)
    for path in (tmp_path / "var").glob("*-snapshot.sqlite3*"):
        path.unlink()
    for path, data in kept.items():  # as if the save of b.md's build never happened
        path.write_bytes(data)

    hub.answer(default=204)
    before = len(hub.posts())
    server = _serve(tmp_path, hub.url, port=port)
    try:
        wait_for(lambda: _health(server)[0]["pending"] == 0)
        assert "1 articles changed while stopped" in server.log.read_text()
        delivered = hub.posts()[before:]
        assert sorted(p.form["hub.topic"] for p in delivered) == sorted(ALL + KA)
    finally:
        assert server.stop() == 0


def test_a_burst_of_changes_makes_few_notifications(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    server = _serve(tmp_path, hub.url)
    try:
        for n in range(10):
            write(folder, f"burst-{n}.md", md(f"झड़ी {n}", ["क"], f"2025-02-{n + 1:02d}"), age=0)
        wait_for(
            lambda: len(feedparser.parse(server.request("/feeds/all.atom").body).entries) == 11
        )
        wait_for(lambda: _health(server)[0]["pending"] == 0 and hub.topics() == set(ALL + KA))
        assert len(hub.posts(ALL[0])) <= 3  # ten changes, collapsed
    finally:
        assert server.stop() == 0


def test_a_scheduled_article_is_announced_at_its_moment(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    write(folder, "later.md", md("बाद में", ["ख"], moment.isoformat()))
    server = _serve(tmp_path, hub.url)
    try:
        # four sender threads: the six topics arrive in any order
        wait_for(lambda: set(KHA + ALL) <= hub.topics(), timeout=15)
        for topic in KHA + ALL:
            assert min(p.at for p in hub.posts(topic)) >= moment.timestamp()
        assert not set(KA) & hub.topics()
    finally:
        assert server.stop() == 0


def _build(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = feedsvc("build", "--config", str(root / "config.toml"), "--out", str(root / "out"))
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


def test_build_ping_announces_what_differs_from_the_previous_export(tmp_path: Path, hubs) -> None:
    hub = hubs[0]
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    (tmp_path / "config.toml").write_text(
        f'[site]\nbase_url = "{BASE}"\n[schedule]\nsettle_ms = 0\n[websub]\nhubs = ["{hub.url}"]\n'
    )
    first = _build(tmp_path, "--ping")
    assert first.returncode == 0, first.stderr
    assert hub.topics() == set(ALL + KA + KHA)  # no previous export: every document

    assert _build(tmp_path, "--ping").returncode == 0
    assert len(hub.posts()) == len(ALL + KA + KHA)  # nothing changed: nothing announced

    write(folder, "c.md", md("तीसरा", ["क"], "2025-01-03"))
    assert _build(tmp_path, "--ping").returncode == 0
    new = hub.posts()[len(ALL + KA + KHA) :]
    assert sorted(p.form["hub.topic"] for p in new) == sorted(ALL + KA)

    hub.answer(default=400)
    write(folder, "d.md", md("चौथा", ["ख"], "2025-01-04"))
    refused = _build(tmp_path, "--ping")
    assert refused.returncode == 1
    named = sorted(refused.stdout.splitlines())
    assert named == sorted(f"not delivered: {hub.url} {t}: HTTP 400" for t in ALL + KHA)
    assert "दूसरा" in (tmp_path / "out" / "feeds" / "all.atom").read_text()  # export stays


def test_a_hub_url_that_is_not_http_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[websub]\nhubs = ["ftp://hub.example/"]\n')
    result = subprocess.run(
        feedsvc("check", "--config", str(tmp_path / "config.toml")), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "feedsvc: configuration error: websub.hubs: 'ftp://hub.example/' is not an http(s) URL"
    )


# --- a real hub, a real subscriber ----------------------------------------------------


def test_a_subscriber_gets_the_new_content_through_a_real_hub(tmp_path: Path) -> None:
    pytest.importorskip("flask_websub", reason="flask-websub is not installed")
    hub = start_hub(tmp_path)
    subscriber = Subscriber()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    server = _serve(tmp_path, hub.url, base=base, port=port)
    try:
        topic = f"{base}/feeds/all.atom"
        form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": subscriber.callback}
        wait_for(lambda: _accepts(hub.url, form), timeout=20)
        wait_for(subscriber.verified.is_set, timeout=20)

        write(tmp_path / "articles", "b.md", md("हब से आया लेख", ["क"], "2025-01-02"), age=0)
        wait_for(lambda: any("हब से आया लेख".encode() in body for body in subscriber.received))
        [body] = [b for b in subscriber.received if "हब से आया लेख".encode() in b]
        titles = [entry.title for entry in feedparser.parse(body).entries]
        assert titles == ["हब से आया लेख", "पहला"]
        assert _health(server)[0]["last_delivery"] is not None
    finally:
        assert server.stop() == 0
        subscriber.close()
        hub.stop()
        shutil.rmtree(tmp_path / "out", ignore_errors=True)


def _accepts(hub: str, form: dict[str, str]) -> bool:
    try:
        return requests.post(hub, data=form, timeout=2).status_code == 202
    except requests.ConnectionError:  # still starting
        return False

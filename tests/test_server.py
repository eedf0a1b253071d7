"""Against the real server on a loopback port: HTTP, freshness, scheduling, shutdown.

Every wait is on a condition with a deadline; no fixed sleeps stand in for sync.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from .conftest import SEED, SEED_NAME, md, wait_for, write
from .server import Reply, Server, start

IST = ZoneInfo("Asia/Kolkata")
SEED_ID = "tag:news.example,2026:articles/000_8fc8ec9304f2c137"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("live")
    folder = root / "articles"
    folder.mkdir()
    shutil.copyfile(SEED, folder / SEED_NAME)
    write(folder, "quiet.md", md("शांत विषय का लेख", ["शांत"], "2025-01-01", "कुछ नहीं बदलेगा।"))
    write(folder, "old.md", md("पुराना लेख", ["खेल"], "2025-01-02", "पुराना।"))
    config = root / "config.toml"
    config.write_text(
        '[site]\nbase_url = "http://news.example"\nid_authority = "news.example"\n'
        "[schedule]\nsettle_ms = 300\nrescan_seconds = 60\n"
    )
    server = start(config)
    # The seed was copied just now: it is published once it has settled.
    wait_for(lambda: server.request("/feeds/tags/trump.atom").status == 200)
    quiet = server.request("/feeds/tags/शांत.atom")
    assert quiet.status == 200
    yield server, folder, quiet.headers["etag"]
    assert server.stop() == 0


def titles(server: Server, path: str) -> list[str]:
    return [e.title for e in server.entries(path)]


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/articles/000_8fc8ec9304f2c137"])
def test_preconditions_are_not_cache_validators(live, path: str) -> None:
    """RFC 9110 §13.2.2 on a feed and a page: If-Match and If-Unmodified-Since fail with
    412, hold with 200; several ranges are answered with the whole body."""
    server, _, _ = live
    first = server.request(path)
    assert first.status == 200
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    def status(headers: dict[str, str]) -> int:
        reply: Reply = server.request(path, headers=headers)
        assert reply.status != 200 or reply.body == first.body
        assert reply.status not in (304, 412) or reply.body == b""
        return reply.status

    assert status({"If-Match": '"nope"'}) == 412
    assert status({"If-Match": f"W/{etag}"}) == 412  # If-Match compares strongly
    assert status({"If-Match": "*"}) == 200
    assert status({"If-Match": f'"nope", {etag}'}) == 200
    assert status({"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}) == 412
    assert status({"If-Unmodified-Since": modified}) == 200
    assert status({"If-Unmodified-Since": "not a date"}) == 200  # ignored
    # If-Match wins over If-Unmodified-Since; If-None-Match still gives its 304
    assert status({"If-Match": etag, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}) == 200
    assert status({"If-Match": etag, "If-None-Match": etag}) == 304
    assert status({"If-Match": '"nope"', "If-None-Match": etag}) == 412
    zipped = server.request(path, headers={"Accept-Encoding": "gzip", "If-Match": etag})
    assert zipped.status == 412  # the gzip representation has its own ETag
    several = server.request(path, headers={"Range": "bytes=0-9,20-29"})
    assert several.status == 200 and several.body == first.body
    one = server.request(path, headers={"Range": "bytes=0-9"})
    assert one.status == 206 and one.body == first.body[:10]
    past = server.request(path, headers={"Range": f"bytes={len(first.body) + 10}-"})
    assert past.status == 416


def test_http_semantics_on_the_wire(live) -> None:
    server, _, _ = live
    first = server.request("/feeds/all.atom")
    assert first.status == 200
    assert first.headers["content-type"] == "application/atom+xml; charset=utf-8"
    etag = first.headers["etag"]
    again = server.request("/feeds/all.atom", headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
    since = server.request(
        "/feeds/all.atom", headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert since.status == 304 and since.headers["etag"] == etag
    zipped = server.request("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == first.body
    head = server.request("/feeds/all.atom", method="HEAD")
    assert head.status == 200 and head.body == b"" and head.headers["etag"] == etag
    assert server.request("/tags/TRUMP").status == 301
    assert server.request("/no/such/page").status == 404
    assert server.request("/feeds.opml").headers["content-type"] == "text/x-opml; charset=utf-8"


def test_a_new_file_appears_in_its_tag_feeds_and_all(live) -> None:
    server, folder, _ = live
    write(folder, "new.md", md("नया लेख आया", ["TRUMP", "नया"], "2025-08-01"), age=0)
    wait_for(lambda: "नया लेख आया" in titles(server, "/feeds/tags/trump.rss"))
    assert "नया लेख आया" in titles(server, "/feeds/all.atom")
    assert titles(server, "/feeds/tags/नया.atom") == ["नया लेख आया"]


def test_an_edited_title_keeps_the_id_with_a_newer_updated(live) -> None:
    server, folder, _ = live
    [before] = [e for e in server.entries("/feeds/tags/trump.atom") if e.id == SEED_ID]
    path = folder / SEED_NAME
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Ties Deepen", "Ties Deepen Further", 1), encoding="utf-8")

    def edited():
        found = [e for e in server.entries("/feeds/tags/trump.atom") if e.id == SEED_ID]
        return found and "Further" in found[0].title and found[0]

    after = wait_for(edited)
    assert after.id == before.id
    assert after.published == before.published
    # Compared in full (feedparser's *_parsed drop the fraction of a second).
    assert datetime.fromisoformat(after.updated) > datetime.fromisoformat(before.updated)


def test_a_renamed_file_keeps_its_id(live) -> None:
    server, folder, _ = live
    [before] = [e for e in server.entries("/feeds/all.atom") if e.title == "पुराना लेख"]
    os.rename(folder / "old.md", folder / "renamed.md")
    wait_for(
        lambda: (
            server.request("/articles/old").status == 200
            and "renamed.md" not in server.request("/healthz").body.decode()
        )
    )
    wait_for(
        lambda: (
            not any(
                e.title == "पुराना लेख" and e.id != before.id
                for e in server.entries("/feeds/all.atom")
            )
        )
    )
    same = [e for e in server.entries("/feeds/all.atom") if e.title == "पुराना लेख"]
    assert [e.id for e in same] == [before.id]


def test_a_deleted_file_disappears(live) -> None:
    server, folder, _ = live
    write(folder, "gone.md", md("जाने वाला लेख", ["अस्थायी"], "2025-08-02"), age=0)
    wait_for(lambda: "जाने वाला लेख" in titles(server, "/feeds/all.rss"))
    (folder / "gone.md").unlink()
    wait_for(lambda: "जाने वाला लेख" not in titles(server, "/feeds/all.rss"))
    assert server.request("/feeds/tags/अस्थायी.atom").status == 404


def test_a_subfolder_moved_in_and_deleted(live) -> None:
    server, folder, tmp = live[0], live[1], live[1].parent
    staging = tmp / "staging" / "section"
    write(staging, "a.md", md("उपफ़ोल्डर का लेख", ["उप"], "2025-08-03"))
    os.rename(staging, folder / "section")
    wait_for(lambda: "उपफ़ोल्डर का लेख" in titles(server, "/feeds/all.atom"))
    shutil.rmtree(folder / "section")
    wait_for(lambda: "उपफ़ोल्डर का लेख" not in titles(server, "/feeds/all.atom"))


def test_an_atomic_rename_save(live) -> None:
    server, folder, _ = live
    temp = write(folder, ".draft.md.tmp", md("परमाणु सहेजना", ["सहेज"], "2025-08-04"), age=0)
    os.rename(temp, folder / "atomic.md")
    wait_for(lambda: "परमाणु सहेजना" in titles(server, "/feeds/all.atom"))


def test_a_slow_writer_is_never_published_half_written(live) -> None:
    server, folder, _ = live
    body = "\n\n".join(f"अनुच्छेद {n}: " + "धीमे लिखे गए लेख का पाठ। " * 20 for n in range(1, 6))
    full = md("धीमा लेख", ["धीमा"], "2025-08-05", body).encode("utf-8")
    chunks = [full[i * len(full) // 5 : (i + 1) * len(full) // 5] for i in range(5)]
    seen: list[bytes] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            reply = server.request("/feeds/all.atom")
            if "धीमा लेख".encode() in reply.body:
                seen.append(reply.body)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with (folder / "slow.md").open("wb") as fh:
            for n, chunk in enumerate(chunks):
                fh.write(chunk)
                fh.flush()
                if n < 4:
                    done.wait(0.5)  # the writer's own pace: five chunks over two seconds
        wait_for(lambda: seen)
    finally:
        done.set()
        poller.join()
    for polled in seen:
        [entry] = [e for e in feedparser.parse(polled).entries if e.title == "धीमा लेख"]
        assert "अनुच्छेद 5" in entry.content[0].value, "a half-written article was published"


def test_a_scheduled_article_appears_on_time(live) -> None:
    server, folder, _ = live
    moment = datetime.now(IST).replace(microsecond=0) + timedelta(seconds=3)
    write(folder, "soon.md", md("जल्द आने वाला", ["जल्द"], moment.isoformat()), age=0)
    wait_for(lambda: "soon.md" in server.request("/healthz").body.decode())
    assert "जल्द आने वाला" not in titles(server, "/feeds/all.atom")
    assert server.request("/feeds/tags/जल्द.atom").status == 404
    wait_for(lambda: "जल्द आने वाला" in titles(server, "/feeds/all.atom"), timeout=10)
    assert datetime.now(IST) >= moment
    assert titles(server, "/feeds/tags/जल्द.atom") == ["जल्द आने वाला"]


def test_a_bad_file_is_reported_in_healthz_and_costs_only_itself(live) -> None:
    server, folder, _ = live
    before = titles(server, "/feeds/all.atom")
    write(folder, "broken.md", b"---\ntitle: [\n---\n", age=0)
    wait_for(
        lambda: any(
            r.startswith("broken.md:2: broken YAML")
            for r in json.loads(server.request("/healthz").body)["rejected"]
        )
    )
    assert titles(server, "/feeds/all.atom") == before
    (folder / "broken.md").unlink()
    wait_for(lambda: not json.loads(server.request("/healthz").body)["rejected"])


def test_the_unrelated_feed_never_changed(live) -> None:
    server, _, quiet_etag = live
    assert server.request("/feeds/tags/शांत.atom").headers["etag"] == quiet_etag


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signals(tmp_path: Path, sig: int) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("क", ["क"], "2025-01-01"))
    config = tmp_path / "config.toml"
    config.write_text("")
    server = start(config)
    started = time.monotonic()
    assert server.stop(sig, timeout=10) == 0
    assert time.monotonic() - started < 10
    log = server.log.read_text()
    assert "Traceback" not in log


def test_rendered_xml_is_always_well_formed_during_changes(live) -> None:
    server, folder, _ = live
    for n in range(5):
        write(folder, f"burst-{n}.md", md(f"झटपट {n}", ["झटपट"], f"2025-09-0{n + 1}"), age=0)
        etree.fromstring(server.request("/feeds/all.atom").body)
    wait_for(lambda: len(titles(server, "/feeds/tags/झटपट.atom")) == 5)

"""Withdrawn and corrected stories (SPEC §13): a withdrawn article's page answers 410,
the Atom feeds that held it carry an RFC 6721 tombstone for `feeds.tombstone_days`;
a corrected one carries its corrections at the top of its content."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from feedsvc.articles import parse
from feedsvc.config import Config
from feedsvc.errors import ArticleError
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot
from feedsvc.websub import changed_topics

from .conftest import Clock, md, subscribed, wait_for, write
from .server import start

AT = "{http://purl.org/atompub/tombstones/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ENTRY = "tag:news.example,2026:articles/"
START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def newsroom(folder: Path) -> None:
    write(folder, "desh/rail.md", md("रेल किराया", ["रेलवे"], "2026-02-01", author='"रीना"'))
    write(folder, "desh/metro.md", md("मेट्रो", ["रेलवे"], "2026-01-01", author='"रीना"'))
    write(folder, "khel.md", md("हॉकी की जीत", ["खेल"], "2026-02-02"))
    write(folder, "other.md", md("दूसरी ख़बर", ["मौसम", "खेल"], "2026-02-03"))


@pytest.fixture
def site(make_config, tmp_path: Path) -> Any:
    folder = tmp_path / "articles"
    newsroom(folder)
    clock = Clock(START)
    publisher = Publisher(make_config(articles={"dir": str(folder)}), workers=1, clock=clock)
    publisher.rescan()
    yield folder, publisher, clock
    publisher.close()


def tombstones(snapshot: Snapshot, path: str) -> list[tuple[str | None, str | None, str | None]]:
    """(ref, when, comment) of each deleted-entry, read with lxml."""
    return tombstones_of(snapshot.get(path).body)


def tombstones_of(feed: bytes) -> list[tuple[str | None, str | None, str | None]]:
    root = etree.fromstring(feed)
    return [
        (d.get("ref"), d.get("when"), d.findtext(f"{AT}comment"))
        for d in root.iter(f"{AT}deleted-entry")
    ]


def ids(snapshot: Snapshot, path: str) -> list[str]:
    parsed = feedparser.parse(snapshot.get(path).body)
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return [entry.id for entry in parsed.entries]


def test_a_deleted_article_is_gone_with_tombstones_in_the_feeds_that_held_it(site) -> None:
    folder, publisher, clock = site
    before = publisher.snapshot
    clock.now = START + timedelta(hours=1)
    (folder / "desh" / "rail.md").unlink()
    after = publisher.refresh({"desh/rail.md"})
    page = after.get("/articles/desh/rail")
    assert page is not None and page.status == 410
    assert "यह समाचार वापस ले लिया गया है" in page.body.decode()
    assert "रेल किराया" in page.body.decode()
    stone = (ENTRY + "desh/rail", "2026-03-01T18:30:00+05:30", None)  # the moment, site time
    for path in ("/feeds/all.atom", "/feeds/tags/रेलवे.atom", "/feeds/sections/desh.atom"):
        assert tombstones(after, path) == [stone], path
    assert tombstones(after, "/feeds/authors/रीना.atom") == [stone]
    assert tombstones(after, "/feeds/tags/खेल.atom") == []  # never held it
    assert ENTRY + "desh/rail" not in ids(after, "/feeds/all.atom")
    for path in ("/feeds/all.rss", "/feeds/all.json"):  # no tombstones there: dropped
        body = after.get(path).body
        assert b"rail" not in body and b"deleted-entry" not in body
    assert b"desh/rail" not in after.get("/sitemap.xml").body
    root = etree.fromstring(after.get("/feeds/all.atom").body)
    assert root.findtext(f"{ATOM}updated") == "2026-03-01T18:30:00+05:30"  # the withdrawal
    # announced to hubs like any change
    assert any(url.endswith("/feeds/all.atom") for url in changed_topics(before.index, after.index))


def test_a_withdrawn_field_gives_its_reason_and_a_restored_article_comes_back(site) -> None:
    folder, publisher, clock = site
    original = publisher.library.articles["khel.md"]
    reason = "क़ानूनी कारणों से हटाया गया"
    text = md("हॉकी की जीत", ["खेल"], "2026-02-02", withdrawn=f'"{reason}"')
    write(folder, "khel.md", text, age=1)
    after = publisher.refresh({"khel.md"})
    assert after.get("/articles/khel").status == 410
    assert reason in after.get("/articles/khel").body.decode()
    [stone] = tombstones(after, "/feeds/tags/खेल.atom")
    assert stone[0] == ENTRY + "khel" and stone[2] == reason
    comment = etree.fromstring(after.get("/feeds/all.atom").body).find(f".//{AT}comment")
    assert comment is not None and comment.get(XML_LANG) == "hi"
    assert ENTRY + "khel" not in ids(after, "/feeds/tags/खेल.atom") + ids(after, "/feeds/all.atom")

    write(folder, "khel.md", md("हॉकी की जीत", ["खेल"], "2026-02-02"), age=1)  # taken back
    back = publisher.refresh({"khel.md"})
    assert back.get("/articles/khel").status == 200
    assert tombstones(back, "/feeds/all.atom") == tombstones(back, "/feeds/tags/खेल.atom") == []
    restored = publisher.library.articles["khel.md"]
    assert (restored.id, restored.date) == (original.id, original.date)
    assert ENTRY + "khel" in ids(back, "/feeds/tags/खेल.atom")
    assert publisher.store.withdrawals() == {}


def test_a_restored_file_gets_its_id_and_time_back(site) -> None:
    folder, publisher, clock = site
    clock.now = datetime.now(UTC)
    text = "पुरानी ख़बर\n\nबिना तारीख़ की ख़बर।\n\nखेल\n"  # undated: dated when first seen
    write(folder, "purani.txt", text, age=3600)
    publisher.refresh({"purani.txt"})
    original = publisher.library.articles["purani.txt"]
    (folder / "purani.txt").unlink()
    assert publisher.refresh({"purani.txt"}).get("/articles/purani").status == 410
    write(folder, "purani.txt", text, age=1)  # put back an hour later
    back = publisher.refresh({"purani.txt"})
    restored = publisher.library.articles["purani.txt"]
    assert (restored.id, restored.date) == (original.id, original.date)
    assert back.get("/articles/purani").status == 200
    assert ENTRY + "purani" in ids(back, "/feeds/all.atom")
    assert tombstones(back, "/feeds/all.atom") == []
    assert publisher.store.withdrawals() == {}


def test_a_file_restored_in_another_folder_is_the_same_article(site) -> None:
    folder, publisher, clock = site
    clock.now = datetime.now(UTC)
    text = "पुरानी ख़बर\n\nबिना तारीख़ की ख़बर।\n\nखेल\n"
    write(folder, "purani.txt", text, age=3600)
    publisher.refresh({"purani.txt"})
    original = publisher.library.articles["purani.txt"]
    (folder / "purani.txt").unlink()
    publisher.refresh({"purani.txt"})
    write(folder, "khel/purani.txt", text, age=1)
    back = publisher.refresh({"khel/purani.txt"})
    restored = publisher.library.articles["khel/purani.txt"]
    assert (restored.id, restored.date) == (original.id, original.date)
    assert back.get("/articles/purani").status == 200
    assert tombstones(back, "/feeds/all.atom") == []
    assert publisher.store.withdrawals() == {}


def test_a_moved_file_is_not_withdrawn(site) -> None:
    folder, publisher, _ = site
    (folder / "videsh").mkdir()
    (folder / "khel.md").rename(folder / "videsh" / "khel.md")
    after = publisher.refresh({"khel.md", "videsh/khel.md"})
    assert tombstones(after, "/feeds/all.atom") == [] and publisher.store.withdrawals() == {}
    assert after.get("/articles/khel").status == 200


def test_a_tombstone_leaves_after_tombstone_days(make_config, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    newsroom(folder)
    clock = Clock(START)
    cfg: Config = make_config(articles={"dir": str(folder)}, feeds={"tombstone_days": 0.5})
    publisher = Publisher(cfg, workers=1, clock=clock)
    try:
        publisher.rescan()
        (folder / "other.md").unlink()
        assert tombstones(publisher.refresh({"other.md"}), "/feeds/all.atom")
        assert publisher.expiries() == [START + timedelta(hours=12)]
        clock.now = START + timedelta(hours=11, minutes=59)
        assert tombstones(publisher.publish_due(), "/feeds/all.atom")
        clock.now = START + timedelta(hours=12)
        later = publisher.publish_due()
        assert tombstones(later, "/feeds/all.atom") == [] and publisher.expiries() == []
        assert later.get("/articles/other").status == 410  # the page stays gone
    finally:
        publisher.close()


def saved_then_deleted(make_config, tmp_path: Path) -> Config:
    """The newsroom built and saved by a process now stopped; then other.md deleted."""
    folder = tmp_path / "articles"
    newsroom(folder)
    cfg: Config = make_config(articles={"dir": str(folder)})
    first = Publisher(cfg, workers=1, clock=Clock(START))
    first.rescan()
    first.wait_saved()
    first.close()
    (folder / "other.md").unlink()
    return cfg


def test_a_restart_keeps_the_tombstones(make_config, tmp_path: Path) -> None:
    cfg = saved_then_deleted(make_config, tmp_path)  # seen at the next start
    second = Publisher(cfg, workers=1, clock=Clock(START))
    try:
        snapshot = second.rescan()
        assert [s[0] for s in tombstones(snapshot, "/feeds/all.atom")] == [ENTRY + "other"]
        second.wait_saved()
    finally:
        second.close()
    third = Publisher(cfg, workers=1, clock=Clock(START))  # nothing changed: the saved site
    try:
        assert tombstones(third.rescan(), "/feeds/all.atom") == tombstones(
            snapshot, "/feeds/all.atom"
        )
    finally:
        third.close()


def test_corrections_are_shown_first_and_move_updated_not_the_id(site) -> None:
    folder, publisher, _ = site
    before = publisher.library.articles["khel.md"]
    text = md(
        "हॉकी की जीत",
        ["खेल"],
        "2026-02-02",
        corrections=(
            '[{date: "2026-02-03T10:00:00", text: "स्कोर 4-1 था, 3-1 नहीं।"},'
            ' {date: "2026-02-05", text: "कप्तान का नाम ठीक किया गया।"}]'
        ),
    )
    write(folder, "khel.md", text, age=1)
    after = publisher.refresh({"khel.md"})
    entries = feedparser.parse(after.get("/feeds/tags/खेल.atom").body).entries
    [entry] = [e for e in entries if e.id == ENTRY + "khel"]
    assert entry.id == ENTRY + "khel" and entry.published == before.date.isoformat()
    assert entry.updated == "2026-02-05T00:00:00+05:30"  # the newest correction
    content = entry.content[0].value
    newest, older = (
        content.index("कप्तान का नाम ठीक किया गया।"),
        content.index("स्कोर 4-1 था, 3-1 नहीं।"),
    )
    assert newest < older < content.index("पाठ।")  # newest first, before the body
    assert "सुधार (5 फ़रवरी 2026):" in content
    items = json.loads(after.get("/feeds/tags/खेल.json").body)["items"]
    [item] = [i for i in items if i["id"] == ENTRY + "khel"]
    assert item["content_html"].startswith('<div class="corrections">')
    page = after.get("/articles/khel").body.decode()
    assert page.index("कप्तान का नाम") < page.index("<p>पाठ।</p>")


def test_plain_text_corrections_follow_the_tag_line(make_config) -> None:
    source = (
        "शीर्षक\n\nपहला अनुच्छेद।\n\nक, ख\nएक संबंधित ख़बर, जो चार शब्दों से लंबी है।\n"
        "सुधार: 2025-07-13 — आँकड़ा ठीक किया गया।\nसुधार: 14 जुलाई 2025 - नाम सुधारा गया।"
    )
    article = parse("x.txt", source, make_config())
    assert article.related == ("एक संबंधित ख़बर, जो चार शब्दों से लंबी है।",)
    assert [(c.date.day, c.text) for c in article.corrections] == [
        (14, "नाम सुधारा गया।"),
        (13, "आँकड़ा ठीक किया गया।"),
    ]


BAD: dict[str, tuple[str, str, int | None]] = {
    "list-withdrawn.md": (md("x", withdrawn="[a, b]"), "withdrawn must be the reason", 3),
    "number-withdrawn.md": (md("x", withdrawn="3"), "not int", 3),
    "corrections-text.md": (md("x", corrections='"ठीक किया"'), "must be a list", 3),
    "correction-shape.md": (md("x", corrections="[{date: 2025-01-02}]"), "a date and a text", 3),
    "correction-date.md": (
        md("x", corrections='[{date: "कल", text: "t"}]'),
        "cannot read date",
        3,
    ),
    "before.md": (
        md("x", date="2025-03-01", corrections='[{date: "2025-02-01", text: "t"}]'),
        "before the article's publication",
        4,
    ),
    "future.md": (
        md("x", date="2025-03-01", corrections='[{date: "2999-01-01", text: "t"}]'),
        "in the future",
        4,
    ),
    "many.md": (
        md(
            "x",
            date="2025-03-01",
            corrections="[" + ", ".join(['{date: "2025-03-02", text: t}'] * 10_000) + "]",
        ),
        "10000 corrections; at most 100",
        4,
    ),
    "huge-reason.md": (md("x", withdrawn='"' + "क" * 5_000_000 + '"'), "at most 500", 3),
    "bad-line.txt": ("शीर्षक\n\nपाठ।\n\nक, ख\nसुधार: बिना तारीख़ के", "सुधार: <date> — <text>", 6),
}


def test_bad_withdrawals_and_corrections_reject_only_their_file(
    make_config, tmp_path: Path
) -> None:
    folder = tmp_path / "articles"
    newsroom(folder)
    for name, (content, _, _) in BAD.items():
        write(folder, name, content)
    cfg: Config = make_config(articles={"dir": str(folder), "max_bytes": 16_000_000})
    publisher = Publisher(cfg, workers=1)
    try:
        snapshot = publisher.rescan()
        rejected = publisher.library.rejected
        for name, (_, reason, line) in BAD.items():
            assert name in rejected, name
            error = rejected[name]
            assert reason in error.reason and error.line == line, (name, error)
            assert len(str(error)) < 300, name  # the message, not the input
        assert len(publisher.library.articles) == 4
        assert len(ids(snapshot, "/feeds/all.atom")) == 4
    finally:
        publisher.close()


def test_parse_refuses_a_correction_before_publication_with_the_line(make_config) -> None:
    text = md("x", date="2025-03-01", corrections='[{date: "2025-01-01", text: "t"}]')
    with pytest.raises(ArticleError) as caught:
        parse("x.md", text, make_config())
    assert caught.value.line == 4


# Through the real server.


def newsroom_site(root: Path, more: str = "") -> tuple[Path, Path]:
    """The newsroom in root/articles and its config.toml (with `more` appended)."""
    newsroom(root / "articles")
    config = root / "config.toml"
    config.write_text(
        '[site]\nbase_url = "http://news.example"\nid_authority = "news.example"\n'
        "[schedule]\nsettle_ms = 50\n" + more
    )
    return root / "articles", config


def test_through_the_real_server_and_a_kill(tmp_path: Path) -> None:
    folder, config = newsroom_site(tmp_path)
    server = start(config)
    try:
        deleted = datetime.now(UTC).replace(microsecond=0)
        (folder / "khel.md").unlink()
        wait_for(lambda: server.request("/articles/khel").status == 410, timeout=5)
        seen = datetime.now(UTC)

        def stones(path: str = "/feeds/all.atom") -> list[str | None]:
            root = etree.fromstring(server.request(path).body)
            return [d.get("ref") for d in root.iter(f"{AT}deleted-entry")]

        wait_for(lambda: stones() == [ENTRY + "khel"], timeout=5)
        assert stones("/feeds/tags/खेल.atom") == [ENTRY + "khel"]
        for path in ("/feeds/all.atom", "/feeds/tags/खेल.atom"):
            [when] = [w for _, w, _ in tombstones_of(server.request(path).body)]
            assert when is not None and deleted <= datetime.fromisoformat(when) <= seen, path
            assert when.endswith("+05:30")  # the site's time zone, as every date it writes
        assert server.request("/articles/khel").body.decode().count("वापस ले लिया गया") >= 1
        parsed = feedparser.parse(server.request("/feeds/all.atom").body)
        assert not parsed.bozo and len(parsed.entries) == 3  # readers ignore the element
        # kill -9 right after the change: the tombstone is still served after a restart
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        server = start(config)
        assert stones() == [ENTRY + "khel"]
        assert server.request("/articles/khel").status == 410
    finally:
        server.stop()


def test_a_tombstone_leaves_the_served_feed_on_time(tmp_path: Path) -> None:
    folder, config = newsroom_site(tmp_path, "[feeds]\ntombstone_days = 0.00003\n")  # 2.6 s
    server = start(config)
    try:
        (folder / "other.md").unlink()

        def body() -> bytes:
            return server.request("/feeds/all.atom").body

        wait_for(lambda: b"deleted-entry" in body(), timeout=5)
        wait_for(lambda: b"deleted-entry" not in body(), timeout=15)
        assert server.request("/articles/other").status == 410
    finally:
        assert server.stop() == 0


def test_reader_reads_a_feed_with_tombstones_and_corrections(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    newsroom(folder)
    text = md(
        "हॉकी की जीत",
        ["खेल"],
        "2026-02-02",
        corrections='[{date: "2026-02-03", text: "नाम ठीक किया गया।"}]',
    )
    write(folder, "khel.md", text)
    (tmp_path / "config.toml").write_text('[site]\nid_authority = "news.example"\n')
    server = start(tmp_path / "config.toml")
    try:
        (folder / "other.md").unlink()
        wait_for(lambda: b"deleted-entry" in server.request("/feeds/all.atom").body, timeout=5)
        url = f"http://127.0.0.1:{server.port}/feeds/all.atom"
        with subscribed(tmp_path / "reader.sqlite", url) as reader:
            entries = {e.title: e for e in reader.get_entries()}
        assert set(entries) == {"रेल किराया", "मेट्रो", "हॉकी की जीत"}
        assert "नाम ठीक किया गया।" in entries["हॉकी की जीत"].content[0].value
    finally:
        assert server.stop() == 0


def test_a_file_deleted_while_stopped_across_an_upgrade_is_withdrawn(
    make_config, tmp_path: Path
) -> None:
    cfg = saved_then_deleted(make_config, tmp_path)
    upgraded = Publisher(cfg.replace(site={"title": "नया नाम"}), workers=1, clock=Clock(START))
    try:  # new settings: the saved articles are not where the library starts
        snapshot = upgraded.rescan()
        assert snapshot.get("/articles/other").status == 410
        assert [s[0] for s in tombstones(snapshot, "/feeds/all.atom")] == [ENTRY + "other"]
    finally:
        upgraded.close()


def test_a_folder_that_cannot_be_listed_withdraws_nothing(site, monkeypatch) -> None:
    import os as real_os

    folder, publisher, _ = site
    scandir = real_os.scandir

    def refusing(path: Any) -> Any:
        if str(path).endswith("desh"):
            raise PermissionError(13, "Permission denied")
        return scandir(path)

    monkeypatch.setattr("feedsvc.articles.os.scandir", refusing)
    snapshot = publisher.rescan()
    assert publisher.store.withdrawals() == {} and tombstones(snapshot, "/feeds/all.atom") == []
    assert snapshot.get("/articles/desh/rail").status == 200  # kept as it was
    assert any("cannot list folder" in r for r in snapshot.health.rejected)


def test_a_withdrawn_file_does_not_take_back_an_id_another_file_publishes(site) -> None:
    folder, publisher, _ = site
    text = md("हॉकी की जीत", ["खेल"], "2026-02-02", withdrawn='"पुराना संस्करण"', id="khel")
    write(folder, "old/khel.md", text)
    snapshot = publisher.refresh({"old/khel.md"})
    assert snapshot.get("/articles/khel").status == 200
    assert publisher.store.withdrawals() == {} and tombstones(snapshot, "/feeds/all.atom") == []
    assert publisher.rescan().get("/articles/khel").status == 200  # and stays so


def test_a_file_withdrawn_before_it_was_ever_published_tells_nothing(site) -> None:
    folder, publisher, _ = site
    text = md("गुप्त ख़बर", ["खेल"], "2099-01-01", withdrawn='"प्रतिबंध"')
    write(folder, "embargo.md", text)
    snapshot = publisher.refresh({"embargo.md"})
    assert snapshot.get("/articles/embargo") is None  # no 410 giving its title away
    assert publisher.store.withdrawals() == {}

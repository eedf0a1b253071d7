"""Subscriber counts (SPEC §14): what a User-Agent says, the daily estimates, privacy,
access logs read incrementally (rotation, truncation, cut lines), `feedsvc stats`."""

from __future__ import annotations

import json
import os
import subprocess
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feedsvc import stats
from feedsvc.stats import Counts, Poll, classify, parse_line, topic_of

from .server import feedsvc

IST = ZoneInfo("Asia/Kolkata")
DAY = datetime(2026, 12, 7, 9, 0, tzinfo=IST)
FEEDLY = (
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; like FeedFetcher-Google)"
)
INOREADER = "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; {n} subscribers; )"


@pytest.mark.parametrize(
    ("agent", "kind", "name", "count"),
    [
        (FEEDLY.format(n=131), "aggregator", "Feedly", 131),
        (INOREADER.format(n=12), "aggregator", "Inoreader", 12),
        (
            "NewsBlur Feed Fetcher - 44 subscribers - http://www.newsblur.com/site/1/x",
            "aggregator",
            "NewsBlur Feed Fetcher",
            44,
        ),
        ("Feedbin feed-id:123 - 7 subscribers", "aggregator", "Feedbin", 7),
        (
            "The Old Reader (+https://theoldreader.com/; 3 readers)",
            "aggregator",
            "The Old Reader",
            3,
        ),
        ("Tiny Tiny RSS/22.08 (Unsupported) (https://tt-rss.org/)", "reader", "Tiny Tiny RSS", 0),
        (
            "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 1,204 subscribers; )",
            "aggregator",
            "Inoreader",
            1204,
        ),
        ("Mozilla/5.0 (X11) NetNewsWire/6.1", "reader", "Mozilla", 0),
        ("x 1000000000000000000000000000000 subscribers", "reader", "x", 0),  # not believed
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "crawler", "Googlebot", 0),
        ("facebookexternalhit/1.1", "crawler", "facebookexternalhit", 0),
        (
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "crawler",
            "Slackbot-LinkExpanding",
            0,
        ),
        ("TelegramBot (like TwitterBot)", "crawler", "TelegramBot", 0),
        ("WhatsApp/2.23.20.0", "crawler", "WhatsApp", 0),
        ("Twitterbot/1.0", "crawler", "Twitterbot", 0),
        ("", "reader", "?", 0),
    ],
)
def test_what_a_user_agent_says(agent: str, kind: str, name: str, count: int) -> None:
    client = classify(agent)
    assert (client.kind, client.name, client.subscribers) == (kind, name, count)
    if kind == "aggregator":
        assert str(count) not in client.fetcher and "N" in client.fetcher


@pytest.mark.parametrize(
    "agent", ["\x00\x1b[31m" * 1000, "\udcff\udcfe", "🙂 " * 50_000, "1" * 100 + " readers"]
)
def test_hostile_user_agents_are_counted_as_readers(agent: str) -> None:
    client = classify(agent)
    assert client.kind == "reader" and len(client.name) <= 60


def test_a_megabyte_user_agent_is_classified_from_its_start() -> None:
    assert classify("a" * 1_000_000 + " 5 subscribers").kind == "reader"  # past AGENT_MAX
    assert classify(FEEDLY.format(n=9) + "x" * 1_000_000).subscribers == 9


@pytest.mark.parametrize(
    ("path", "topic"),
    [
        ("/feeds/all.atom", "all"),
        ("/feeds/all.json", "all"),
        ("/feeds/tags/trump.rss", "tags/trump"),
        ("/feeds/tags/उत्तर-कोरिया.atom", "tags/उत्तर-कोरिया"),
        ("/feeds/sections/shahar/lucknow.atom", "sections/shahar/lucknow"),
        ("/feeds/authors/reena.json", "authors/reena"),
        ("/feeds/archive/all/1.atom", None),
        ("/feeds.opml", None),
        ("/articles/x", None),
        ("/feeds/tags/.atom", None),
        ("/feeds/other/x.atom", None),
        ("/feeds/tags/x.xml", None),
    ],
)
def test_only_subscription_documents_have_a_topic(path: str, topic: str | None) -> None:
    assert topic_of(path) == topic


def poll(
    when: datetime,
    agent: str,
    address: str = "203.0.113.9",
    path: str = "/feeds/all.atom",
    status: int = 200,
) -> Poll:
    return Poll(when, path, status, agent, address)


@pytest.fixture
def counts(tmp_path: Path):
    found = Counts(tmp_path / "stats.sqlite3", IST, keep_days=400)
    yield found
    found.close()


def test_the_daily_estimate(counts: Counts) -> None:
    today, week, month = DAY, DAY - timedelta(days=7), DAY - timedelta(days=30)
    counts.record(
        [
            poll(today, FEEDLY.format(n=131)),
            poll(today + timedelta(hours=3), FEEDLY.format(n=140)),  # the day's largest
            poll(today, INOREADER.format(n=12)),
            poll(today, "NetNewsWire/6.1", "198.51.100.1"),
            poll(today + timedelta(hours=1), "NetNewsWire/6.1", "198.51.100.1", status=304),
            poll(today, "NetNewsWire/6.1", "198.51.100.2"),  # another reader
            poll(today, "Reeder/5.0", "198.51.100.1"),  # another app, same address
            poll(today, "Googlebot/2.1"),  # apart
            poll(today, FEEDLY.format(n=999), status=404),  # not a feed response
            poll(today, FEEDLY.format(n=999), path="/feeds/archive/all/1.atom"),  # not counted
            poll(today, FEEDLY.format(n=5), path="/feeds/tags/trump.rss"),
            poll(week, FEEDLY.format(n=100)),
            poll(month, INOREADER.format(n=10)),
            poll(month, "NetNewsWire/6.1"),
        ]
    )
    report = counts.report(today.date())
    assert report.to_json() == {
        "day": "2026-12-07",
        "topics": [
            {
                "topic": "all",
                "today": 140 + 12 + 3,
                "days_7_ago": 100,
                "days_30_ago": 11,
                "aggregators": [
                    {"name": "Feedly", "subscribers": 140},
                    {"name": "Inoreader", "subscribers": 12},
                ],
            },
            {
                "topic": "tags/trump",
                "today": 5,
                "days_7_ago": 0,
                "days_30_ago": 0,
                "aggregators": [{"name": "Feedly", "subscribers": 5}],
            },
        ],
    }
    assert counts.crawler_polls("all", today.date()) == 1
    hour = int(today.timestamp()) // 3600
    assert counts.hourly("all", hour, hour + 1)[hour] == (6, 0)  # (200s, 304s)
    assert counts.hourly("all", hour, hour + 1)[hour + 1] == (0, 1)


def test_two_fetchers_of_one_aggregator_are_summed(counts: Counts) -> None:
    counts.record(
        [
            poll(DAY, "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 10 subscribers; )"),
            poll(DAY, "FeedlyBot/1.0 (http://feedly.com; 7 subscribers)"),
        ]
    )
    assert counts.report(DAY.date()).topics[0].today == 17


def test_days_are_in_the_site_time_zone(counts: Counts) -> None:
    late = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)  # 00:30 on the 7th in India
    counts.record([poll(late, FEEDLY.format(n=3))])
    assert counts.series(date(2026, 12, 6), date(2026, 12, 7))["all"] == {
        date(2026, 12, 6): 0,
        date(2026, 12, 7): 3,
    }


def test_no_address_is_stored_and_keys_change_every_day(counts: Counts, tmp_path: Path) -> None:
    address = "203.0.113.77"
    counts.record(
        [
            poll(DAY, "NetNewsWire/6.1", address),
            poll(DAY + timedelta(days=1), "NetNewsWire/6.1", address),
        ]
    )
    counts.close()
    stored = (tmp_path / "stats.sqlite3").read_bytes()
    assert address.encode() not in stored and b"NetNewsWire" not in stored
    again = Counts(tmp_path / "stats.sqlite3", IST)
    try:
        pairs = again._db.execute("SELECT day, pair FROM readers ORDER BY day").fetchall()
        assert len(pairs) == 2 and pairs[0][1] != pairs[1][1]  # not linkable across days
        again.prune(DAY.date() + timedelta(days=5))
        assert again._db.execute("SELECT count(*) FROM keys").fetchone()[0] == 0
        assert again.report(DAY.date()).topics[0].today == 1  # the counts stay
    finally:
        again.close()


def test_counts_older_than_keep_days_go(tmp_path: Path) -> None:
    counts = Counts(tmp_path / "s.sqlite3", IST, keep_days=31)
    try:
        counts.record(
            [poll(DAY - timedelta(days=40), FEEDLY.format(n=4)), poll(DAY, FEEDLY.format(n=2))]
        )
        counts.prune(DAY.date())
        series = counts.series(DAY.date() - timedelta(days=40), DAY.date())["all"]
        assert sum(series.values()) == 2
    finally:
        counts.close()


def line(
    when: datetime,
    agent: str,
    path: str = "/feeds/all.atom",
    status: int = 200,
    address: str = "203.0.113.5",
) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{address} - - [{stamp}] "GET {path} HTTP/1.1" {status} 512 "-" "{agent}"\n'


def test_a_combined_line_is_parsed_and_anything_else_is_not() -> None:
    got = parse_line(
        line(DAY, FEEDLY.format(n=3), "/feeds/tags/%E0%A4%96%E0%A5%87%E0%A4%B2.atom?x=1")
    )
    assert got is not None and got.path == "/feeds/tags/खेल.atom" and got.status == 200
    assert got.when == DAY
    for bad in (
        "",
        "garbage",
        line(DAY, "x")[:40],  # cut
        '203.0.113.5 - - [07/Dec/2026:09:00:00 +0530] "POST /feeds/all.atom HTTP/1.1" 200 1 "-" "x"',
        '203.0.113.5 - - [99/Foo/2026:99:00:00 +0530] "GET /feeds/all.atom HTTP/1.1" 200 1 "-" "x"',
        '{"remote_addr": "203.0.113.5", "request": "GET /feeds/all.atom"}',  # another format
    ):
        assert parse_line(bad) is None


def test_logs_are_read_incrementally_through_rotation_and_truncation(
    counts: Counts, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_text(line(DAY, FEEDLY.format(n=10)) + "garbage line\n" + line(DAY, "NetNewsWire/6.1"))
    first = counts.read_log(log)
    assert (first.lines, first.counted, first.skipped) == (3, 2, 1)
    assert counts.read_log(log).lines == 0  # nothing new: nothing counted twice
    with log.open("a") as fh:  # a line being written: left for the next read
        fh.write(line(DAY, FEEDLY.format(n=20)) + line(DAY, INOREADER.format(n=4))[:30])
    assert counts.read_log(log).counted == 1
    with log.open("a") as fh:
        fh.write(line(DAY, INOREADER.format(n=4))[30:])
    assert counts.read_log(log).counted == 1
    log.rename(tmp_path / "access.log.1")  # rotation: the old file, then a new one
    with (tmp_path / "access.log.1").open("a") as fh:
        fh.write(line(DAY, "Reeder/5", address="198.51.100.9"))
    log.write_text(line(DAY, FEEDLY.format(n=30)))
    assert counts.read_log(tmp_path / "access.log.1").counted == 1
    assert counts.read_log(log).counted == 1
    log.write_text(line(DAY, "Reeder/5", address="198.51.100.10"))  # truncated, rewritten
    assert counts.read_log(log).counted == 1
    [topic] = counts.report(DAY.date()).topics
    assert topic.today == 30 + 4 + 3  # Feedly's largest, Inoreader, three readers
    gone = counts.read_log(tmp_path / "vanished.log")
    assert gone.problem and gone.lines == 0


def test_the_stats_command_reads_logs_and_prints_json(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[site]\nid_authority = "news.example"\n')
    log = tmp_path / "access.log"
    now = datetime.now(IST)
    log.write_text(
        line(now, FEEDLY.format(n=131))
        + line(now - timedelta(days=7), FEEDLY.format(n=120))
        + line(now, INOREADER.format(n=2), "/feeds/tags/खेल.rss")
        + line(now, "Googlebot/2.1")
        + "\x00\xff not a line\n"
    )
    command = feedsvc(
        "stats", "--config", str(tmp_path / "config.toml"), "--access-log", str(log), "--json"
    )
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "4 feed polls counted, 1 not in nginx's combined format" in result.stderr
    data = json.loads(result.stdout)
    assert data["day"] == now.date().isoformat()
    assert data["topics"] == [
        {
            "topic": "all",
            "today": 131,
            "days_7_ago": 120,
            "days_30_ago": 0,
            "aggregators": [{"name": "Feedly", "subscribers": 131}],
        },
        {
            "topic": "tags/खेल",
            "today": 2,
            "days_7_ago": 0,
            "days_30_ago": 0,
            "aggregators": [{"name": "Inoreader", "subscribers": 2}],
        },
    ]
    again = subprocess.run(command, capture_output=True, text=True)  # nothing new in the log
    assert json.loads(again.stdout) == data and "0 new lines" in again.stderr
    table = subprocess.run(
        feedsvc("stats", "--config", str(tmp_path / "config.toml")), capture_output=True, text=True
    )
    assert table.returncode == 0 and "Feedly 131" in table.stdout


def test_a_log_many_chunks_long_is_read_in_flat_memory(
    counts: Counts, tmp_path: Path, monkeypatch
) -> None:
    """Not timed (benchmarks/stats_log.py times it): memory held while reading stays
    near one chunk's worth, not the file's."""
    monkeypatch.setattr(stats, "CHUNK", 64 << 10)
    log = tmp_path / "big.log"
    with log.open("w") as fh:
        for n in range(20_000):
            fh.write(
                line(
                    DAY + timedelta(seconds=n), FEEDLY.format(n=n % 50), address=f"10.0.{n % 250}.1"
                )
            )
    size = os.path.getsize(log)
    assert size > 50 * stats.CHUNK
    tracemalloc.start()
    try:
        read = counts.read_log(log)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (read.lines, read.counted, read.skipped) == (20_000, 20_000, 0)
    assert peak < size / 4, (peak, size)


def test_odd_and_endless_lines_are_skipped_never_fatal(counts: Counts, tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    far = '203.0.113.5 - - [31/Dec/9999:23:59:59 -1200] "GET /feeds/all.atom HTTP/1.1" 200 1 "-" "x"\n'
    log.write_text(far + line(DAY, FEEDLY.format(n=3)))
    read = counts.read_log(log)
    assert (read.counted, read.skipped) == (1, 1)
    endless = tmp_path / "endless.log"
    endless.write_bytes(b"x" * (5 << 20))  # no newline at all: not kept whole in memory
    read = counts.read_log(endless)
    assert read.counted == 0 and read.skipped >= 1 and not read.problem
    with endless.open("ab") as fh:
        fh.write(b"\n" + line(DAY, INOREADER.format(n=2)).encode())
    assert counts.read_log(endless).counted == 1


def test_a_day_whose_key_is_gone_adds_no_readers_twice(counts: Counts) -> None:
    old = datetime.now(IST) - timedelta(days=5)
    counts.record([poll(old, "NetNewsWire/6.1", "198.51.100.1")])  # a first read: counted
    counts.prune(datetime.now(IST).date())  # its key goes after two days
    counts.record([poll(old, "NetNewsWire/6.1", "198.51.100.1"), poll(old, FEEDLY.format(n=4))])
    assert counts.series(old.date(), old.date())["all"][old.date()] == 1 + 4

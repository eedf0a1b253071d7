"""Subscriber counts per feed topic and day (SPEC §14), from feedsvc's own feed
responses and from nginx access logs, kept in a SQLite file of their own beside the
state file.

The estimate for a topic and a day: for each aggregator fetcher (its User-Agent with
the number taken out) the largest count it stated that day, summed; plus one for each
distinct (client address, User-Agent) pair that polled without stating one. Crawlers
and link previewers are counted apart. No address is stored: a pair is kept as a
keyed hash whose key is made for its day and dropped two days later, so pairs of
different days cannot be linked.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from .batches import Batched
from .config import Config
from .store import open_database
from .topics import requested

log = logging.getLogger("feedsvc")

COUNT_MAX = 10_000_000  # a stated count above this is not believed
AGENT_MAX = 300  # characters of a User-Agent kept as a fetcher's name
KEY_DAYS = 2  # a day's hash key is kept this long after it (logs arrive late)
# A count: digits (thousands may be grouped with commas), not the end of another number
# ("10^30", "1.5") nor of a word.
_COUNT = re.compile(
    r"(?<![\w^.,])(\d{1,3}(?:,\d{3})+|\d{1,40})\s*(?:subscribers?|readers?)\b", re.IGNORECASE
)
_CRAWLERS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|facebookexternalhit|facebot|embedly|iframely|"
    r"preview|whatsapp|telegram|discord|skypeuri|pinterest|bingpreview|"
    r"google-inspectiontool|headlesschrome|curl/|wget/|python-requests|go-http-client",
    re.IGNORECASE,
)
_NAME = re.compile(r"[^/(;]*")  # the product's name comes before its version or comment
_IDENTIFIER = re.compile(r"[\d:=]")  # "Feedbin feed-id:1": the name ends before it

# Keyed by topic first: every question is about one topic over a span of days.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (day TEXT PRIMARY KEY, key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS fetchers (
    day TEXT NOT NULL, topic TEXT NOT NULL, fetcher TEXT NOT NULL, name TEXT NOT NULL,
    subscribers INTEGER NOT NULL, PRIMARY KEY (topic, day, fetcher)
);
CREATE TABLE IF NOT EXISTS readers (
    day TEXT NOT NULL, topic TEXT NOT NULL, pair BLOB NOT NULL,
    PRIMARY KEY (topic, day, pair)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crawlers (
    day TEXT NOT NULL, topic TEXT NOT NULL, name TEXT NOT NULL, polls INTEGER NOT NULL,
    PRIMARY KEY (topic, day, name)
);
CREATE TABLE IF NOT EXISTS polls (
    hour INTEGER NOT NULL, topic TEXT NOT NULL, fresh INTEGER NOT NULL,
    unchanged INTEGER NOT NULL, PRIMARY KEY (hour, topic)
);
CREATE TABLE IF NOT EXISTS logs (
    device INTEGER NOT NULL, inode INTEGER NOT NULL, offset INTEGER NOT NULL,
    skipped INTEGER NOT NULL, PRIMARY KEY (device, inode)
);
"""


# --- decisions: pure ------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """What a User-Agent says of the client behind it."""

    kind: str  # "aggregator" (states a count), "crawler", or "reader"
    name: str  # its product token: "Feedly"
    fetcher: str = ""  # an aggregator's User-Agent with its number taken out
    subscribers: int = 0


def classify(user_agent: str) -> Client:
    """An aggregator states `<N> subscribers` (or readers): its fetcher is the agent
    with the number taken out; a count past COUNT_MAX is not believed (the client is
    then a reader). Known crawlers and link previewers are counted apart."""
    return _classify(user_agent[:AGENT_MAX])  # the memo keys are short, whatever comes


@functools.lru_cache(maxsize=4096)  # a few distinct agents poll a site
def _classify(agent: str) -> Client:
    name = product_name(agent)
    found = _COUNT.search(agent)
    count = int(found.group(1).replace(",", "")) if found is not None else COUNT_MAX + 1
    if found is not None and count <= COUNT_MAX:
        fetcher = agent[: found.start(1)] + "N" + agent[found.end(1) :]
        return Client("aggregator", name, fetcher, count)
    if _CRAWLERS.search(agent):
        return Client("crawler", name)
    return Client("reader", name)


def product_name(agent: str) -> str:
    """`Feedly/1.0 (...)` -> Feedly, `The Old Reader (+https://...)` -> The Old Reader,
    `Feedbin feed-id:1 - 7 subscribers` -> Feedbin: the name before its version, its
    comment, an identifier or a ` - `."""
    head = _NAME.match(agent)
    words = (head.group(0).split(" - ")[0] if head else "").split()
    kept = itertools.takewhile(lambda word: not _IDENTIFIER.search(word), words)
    return " ".join(kept)[:60] or "?"


@functools.lru_cache(maxsize=16_384)
def topic_of(path: str) -> str | None:
    """The feed topic of a subscription document's path ("all", "tags/<slug>",
    "sections/<slug-path>", "authors/<slug>"); None for anything else (archives too)."""
    found = requested(path)
    if found is None or not found.fmt or found.slug.strip("/") != found.slug:
        return None
    return f"{found.kind.segment}/{found.slug}" if found.kind is not None else "all"


@dataclass(frozen=True)
class Poll:
    """One feed response: when, which document, its status, who asked."""

    when: datetime  # aware
    path: str  # as served (decoded)
    status: int
    user_agent: str
    address: str


@dataclass
class Tally:
    """Polls counted, before they are written: the same shape as the tables."""

    fetchers: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)
    readers: set[tuple[str, str, bytes]] = field(default_factory=set)
    crawlers: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    polls: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # [200s, 304s]
    counted: int = 0
    days: dict[int, str] = field(default_factory=dict)  # quarter hour -> its local day

    def add(
        self, poll: Poll, tz: tzinfo, key: Callable[[str], bytes | None], times: int = 1
    ) -> bool:
        """Count one poll (`times` alike); False when it is not a counted one (another
        path, another status)."""
        topic = topic_of(poll.path)
        if topic is None or poll.status not in (200, 304):
            return False
        stamp = int(poll.when.timestamp())
        hour, quarter = stamp // 3600, stamp // 900  # every zone's offset is whole quarters
        day = self.days.get(quarter)
        if day is None:
            day = self.days[quarter] = poll.when.astimezone(tz).date().isoformat()
        shares = self.polls.setdefault((hour, topic), [0, 0])
        shares[poll.status == 304] += times
        client = classify(poll.user_agent)
        if client.kind == "aggregator":
            known = self.fetchers.get((day, topic, client.fetcher))
            if known is None or known[1] < client.subscribers:
                self.fetchers[(day, topic, client.fetcher)] = (client.name, client.subscribers)
        elif client.kind == "crawler":
            self.crawlers[(day, topic, client.name)] += times
        elif (secret := key(day)) is not None:  # else that day's readers are counted
            pair = f"{poll.address}\0{poll.user_agent}".encode("utf-8", "replace")
            digest = hashlib.blake2b(pair, key=secret, digest_size=8).digest()
            self.readers.add((day, topic, digest))
        self.counted += times
        return True


# --- nginx access logs -----------------------------------------------------------------

# combined: $remote_addr - $remote_user [$time_local] "$request" $status
# $body_bytes_sent "$http_referer" "$http_user_agent" (nginx escapes " in them)
_LINE = re.compile(
    r'(?P<address>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<target>\S+)'
    r'[^"]*" (?P<status>\d{3}) \S+ "[^"]*" "(?P<agent>[^"]*)"'
)


_MONTHS = {m: n for n, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


@functools.lru_cache(maxsize=64)
def _zone(offset: str) -> timezone:
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))


def _log_time(stamp: str) -> datetime:
    """nginx's $time_local, `07/Dec/2026:10:00:00 +0530`, read by position: strptime
    would be most of the cost of reading a log, and depends on the locale for %b."""
    if len(stamp) != 26 or stamp[2] != "/" or stamp[6] != "/" or stamp[20] != " ":
        raise ValueError(stamp)
    if not "1970" <= stamp[7:11] <= "9998":  # else no local day can be taken of it
        raise ValueError(stamp)
    month = _MONTHS.get(stamp[3:6])
    if month is None or stamp[21] not in "+-":
        raise ValueError(stamp)
    return datetime(
        int(stamp[7:11]),
        month,
        int(stamp[0:2]),
        int(stamp[12:14]),
        int(stamp[15:17]),
        int(stamp[18:20]),
        tzinfo=_zone(stamp[21:26]),
    )


def parse_line(line: str) -> Poll | None:
    """A GET or HEAD in nginx's combined format; None for a line it is not."""
    found = _LINE.match(line)
    if found is None or found["method"] not in ("GET", "HEAD"):
        return None
    try:
        when = _log_time(found["time"])
    except ValueError:
        return None
    target = found["target"].split("?", 1)[0]
    path = unquote(target, errors="replace") if "%" in target else target
    return Poll(when, path, int(found["status"]), found["agent"], found["address"])


@dataclass(frozen=True)
class LogRead:
    """What reading one access log gave."""

    lines: int = 0  # read this time (complete lines)
    counted: int = 0  # feed polls among them
    skipped: int = 0  # lines that were not nginx's combined format
    problem: str = ""  # the file could not be read (vanished, say)


CHUNK = 4 << 20  # bytes read at a time: memory stays flat whatever the log's size


# --- the counts file ---------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregator:
    name: str
    subscribers: int


@dataclass(frozen=True)
class TopicCounts:
    """A topic's estimates: today, 7 and 30 days before, the largest aggregators."""

    topic: str
    today: int
    days_7_ago: int
    days_30_ago: int
    aggregators: tuple[Aggregator, ...]


@dataclass(frozen=True)
class Report:
    day: date
    topics: tuple[TopicCounts, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "topics": [
                {
                    "topic": t.topic,
                    "today": t.today,
                    "days_7_ago": t.days_7_ago,
                    "days_30_ago": t.days_30_ago,
                    "aggregators": [
                        {"name": a.name, "subscribers": a.subscribers} for a in t.aggregators
                    ],
                }
                for t in self.topics
            ],
        }


class Counts:
    """The counts file. One connection, used under a lock: the recorder's thread
    writes, the dashboard's threads read."""

    def __init__(
        self,
        path: Path | None,
        tz: tzinfo,
        keep_days: int = 400,
        clock: Callable[[], float] = time.time,  # epoch seconds: what "today" is
    ) -> None:
        self.tz = tz
        self.clock = clock
        self.keep_days = keep_days
        self._db = open_database(path, _SCHEMA)
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}

    @classmethod
    def beside(cls, cfg: Config, clock: Callable[[], float] = time.time) -> Counts:
        """The counts file beside the state file."""
        path = cfg.state_path.with_name(cfg.state_path.stem + "-stats.sqlite3")
        return cls(path, cfg.tzinfo, cfg.stats.keep_days, clock)

    def today(self) -> date:
        """The site's day now."""
        return datetime.fromtimestamp(self.clock(), self.tz).date()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: what it counts is written whole or not at
        all (a log's counts with its new offset)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._keys.clear()  # a key made in it was never kept
                raise
            self._db.execute("COMMIT")

    def key(self, day: str) -> bytes | None:
        """The day's hash key, made when first needed (under the lock). None for a day
        whose key is gone but whose readers were counted: pairs counted with the old
        key cannot be told from new ones, so that day's late lines add no readers. A
        day never counted (a month of logs read for the first time) gets a key."""
        found = self._keys.get(day)
        if found is None:
            row = self._db.execute("SELECT key FROM keys WHERE day = ?", (day,)).fetchone()
            if row is not None:
                found = row[0]
            elif day < self._oldest_key() and self._counted(day):
                found = b""
            else:
                found = secrets.token_bytes(32)
                self._db.execute("INSERT INTO keys VALUES (?, ?)", (day, found))
            self._keys[day] = found
        return found or None

    def _counted(self, day: str) -> bool:
        query = "SELECT 1 FROM readers WHERE day = ? LIMIT 1"
        return self._db.execute(query, (day,)).fetchone() is not None

    def _oldest_key(self) -> str:
        return (self.today() - timedelta(days=KEY_DAYS)).isoformat()

    def record(self, polls: Iterable[Poll] | Mapping[Poll, int]) -> int:
        """Count these polls (or each of these so many times); the number counted."""
        times = polls if isinstance(polls, Mapping) else Counter(polls)
        with self._writing():
            return self._count(times.items())

    def _count(self, polls: Iterable[tuple[Poll, int]]) -> int:
        """Count each poll so many times, in the open transaction; the number counted.
        (Log lines are given one by one: grouping them first costs more than it saves.)"""
        tally = Tally()
        for poll, n in polls:
            tally.add(poll, self.tz, self.key, n)
        db = self._db
        db.executemany(
            "INSERT INTO fetchers VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " subscribers = max(subscribers, excluded.subscribers)",
            [(d, t, f, name, n) for (d, t, f), (name, n) in tally.fetchers.items()],
        )
        db.executemany("INSERT OR IGNORE INTO readers VALUES (?, ?, ?)", list(tally.readers))
        db.executemany(
            "INSERT INTO crawlers VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " polls = polls + excluded.polls",
            [(d, t, n, c) for (d, t, n), c in tally.crawlers.items()],
        )
        db.executemany(
            "INSERT INTO polls VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " fresh = fresh + excluded.fresh, unchanged = unchanged + excluded.unchanged",
            [(h, t, fresh, same) for (h, t), (fresh, same) in tally.polls.items()],
        )
        return tally.counted

    def prune(self, today: date) -> None:
        """Counts older than keep_days go; keys older than KEY_DAYS go."""
        oldest = (today - timedelta(days=self.keep_days)).isoformat()
        hours = int(datetime.combine(today, datetime.min.time(), self.tz).timestamp()) // 3600
        with self._writing():
            for table in ("fetchers", "readers", "crawlers"):
                self._db.execute(f"DELETE FROM {table} WHERE day < ?", (oldest,))
            self._db.execute("DELETE FROM polls WHERE hour < ?", (hours - 24 * self.keep_days,))
            old_keys = (today - timedelta(days=KEY_DAYS)).isoformat()
            self._db.execute("DELETE FROM keys WHERE day < ?", (old_keys,))
            self._keys = {d: k for d, k in self._keys.items() if d >= old_keys}

    # -- reading logs -------------------------------------------------------------------

    def read_log(self, path: Path) -> LogRead:
        """The lines added since the last read (by inode: a rotated file is another
        file; a file shorter than what was read was truncated: read from its start).
        Each chunk's counts and the new offset are written together: every line is
        counted once, even when reading stops halfway."""
        try:
            with path.open("rb") as fh:
                info = os.fstat(fh.fileno())
                where = (info.st_dev, info.st_ino)
                offset, skipped_before = self._offset(where)
                if info.st_size < offset:
                    offset = skipped_before = 0  # truncated
                fh.seek(offset)
                return self._read_from(fh, where, offset, skipped_before)
        except OSError as exc:
            return LogRead(problem=exc.strerror or str(exc))

    def _offset(self, where: tuple[int, int]) -> tuple[int, int]:
        with self._lock:
            row = self._db.execute(
                "SELECT offset, skipped FROM logs WHERE device = ? AND inode = ?", where
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _read_from(
        self, fh: BinaryIO, where: tuple[int, int], offset: int, skipped: int
    ) -> LogRead:
        lines = counted = bad = 0
        for chunk_lines, consumed in _complete_lines(fh):
            polls = []
            for raw in chunk_lines:
                poll = parse_line(raw.decode("utf-8", "replace"))
                if poll is None:
                    bad += 1 if raw.strip() else 0
                else:
                    polls.append(poll)
            lines += len(chunk_lines)
            offset += consumed
            with self._writing():
                counted += self._count((poll, 1) for poll in polls)
                self._db.execute(
                    "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?)",
                    (*where, offset, skipped + bad),
                )
        return LogRead(lines=lines, counted=counted, skipped=bad)

    # -- estimates ----------------------------------------------------------------------

    def series(self, first: date, last: date) -> dict[str, dict[date, int]]:
        """Every topic counted in the span, the most read on `last` first (then by
        name): the estimate of each of its days (0 for a day with none)."""
        span = (first.isoformat(), last.isoformat())
        found: dict[str, Counter[date]] = defaultdict(Counter)
        with self._lock:
            for query in (
                "SELECT topic, day, sum(subscribers) FROM fetchers WHERE day BETWEEN ? AND ?"
                " GROUP BY topic, day",
                "SELECT topic, day, count(*) FROM readers WHERE day BETWEEN ? AND ?"
                " GROUP BY topic, day",
            ):
                for topic, day, total in self._db.execute(query, span):
                    found[topic][date.fromisoformat(day)] += int(total)
        days = [first + timedelta(n) for n in range((last - first).days + 1)]
        ordered = sorted(found, key=lambda topic: (-found[topic][last], topic))
        return {topic: {day: found[topic][day] for day in days} for topic in ordered}

    def aggregators(self, topic: str, day: date, most: int = 5) -> tuple[Aggregator, ...]:
        """The largest aggregators of a topic on a day, by name (their fetchers summed)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, sum(subscribers) AS n FROM fetchers WHERE topic = ? AND day = ?"
                " GROUP BY name ORDER BY n DESC, name LIMIT ?",
                (topic, day.isoformat(), most),
            ).fetchall()
        return tuple(Aggregator(name, int(n)) for name, n in rows)

    def hourly(self, topic: str, first_hour: int, last_hour: int) -> dict[int, tuple[int, int]]:
        """(200s, 304s) of each hour (epoch hours) in the span that had any."""
        with self._lock:
            rows = self._db.execute(
                "SELECT hour, fresh, unchanged FROM polls WHERE topic = ? AND hour BETWEEN ? AND ?",
                (topic, first_hour, last_hour),
            ).fetchall()
        return {int(h): (int(f), int(u)) for h, f, u in rows}

    def crawler_polls(self, topic: str, day: date) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT coalesce(sum(polls), 0) FROM crawlers WHERE topic = ? AND day = ?",
                (topic, day.isoformat()),
            ).fetchone()
        return int(row[0])

    def report(self, today: date) -> Report:
        """Per topic counted in the last 30 days: today's estimate, the ones 7 and 30
        days before, the five largest aggregators; the largest first."""
        week, month = today - timedelta(days=7), today - timedelta(days=30)
        found = tuple(
            TopicCounts(
                topic=topic,
                today=days[today],
                days_7_ago=days[week],
                days_30_ago=days[month],
                aggregators=self.aggregators(topic, today),
            )
            for topic, days in self.series(month, today).items()
        )
        return Report(today, found)


LINE_MAX = 64 << 10  # bytes: a "line" longer than this is not nginx's (skipped in pieces)


def _complete_lines(fh: BinaryIO) -> Iterator[tuple[list[bytes], int]]:
    """Chunks of complete lines and the bytes they take; a line cut at the end (still
    being written) is left for the next read, unless it is past LINE_MAX: then it is
    given as it is (it parses as nothing) and memory stays flat."""
    rest = b""
    while True:
        data = fh.read(CHUNK)
        if not data:
            return
        data = rest + data
        cut = data.rfind(b"\n") + 1
        if not cut and len(data) > LINE_MAX:
            cut = len(data)
            yield [data], cut
        elif cut:
            yield data[:cut].split(b"\n")[:-1], cut
        rest = data[cut:]


# --- feedsvc serve's own responses -------------------------------------------------------


Seen = tuple[float, str, int, str, str]  # (time, path, status, user agent, address)


class Recorder:
    """Counts the feed responses of `feedsvc serve` off the request path: a request
    only puts one tuple on a queue; a thread counts a second's worth at a time. Polls
    are dated by the counts' clock."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self._clock = counts.clock
        self._batches: Batched[Seen] = Batched(self._count, "feedsvc-stats")
        self._put = self._batches.put
        self._pruned: date | None = None

    def start(self) -> None:
        self._batches.start()

    def stop(self) -> None:
        self._batches.stop()

    def __call__(self, path: str, status: int, user_agent: str, address: str) -> None:
        self._put((self._clock(), path, status, user_agent, address))

    def _count(self, batch: list[Seen]) -> None:
        """Alike polls of the same quarter hour counted together: a busy feed polled
        by one reader many times a second is one row's work, not thousands."""
        tz = self.counts.tz
        alike: Counter[tuple[int, str, int, str, str]] = Counter(
            (int(stamp) // 900, path, status, agent, address)
            for stamp, path, status, agent, address in batch
        )
        polls = {
            Poll(datetime.fromtimestamp(quarter * 900, tz), path, status, agent, address): n
            for (quarter, path, status, agent, address), n in alike.items()
        }
        try:
            if polls:
                self.counts.record(polls)
            today = self.counts.today()
            if self._pruned != today:
                self.counts.prune(today)
                self._pruned = today
        except sqlite3.Error as exc:  # counting must never stop serving
            log.warning("could not count feed polls: %s", exc)

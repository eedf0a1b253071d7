"""The state store: one SQLite file that remembers what the files do not say.

Per article file: its id, content hash, size and mtime (so an unchanged file is not
read again), when it was first seen and when its content last changed, and the
ParsedArticle (a cache keyed by the parse-relevant configuration). Rows of deleted files stay
as tombstones so that a file renamed or moved (same bytes) keeps its id and dates.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .articles import ArticleText, ParsedArticle
from .errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path        TEXT PRIMARY KEY,
    id          TEXT NOT NULL,
    hash        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    first_seen  REAL NOT NULL,
    changed_at  REAL NOT NULL,
    present     INTEGER NOT NULL DEFAULT 1,
    fingerprint TEXT,
    article     TEXT,
    error       TEXT,
    error_line  INTEGER,
    body        TEXT       -- the article's HTML, apart: read only when a build needs it
);
CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- WebSub: one row per (hub, topic) waiting to be told, kept across restarts and kill -9
CREATE TABLE IF NOT EXISTS outbox (
    hub       TEXT NOT NULL,
    topic     TEXT NOT NULL,
    queued    REAL NOT NULL,     -- when this notification was first queued
    due       REAL NOT NULL,     -- when it is next attempted
    attempts  INTEGER NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0,
    again     INTEGER NOT NULL DEFAULT 0,  -- changed again while in flight: one more
    PRIMARY KEY (hub, topic)
);
-- RFC 5005 archives: the position of each article in each feed, never reused
CREATE TABLE IF NOT EXISTS positions (
    feed TEXT NOT NULL, article TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (feed, article)
);
CREATE TABLE IF NOT EXISTS hubs (
    hub TEXT PRIMARY KEY, last_delivery REAL, last_error TEXT
);
-- Articles taken back (file deleted, or `withdrawn`): their pages answer 410 from then
-- on, and the Atom feeds that held them carry a tombstone for a while
CREATE TABLE IF NOT EXISTS withdrawals (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, at REAL NOT NULL, reason TEXT NOT NULL,
    topics TEXT NOT NULL,   -- JSON list: the stored refs of the topics it was in
    feeds TEXT NOT NULL     -- JSON list: the Atom subscription documents that held it
);
"""


# A row as FileRecord reads it: every column but the body.
_RECORD = (
    "path, id, hash, size, mtime_ns, first_seen, changed_at, present, fingerprint, article, "
    "error, error_line"
)


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    path: str
    id: str
    hash: str  # sha256 of the file's bytes; "" when it could not be read
    size: int
    mtime_ns: int
    first_seen: float  # epoch seconds
    changed_at: float
    present: bool = True  # False: a tombstone, kept so that a moved file keeps its id
    fingerprint: str | None = None  # of the configuration it was parsed with
    # None when not loaded, or rejected. Read back without its body (body_html is ""):
    # bodies are large, and Store.text reads one when a build needs it.
    article: ParsedArticle | None = None
    error: str | None = None
    error_line: int | None = None

    def to_row(self) -> tuple[object, ...]:
        article = body = None
        if self.article is not None:
            data = self.article.to_json()
            # Bytes, stored as TEXT: binding the str would make Python keep a UTF-8
            # copy inside it for as long as it lives, and the library still holds it
            # (97 MB at 10,000 articles).
            body = data.pop("body_html").encode()
            article = json.dumps(data, ensure_ascii=False)
        return (
            self.path,
            self.id,
            self.hash,
            self.size,
            self.mtime_ns,
            self.first_seen,
            self.changed_at,
            int(self.present),
            self.fingerprint,
            article,
            self.error,
            self.error_line,
            body,
        )

    @classmethod
    def from_row(cls, r: tuple[Any, ...]) -> FileRecord:
        return cls(
            path=r[0],
            id=r[1],
            hash=r[2],
            size=r[3],
            mtime_ns=r[4],
            first_seen=r[5],
            changed_at=r[6],
            present=bool(r[7]),
            fingerprint=r[8],
            article=ParsedArticle.from_json(json.loads(r[9])) if r[9] else None,
            error=r[10],
            error_line=r[11],
        )


class Store:
    """A narrow interface over SQLite; safe to call from the publisher's threads."""

    def __init__(self, path: Path | None) -> None:
        """path=None: an in-memory store, for read-only commands.

        A state file that cannot be made or written is a configuration error naming
        `state.path`: the command stops before doing anything else."""
        self.path = path
        self._lock = threading.RLock()
        self._batch = False
        self._db = open_database(path, _SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
        if "body" not in columns:  # a state file of an older version
            self._db.execute("ALTER TABLE files ADD COLUMN body TEXT")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self.outbox = Outbox(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, *args: object) -> list[FileRecord]:
        """Rows decoded one at a time: the JSON of 10,000 articles is never all in memory."""
        with self._lock:
            return [FileRecord.from_row(r) for r in self._db.execute(sql, args)]

    def all(self, with_articles: bool = True) -> dict[str, FileRecord]:
        """Every row; without articles (None), a rescan reads no JSON at all."""
        columns = _RECORD if with_articles else _RECORD.replace("article", "NULL")
        return {r.path: r for r in self._rows(f"SELECT {columns} FROM files")}

    def text(self, path: str) -> ArticleText:
        """One article's summary and HTML body, for a build that renders it."""
        with self._lock:
            row = self._db.execute(
                "SELECT body, article FROM files WHERE path = ?", (path,)
            ).fetchone()
        if row is None or row[1] is None:
            return ArticleText("", "")
        data = json.loads(row[1])
        # A row of an older version keeps its body in the JSON (parsed again soon).
        body = row[0] if row[0] is not None else data["body_html"]
        return ArticleText(str(data.get("summary", "")), str(body))

    def summary(self, path: str) -> str:
        """One article's summary, without its body: for list pages."""
        with self._lock:
            row = self._db.execute("SELECT article FROM files WHERE path = ?", (path,)).fetchone()
        return str(json.loads(row[0]).get("summary", "")) if row and row[0] else ""

    def knows_files(self) -> bool:
        """Whether any file was ever recorded (a tombstone counts): a state file
        without one starts from nothing, and a first look decides every id and date
        from the files alone."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def get(self, path: str) -> FileRecord | None:
        rows = self._rows(f"SELECT {_RECORD} FROM files WHERE path = ?", path)
        return rows[0] if rows else None

    def mtime_ns(self, path: str) -> int | None:
        """A present file's modification time as last read (no parse cache decoded)."""
        with self._lock:
            row = self._db.execute(
                "SELECT mtime_ns FROM files WHERE path = ? AND present", (path,)
            ).fetchone()
        return int(row[0]) if row else None

    def with_hash(self, digest: str) -> list[FileRecord]:
        """Every row, present or tombstone, of a file with these exact bytes, the most
        recently changed first: a new file among them may be one of them, moved."""
        return self._rows(
            f"SELECT {_RECORD} FROM files WHERE hash = ? ORDER BY present, changed_at DESC",
            digest,
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group many writes in one commit (a scan of thousands of new files)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._batch = True
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._batch = False

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write: its own transaction, or part of the open one."""
        if self._batch:
            yield
            return
        with self._lock, self._db:
            self._db.execute("BEGIN")
            yield

    def put(self, record: FileRecord, replaces: str | None = None) -> None:
        """Write one file's row; `replaces` is the row this file was moved from."""
        with self._write():
            if replaces and replaces != record.path:
                self._db.execute("DELETE FROM files WHERE path = ?", (replaces,))
            self._db.execute(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,CAST(? AS TEXT))",
                record.to_row(),
            )

    def mark_gone(self, paths: list[str]) -> None:
        with self._write():
            self._db.executemany(
                "UPDATE files SET present = 0 WHERE path = ?", [(p,) for p in paths]
            )

    def positions(self) -> dict[str, dict[str, int]]:
        """feed key -> article id -> position, for every feed ("" is `all`)."""
        found: dict[str, dict[str, int]] = {}
        with self._lock:
            for feed, article, position in self._db.execute("SELECT * FROM positions"):
                # Interned: the ids its Articles hold (a row per topic an article is in)
                found.setdefault(feed, {})[sys.intern(article)] = position
        return found

    def add_positions(self, rows: list[tuple[str, str, int]]) -> None:
        """(feed key, article id, position) rows, in one transaction."""
        with self._write():
            self._db.executemany("INSERT OR IGNORE INTO positions VALUES (?, ?, ?)", rows)

    def withdrawals(self) -> dict[str, Withdrawal]:
        """Every article taken back and not published again, by id."""
        query = "SELECT id, title, at, reason, topics, feeds FROM withdrawals"
        with self._lock:
            rows = self._db.execute(query).fetchall()
        return {
            article_id: Withdrawal(
                id=article_id,
                title=title,
                at=at,
                reason=reason,
                topics=tuple(json.loads(topics)),
                feeds=tuple(json.loads(feeds)),
            )
            for article_id, title, at, reason, topics, feeds in rows
        }

    def withdraw(self, withdrawals: list[Withdrawal]) -> None:
        with self._write():
            self._db.executemany(
                "INSERT OR REPLACE INTO withdrawals VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (w.id, w.title, w.at, w.reason, json.dumps(w.topics), json.dumps(w.feeds))
                    for w in withdrawals
                ],
            )

    def restore(self, ids: list[str]) -> None:
        """Published again: no longer withdrawn."""
        with self._write():
            self._db.executemany("DELETE FROM withdrawals WHERE id = ?", [(i,) for i in ids])

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


@dataclass(frozen=True)
class Withdrawal:
    """An article taken back: what its page tells readers, and which feeds tell
    aggregators (RFC 6721 tombstones) until `feeds.tombstone_days` have passed."""

    id: str  # the article's id
    title: str
    at: float  # epoch seconds: when it was withdrawn
    reason: str  # "" when none was given
    topics: tuple[str, ...]  # stored refs of the topics it was in (their feeds re-render)
    feeds: tuple[str, ...]  # paths of the Atom subscription documents that held it

    def shows_tombstone(self, now: float, days: float) -> bool:
        """Its tombstone is in the feeds that held it for `days` after it was withdrawn."""
        return bool(self.feeds) and now < self.at + days * 86_400


@dataclass(frozen=True)
class Notification:
    """One (hub, topic) waiting to be told that the topic changed."""

    hub: str
    topic: str
    queued: float
    due: float
    attempts: int


@dataclass(frozen=True)
class HubRecord:
    hub: str
    pending: int
    last_delivery: float | None
    last_error: str | None


class Outbox:
    """The WebSub notifications of the state file; safe to call from any thread."""

    def __init__(self, store: Store) -> None:
        self._db = store._db
        self._lock = store._lock

    def add(self, pairs: list[tuple[str, str]], now: float) -> None:
        """Queue (hub, topic) pairs. One already waiting or being retried keeps its
        schedule; one in flight is sent once more after this attempt."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO outbox (hub, topic, queued, due) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (hub, topic) DO UPDATE SET again = in_flight",
                [(hub, topic, now, now) for hub, topic in pairs],
            )

    def restart(self, hubs: tuple[str, ...], now: float) -> int:
        """After a start: everything pending is due at once; rows of hubs no longer
        configured go. The number of notifications dropped."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            marks = ",".join("?" * len(hubs))
            dropped = self._db.execute(
                f"DELETE FROM outbox WHERE hub NOT IN ({marks})", hubs
            ).rowcount
            self._db.execute("UPDATE outbox SET due = ?, in_flight = 0, again = 0", (now,))
        return int(dropped)

    def take_due(self, now: float, limit: int) -> list[Notification]:
        """Notifications due now, marked in flight."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            rows = self._db.execute(
                "SELECT hub, topic, queued, due, attempts FROM outbox "
                "WHERE in_flight = 0 AND due <= ? ORDER BY due LIMIT ?",
                (now, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE outbox SET in_flight = 1 WHERE hub = ? AND topic = ?",
                [(r[0], r[1]) for r in rows],
            )
        return [Notification(*row) for row in rows]

    def next_due(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(due) FROM outbox WHERE in_flight = 0").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def delivered(self, note: Notification, now: float) -> None:
        """Done, unless it changed again meanwhile: then it goes once more, now."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM outbox WHERE hub = ? AND topic = ? AND again = 0",
                (note.hub, note.topic),
            )
            self._db.execute(
                "UPDATE outbox SET queued = ?, due = ?, attempts = 0, in_flight = 0, again = 0 "
                "WHERE hub = ? AND topic = ?",
                (now, now, note.hub, note.topic),
            )
            self._db.execute(
                "INSERT INTO hubs (hub, last_delivery) VALUES (?, ?) "
                "ON CONFLICT (hub) DO UPDATE SET last_delivery = excluded.last_delivery",
                (note.hub, now),
            )

    def failed(self, note: Notification, error: str, due: float | None) -> None:
        """Attempted again at `due`, or (None) dropped; the error is remembered."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            if due is None:
                self._db.execute(
                    "DELETE FROM outbox WHERE hub = ? AND topic = ?", (note.hub, note.topic)
                )
            else:
                self._db.execute(
                    "UPDATE outbox SET due = ?, attempts = attempts + 1, in_flight = 0, "
                    "again = 0 WHERE hub = ? AND topic = ?",
                    (due, note.hub, note.topic),
                )
            self._db.execute(
                "INSERT INTO hubs (hub, last_error) VALUES (?, ?) "
                "ON CONFLICT (hub) DO UPDATE SET last_error = excluded.last_error",
                (note.hub, error),
            )

    def status(self, hubs: tuple[str, ...]) -> list[HubRecord]:
        with self._lock:
            pending = dict(
                self._db.execute("SELECT hub, COUNT(*) FROM outbox GROUP BY hub").fetchall()
            )
            seen = {
                row[0]: row[1:]
                for row in self._db.execute("SELECT hub, last_delivery, last_error FROM hubs")
            }
        return [
            HubRecord(hub, int(pending.get(hub, 0)), *seen.get(hub, (None, None))) for hub in hubs
        ]


def open_database(path: Path | None, schema: str) -> sqlite3.Connection:
    """A WAL-mode SQLite file (in memory for None) with its schema, or a ConfigError
    naming `state.path` and why it cannot be used."""
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite opens a file it cannot write read-only, and fails only at the
            # first write: refuse it now. WAL also writes files beside it.
            for needed in (path, path.parent):
                if needed.exists() and not os.access(needed, os.W_OK):
                    raise ConfigError(f"state.path: {needed} is not writable")
        db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
    except OSError as exc:
        raise ConfigError(
            f"state.path: cannot create the folder of {path}: {exc.strerror}"
        ) from None
    except sqlite3.Error as exc:
        raise ConfigError(f"state.path: cannot open {path}: {exc}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
    except sqlite3.Error as exc:
        db.close()
        raise ConfigError(f"state.path: {path} cannot be used: {exc}") from None
    return db

"""The last snapshot on disk, so that a restart with nothing changed serves at once.

One SQLite file beside the state file. It holds the resources, the site index, a
digest of the inputs they were built from, and the format version of the file: a
file of another format is ignored (one rebuild), never misread. Even when its
inputs differ, its validators tell the next build which bytes changed (SPEC §5:
Last-Modified moves forward across restarts).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .snapshot import Resource, SiteIndex, Snapshot
from .store import open_database

FORMAT = "4"  # bump when the tables or the index's JSON change shape

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    path TEXT PRIMARY KEY, content_type TEXT NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, http_date TEXT NOT NULL,
    identity BLOB, gzip BLOB NOT NULL, br BLOB, link TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Saved:
    inputs: str  # digest of what the snapshot was built from
    snapshot: Snapshot


def save(path: Path, snapshot: Snapshot, inputs: str, previous: Snapshot | None = None) -> None:
    """Write what changed since `previous` (everything without it), with the digest of
    the inputs it was built from, in one transaction: a crash keeps the old pair."""
    old = previous.resources if previous is not None else None
    meta = [
        ("format", FORMAT),
        ("inputs", inputs),
        ("index", json.dumps(snapshot.index.to_json(), ensure_ascii=False)),
    ]
    db = open_database(path, _SCHEMA)
    try:
        if _format(db) != FORMAT:  # another version's tables: start them anew
            db.executescript("DROP TABLE resources; DROP TABLE meta;" + _SCHEMA)
            old = None
        changed = [
            (p, r) for p, r in snapshot.resources.items() if old is None or old.get(p) is not r
        ]
        db.execute("BEGIN")
        if old is None:
            db.execute("DELETE FROM resources")
        else:
            gone = [(p,) for p in old.keys() - snapshot.resources.keys()]
            db.executemany("DELETE FROM resources WHERE path = ?", gone)
        db.executemany(
            "INSERT OR REPLACE INTO resources VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    p,
                    r.content_type,
                    r.etag,
                    r.last_modified.timestamp(),
                    r.http_date,
                    r.identity,
                    r.gzip,
                    r.br,
                    r.link,
                )
                for p, r in changed
            ],
        )
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
        db.execute("COMMIT")
    finally:
        db.close()


def _format(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    return str(row[0]) if row else None


def load(path: Path) -> Saved | None:
    """The saved snapshot, or None when there is none or it is of another format."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        if _format(db) != FORMAT:
            return None
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        resources = {
            p: Resource(
                identity, kind, etag, datetime.fromtimestamp(stamp, UTC), gz, br, date, link
            )
            for p, kind, etag, stamp, date, identity, gz, br, link in db.execute(
                "SELECT * FROM resources"
            )
        }
        index = SiteIndex.from_json(json.loads(meta["index"]))
        return Saved(meta["inputs"], Snapshot(resources, index))
    except (sqlite3.Error, KeyError, ValueError, TypeError):
        return None
    finally:
        db.close()

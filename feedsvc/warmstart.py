"""The last snapshot on disk, so that a restart with nothing changed serves at once.

One SQLite file beside the state file. It holds the resources, the site index, the
published articles they were built from, digests of the inputs, and the format
version of the file: a file of another format is ignored (one rebuild), never
misread. When only some articles changed while stopped, the next start builds just
what they touch against the saved site; when the settings changed (code,
configuration, brand files), everything is built again, and the saved validators
still tell which bytes changed (SPEC §5: Last-Modified moves forward across
restarts).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .articles import Article
from .snapshot import Resource, SiteIndex, Snapshot
from .store import open_database

FORMAT = "5"  # bump when the tables or the index's JSON change shape

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    path TEXT PRIMARY KEY, content_type TEXT NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, http_date TEXT NOT NULL,
    identity BLOB, gzip BLOB NOT NULL, br BLOB, link TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (path TEXT PRIMARY KEY, article TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Inputs:
    """What a build depended on."""

    settings: str  # digest of what every document depends on: code, config, brand files
    images: Mapping[str, str]  # article path: its local lead image's size and mtime
    digest: str  # of the settings, every published article (bytes, id, dates), the images


@dataclass(frozen=True)
class Built:
    """A build as it goes to disk: the snapshot and what it was built from."""

    snapshot: Snapshot
    published: Mapping[str, Article]
    inputs: Inputs


@dataclass(frozen=True)
class Saved:
    inputs: str  # Inputs.digest
    settings: str  # Inputs.settings
    published: dict[str, Article]
    images: dict[str, str]
    snapshot: Snapshot


def save(
    path: Path,
    built: Built,
    previous: Built | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Write what changed since `previous` (everything without it) in one
    transaction: a crash keeps the old state whole. When `cancelled()` turns true
    the transaction is abandoned (sqlite3.OperationalError), the old state kept."""
    snapshot, inputs = built.snapshot, built.inputs
    old = previous.snapshot.resources if previous is not None else None
    meta = [
        ("format", FORMAT),
        ("inputs", inputs.digest),
        ("settings", inputs.settings),
        ("index", json.dumps(snapshot.index.to_json(), ensure_ascii=False)),
    ]
    db = open_database(path, _SCHEMA)
    db.set_progress_handler(lambda: 1 if cancelled() else 0, 1_000)
    try:
        if _format(db) != FORMAT:  # another version's tables: start them anew
            db.executescript(
                "DROP TABLE IF EXISTS resources; DROP TABLE IF EXISTS meta;"
                "DROP TABLE IF EXISTS articles;" + _SCHEMA
            )
            old = previous = None
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
        _save_articles(db, built, previous)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
        db.execute("COMMIT")
    finally:
        db.close()


def _save_articles(db: sqlite3.Connection, built: Built, previous: Built | None) -> None:
    """The published articles, each with its image's stamp: what the next start
    compares the folder with."""
    images = built.inputs.images
    if previous is None:
        db.execute("DELETE FROM articles")
        before: Mapping[str, Article] = {}
        old_images: Mapping[str, str] = {}
    else:
        before, old_images = previous.published, previous.inputs.images
        gone = before.keys() - built.published.keys()
        db.executemany("DELETE FROM articles WHERE path = ?", [(p,) for p in gone])
    db.executemany(
        "INSERT OR REPLACE INTO articles VALUES (?, ?)",
        [
            (p, json.dumps([article.to_json(), images.get(p, "")], ensure_ascii=False))
            for p, article in built.published.items()
            if before.get(p) != article or old_images.get(p) != images.get(p)
        ],
    )


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
        published: dict[str, Article] = {}
        images: dict[str, str] = {}
        for p, row in db.execute("SELECT path, article FROM articles"):
            article, image = json.loads(row)
            published[p] = Article.from_json(article)
            if image:
                images[p] = image
        snapshot = Snapshot(resources, index)
        return Saved(meta["inputs"], meta["settings"], published, images, snapshot)
    except (sqlite3.Error, KeyError, ValueError, TypeError):
        return None
    finally:
        db.close()

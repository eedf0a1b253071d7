"""Immutable rendered bytes per URL path, with validators and compressed variants.

Everything a request needs is computed here, once per resource: the request path
only looks a resource up.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from werkzeug.http import http_date

try:  # optional: brotli when installed, gzip always
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"


# Levels chosen by measurement on a 500 KB Devanagari feed: gzip 5 takes 5.5 ms for
# 72 KB where 6 takes 14 ms for 66 KB and 9 takes 66 ms for 63 KB; brotli 5 takes
# 8 ms for 67 KB (brotli is optional: pip install -e '.[brotli]').
GZIP_LEVEL = 5
BROTLI_QUALITY = 5


@dataclass(frozen=True)
class Resource:
    identity: bytes | None  # None: kept gzipped only (see `body`)
    content_type: str
    etag: str  # strong, of the identity body; encodings get their own
    last_modified: datetime
    gzip: bytes
    br: bytes | None
    http_date: str  # Last-Modified as sent, formatted once

    @classmethod
    def make(
        cls, body: bytes, content_type: str, last_modified: datetime, compact: bool = False
    ) -> Resource:
        """compact: keep only the gzip bytes. For the thousands of article pages, which
        browsers fetch gzipped; it keeps memory to the feeds, not the whole corpus."""
        return cls(
            identity=None if compact else body,
            content_type=content_type,
            etag=digest(body),
            last_modified=_second(last_modified),
            # mtime=0: the same bytes give the same .gz, so validators survive restarts.
            gzip=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
            br=brotli.compress(body, quality=BROTLI_QUALITY) if brotli and not compact else None,
            http_date=http_date(_second(last_modified)),
        )

    @property
    def body(self) -> bytes:
        """The identity bytes (decompressed for a compact resource: rare clients only)."""
        return self.identity if self.identity is not None else gzip.decompress(self.gzip)

    def same_as(self, etag: str, content_type: str, last_modified: datetime) -> bool:
        return (
            self.etag == etag
            and self.content_type == content_type
            and self.last_modified == _second(last_modified)
        )


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def _second(moment: datetime) -> datetime:
    """HTTP dates have whole seconds: Last-Modified must compare equal to what we sent."""
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Snapshot:
    """One consistent set of everything served; replaced whole, never changed."""

    resources: Mapping[str, Resource]
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    def get(self, path: str) -> Resource | None:
        return self.resources.get(path)


Item = tuple[str, bytes, str, datetime]  # path, body, content type, last modified


def make_resources(
    items: Iterable[Item],
    previous: Snapshot | None = None,
    compact: Callable[[str], bool] = lambda path: False,
) -> dict[str, Resource]:
    """Resources for rendered bodies; an unchanged one keeps its old Resource (and its
    compressed bytes, and its ETag). New ones are compressed on every core (zlib and
    brotli release the GIL), a batch at a time, so that `items` may be a generator
    whose bodies are never all in memory at once."""
    out: dict[str, Resource] = {}

    def make(item: Item) -> Resource:
        return Resource.make(*item[1:], compact=compact(item[0]))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for batch in _batches(items):
            fresh = []
            for item in batch:
                path, body, content_type, last_modified = item
                old = previous.get(path) if previous is not None else None
                if old is not None and old.same_as(digest(body), content_type, last_modified):
                    out[path] = old
                else:
                    fresh.append(item)
            made = pool.map(make, fresh, chunksize=8)
            out.update(zip((item[0] for item in fresh), made, strict=True))
    return out


BATCH = 256


def _batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    """itertools.batched, which Python 3.11 lacks."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# --- persistence: a warm start serves the last snapshot instead of rebuilding it ---------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    path TEXT PRIMARY KEY, content_type TEXT NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, http_date TEXT NOT NULL,
    identity BLOB, gzip BLOB NOT NULL, br BLOB
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)
    return db


def save(path: Path, snapshot: Snapshot, inputs: str, previous: Snapshot | None = None) -> None:
    """Write what changed since `previous` (everything without it), with the digest of
    the inputs it was built from, in one transaction: a crash keeps the old pair."""
    old = previous.resources if previous is not None else None
    changed = [(p, r) for p, r in snapshot.resources.items() if old is None or old.get(p) is not r]
    info = json.dumps(dict(snapshot.info), ensure_ascii=False, default=str)
    db = _open(path)
    try:
        db.execute("BEGIN")
        if old is None:
            db.execute("DELETE FROM resources")
        else:
            gone = [(p,) for p in old.keys() - snapshot.resources.keys()]
            db.executemany("DELETE FROM resources WHERE path = ?", gone)
        db.executemany(
            "INSERT OR REPLACE INTO resources VALUES (?,?,?,?,?,?,?,?)",
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
                )
                for p, r in changed
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [("inputs", inputs), ("info", info)]
        )
        db.execute("COMMIT")
    finally:
        db.close()


def load(path: Path, inputs: str) -> Snapshot | None:
    """The saved snapshot if it was built from exactly these inputs, else None."""
    if not path.exists():
        return None
    try:
        db = _open(path)
    except sqlite3.DatabaseError:
        return None
    try:
        saved = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if saved.get("inputs") != inputs:
            return None
        resources = {
            p: Resource(identity, kind, etag, datetime.fromtimestamp(stamp, UTC), gz, br, date)
            for p, kind, etag, stamp, date, identity, gz, br in db.execute(
                "SELECT * FROM resources"
            )
        }
        return Snapshot(resources, json.loads(saved["info"]))
    except (sqlite3.DatabaseError, KeyError, ValueError):
        return None
    finally:
        db.close()

"""The last snapshot on disk, so that a restart with nothing changed serves at once,
and the place a saved resource's bytes are read from: the process keeps in memory
only what it built since the last save, and what every resource is.

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
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .articles import Article
from .errors import Gone
from .snapshot import Codings, Held, Resource, SiteIndex, Snapshot
from .store import open_database

FORMAT = "8"  # bump when the tables or the index's JSON change shape

# A resource's bytes are kept by ETag (the same bytes under two paths are kept once);
# bytes no saved resource uses any more are listed in `unused_blobs` and deleted an
# hour later, so that a snapshot replaced a moment ago can still be read whole. The
# list is a table of its own: SQLite writes a changed row whole, so a mark beside
# the bytes would have every full save write the whole archive again. (`blobs.unused`
# is where older files of this format keep their marks: moved out at their next save.)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    path TEXT PRIMARY KEY, content_type TEXT NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, http_date TEXT NOT NULL, link TEXT NOT NULL,
    compact INTEGER NOT NULL, has_br INTEGER NOT NULL, status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_etag ON resources (etag);
CREATE TABLE IF NOT EXISTS blobs (
    etag TEXT PRIMARY KEY, unused REAL, gzip BLOB NOT NULL, br BLOB, identity BLOB
);
CREATE INDEX IF NOT EXISTS blobs_unused ON blobs (unused, etag);
CREATE TABLE IF NOT EXISTS unused_blobs (etag TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE INDEX IF NOT EXISTS unused_blobs_since ON unused_blobs (since);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (path TEXT PRIMARY KEY, article TEXT NOT NULL);
"""
_TABLES = ("resources", "blobs", "unused_blobs", "meta", "articles")
UNUSED_GRACE = 3600.0  # seconds unused bytes are kept for readers of older snapshots
# Compressed bytes kept in memory once read: the subscription documents aggregators
# poll (a busy site's `all` and its busiest topics, a few dozen KB each in gzip and
# brotli) fit many times over; the rest of the archive stays on disk.
HOT_BYTES = 64 * 1024 * 1024


class _Reader:
    """One thread's connection; known weakly, so that a thread's end closes it."""

    __slots__ = ("db", "generation", "__weakref__")

    def __init__(self, db: sqlite3.Connection, generation: int) -> None:
        self.db = db
        self.generation = generation


class SavedBytes:
    """The resources' bytes in the warm-start file, read by any thread (each with its
    own connection, as SQLite wants): what a saved resource reads when asked. The
    compressed bytes read most recently are kept, up to `hot_bytes` in all: what
    aggregators poll is answered from memory, and memory does not grow with the
    archive (an archive page read once a day leaves the hot ones in place)."""

    def __init__(self, path: Path, hot_bytes: int = HOT_BYTES) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._generation = 0  # close() starts a new one: threads then open anew
        self._hot: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._hot_bytes = 0
        self._hot_budget = hot_bytes

    def read(self, etag: str, coding: str) -> bytes | None:
        key = (etag, coding)
        with self._lock:
            value = self._hot.get(key)
            if value is not None:
                self._hot.move_to_end(key)
                return value
        row = self._connection().execute(_READ[coding], (etag,)).fetchone()
        if row is None:
            raise Gone(f"{self.path} no longer holds the bytes of {etag}")
        value = row[0]
        if value is not None and coding != "identity":  # rare clients ask for identity
            self._keep(key, value)
        return value  # type: ignore[no-any-return]

    @property
    def hot_bytes(self) -> int:
        return self._hot_bytes

    def _keep(self, key: tuple[str, str], value: bytes) -> None:
        if len(value) > self._hot_budget // 4:  # one huge resource must not empty it
            return
        with self._lock:
            if key in self._hot:
                return
            self._hot[key] = value
            self._hot_bytes += len(value)
            while self._hot_bytes > self._hot_budget:
                _, dropped = self._hot.popitem(last=False)
                self._hot_bytes -= len(dropped)

    @property
    def connections(self) -> int:
        return len(self._readers)

    def _connection(self) -> sqlite3.Connection:
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is not None and reader.generation == self._generation:
            return reader.db
        # mode=rw: a file deleted meanwhile is an error, not a new empty file
        uri = f"{self.path.resolve().as_uri()}?mode=rw"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA query_only = 1")
        with self._lock:
            reader = self._local.reader = _Reader(db, self._generation)
            self._readers.add(reader)
        return db

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            for reader in list(self._readers):
                reader.db.close()
            self._readers.clear()


_READ = {coding: f"SELECT {coding} FROM blobs WHERE etag = ?" for coding in Codings._fields}


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
class SavedSite:
    """The saved snapshot alone: all a restart needs to serve, read before the
    articles it was built from (at 100,000 articles, a third of the time)."""

    inputs: str  # Inputs.digest
    settings: str  # Inputs.settings
    snapshot: Snapshot


@dataclass(frozen=True)
class Saved(SavedSite):
    """The saved snapshot with the articles it was built from, each with its image's
    stamp: what a start compares the folder with."""

    published: dict[str, Article]
    images: dict[str, str]


def save(
    path: Path,
    built: Built,
    previous: Built | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    now: Callable[[], float] = time.time,
) -> list[Resource]:
    """Write what changed since `previous` (everything without it) in one
    transaction: a crash keeps the old state whole. When `cancelled()` turns true
    the transaction is abandoned (sqlite3.OperationalError), the old state kept.
    Returns the resources whose bytes it wrote: they may now be read from the file."""
    snapshot, inputs = built.snapshot, built.inputs
    meta = [
        ("format", FORMAT),
        ("inputs", inputs.digest),
        ("settings", inputs.settings),
        ("index", json.dumps(snapshot.index.to_json(), ensure_ascii=False)),
    ]
    db = open_database(path, _SCHEMA)
    db.set_progress_handler(lambda: 1 if cancelled() else 0, 1_000)
    try:
        if _renewed(db):
            previous = None
        db.execute("BEGIN")
        _move_marks(db)
        written = _save_resources(db, path, snapshot, previous, now())
        _delete_unused(db, now() - UNUSED_GRACE)
        _save_articles(db, built, previous)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
        db.execute("COMMIT")
    finally:
        db.close()
    return written


def _save_resources(
    db: sqlite3.Connection, path: Path, snapshot: Snapshot, previous: Built | None, now: float
) -> list[Resource]:
    """The rows of the resources that changed since `previous` (all without it), their
    bytes, and the bytes no resource uses any more marked so."""
    old = previous.snapshot.resources if previous is not None else {}
    changed = [(p, r) for p, r in snapshot.resources.items() if old.get(p) is not r]
    if previous is None:
        db.execute("DELETE FROM resources")
        db.execute("INSERT OR IGNORE INTO unused_blobs SELECT etag, ? FROM blobs", (now,))
    else:
        gone = [(p,) for p in old.keys() - snapshot.resources.keys()]
        db.executemany("DELETE FROM resources WHERE path = ?", gone)
    db.executemany(  # rows made as SQLite takes them: never all in memory at once
        "INSERT OR REPLACE INTO resources VALUES (?,?,?,?,?,?,?,?,?)",
        (
            (
                p,
                r.content_type,
                r.etag,
                r.last_modified.timestamp(),
                r.http_date,
                r.link,
                r.compact,
                r.has_br,
                r.status,
            )
            for p, r in changed
        ),
    )
    written = _save_blobs(db, path, [r for _, r in changed])
    if previous is not None:  # bytes the replaced and removed resources used
        left = {r.etag for p, r in old.items() if snapshot.resources.get(p) is not r}
        _mark_unused(db, left, now)
    return written


class Stager:
    """A full build's bytes, written to the warm-start file a batch at a time as they
    are made, then let go: the build holds one batch in memory, not the site. They
    are blobs by ETag that no saved resource names yet, so the saved site stays whole
    whatever becomes of the build; its save finds them written and marks them used.
    A build that never saves (it failed, or was killed) leaves blobs the next full
    save marks unused, to be deleted an hour later."""

    def __init__(self, path: Path, source: SavedBytes) -> None:
        self.path = path
        self.source = source
        self._db: sqlite3.Connection | None = None

    def __call__(self, resources: Iterable[Resource]) -> None:
        fresh = [r for r in resources if not r.held.saved]
        if not fresh:
            return
        db = self._open()
        db.execute("BEGIN")
        try:
            for resource in fresh:
                _put_blob(db, resource)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for resource in fresh:  # committed: any thread's reader finds them now
            resource.held.spill(self.source)

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = open_database(self.path, _SCHEMA)
            db.execute("PRAGMA busy_timeout = 600000")  # a save under way may take minutes
            _renewed(db)  # before staging: the save would drop another version's tables
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _renewed(db: sqlite3.Connection) -> bool:
    """Another version's tables replaced by this one's, empty (True), or this
    version's kept as they are (False)."""
    if _format(db) == FORMAT:
        return False
    db.executescript("".join(f"DROP TABLE IF EXISTS {t};" for t in _TABLES) + _SCHEMA)
    db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
    return True


def _put_blob(db: sqlite3.Connection, resource: Resource) -> None:
    """Its bytes under its ETag, used (bytes already there keep what they have)."""
    identity = None if resource.compact else resource.body
    db.execute(
        "INSERT INTO blobs VALUES (?, NULL, ?, ?, ?) ON CONFLICT (etag) DO UPDATE SET"
        " br = coalesce(br, excluded.br), identity = coalesce(identity, excluded.identity)"
        " WHERE br IS NULL AND excluded.br IS NOT NULL"
        " OR identity IS NULL AND excluded.identity IS NOT NULL",
        (resource.etag, resource.gzip, resource.br, identity),
    )
    db.execute("DELETE FROM unused_blobs WHERE etag = ?", (resource.etag,))


def _save_blobs(db: sqlite3.Connection, path: Path, resources: list[Resource]) -> list[Resource]:
    """Each resource's bytes, once per ETag; bytes this file holds already are only
    marked used again. Returns the resources whose bytes came from memory."""
    written, kept = [], []
    for resource in resources:
        source = resource.held.source
        if isinstance(source, SavedBytes) and source.path == path:
            kept.append((resource.etag,))
            continue
        if not resource.held.saved:
            written.append(resource)
        _put_blob(db, resource)
    db.executemany("DELETE FROM unused_blobs WHERE etag = ?", kept)
    return written


def _mark_unused(db: sqlite3.Connection, etags: set[str], when: float) -> None:
    """Bytes no saved resource names now, from `when` (a mark already there stays)."""
    db.executemany(
        "INSERT OR IGNORE INTO unused_blobs SELECT etag, ? FROM blobs WHERE etag = ?"
        " AND NOT EXISTS (SELECT 1 FROM resources WHERE etag = ?)",
        [(when, etag, etag) for etag in etags],
    )


def _delete_unused(db: sqlite3.Connection, before: float) -> None:
    old = "SELECT etag FROM unused_blobs WHERE since < ?"
    db.execute(f"DELETE FROM blobs WHERE etag IN ({old})", (before,))
    db.execute("DELETE FROM unused_blobs WHERE since < ?", (before,))


def _move_marks(db: sqlite3.Connection) -> None:
    """Marks a file of this format kept beside the bytes, into their own table (found
    by index: nothing to do once moved)."""
    db.execute(
        "INSERT OR IGNORE INTO unused_blobs SELECT etag, unused FROM blobs WHERE unused IS NOT NULL"
    )
    db.execute("UPDATE blobs SET unused = NULL WHERE unused IS NOT NULL")


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
    db.executemany(  # each row's JSON made as SQLite takes it (100,000: 150 MB at once)
        "INSERT OR REPLACE INTO articles VALUES (?, ?)",
        (
            (p, json.dumps([article.to_json(), images.get(p, "")], ensure_ascii=False))
            for p, article in built.published.items()
            if not _same(before.get(p), article) or old_images.get(p) != images.get(p)
        ),
    )


def _same(before: Article | None, after: Article) -> bool:
    """An unchanged article is the same object (the library keeps it): comparing
    10,000 by their fields took 15 ms of every save."""
    return before is after or before == after


def _format(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    return str(row[0]) if row else None


def _open(path: Path) -> sqlite3.Connection | None:
    """The warm-start file for reading, or None when there is none of this format."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        if _format(db) == FORMAT:
            return db
    except sqlite3.Error:
        pass
    db.close()
    return None


def load_site(path: Path, source: SavedBytes | None = None) -> SavedSite | None:
    """The saved snapshot, or None when there is none or it is of another format.
    Its resources' bytes stay in the file (`source` reads them when asked): a start
    reads what every resource is, not what it holds."""
    db = _open(path)
    if db is None:
        return None
    source = source or SavedBytes(path)
    try:
        return _read_site(db, source)
    except (sqlite3.Error, KeyError, ValueError, TypeError):
        return None
    finally:
        db.close()


def _read_site(db: sqlite3.Connection, source: SavedBytes) -> SavedSite:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    # Every resource read back holds the same thing: no bytes, this file. One Held
    # serves them all (it is never changed: nothing is in memory to spill or park).
    held = Held(None, source)
    resources = {  # paths as the site index and the next builds name them
        sys.intern(p): Resource(
            content_type=sys.intern(kind),  # a few types and links, each once
            etag=etag,
            last_modified=datetime.fromtimestamp(stamp, UTC),
            link=sys.intern(link),
            compact=bool(compact),
            has_br=bool(has_br),
            held=held,
            status=status,
        )
        # http_date is not read (a resource formats it from the moment); it is still
        # written, so that a file saved by one version opens in another of this format
        for p, kind, etag, stamp, _, link, compact, has_br, status in db.execute(
            "SELECT * FROM resources"
        )
    }
    index = SiteIndex.from_json(json.loads(meta["index"]))
    return SavedSite(meta["inputs"], meta["settings"], Snapshot(resources, index))


def load(
    path: Path, source: SavedBytes | None = None, site: SavedSite | None = None
) -> Saved | None:
    """The saved snapshot and the articles it was built from (see `load_site`), or
    None. `site`: the snapshot as `load_site` read it, when the file still holds that
    one: only the articles are read."""
    db = _open(path)
    if db is None:
        return None
    source = source or SavedBytes(path)
    try:
        db.execute("BEGIN")  # the snapshot and the articles of one save
        inputs = db.execute("SELECT value FROM meta WHERE key = 'inputs'").fetchone()
        if site is None or inputs is None or inputs[0] != site.inputs:
            site = _read_site(db, source)
        published: dict[str, Article] = {}
        images: dict[str, str] = {}
        for (row,) in db.execute("SELECT article FROM articles"):
            fields, image = json.loads(row)
            article = Article.from_json(fields)
            published[article.path] = article  # one string for the key and the field
            if image:
                images[article.path] = image
        return Saved(
            inputs=site.inputs,
            settings=site.settings,
            snapshot=site.snapshot,
            published=published,
            images=images,
        )
    except (sqlite3.Error, KeyError, ValueError, TypeError):
        return None
    finally:
        db.close()

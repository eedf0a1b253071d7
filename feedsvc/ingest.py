"""The articles folder, as the store remembers it: files in, resolved Articles out.

Only the publisher drives this. A full scan stats every file and reads only those
whose size or mtime changed; a refresh looks at the paths an event named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .articles import Article, default_id, discover, is_candidate, load
from .config import Config
from .errors import ArticleError, RetryLater, Vanished
from .store import FileRecord, Store

log = logging.getLogger("feedsvc")


def fingerprint(cfg: Config) -> str:
    """Everything parsing depends on: a change re-parses every file once."""
    parts = (__version__, cfg.site.author, cfg.site.timezone, str(cfg.feeds.summary_chars))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@dataclass
class Outcome:
    """What one scan or refresh changed: old and new Article per path (None: absent)."""

    changed: dict[str, tuple[Article | None, Article | None]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # still being written: look again soon


@dataclass(frozen=True)
class Loaded:
    """What reading one file gave. Plain data, so that it can come from a worker process."""

    digest: str = ""
    size: int = 0
    mtime_ns: int = 0
    article: Article | None = None
    reason: str = ""  # why it was refused (article None)
    line: int | None = None
    retry: bool = False  # may still be being written
    vanished: bool = False  # deleted between listing and reading


def read_one(root: Path, path: str, cfg: Config) -> Loaded:
    try:
        raw, article = load(root, path, cfg)
    except RetryLater:
        return Loaded(retry=True)
    except Vanished:
        return Loaded(vanished=True)
    except ArticleError as exc:
        return Loaded(reason=exc.reason, line=exc.line)
    return Loaded(hashlib.sha256(raw.data).hexdigest(), raw.size, raw.mtime_ns, article)


def _read_many(root: Path, paths: list[str], cfg: Config) -> list[Loaded]:
    """Worker side of the parse pool: one chunk of files."""
    return [read_one(root, path, cfg) for path in paths]


POOL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves


class Library:
    def __init__(self, cfg: Config, store: Store, workers: int | None = None) -> None:
        """workers: processes for parsing many files at once (default: one per core)."""
        self.cfg = cfg
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.store = store
        self.root = cfg.articles_dir
        self.fingerprint = fingerprint(cfg)
        self.articles: dict[str, Article] = {}  # by path; dates resolved
        self.digests: dict[str, str] = {}  # by path: the content hash of each article file
        self.rejected: dict[str, ArticleError] = {}
        self.notices: list[ArticleError] = []  # skipped with a reason, e.g. symlinks out
        self.last_scan: datetime | None = None
        self.busy: frozenset[str] = frozenset()

    # -- public ---------------------------------------------------------------

    def scan(self, busy: frozenset[str] = frozenset()) -> Outcome:
        """`busy`: paths known to be open for writing right now (from the watcher)."""
        self.busy = busy
        outcome = Outcome()
        if not self.root.is_dir():
            self.notices = [ArticleError(f"articles folder {self.root} does not exist")]
            for path in list(self.articles):
                self._forget(path, outcome)
            return outcome
        found = discover(self.root)
        self.notices = found.problems
        for error in found.rejected:
            self._reject(error.path, error, outcome)
        present = set(found.files)
        # With articles only on the first scan: later ones keep what is in memory.
        records = self.store.all(with_articles=not self.articles)
        gone = [p for p, r in records.items() if r.present and p not in present]
        self.store.mark_gone(gone)
        unreadable = {e.path for e in found.rejected}
        for path in set(self.articles) | set(self.rejected):
            if path not in present and path not in unreadable:
                self._forget(path, outcome)
        waiting = []
        for path in found.files:
            record = records.get(path)
            info = self._needs_reading(path, record, outcome)
            if info is not None:
                waiting.append((path, record, info))
        loaded = self._read_all([path for path, _, _ in waiting])
        with self.store.transaction():
            for (path, record, info), result in zip(waiting, loaded, strict=True):
                self._apply(path, record, info, result, outcome)
        self._check_ids(outcome)
        self.last_scan = datetime.now(UTC)
        return outcome

    def refresh(self, paths: set[str], busy: frozenset[str] = frozenset()) -> Outcome:
        self.busy = busy
        outcome = Outcome()
        for path in sorted(paths):
            full = self.root / path
            if is_candidate(path) and os.path.lexists(full) and not full.is_dir():
                if full.is_symlink() and not full.resolve().is_relative_to(self.root):
                    self._forget(path, outcome)
                    self.store.mark_gone([path])
                    continue
                self._ingest(path, self.store.get(path), outcome)
            else:
                self._forget(path, outcome)
                self.store.mark_gone([path])
        self._check_ids(outcome)
        return outcome

    def _read_all(self, paths: list[str]) -> list[Loaded]:
        """Read and parse files, on every core when there are many (a cold start)."""
        if self.workers < 2 or len(paths) < POOL_MIN_FILES:
            return _read_many(self.root, paths, self.cfg)
        size = max(16, len(paths) // (self.workers * 8))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        # spawn: never fork a process that has the watcher's and server's threads, and the
        # workers stay our children (their CPU time is accounted to us).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            results = pool.map(
                _read_many, [self.root] * len(chunks), chunks, [self.cfg] * len(chunks)
            )
            return [loaded for chunk in results for loaded in chunk]

    def problems(self) -> list[ArticleError]:
        return sorted([*self.notices, *self.rejected.values()], key=lambda e: (e.path, e.line or 0))

    # -- internals ------------------------------------------------------------

    def _forget(self, path: str, outcome: Outcome) -> None:
        old = self.articles.pop(path, None)
        self.rejected.pop(path, None)
        if old is not None:
            outcome.changed[path] = (old, None)

    def _stored(self, path: str) -> Article:
        record = self.store.get(path)
        assert record is not None and record.article is not None
        return record.article

    def _set(self, path: str, article: Article | None, outcome: Outcome) -> None:
        old = self.articles.get(path)
        if old is not None and old == article:
            return  # the same: keep the object held (its body may have been let go)
        if article is None:
            self.articles.pop(path, None)
        else:
            self.articles[path] = article
        if old != article:
            outcome.changed[path] = (old, article)

    def _ingest(self, path: str, record: FileRecord | None, outcome: Outcome) -> None:
        info = self._needs_reading(path, record, outcome)
        if info is not None:
            self._apply(path, record, info, read_one(self.root, path, self.cfg), outcome)

    def _needs_reading(
        self, path: str, record: FileRecord | None, outcome: Outcome
    ) -> os.stat_result | None:
        """Settle what the store already knows; the stat of a file that must be read."""
        try:
            info = os.stat(self.root / path)
        except FileNotFoundError:  # deleted between listing and reading: it is gone
            self._forget(path, outcome)
            self.store.mark_gone([path])
            return None
        except OSError as exc:
            self._reject(path, ArticleError(f"cannot read: {exc.strerror}", path=path), outcome)
            return None
        if (
            record is not None
            and record.present
            and record.size == info.st_size
            and record.mtime_ns == info.st_mtime_ns
            and record.fingerprint == self.fingerprint
        ):
            if record.error is None:
                # Unchanged: the article in memory, else the one the store remembers.
                article = record.article or self.articles.get(path) or self._stored(path)
                self.rejected.pop(path, None)
                self.digests[path] = record.hash
                self._set(path, self._resolve(article, record), outcome)
            else:
                error = ArticleError(record.error or "rejected", record.error_line, path)
                self._reject(path, error, outcome)
            return None
        age_ns = time.time_ns() - info.st_mtime_ns
        if path in self.busy or 0 <= age_ns < self.cfg.schedule.settle_ms * 1_000_000:
            outcome.pending.add(path)  # still being written, maybe: not yet
            return None
        return info

    def _apply(
        self,
        path: str,
        record: FileRecord | None,
        info: os.stat_result,
        loaded: Loaded,
        outcome: Outcome,
    ) -> None:
        """Remember what reading the file gave, with its identity and dates."""
        if loaded.retry:
            outcome.pending.add(path)
            return
        if loaded.vanished:
            self._forget(path, outcome)
            self.store.mark_gone([path])
            return
        if loaded.article is None:
            error = ArticleError(loaded.reason or "rejected", loaded.line, path)
            self._reject(path, error, outcome)
            self._remember_error(path, info, record, error)
            return
        digest, article = loaded.digest, loaded.article
        mtime = min(loaded.mtime_ns / 1e9, time.time())
        replaces = None
        if record is not None and record.hash == digest:
            first_seen, changed_at, stored_id = record.first_seen, record.changed_at, record.id
        elif record is not None:
            first_seen, changed_at = record.first_seen, max(mtime, record.first_seen)
            stored_id = record.id
        elif (moved := self.store.tombstone_with_hash(digest)) is not None:
            first_seen, changed_at, stored_id = moved.first_seen, moved.changed_at, moved.id
            replaces = moved.path
            log.info("%s: same content as removed %s; keeps its id", path, moved.path)
        else:
            first_seen = changed_at = mtime
            stored_id = default_id(path)
        if article.id == default_id(path):  # no explicit id: the one it was first seen with
            article = dataclasses.replace(article, id=stored_id)
        article = dataclasses.replace(article, source=digest)
        self.store.put(
            FileRecord(
                path,
                stored_id,
                digest,
                loaded.size,
                loaded.mtime_ns,
                first_seen,
                changed_at,
                True,
                self.fingerprint,
                article,
                None,
                None,
            ),
            replaces=replaces,
        )
        self.rejected.pop(path, None)
        self.digests[path] = digest
        self._set(path, self._resolve(article, None, first_seen, changed_at), outcome)

    def _remember_error(
        self, path: str, info: os.stat_result, record: FileRecord | None, error: ArticleError | None
    ) -> None:
        if error is None:
            return
        seen = record.first_seen if record else min(info.st_mtime, time.time())
        self.store.put(
            FileRecord(
                path,
                record.id if record else default_id(path),
                record.hash if record else "",
                info.st_size,
                info.st_mtime_ns,
                seen,
                record.changed_at if record else seen,
                True,
                self.fingerprint,
                None,
                error.reason,
                error.line,
            )
        )

    def _reject(self, path: str, error: ArticleError, outcome: Outcome) -> None:
        if path not in self.rejected or str(self.rejected[path]) != str(error):
            log.warning("skipped %s", error)
        self.rejected[path] = error
        self._set(path, None, outcome)

    def _resolve(
        self,
        article: Article,
        record: FileRecord | None,
        first_seen: float | None = None,
        changed_at: float | None = None,
    ) -> Article:
        """Fill the times the file does not give from the store's memory."""
        if record is not None:
            first_seen, changed_at = record.first_seen, record.changed_at
            if article.id == default_id(article.path):
                article = dataclasses.replace(article, id=record.id)
        assert first_seen is not None and changed_at is not None
        tz = self.cfg.tzinfo
        published = article.date or datetime.fromtimestamp(first_seen, tz)
        updated = article.updated
        if updated is None:
            # Changed since first seen: that change is its update; else it is as published.
            changed = changed_at > first_seen
            updated = (
                max(published, datetime.fromtimestamp(changed_at, tz)) if changed else published
            )
        return dataclasses.replace(article, date=published, updated=max(updated, published))

    def _check_ids(self, outcome: Outcome) -> None:
        """Two files claiming one id: the later path is rejected, the first keeps it."""
        owners: dict[str, str] = {}
        for path in sorted(self.articles):
            article = self.articles[path]
            if article.id in owners:
                error = ArticleError(
                    f"id {article.id!r} is already used by {owners[article.id]}; "
                    "give this article its own `id`",
                    path=path,
                )
                self._reject(path, error, outcome)
            else:
                owners[article.id] = path

"""The articles folder, as the store remembers it: files in, resolved Articles out.

Only the publisher drives this. A full scan stats every file and reads only those
whose size or mtime changed; a refresh looks at the paths an event named. What a
file's identity and dates are is decided by pure functions (`identify`, `resolve`);
`Library` stats, reads and writes around them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType

from . import sources
from .articles import (
    Article,
    ArticleText,
    ParsedArticle,
    default_id,
    discover,
    is_candidate,
    load,
)
from .config import Config
from .errors import ArticleError, RetryLater, Vanished
from .store import FileRecord, Store

log = logging.getLogger("feedsvc")

# Bumped when what parsing stores changes shape: every file is parsed again once.
PARSE_FORMAT = "5"
TEXT_CACHE = 1024  # texts read back from the store and kept: a few feeds' worth
SUMMARY_CACHE = 8192  # summaries read back alone: the list pages of a few hundred topics
# Texts parsed since the last build and held for it; a larger scan's are read back
# from the store, where they already are (at 100,000 articles, 2 GB of text).
HELD_TEXTS = 4096


def fingerprint(cfg: Config) -> str:
    """Everything parsing depends on: a change re-parses every file once."""
    parts = (
        sources.parsing(),
        PARSE_FORMAT,
        cfg.site.timezone,
        str(cfg.feeds.summary_chars),
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


# --- decisions: pure --------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What the store says of a file beyond its text: its id and its two moments."""

    id: str
    first_seen: float  # epoch seconds
    changed_at: float
    moved_from: str | None = None  # the path of the row this file continues


def identify(
    path: str,
    digest: str,
    mtime: float,
    record: FileRecord | None,
    moved: FileRecord | None,
) -> Seen:
    """The identity and moments of a file just read.

    `mtime` is the file's modification time, never later than now; `record` the
    store's row for this path; `moved` a row of a file with the same bytes that is no
    longer there (this file is that one, moved or renamed: it keeps its id and dates).
    """
    if record is not None and record.hash == digest:
        return Seen(record.id, record.first_seen, record.changed_at)
    if record is not None:  # edited: its update is now, or when it was first seen
        return Seen(record.id, record.first_seen, max(mtime, record.first_seen))
    if moved is not None:
        return Seen(moved.id, moved.first_seen, moved.changed_at, moved.path)
    return Seen(default_id(path), mtime, mtime)


def resolve(parsed: ParsedArticle, seen: Seen, digest: str, tz: tzinfo) -> Article:
    """The publishable Article: the file's own id and dates where it gives them, else
    the store's. Without `updated`, an article changed since first seen was updated
    then; one never changed was updated when published. A corrected article was
    updated at its newest correction (adding one changes the file too: that is not
    its update)."""
    published = parsed.date or datetime.fromtimestamp(seen.first_seen, tz)
    updated = parsed.updated
    if parsed.corrections:
        newest = parsed.corrections[0].date
        updated = newest if updated is None else max(updated, newest)
    if updated is None:
        changed = seen.changed_at > seen.first_seen
        updated = (
            max(published, datetime.fromtimestamp(seen.changed_at, tz)) if changed else published
        )
    return Article(
        id=parsed.id if parsed.explicit_id else seen.id,
        path=parsed.path,
        title=parsed.title,
        date=published,
        updated=max(updated, published),
        source=digest,
        tags=parsed.tags,
        authors=parsed.authors,
        section=parsed.section,
        image=parsed.image,
        related=parsed.related,
        corrections=parsed.corrections,
    )


# --- reading, in this process or in a pool ------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """What reading one file gave. Plain data, so that it can come from a worker process."""

    digest: str = ""
    size: int = 0
    mtime_ns: int = 0
    article: ParsedArticle | None = None
    reason: str = ""  # why it was refused (article None)
    line: int | None = None
    retry: bool = False  # may still be being written
    vanished: bool = False  # deleted between listing and reading


def read_one(root: Path, path: str, cfg: Config, *, body: bool = True) -> Loaded:
    """body=False: a Markdown file's front matter alone (articles.parse)."""
    try:
        raw, article = load(root, path, cfg, body=body)
    except RetryLater:
        return Loaded(retry=True)
    except Vanished:
        return Loaded(vanished=True)
    except ArticleError as exc:
        return Loaded(reason=exc.reason, line=exc.line)
    return Loaded(hashlib.sha256(raw.data).hexdigest(), raw.size, raw.mtime_ns, article)


def _read_many(root: Path, paths: list[str], cfg: Config, *, body: bool = True) -> list[Loaded]:
    """Worker side of the parse pool: one chunk of files."""
    return [read_one(root, path, cfg, body=body) for path in paths]


POOL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves


def read_all(
    root: Path, paths: list[str], cfg: Config, workers: int, *, body: bool = True
) -> Iterator[Loaded]:
    """Read and parse files, on every core when there are many (a cold start), in the
    order given; yielded a chunk at a time, so that a cold start's 100,000 parsed
    bodies pass through memory on their way to the store, not all at once."""
    if workers < 2 or len(paths) < POOL_MIN_FILES:
        yield from _read_many(root, paths, cfg, body=body)
        return
    size = max(16, len(paths) // (workers * 8))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    # spawn: never fork a process that has the watcher's and server's threads, and the
    # workers stay our children (their CPU time is accounted to us).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        read = functools.partial(_read_many, root, cfg=cfg, body=body)
        for chunk in pool.map(read, chunks):
            yield from chunk


def glance(cfg: Config, workers: int) -> dict[str, Article]:
    """The articles of a folder no state file knows yet, by path, from their front
    matter alone, read on every core: what a first start shows while it reads every
    file in full. Each is what the full read will publish, decided as a scan decides
    for a file seen for the first time (drafts and withdrawn articles left out, a file
    still being written or dated ahead of the clock left for later, an id claimed twice
    kept by the first path).
    Nothing is written: the scan after it reads and stores every file."""
    root = cfg.articles_dir
    if not root.is_dir():
        return {}
    paths = discover(root).files
    settling = cfg.schedule.settle_ms * 1_000_000
    found: dict[str, Article] = {}
    for path, loaded in zip(paths, read_all(root, paths, cfg, workers, body=False), strict=True):
        parsed = loaded.article
        if parsed is None or parsed.draft or parsed.withdrawn is not None:
            continue
        # still being written, or dated ahead of the clock (a scan dates it by its own)
        if time.time_ns() - loaded.mtime_ns < settling:
            continue
        seen = identify(path, loaded.digest, loaded.mtime_ns / 1e9, record=None, moved=None)
        found[path] = resolve(parsed, seen, loaded.digest, cfg.tzinfo)
    owners = first_owners({path: article.id for path, article in found.items()})
    return {path: article for path, article in found.items() if owners[article.id] == path}


def first_owners(ids: Mapping[str, str]) -> dict[str, str]:
    """Each id's path (`ids`: path -> id): of the paths that claim one id, the first in
    sorted order keeps it."""
    owners: dict[str, str] = {}
    for path in sorted(ids):
        owners.setdefault(ids[path], path)
    return owners


class FileTexts:
    """Articles' texts read from their files when a build asks (`Texts`): for the few
    a first start renders before the library has read them."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._read: dict[str, ArticleText] = {}  # a feed's entry and its front-page item

    def text(self, article: Article) -> ArticleText:
        found = self._read.get(article.path)
        if found is None:
            try:
                _, parsed = load(self.cfg.articles_dir, article.path, self.cfg)
                found = ArticleText(parsed.summary, parsed.body_html)
            except ArticleError:  # changed since: the scan after tells what it is
                found = ArticleText("", "")
            self._read[article.path] = found
        return found

    def summary(self, article: Article) -> str:
        return self.text(article).summary


# --- the library ----------------------------------------------------------------------


@dataclass(frozen=True)
class Withdrawn:
    """A file whose front matter withdraws its article: the article it would be, and why."""

    article: Article
    reason: str


@dataclass
class Outcome:
    """What one scan or refresh changed: old and new Article per path (None: absent)."""

    changed: dict[str, tuple[Article | None, Article | None]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # still being written: look again soon
    deleted: set[str] = field(default_factory=set)  # files gone from the folder


class Library:
    """The articles of the folder (drafts left out) and the files that could not be
    read. Bodies are in the store; those parsed since the last build are also held
    until it is done. Not thread-safe: the publisher's lock guards every call."""

    def __init__(self, cfg: Config, store: Store, workers: int | None = None) -> None:
        """workers: processes for parsing many files at once (default: one per core)."""
        self.cfg = cfg
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.store = store
        self.root = cfg.articles_dir
        self.fingerprint = fingerprint(cfg)
        self._articles: dict[str, Article] = {}  # by path
        self._texts: dict[str, ArticleText] = {}  # by path: parsed since the last build
        # (path, content digest) -> its text; a changed file has another digest
        self._stored_text = functools.lru_cache(maxsize=TEXT_CACHE)(
            lambda path, source: store.text(path)
        )
        self._stored_summary = functools.lru_cache(maxsize=SUMMARY_CACHE)(
            lambda path, source: store.summary(path)
        )
        self.rejected: dict[str, ArticleError] = {}
        self.withdrawn: dict[str, Withdrawn] = {}  # by path: files whose field withdraws them
        self.drafts: set[str] = set()  # paths of drafts (`draft: true`)
        self._owners: dict[str, str] = {}  # article id -> the path that has it
        self.notices: list[ArticleError] = []  # skipped with a reason, e.g. symlinks out
        self.last_scan: datetime | None = None
        self.busy: frozenset[str] = frozenset()

    @property
    def articles(self) -> Mapping[str, Article]:
        return MappingProxyType(self._articles)

    def preload(self, articles: Mapping[str, Article]) -> None:
        """Before the first scan, the articles a warm-start file says were published:
        a file whose row still names the same bytes is recalled from these, without
        decoding its parse cache and resolving it again. The scan checks every file
        against its row as ever, and replaces what differs."""
        if not self._articles:
            self._articles = dict(articles)

    @property
    def folder_missing(self) -> bool:
        return not self.root.is_dir()

    def text(self, article: Article) -> ArticleText:
        """An article's summary and HTML: from memory if just parsed, else from the
        store (the last TEXT_CACHE read are kept: successive rebuilds re-render the same
        feeds and list pages)."""
        held = self._texts.get(article.path)
        return held if held is not None else self._stored_text(article.path, article.source)

    def summary(self, article: Article) -> str:
        """An article's summary alone, for list pages (50 to a topic page): the store
        reads it without the body."""
        held = self._texts.get(article.path)
        return (
            held.summary if held is not None else self._stored_summary(article.path, article.source)
        )

    def built(self) -> None:
        """A build has used the texts just parsed: memory lets them go. A rebuild reads
        the few it needs (a touched feed's entries, a touched page) from the store."""
        self._texts = {}

    def problems(self) -> list[ArticleError]:
        """As of now: a folder that appeared since the last scan is no longer missing
        (its files may come in by events before the next scan)."""
        missing = []
        if self.folder_missing:
            missing = [ArticleError(f"articles folder {self.root} does not exist (articles.dir)")]
        found = [*missing, *self.notices, *self.rejected.values()]
        return sorted(found, key=lambda e: (e.path or "", e.line or 0))

    # -- scanning --------------------------------------------------------------------

    def scan(self, busy: frozenset[str] = frozenset()) -> Outcome:
        """`busy`: paths known to be open for writing right now (from the watcher)."""
        self.busy = busy
        outcome = Outcome()
        if self.folder_missing:  # unmounted, maybe: its files are not withdrawn
            self.notices = []
            for path in list(self._articles):
                self._forget(path, outcome, deleted=False)
            return outcome
        found = discover(self.root)
        self.notices = found.problems
        for error in found.rejected:
            self._reject(error.path, error, outcome)
        present = set(found.files)
        # With articles only on the first scan: later ones keep what is in memory.
        records = self.store.all(with_articles=not self._articles)
        gone = [p for p, r in records.items() if r.present and p not in present]
        gone = [p for p in gone if found.listed(p)]
        self.store.mark_gone(gone)
        outcome.deleted.update(gone)  # also those not in memory (a start after an upgrade)
        unreadable = {e.path for e in found.rejected}
        for path in self._articles.keys() | self.rejected.keys():
            # a folder that could not be listed: its files are kept as they were
            if path not in present and path not in unreadable and found.listed(path):
                self._forget(path, outcome)
        waiting = []
        for path in found.files:
            record = records.get(path)
            info = self._needs_reading(path, record, outcome)
            if info is not None:
                waiting.append((path, record, info))
        loaded = read_all(self.root, [path for path, _, _ in waiting], self.cfg, self.workers)
        with self.store.transaction():
            for (path, record, info), result in zip(waiting, loaded, strict=True):
                self._apply(path, record, info, result, outcome)
        self._check_ids(outcome)
        self.last_scan = datetime.now(UTC)
        return outcome

    def refresh(self, paths: set[str], busy: frozenset[str] = frozenset()) -> Outcome:
        """Look again at these paths. Those gone are settled first, so that a file
        moved (old and new path in one batch) finds its old row a tombstone."""
        self.busy = busy
        outcome = Outcome()
        present = []
        for path in sorted(paths):
            full = self.root / path
            inside = not full.is_symlink() or full.resolve().is_relative_to(self.root)
            if is_candidate(path) and os.path.lexists(full) and not full.is_dir() and inside:
                present.append(path)
            else:
                self._gone(path, outcome)
        for path in present:
            record = self.store.get(path)
            info = self._needs_reading(path, record, outcome)
            if info is not None:
                self._apply(path, record, info, read_one(self.root, path, self.cfg), outcome)
        self._check_changed_ids(outcome)
        return outcome

    # -- internals ------------------------------------------------------------------

    def _gone(self, path: str, outcome: Outcome) -> None:
        self._forget(path, outcome)
        self.store.mark_gone([path])

    def _forget(self, path: str, outcome: Outcome, deleted: bool = True) -> None:
        old = self._articles.pop(path, None)
        self._texts.pop(path, None)
        self._unpublished(path)
        if deleted:
            outcome.deleted.add(path)
        if old is not None:
            outcome.changed[path] = (old, None)

    def _set(self, path: str, article: Article | None, outcome: Outcome) -> None:
        old = self._articles.get(path)
        if old == article:
            return
        if article is None:
            self._articles.pop(path, None)
            self._texts.pop(path, None)
        else:
            self._articles[path] = article
        outcome.changed[path] = (old, article)

    def _needs_reading(
        self, path: str, record: FileRecord | None, outcome: Outcome
    ) -> os.stat_result | None:
        """Settle what the store already knows; the stat of a file that must be read."""
        try:
            info = os.stat(os.path.join(self.root, path))
        except FileNotFoundError:  # deleted between listing and reading: it is gone
            self._gone(path, outcome)
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
            self._recall(path, record, outcome)
            return None
        age_ns = time.time_ns() - info.st_mtime_ns
        if path in self.busy or 0 <= age_ns < self.cfg.schedule.settle_ms * 1_000_000:
            outcome.pending.add(path)  # still being written, maybe: not yet
            return None
        return info

    def _recall(self, path: str, record: FileRecord, outcome: Outcome) -> None:
        """An unchanged file: what the store remembers of it, without reading it."""
        if record.error is not None:
            self._reject(path, ArticleError(record.error, record.error_line, path), outcome)
            return
        self.rejected.pop(path, None)
        if path in self._articles and self._articles[path].source == record.hash:
            return  # in memory already, the same
        parsed = record.article or (self.store.get(path) or record).article
        if parsed is None or parsed.draft:
            self._draft(path, outcome)
            return
        seen = Seen(record.id, record.first_seen, record.changed_at)
        self._publish(path, parsed, resolve(parsed, seen, record.hash, self.cfg.tzinfo), outcome)

    def _draft(self, path: str, outcome: Outcome) -> None:
        self._unpublished(path, draft=True)
        self._set(path, None, outcome)

    def _publish(
        self, path: str, parsed: ParsedArticle, article: Article, outcome: Outcome
    ) -> None:
        """A readable article: published, unless its front matter withdraws it."""
        if parsed.withdrawn is None:
            self._unpublished(path)
            self._set(path, article, outcome)
            return
        self._unpublished(path, withdrawn=Withdrawn(article, parsed.withdrawn))
        self._texts.pop(path, None)
        self._set(path, None, outcome)

    def _unpublished(
        self,
        path: str,
        *,
        draft: bool = False,
        withdrawn: Withdrawn | None = None,
        rejected: ArticleError | None = None,
    ) -> None:
        """Why the file at `path` publishes nothing: at most one of these (none: it
        is published, or gone)."""
        if draft:
            self.drafts.add(path)
        else:
            self.drafts.discard(path)
        if withdrawn is not None:
            self.withdrawn[path] = withdrawn
        else:
            self.withdrawn.pop(path, None)
        if rejected is not None:
            self.rejected[path] = rejected
        else:
            self.rejected.pop(path, None)

    def _moved_from(self, path: str, digest: str) -> FileRecord | None:
        """The row of a file with these bytes that is no longer there: a tombstone, or a
        row still marked present whose file is gone (its delete event is yet to come)."""
        for row in self.store.with_hash(digest):
            if row.path != path and not os.path.lexists(self.root / row.path):
                return row
        return None

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
            self._gone(path, outcome)
            return
        if loaded.article is None:
            error = ArticleError(loaded.reason or "rejected", loaded.line, path)
            self._reject(path, error, outcome)
            self._remember_error(path, info, record, error)
            return
        mtime = min(loaded.mtime_ns / 1e9, time.time())
        moved = None if record is not None else self._moved_from(path, loaded.digest)
        seen = identify(path, loaded.digest, mtime, record, moved)
        if seen.moved_from is not None:
            self._forget(seen.moved_from, outcome)
            log.info("%s: same content as removed %s; keeps its id", path, seen.moved_from)
        parsed = loaded.article
        self.store.put(
            FileRecord(
                path=path,
                id=seen.id,
                hash=loaded.digest,
                size=loaded.size,
                mtime_ns=loaded.mtime_ns,
                first_seen=seen.first_seen,
                changed_at=seen.changed_at,
                fingerprint=self.fingerprint,
                article=parsed,
            ),
            replaces=seen.moved_from,
        )
        self.rejected.pop(path, None)
        if parsed.draft:
            self._draft(path, outcome)
            return
        if path in self._texts or len(self._texts) < HELD_TEXTS:
            self._texts[path] = ArticleText(parsed.summary, parsed.body_html)
        self._publish(path, parsed, resolve(parsed, seen, loaded.digest, self.cfg.tzinfo), outcome)

    def _remember_error(
        self, path: str, info: os.stat_result, record: FileRecord | None, error: ArticleError
    ) -> None:
        seen = record.first_seen if record else min(info.st_mtime, time.time())
        self.store.put(
            FileRecord(
                path=path,
                id=record.id if record else default_id(path),
                hash=record.hash if record else "",
                size=info.st_size,
                mtime_ns=info.st_mtime_ns,
                first_seen=seen,
                changed_at=record.changed_at if record else seen,
                fingerprint=self.fingerprint,
                error=error.reason,
                error_line=error.line,
            )
        )

    def _reject(self, path: str, error: ArticleError, outcome: Outcome) -> None:
        if path not in self.rejected or str(self.rejected[path]) != str(error):
            log.warning("skipped %s", error)
        self._unpublished(path, rejected=error)
        self._set(path, None, outcome)

    def owner(self, article_id: str) -> str | None:
        """The path that publishes this id, if one does."""
        path = self._owners.get(article_id)
        article = self._articles.get(path) if path is not None else None
        return path if article is not None and article.id == article_id else None

    def _check_ids(self, outcome: Outcome) -> None:
        """Two files claiming one id: the later path is rejected, the first keeps it."""
        ids = {path: article.id for path, article in self._articles.items()}
        self._owners = first_owners(ids)
        for path in sorted(ids):
            first = self._owners[ids[path]]
            if first != path:
                self._reject(path, _taken(ids[path], first, path), outcome)

    def _check_changed_ids(self, outcome: Outcome) -> None:
        """As `_check_ids`, for the ids of what changed only: before it no id had two
        files, so only those can (a walk over every path took 50-130 ms at 100,000)."""
        for path, (old, new) in sorted(outcome.changed.items()):
            moved_on = new is None or old is not None and new.id != old.id
            if old is not None and moved_on and self._owners.get(old.id) == path:
                del self._owners[old.id]  # (the map stays as small as the library)
            if new is not None and self._articles.get(path) is new:
                self._claim(path, new.id, outcome)

    def _claim(self, path: str, article_id: str, outcome: Outcome) -> None:
        """The first path (in sorted order) keeps an id. An owner that no longer holds
        it (changed later in the same batch) is no owner."""
        owner = self.owner(article_id)
        if owner is None or owner == path:
            self._owners[article_id] = path
            return
        first, later = sorted((owner, path))
        self._owners[article_id] = first
        self._reject(later, _taken(article_id, first, later), outcome)


def _taken(article_id: str, first: str, later: str) -> ArticleError:
    return ArticleError(
        f"id {article_id!r} is already used by {first}; give this article its own `id`",
        path=later,
    )

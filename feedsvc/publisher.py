"""The one writer: scan, parse, remember, rebuild, swap.

Readers only ever call `snapshot`, which returns one immutable Snapshot: a rebuild
makes a new one and replaces the reference in one step, so no request sees half of
an update.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

from . import __version__
from . import snapshot as snapshot_file
from .articles import Article
from .config import Config
from .ingest import Library, Outcome
from .site import Changes, build, local_image
from .snapshot import Snapshot
from .store import Store
from .text import tag_key

log = logging.getLogger("feedsvc")


class Publisher:
    def __init__(self, cfg: Config, store: Store | None = None, workers: int | None = None) -> None:
        self.cfg = cfg
        self.store = store or Store(cfg.state_path)
        self.library = Library(cfg, self.store, workers)
        self.authority = self._pin_authority()
        self.snapshot_path = cfg.state_path.with_name(cfg.state_path.stem + "-snapshot.sqlite3")
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedsvc-save")
        self._lock = threading.RLock()
        self._snapshot = Snapshot({})
        self._published: dict[str, Article] = {}  # by path
        self._windows: dict[str, list[str]] = {}  # feed path -> the article ids it holds
        self.last_build_seconds = 0.0
        self.build_problems: list[str] = []
        self.pending: set[str] = set()

    def _pin_authority(self) -> str:
        """Entry ids must survive a change of base_url: the tag: authority is kept
        from the first run unless site.id_authority says otherwise."""
        if self.cfg.site.id_authority:
            return self.cfg.site.id_authority
        pinned = self.store.meta("id_authority")
        if pinned is None:
            pinned = self.cfg.authority
            self.store.set_meta("id_authority", pinned)
        elif pinned != (urlsplit(self.cfg.base_url).hostname or ""):
            log.info("entry ids keep the authority %r of the first run", pinned)
        return pinned

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def close(self) -> None:
        self._saver.shutdown(wait=True)
        self.store.close()

    # -- the three ways in ----------------------------------------------------------

    def rescan(self, busy: frozenset[str] = frozenset()) -> Snapshot:
        """Full scan of the folder (start-up and the periodic safety net).

        `busy` paths are open for writing: they keep their last published version.
        """
        with self._lock:
            outcome = self.library.scan(busy)
            return self._apply(outcome, full=not self._snapshot.resources)

    def refresh(self, paths: set[str], busy: frozenset[str] = frozenset()) -> Snapshot:
        """Only these relative paths changed (file-system events)."""
        with self._lock:
            if not self._snapshot.resources:  # an event before the first scan: scan instead
                return self.rescan(busy)
            return self._apply(self.library.refresh(paths, busy), full=False)

    def publish_due(self) -> Snapshot:
        """Time passed: scheduled articles whose moment has come go live."""
        with self._lock:
            return self._apply(Outcome(), full=False)

    # -- queries ---------------------------------------------------------------------

    def scheduled(self) -> list[tuple[datetime, str]]:
        """(publication time, path) of every article waiting for its time."""
        now = datetime.now(UTC)
        return sorted(
            (a.date, path)
            for path, a in self.library.articles.items()
            if not a.draft and a.date is not None and a.date > now
        )

    # -- internals -------------------------------------------------------------------

    def _apply(self, outcome: Outcome, full: bool) -> Snapshot:
        started = time.perf_counter()
        self.pending = (self.pending | outcome.pending) - set(outcome.changed)
        now = datetime.now(UTC)
        published = {
            path: a
            for path, a in self.library.articles.items()
            if not a.draft and a.date is not None and a.date <= now
        }
        touched_tags: set[str] = set()
        touched_ids: set[str] = set()
        for path in published.keys() | self._published.keys():
            before, after = self._published.get(path), published.get(path)
            if before == after:
                continue
            for article in (before, after):
                if article is not None:
                    touched_ids.add(article.id)
                    touched_tags.update(tag_key(t) for t in article.tags)
        changed = bool(touched_ids) or full
        was_published, self._published = self._published, published
        info = self._info(now)
        inputs = self._inputs(published) if changed else ""
        if full and (saved := snapshot_file.load(self.snapshot_path, inputs)) is not None:
            # A warm start with nothing changed: serve what was built last time.
            self.build_problems = list(saved.info.get("build_problems", []))
            self._windows = dict(saved.info.get("windows", {}))
            self._let_bodies_go()
            self._snapshot = Snapshot(saved.resources, {**saved.info, **self._info(now)})
            log.info(
                "serving the saved snapshot (%d resources): nothing changed", len(saved.resources)
            )
            return self._snapshot
        if changed:
            previous = self._snapshot
            try:
                snapshot, report = build(
                    list(published.values()),
                    self.cfg,
                    self.authority,
                    previous=None if full else self._snapshot,
                    changes=None
                    if full
                    else Changes(frozenset(touched_tags), frozenset(touched_ids)),
                    info=info,
                    body_of=self._body,
                )
            except Exception:
                log.exception("rebuild failed; still serving the previous feeds")
                self._published = was_published  # so that the next event or rescan retries
                return self._snapshot
            self.build_problems = report.problems
            for problem in report.problems:
                log.warning("%s", problem)
            self.last_build_seconds = time.perf_counter() - started
            self._windows = {
                path: ids
                for path, ids in (self._windows if not full else {}).items()
                if path in snapshot.resources
            } | report.windows
            self._let_bodies_go()
            info = {
                **snapshot.info,
                "build_problems": report.problems,
                "windows": self._windows,
                **self._info(now),
            }
            self._snapshot = Snapshot(snapshot.resources, info)
            # Saved in the background, in order: readers have the new snapshot already.
            self._saver.submit(self._save, self._snapshot, inputs, None if full else previous)
            log.info(
                "rebuilt %d feeds, %d pages in %.3f s",
                report.feeds_rendered,
                report.pages_rendered,
                self.last_build_seconds,
            )
        else:
            self._snapshot = Snapshot(self._snapshot.resources, {**self._snapshot.info, **info})
        return self._snapshot

    def _body(self, article: Article) -> str:
        """An article's HTML: in memory while a feed holds the article, else from the store."""
        if article.body_html is not None:
            return article.body_html
        return self.store.body(article.path)

    def _let_bodies_go(self) -> None:
        """Keep in memory the bodies of the articles some feed holds, and no others:
        memory follows the feeds, not the size of the archive."""
        wanted = {article_id for ids in self._windows.values() for article_id in ids}
        for path, article in list(self.library.articles.items()):
            if article.body_html is not None and article.id not in wanted:
                lighter = dataclasses.replace(article, body_html=None)
                self.library.articles[path] = lighter
                if path in self._published:
                    self._published[path] = lighter

    def _save(self, snapshot: Snapshot, inputs: str, previous: Snapshot | None) -> None:
        try:
            snapshot_file.save(self.snapshot_path, snapshot, inputs, previous)
        except (OSError, sqlite3.Error) as exc:  # only the next warm start loses
            log.warning("could not save the snapshot for warm starts: %s", exc)

    def _inputs(self, published: dict[str, Article]) -> str:
        """A digest of everything a build depends on: the published articles (content
        hash, id, dates), their local images, the configuration and this version."""
        cfg = self.cfg  # what rendering reads of it (not settle_ms, not the server)
        built_from = (
            __version__,
            self.authority,
            cfg.site,
            cfg.feeds,
            cfg.tags,
            cfg.schedule.rescan_seconds,
            str(cfg.articles_dir),
        )
        digest = hashlib.sha256(repr(built_from).encode())
        root = self.cfg.articles_dir
        for path in sorted(published):
            article = published[path]
            digest.update(
                f"{path}\0{self.library.digests.get(path)}\0{article.id}\0"
                f"{article.date}\0{article.updated}\0{article.draft}\n".encode()
            )
            image = local_image(article, root)
            if image is not None:
                info = image.stat()
                digest.update(f"{image}\0{info.st_size}\0{info.st_mtime_ns}".encode())
        return digest.hexdigest()

    def _info(self, now: datetime) -> dict[str, object]:
        scan = self.library.last_scan
        return {
            "last_scan": scan.isoformat() if scan else None,
            "last_build_seconds": round(self.last_build_seconds, 4),
            "scheduled": [{"path": path, "at": at.isoformat()} for at, path in self.scheduled()],
            "rejected": [str(e) for e in self.library.problems()] + self.build_problems,
        }

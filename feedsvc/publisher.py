"""The one writer: scan, parse, remember, rebuild, swap.

Readers only ever read `snapshot`, one immutable Snapshot: a rebuild makes a new one
and replaces the reference in one step, so no request sees half of an update. Every
other method takes the publisher's lock: the watcher's, the scheduler's and the main
thread call them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from . import heap, sources, warmstart
from .archives import Positions, assign
from .arrangement import Arranged, Arrangement
from .articles import Article, micros
from .config import Config
from .errors import FeedsvcError
from .ingest import FileTexts, Library, Outcome, Withdrawn, glance
from .media import brand_file, local_image
from .sitemaps import refresh_news
from .snapshot import Change, Health, Resource, Scratch, SiteIndex, Snapshot
from .store import Store, Withdrawal
from .topics import ALL, Ref, Topic, refs_of
from .urls import Urls, feed_path, served

if TYPE_CHECKING:
    from .feeds import Kept
    from .site import Built, Job

log = logging.getLogger("feedsvc")

Clock = Callable[[], datetime]
# Told of each new build: the index it replaces (None on a first start with an empty
# state) and the new one. Called under the lock: it must be quick (WebSub queues).
Listener = Callable[[SiteIndex | None, SiteIndex], None]


def _as_built(saved: warmstart.Saved) -> warmstart.Built:
    """What a warm-start file holds, as a save would have put it."""
    inputs = warmstart.Inputs(saved.settings, saved.images, saved.inputs)
    return warmstart.Built(saved.snapshot, saved.published, inputs)


class _Share(NamedTuple):
    """An article's share of the inputs digest: the digest of its line, 16 bytes where
    the line is a few hundred, kept for every article of the archive; good while the
    library still publishes this very Article."""

    article: Article
    digest: bytes


@dataclass(frozen=True)
class Move:
    """An article whose published form changed at a path: None before, it appeared;
    None after, it went."""

    path: str
    before: Article | None
    after: Article | None


@dataclass
class Touched:
    """What a change touches: the ids of the articles whose published form changed,
    and every topic they were in or are in now."""

    ids: set[str] = field(default_factory=set)
    topics: set[Ref] = field(default_factory=set)
    moved: list[Move] = field(default_factory=list)

    def add(self, article: Article) -> None:
        self.ids.add(article.id)
        self.topics.update(refs_of(article))

    def merge(self, other: Touched) -> None:
        self.ids |= other.ids
        self.topics |= other.topics
        self.moved += other.moved


# Told after each build: how long it took, and each change's file-to-feed seconds.
BuildObserver = Callable[[float, list[float]], None]
CHANGES_KEPT = 50


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Publisher:
    def __init__(
        self,
        cfg: Config,
        store: Store | None = None,
        workers: int | None = None,
        clock: Clock = _utc_now,
        listener: Listener | None = None,
        pages_later: bool = False,
        observer: BuildObserver | None = None,
    ) -> None:
        """pages_later: a first build of everything makes only the subscription feeds
        and list pages; `finish_pages` builds the rest (a server serves its feeds
        first)."""
        self.cfg = cfg
        self.store = store or Store(cfg.state_path)
        self.library = Library(cfg, self.store, workers)
        self.urls = Urls(cfg.base_url, self._pin_authority())
        self.snapshot_path = cfg.state_path.with_name(cfg.state_path.stem + "-snapshot.sqlite3")
        self._saved_bytes = warmstart.SavedBytes(self.snapshot_path)  # saved bytes, read when asked
        self._clock = clock
        self._listener = listener
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedsvc-save")
        self._lock = threading.RLock()
        self._snapshot = Snapshot()
        self._built = False  # a first build (or warm start) has happened
        self._published: dict[str, Article] = {}  # by path
        self._scheduled: dict[str, Article] = {}  # by path: to be published (at the last look)
        self._walk = False  # the last build failed: compare every article next time
        self._rescan_due = False  # the last look failed half-way: the next one scans all
        self._error = ""  # why the last build or save failed, until one succeeds (/healthz)
        self._pending: set[str] = set()
        self._positions: dict[Ref, Positions] | None = None  # archives, by topic
        self._arrangement = Arrangement()  # the last build's, updated by the next
        self._arranged_for: dict[str, Article] | None = None  # what it holds
        self._entries: Kept | None = None  # feed entries serialized by the last builds
        self._last_build_seconds = 0.0
        self._pages_later = pages_later
        # Set while a first build's article pages are still to come: the resources
        # whose validators they keep (the saved site's, after a change of settings).
        self._pages_due: Mapping[str, Resource] | None = None
        self._renewing = False  # the saved site is served while all is built again
        # The saved site, served before the first look while it compares the folder
        # with what that site was built from (`serve_saved`).
        self._checking: warmstart.SavedSite | None = None
        # A first start serves its newest articles from their front matter until the
        # first look's build (`serve_newest`).
        self._newest_only = False
        # Each published article's share of the inputs digest, made again only for an
        # article that changed (formatting 20,000 dates takes 20 ms of every save).
        self._shares: dict[str, _Share] = {}
        # What the warm-start file holds: set by the first build, then by the save thread.
        self._on_disk: warmstart.Built | None = None
        self._closing = threading.Event()
        # Articles taken back and not published again, by id (from the state file).
        self._withdrawals: dict[str, Withdrawal] = self.store.withdrawals()
        self._changes: deque[Change] = deque(maxlen=CHANGES_KEPT)
        self._observer = observer

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
        """The current snapshot: a reference read, no lock (it is replaced whole)."""
        return self._snapshot

    def wait_saved(self) -> None:
        """Until the warm-start saves asked for so far are done (tests, benchmarks)."""
        self._saver.submit(lambda: None).result()

    def close(self, abandon_save: bool = False) -> None:
        """abandon_save: stop a warm-start save under way (the file keeps its last
        state: the next start builds what changed since), as a server that must stop
        within seconds needs; at 100,000 articles a first save takes minutes."""
        if abandon_save:
            self._closing.set()
        self._saver.shutdown(wait=True, cancel_futures=abandon_save)
        self.store.close()
        self._saved_bytes.close()
        if self._entries is not None:
            self._entries.close()

    # -- the three ways in ----------------------------------------------------------

    def serve_saved(self) -> bool:
        """Before the first look: serve the saved site as it was at the last stop,
        while that look (`rescan`) reads the articles and compares the folder with
        them, then keeps it, builds what changed, or builds all after an upgrade. At
        100,000 articles the site is read in a third of the time the look takes.
        False when there is no saved site: the first look builds one."""
        with self._lock:
            if self._built:
                return False
            site = warmstart.load_site(self.snapshot_path, self._saved_bytes)
            if site is None:
                return False
            self._checking = site
            self._swap(site.snapshot, self._clock())
            return True

    def serve_newest(self) -> bool:
        """Before the first look of a first start (a state file that knows no file):
        `all`'s feeds, the OPML and the front page, chosen from every file's front
        matter (under a third of the cost of reading them whole), served until that
        look's build replaces them; every other path answers 503 meanwhile. Never
        saved, mirrored or announced. False when the state knows files (the store
        decides their ids and dates: the first look comes first) or nothing is
        published yet."""
        with self._lock:
            if self._built or self._checking is not None or self.store.knows_files():
                return False
            from .site import Job, Plan, build

            now = self._clock()
            try:
                moment = micros(now)
                found = glance(self.cfg, self.library.workers)
                published = [a for a in found.values() if a.order[0] <= moment]
                if not published:
                    return False
                arranged = Arrangement().arrange(published, self.cfg)
                archive = {}
                if self.cfg.feeds.archive_size:
                    archive[ALL] = assign(Positions(), arranged.ordered)[0]
                job = Job(
                    arranged=arranged,
                    cfg=self.cfg,
                    urls=self.urls,
                    plan=Plan.newest(),
                    previous=SiteIndex(),
                    texts=FileTexts(self.cfg),
                    now=now,
                    archive=archive,
                )
                built = build(job)
            except Exception:  # only time is lost: the first look builds them
                log.exception("could not serve the newest articles before reading every file")
                return False
            log.info("serving the newest of %d articles while every file is read", len(published))
            self._newest_only = True
            self._swap(built.snapshot, now)
            return True

    def rescan(self, busy: frozenset[str] = frozenset()) -> Snapshot:
        """Full scan of the folder (start-up and the periodic safety net).

        `busy` paths are open for writing: they keep their last published version.
        """
        with self._lock:
            saved = None if self._built else self._load_saved()
            first = not self._built
            try:
                outcome = self.library.scan(busy)
                self._rescan_due = False
                # A walk over every article, not only what the scan reports: anything
                # an interrupted refresh left unsaid is caught here, as files missed are.
                return self._apply(outcome, full=first, saved=saved, walk=True)
            except Exception as exc:
                disk = isinstance(exc, OSError | sqlite3.Error)
                showing = self._checking is not None or self._newest_only
                if (first and not showing) or (not first and not disk):
                    raise  # nothing to serve: the start fails, saying why
                if not disk:  # a parse worker killed, say: the next look tries again
                    log.exception("the first look failed; still serving what came before it")
                return self._failed(exc)

    def refresh(self, paths: set[str], busy: frozenset[str] = frozenset()) -> Snapshot:
        """Only these relative paths changed (file-system events)."""
        with self._lock:
            if not self._built or self._rescan_due:  # before the first scan, or after a
                return self.rescan(busy)  # failed look: what it left half-done is found
            try:
                return self._apply(self.library.refresh(paths, busy), full=False)
            except (OSError, sqlite3.Error) as exc:
                return self._failed(exc)

    def publish_due(self) -> Snapshot:
        """Time passed: scheduled articles whose moment has come go live."""
        with self._lock:
            return self._apply(Outcome(), full=False)

    # -- queries ---------------------------------------------------------------------

    def scheduled(self) -> list[tuple[datetime, str]]:
        """(publication time, path) of every article waiting for its time."""
        with self._lock:
            moment = micros(self._clock())
            return sorted((a.date, p) for p, a in self._scheduled.items() if a.order[0] > moment)

    def pending(self) -> set[str]:
        """Paths still being written at the last look: to be looked at again."""
        with self._lock:
            return set(self._pending)

    # -- internals -------------------------------------------------------------------

    def _load_saved(self) -> warmstart.Saved | None:
        """The warm-start file, before the first scan: when it was built with these
        settings, its articles are the library's to start from (the scan checks each
        against its file's row and replaces what differs)."""
        saved = warmstart.load(self.snapshot_path, self._saved_bytes, self._checking)
        if saved is not None and saved.settings == self._settings():
            self.library.preload(saved.published)
        return saved

    def finish_pages(self) -> Snapshot:
        """Everything a first build left for later: archive pages, article pages and
        sitemaps; or, after an upgrade, the whole new site (at once when none is due).
        It builds the whole site again, as any full build: the feeds come out the same
        bytes and keep their resources. Until then the site is never saved for warm
        starts: a restart must not find it without its pages."""
        with self._lock:
            due = self._pages_due
            if due is None:
                return self._snapshot
            served = self._snapshot
            # Validators: the first build's resources, else the saved site's.
            previous = Snapshot({**due, **served.resources}, served.index)
            return self._rebuild(self._published, self._clock(), previous, None, None, known=True)

    def prepare(self) -> None:
        """After a start that built nothing (the saved site served as it was), what
        the first rebuild would otherwise make first: the arrangement of every
        article, the archive positions, the sitemap's entries (at 100,000 articles,
        3 s of the first refresh; the next ones take under 1 s). In the background,
        after the server listens; a change meanwhile waits for the lock, as it
        would have waited for that work."""
        with self._lock:
            if not self._built or self._arranged_for is self._published:
                return
            from .site import site_maps

            try:
                arranged = self._arrange(self._published, None)
                self._archive(arranged, Touched())  # loads the positions, gives none
                now = self._clock()
                site_maps(self._snapshot.resources, arranged.ordered, self.cfg, self.urls, now)
            except Exception:  # only time is lost: the first rebuild makes them
                log.exception("could not prepare for the first change")

    def _apply(
        self,
        outcome: Outcome,
        full: bool,
        saved: warmstart.Saved | None = None,
        walk: bool = False,
    ) -> Snapshot:
        """walk: compare every article with the last build (else only what the outcome
        names and what came due: a walk over 100,000 took 100 ms of each refresh)."""
        if self._pages_due is not None:  # a change before them: the pages first
            self.finish_pages()
        self._pending = (self._pending | outcome.pending) - set(outcome.changed)
        now = self._clock()
        if full:
            return self._first(self._split(now), now, saved, outcome)
        if walk or self._walk:
            published, paths = self._split(now), None
        else:
            published, paths = self._advance(outcome, now)
        touched = self._touched(published, paths)
        previous = self._snapshot.index
        touched.merge(self._withdraw(published, paths, outcome, now=now, previous=previous))
        if not touched.ids and not touched.topics:  # the health, the news sitemap
            return self._swap(self._with_news(self._snapshot, published, now), now)
        # A partial build digests its inputs on the save thread, off this path.
        return self._rebuild(
            published, now, self._snapshot, touched, None, known=True, changed=paths
        )

    def _note_changes(self, touched: Touched, served: datetime) -> list[float]:
        """What readers now see changed, for the desk's view; each change's seconds
        from its file's last write, for the metrics."""
        latencies = []
        for move in touched.moved:
            path, before, after = move.path, move.before, move.after
            if after is None:
                withdrawn = before is not None and before.id in self._withdrawals
                kind, article = ("withdrawn" if withdrawn else "removed"), before
            elif before is None:
                kind, article = "published", after
            else:
                kind = "corrected" if after.corrections != before.corrections else "updated"
                article = after
            assert article is not None
            latency = self._latency(path, article, after is not None, served)
            if latency is not None:
                latencies.append(latency)
            change = Change(kind=kind, title=article.title, path=path, at=served, latency=latency)
            self._changes.appendleft(change)
        return latencies

    def _latency(self, path: str, article: Article, shown: bool, served: datetime) -> float | None:
        """From the file's last write (or the scheduled moment that made it due)."""
        due = article.date.timestamp()
        mtime_ns = self.store.mtime_ns(path) if shown else None
        written = mtime_ns / 1e9 if mtime_ns is not None else None
        start = due if shown and (written is None or due > written) else written
        return None if start is None else max(0.0, served.timestamp() - start)

    def _split(self, now: datetime) -> dict[str, Article]:
        """The published articles by path, from every article; those still to come
        are remembered apart."""
        moment = micros(now)  # integers compare faster than aware datetimes
        published: dict[str, Article] = {}
        self._scheduled = {}
        for path, article in self.library.articles.items():
            if article.order[0] <= moment:
                published[path] = article
            else:
                self._scheduled[path] = article
        return published

    def _advance(self, outcome: Outcome, now: datetime) -> tuple[dict[str, Article], set[str]]:
        """The last build's published articles moved on by what this outcome changed
        and what came due; the paths that may differ from it."""
        moment = micros(now)
        paths = set(outcome.changed)
        paths.update(p for p, a in self._scheduled.items() if a.order[0] <= moment)
        published, articles = dict(self._published), self.library.articles
        for path in paths:
            article = articles.get(path)
            self._scheduled.pop(path, None)
            if article is not None and article.order[0] > moment:
                self._scheduled[path] = article
                article = None
            if article is None:
                published.pop(path, None)
            else:
                published[path] = article
        return published, paths

    def _first(
        self,
        published: dict[str, Article],
        now: datetime,
        saved: warmstart.Saved | None,
        outcome: Outcome,
    ) -> Snapshot:
        """This process's first build: the saved site as it is when nothing changed;
        only what changed while stopped when the settings are the same; else all."""
        if saved is not None:  # what was withdrawn while stopped
            self._published = saved.published
        previous = saved.snapshot.index if saved else None
        touched = self._withdraw(published, None, outcome, now=now, previous=previous)
        inputs = self._inputs(published)
        if saved is None:
            return self._rebuild(published, now, self._snapshot, None, inputs, known=False)
        if saved.inputs == inputs.digest:
            log.info(
                "serving the saved snapshot (%d resources): nothing changed",
                len(saved.snapshot.resources),
            )
            self._on_disk = _as_built(saved)
            return self._install(self._with_news(saved.snapshot, published, now), published, now)
        if saved.settings != inputs.settings:
            if self._pages_later:  # a server: the saved site until the new one is whole
                return self._serve_while_renewing(saved, published, now)
            return self._rebuild(published, now, saved.snapshot, None, inputs, known=True)
        touched.merge(self._touched(published, None))
        for path in inputs.images.keys() | saved.images.keys():
            article = published.get(path)
            if article is not None and inputs.images.get(path) != saved.images.get(path):
                touched.add(article)
        log.info("%d articles changed while stopped: building what they touch", len(touched.ids))
        self._on_disk = _as_built(saved)
        return self._rebuild(published, now, saved.snapshot, touched, inputs, known=True)

    def _serve_while_renewing(
        self, saved: warmstart.Saved, published: dict[str, Article], now: datetime
    ) -> Snapshot:
        """After an upgrade or a change of settings the whole site is built again. A
        server serves the saved site as it was meanwhile (its bytes read from the
        warm-start file) and builds the new one once it listens (`finish_pages`):
        readers never meet a window without feeds. That file is replaced only by the
        new site, whole: a restart during the build serves the saved one again."""
        log.info(
            "settings or code changed: serving the saved snapshot (%d resources) while "
            "the whole site is built again",
            len(saved.snapshot.resources),
        )
        self._pages_due, self._renewing = saved.snapshot.resources, True
        return self._install(self._with_news(saved.snapshot, published, now), published, now)

    def _rebuild(
        self,
        published: dict[str, Article],
        now: datetime,
        previous: Snapshot,
        touched: Touched | None,  # None: build all
        inputs: warmstart.Inputs | None,
        known: bool,  # False: a first start with an empty state, nothing to compare
        changed: set[str] | None = None,  # the paths that may differ from the last build
    ) -> Snapshot:
        from .feeds import Kept  # here: a start with nothing to build never renders
        from .site import Job, Plan

        later = touched is None and self._pages_later and not self._built
        if touched is None:
            plan = Plan.full(previous.resources, pages=not later)
        else:
            plan = Plan.partial(
                frozenset(touched.topics), frozenset(touched.ids), previous.resources
            )
        started = time.perf_counter()
        try:
            if self._entries is None:
                self._entries = Kept(folder=self.cfg.state_path.parent)
            arranged = self._arrange(published, changed)
            job = Job(
                arranged=arranged,
                cfg=self.cfg,
                urls=self.urls,
                plan=plan,
                previous=previous.index,
                texts=self.library,
                now=now,
                archive=self._archive(arranged, touched),
                kept=self._entries,
                withdrawals=dict(self._withdrawals),
            )
            built = self._build(job)
        except (OSError, sqlite3.Error) as exc:
            return self._failed(exc)
        except Exception as exc:
            log.exception("rebuild failed; still serving the previous feeds")
            self._error = f"rebuild failed: {exc!r}"
            self._walk = True  # _published unchanged: the next look compares everything
            return self._swap(self._snapshot, now)
        self._last_build_seconds = time.perf_counter() - started
        self._log_build(built)
        self._pages_due = previous.resources if later else None
        self._renewing = False
        latencies = self._note_changes(touched, self._clock()) if touched is not None else []
        snapshot = self._install(built.snapshot, published, now)
        # Listeners first (the mirror, the hubs), then the save, in the background and
        # in order: readers have the new snapshot already.
        self._tell(previous.index if known else None, snapshot.index)
        if self._observer is not None:
            self._observer(self._last_build_seconds, latencies)
        if not later:
            self._saver.submit(self._save, snapshot, published, inputs, touched is not None)
        return snapshot

    def _build(self, job: Job) -> Built:
        """A full build puts its bytes in the warm-start file as it makes them
        (warmstart.Stager), or a cold start's first build in a scratch file (it is
        never saved), and its serialized entries in another beside the state file:
        memory holds a batch of them, not the site."""
        from .site import build

        if not job.plan.is_full:
            return build(job)
        folder = self.cfg.state_path.parent
        if not job.plan.pages:  # a cold start's feeds: served, not saved, uncompressed
            return build(dataclasses.replace(job, spill=Scratch(folder), scratch=folder))
        stager = warmstart.Stager(self.snapshot_path, self._saved_bytes)
        try:
            return build(dataclasses.replace(job, spill=stager, scratch=folder))
        finally:
            stager.close()

    def _log_build(self, built: Built) -> None:
        for problem in built.snapshot.index.problems:
            log.warning("%s", problem)
        log.info(
            "rebuilt %d feeds, %d pages in %.3f s",
            built.feeds_rendered,
            built.pages_rendered,
            self._last_build_seconds,
        )

    def _arrange(self, published: dict[str, Article], changed: set[str] | None) -> Arranged:
        """Told only what changed when the arrangement holds the last build's articles
        (not after a start that built nothing, nor after a failed build)."""
        if changed is not None and self._arranged_for is self._published:
            arranged = self._arrangement.rearrange(published, changed, self.cfg)
        else:
            arranged = self._arrangement.arrange(published.values(), self.cfg)
        self._arranged_for = published
        return arranged

    def _touched(self, published: Mapping[str, Article], paths: set[str] | None) -> Touched:
        """The articles whose published form changed since the last build (at these
        paths; None: at any), and their topics before and after."""
        touched = Touched()
        for path in published.keys() | self._published.keys() if paths is None else paths:
            before, after = self._published.get(path), published.get(path)
            if before is after or before == after:  # the library keeps unchanged objects
                continue
            touched.moved.append(Move(path, before, after))
            for article in (before, after):
                if article is not None:
                    touched.add(article)
        return touched

    def _withdraw(
        self,
        published: Mapping[str, Article],
        paths: set[str] | None,
        outcome: Outcome,
        *,
        now: datetime,
        previous: SiteIndex | None,
    ) -> Touched:
        """Articles taken back since the last build and articles published again,
        remembered in the state file; and what that touches: their pages (410, or back),
        the topics they were in, and those whose tombstones came or went with time
        (`previous`: the index of the site the next build starts from)."""
        candidates = published.values() if paths is None else map(published.get, paths)
        live = {a.id for a in candidates if a is not None}  # (a move: the new path)
        changed = self._remember(self._taken(live, outcome), live, now, previous)
        was = set(previous.tombstoned) if previous is not None else set()
        shown = {w.id for w in self._tombstones_shown(now)}
        changed += [self._withdrawals[i] for i in was ^ shown if i in self._withdrawals]
        touched = Touched()
        for withdrawal in changed:
            touched.ids.add(withdrawal.id)
            touched.topics.update(Ref.from_stored(stored) for stored in withdrawal.topics)
        return touched

    def _taken(self, live: set[str], outcome: Outcome) -> list[Withdrawn]:
        """Published articles taken back: a file deleted (not moved), or a `withdrawn`
        field. One never published tells nothing (an embargoed title stays unknown);
        an id another file publishes is not withdrawn."""
        owner = self.library.owner
        gone = [a for p in outcome.deleted if (a := self._published.get(p)) and a.id not in live]
        taken = [Withdrawn(a, "") for a in gone if owner(a.id) is None]
        for path, withdrawn in self.library.withdrawn.items():
            article, before = withdrawn.article, self._published.get(path)
            told = article.id in self._withdrawals or (
                before is not None and before.id == article.id
            )
            if told and owner(article.id) is None:
                taken.append(withdrawn)
        return taken

    def _remember(
        self, taken: list[Withdrawn], live: set[str], now: datetime, previous: SiteIndex | None
    ) -> list[Withdrawal]:
        """The withdrawals new or with a new reason, and those of the articles published
        again, saved in the state file."""
        new = []
        for withdrawn in taken:
            article, reason = withdrawn.article, withdrawn.reason
            known = self._withdrawals.get(article.id)
            if known is not None and known.reason == reason:
                continue
            new.append(
                Withdrawal(
                    id=article.id,
                    title=article.title,
                    at=known.at if known is not None else float(int(now.timestamp())),
                    reason=reason,
                    topics=(ALL.stored, *(ref.stored for ref in refs_of(article))),
                    feeds=known.feeds if known is not None else self._held(article, previous),
                )
            )
        back = list(live & self._withdrawals.keys())
        for withdrawal in new:
            self._withdrawals[withdrawal.id] = withdrawal
        if new:
            self.store.withdraw(new)
        if back:
            self.store.restore(back)
        return new + [self._withdrawals.pop(i) for i in back]

    def _tombstones_shown(self, now: datetime) -> list[Withdrawal]:
        days, moment = self.cfg.feeds.tombstone_days, now.timestamp()
        return [w for w in self._withdrawals.values() if w.shows_tombstone(moment, days)]

    def _held(self, article: Article, previous: SiteIndex | None) -> tuple[str, ...]:
        """The Atom subscription documents whose entries held the article: those its
        tombstone goes in (none without a previous site: no history)."""
        if previous is None:
            return ()
        held = []
        for ref in (ALL, *refs_of(article)):
            named = previous.catalog.get(ref.stored)
            if ref != ALL and named is None:
                continue
            path = served(feed_path(Topic(ref, named[0] if named else "", ""), "atom"))
            if article.id in previous.windows.get(path, ()):
                held.append(path)
        return tuple(held)

    def expiries(self) -> list[datetime]:
        """When tombstones shown now leave the feeds: a look then rebuilds them."""
        with self._lock:
            days = self.cfg.feeds.tombstone_days
            return sorted(
                datetime.fromtimestamp(w.at + days * 86_400, UTC)
                for w in self._tombstones_shown(self._clock())
            )

    def _failed(self, exc: Exception) -> Snapshot:
        """A look or build stopped by the disk (full, read-only, gone), or a first
        look by anything while the saved site or the newest articles are served: one
        log line per distinct cause, the previous site still served, /healthz saying
        why. What the look did before it failed is in the store or the library and not
        yet built, so the next look (any event, or the periodic rescan) scans
        everything."""
        disk = isinstance(exc, OSError | sqlite3.Error)
        error = f"could not build: {exc}" + (f" (state file {self.cfg.state_path})" if disk else "")
        if error != self._error:
            log.error("%s; still serving the previous feeds", error)
        self._error = error
        self._walk = self._rescan_due = True
        return self._swap(self._snapshot, self._clock())

    def _install(self, built: Snapshot, published: dict[str, Article], now: datetime) -> Snapshot:
        """Make `built` the served snapshot."""
        self._published = published
        self._walk = False
        self._error = ""
        self._built = True
        self._checking = None
        self._newest_only = False
        if self._pages_due is None:  # else the pages to come render the bodies held
            self.library.built()
        return self._swap(built, now)

    def _archive(self, arranged: Arranged, touched: Touched | None) -> dict[Ref, Positions]:
        """Every feed's archive positions, new members given theirs (and remembered in
        the state file) before the build. Only the touched articles can be new members,
        of `all` and the touched topics (None: look at every member of every feed)."""
        if not self.cfg.feeds.archive_size:
            return {}
        if self._positions is None:
            self._positions = {
                Ref.from_stored(feed): Positions.remembered(of)
                for feed, of in self.store.positions().items()
            }
        members: dict[Ref, Sequence[Article]]
        if touched is None:
            members = {ALL: arranged.ordered, **arranged.members}
        else:
            changed = [arranged.by_id[i] for i in touched.ids if i in arranged.by_id]
            members = {ALL: changed}
            for ref in touched.topics & arranged.members.keys():
                members[ref] = [a for a in changed if ref in refs_of(a)]
        rows: list[tuple[str, str, int]] = []
        for ref, articles in members.items():
            positions, new = assign(self._positions.get(ref, Positions()), articles)
            self._positions[ref] = positions
            rows += [(ref.stored, article_id, position) for article_id, position in new]
        if rows:
            self.store.add_positions(rows)
        return dict(self._positions)

    def _with_news(
        self, snapshot: Snapshot, published: Mapping[str, Article], now: datetime
    ) -> Snapshot:
        """Articles age out of the news sitemap with time alone: it is made anew at
        every look (at least hourly: the scheduler's news job)."""
        refreshed = refresh_news(snapshot, published.values(), self.cfg, self.urls, now)
        return snapshot if refreshed is None else refreshed

    def _tell(self, before: SiteIndex | None, after: SiteIndex) -> None:
        if self._listener is None:
            return
        try:
            self._listener(before, after)
        except Exception:  # pushing must never break publishing
            log.exception("could not queue the change notifications")

    def _swap(self, built: Snapshot, now: datetime) -> Snapshot:
        scan = self.library.last_scan
        scheduled = tuple(sorted((p, a.date) for p, a in self._scheduled.items()))
        rejected = [str(e) for e in self.library.problems()] + list(built.index.problems)
        health = Health(
            scan,
            round(self._last_build_seconds, 4),
            scheduled,
            tuple(rejected),
            pages_pending=self._pages_due is not None and not self._renewing,
            rebuilding=self._renewing,
            checking=self._checking is not None,
            feeds_pending=self._newest_only,
            drafts=len(self.library.drafts),
            changes=tuple(self._changes),
            error=self._error,
        )
        self._snapshot = Snapshot(built.resources, built.index, health)
        return self._snapshot

    def _save(
        self,
        snapshot: Snapshot,
        published: Mapping[str, Article],
        inputs: warmstart.Inputs | None,
        partial: bool,
    ) -> None:
        """On the save thread, in build order; `published` is never changed again.
        After a partial build only the difference from what the file holds is written."""
        try:
            built = warmstart.Built(
                snapshot, published, inputs if inputs is not None else self._inputs(published)
            )
            previous = self._on_disk if partial else None
            written = warmstart.save(self.snapshot_path, built, previous, self._closing.is_set)
            self._on_disk = built
            for resource in written:  # memory keeps what is not saved yet, no more
                resource.held.spill(self._saved_bytes)
            heap.give_back()  # what the build and this save freed
        except (OSError, sqlite3.Error, FeedsvcError) as exc:  # only the next warm start loses
            self._on_disk = None  # the next save writes everything
            log.warning("could not save the snapshot for warm starts: %s", exc)
            with self._lock:  # /healthz says so until a build succeeds
                self._error = f"could not save the site for warm starts: {exc}"
                self._swap(self._snapshot, self._clock())

    def _settings(self) -> str:
        """Digest of what every document depends on: this code, the configuration that
        rendering reads (not settle_ms, not the server), the brand files."""
        cfg = self.cfg
        built_from = (
            sources.rendering(),
            warmstart.FORMAT,
            self.urls.authority,
            cfg.site,
            cfg.feeds,
            cfg.tags,
            cfg.sections,
            cfg.authors,
            cfg.websub.hubs,  # in every subscription document and its Link header
            cfg.schedule.rescan_seconds,
            str(cfg.articles_dir),
        )
        settings = hashlib.sha256(repr(built_from).encode())
        for file in (brand_file(cfg, "icon"), brand_file(cfg, "logo")):  # under /media/
            if file is not None:
                info = file.stat()
                settings.update(f"{file}\0{info.st_size}\0{info.st_mtime_ns}".encode())
        return settings.hexdigest()

    def _inputs(self, published: Mapping[str, Article]) -> warmstart.Inputs:
        """Digests of everything a build depends on: the settings, the published
        articles (content hash, id, dates) and their local images."""
        settings = self._settings()
        digest = hashlib.sha256(bytes.fromhex(settings))
        root = self.cfg.articles_dir
        images: dict[str, str] = {}
        shares, known = {}, self._shares
        for path in sorted(published):
            article = published[path]
            share = known.get(path)
            if share is None or share.article is not article:
                # The file's digest stands for all it says; the store adds the id and dates.
                stamp = f"{article.id}\0{article.date.isoformat()}\0{article.updated.isoformat()}"
                line = f"{path}\0{article.source}\0{stamp}".encode()
                share = _Share(article, hashlib.blake2b(line, digest_size=16).digest())
            shares[path] = share
            digest.update(share.digest)
            image = local_image(article, root)
            if image is not None:
                info = image.stat()
                images[path] = f"{info.st_size}\0{info.st_mtime_ns}"
                digest.update(f"{image}\0{images[path]}\n".encode())
        self._shares = shares
        now, days = self._clock().timestamp(), self.cfg.feeds.tombstone_days
        for article_id in sorted(self._withdrawals):  # their pages, and tombstones shown
            w = self._withdrawals[article_id]
            shown = w.shows_tombstone(now, days)
            digest.update(f"{w.id}\0{w.at}\0{w.reason}\0{w.feeds}\0{shown}\n".encode())
        return warmstart.Inputs(settings, images, digest.hexdigest())

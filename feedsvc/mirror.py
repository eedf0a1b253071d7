"""The live mirror: a folder kept equal to the served snapshot, in place, for nginx.

nginx (`gzip_static on`) or a CDN origin serves the folder while feedsvc watches and
builds. Each changed file is replaced by a rename, so nginx never reads part of one;
every mtime is its resource's Last-Modified and unchanged files are never touched, so
nginx's validators stay stable and re-polls keep getting 304. Subscription feeds are
written first, then article pages, then everything else.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from .errors import ConfigError, FeedsvcError
from .export import (
    MANIFEST,
    StaticFile,
    Written,
    files_of,
    load_manifest,
    same_bytes,
    save_manifest,
    stat_or_none,
    write_beside,
)
from .snapshot import Resource, Snapshot

log = logging.getLogger(__name__)

# How often the keeper looks for a snapshot nobody announced (the hourly news sitemap).
RECHECK_SECONDS = 2.0
# At most how often the manifest is written while changes come; also at stop.
MANIFEST_SECONDS = 30.0
# How often every file is looked at again (a stat each), so that one deleted or
# changed by hand comes back without a restart.
RECONCILE_SECONDS = 600.0


def claim(folder: Path) -> dict[str, Written]:
    """The folder's manifest, creating and marking the folder when missing or empty.

    A folder with files but no mark is someone else's: refused, nothing deleted.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        manifest = load_manifest(folder)
        if manifest is None:
            if any(folder.iterdir()):
                raise ConfigError(
                    f"mirror.dir: {folder} has files but was not made by feedsvc (no "
                    f"{MANIFEST} in it); nothing was deleted. Give an empty or new folder."
                )
            save_manifest(folder, ())
            manifest = {}
    except OSError as exc:
        raise ConfigError(f"mirror.dir: cannot use {folder}: {exc.strerror or exc}") from None
    return manifest


class Mirror:
    """One folder; `sync` brings it to a snapshot. One thread at a time syncs it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._manifest = claim(folder)
        self._synced: dict[str, Resource] = {}  # what the folder holds, by URL path
        self._reconciled = False
        self._unsaved = False  # the manifest on disk lags behind (saving it costs ~50 ms)
        self._saved_at = 0.0

    def sync(self, snapshot: Snapshot, stale: Callable[[], bool] = lambda: False) -> int | None:
        """Write what changed since the last sync (everything that differs, the first
        time) and remove what left; the number of files written.

        Returns None, having written part, as soon as `stale()` says a newer snapshot
        waits: what was written stays done, and a change need not wait for a long
        first sync to end.
        """
        resources = snapshot.resources
        changed = sorted(
            (path for path, res in resources.items() if self._synced.get(path) is not res),
            key=_order(snapshot),
        )
        written = 0
        for path in changed:
            if stale():
                return None
            files = self._files(path, resources[path])
            written += sum(self._put(file) for file in files)
            before = self._synced.get(path)
            if before is not None:  # its files moved (an article withdrawn, or back)
                names = {file.name for file in files}
                for file in self._files(path, before):
                    if file.name not in names:
                        self._remove(file.name)
            self._synced[path] = resources[path]
        gone = [path for path in self._synced if path not in resources]
        for path in gone:
            for file in self._files(path, self._synced.pop(path)):
                self._remove(file.name)
        if not self._reconciled:
            self._remove_strays(resources)
            self._reconciled = True
        self.flush(due_only=True)
        return written

    def forget(self) -> None:
        """Look at every file again at the next sync, as at start."""
        self._synced.clear()
        self._reconciled = False

    def flush(self, due_only: bool = False) -> None:
        """Write the manifest if it lags (due_only: and was last written long enough
        ago). A lagging manifest only costs the next start some reads: files it does
        not describe are compared byte for byte."""
        if due_only and time.monotonic() - self._saved_at < MANIFEST_SECONDS:
            return
        if self._unsaved:
            save_manifest(self.folder, self._manifest.items())
            self._unsaved, self._saved_at = False, time.monotonic()

    def _files(self, path: str, resource: Resource) -> tuple[StaticFile, ...]:
        try:
            return files_of(path, resource)
        except FeedsvcError as exc:
            log.error("mirror: %s", exc)
            return ()

    def _put(self, file: StaticFile) -> int:
        target = self.folder / file.name
        stat = stat_or_none(target)
        known = self._manifest.get(file.name)
        if known is not None and known.holds(file.etag, stat):
            return 0
        data = file.data()
        if stat is not None and same_bytes(target, stat, data):
            if stat.st_mtime_ns != file.mtime_ns:  # right bytes, wrong time: only the time
                os.utime(target, ns=(file.mtime_ns, file.mtime_ns))
                stat = os.stat(target)
            self._note(file.name, Written.of(file.etag, stat))
            return 0
        self._note(file.name, Written.of(file.etag, write_beside(target, data, file.mtime_ns)))
        return 1

    def _note(self, name: str, written: Written) -> None:
        """Record a file in the manifest; only a real change makes it lag, so a restart
        that finds every file as it left them writes nothing, not even the manifest."""
        if self._manifest.get(name) != written:
            self._manifest[name] = written
            self._unsaved = True

    def _remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)
        if self._manifest.pop(name, None) is not None:
            self._unsaved = True

    def _remove_strays(self, resources: Mapping[str, Resource]) -> None:
        """Files no resource accounts for: left by an earlier run, or a crashed write."""
        wanted = {MANIFEST}
        for path, resource in resources.items():
            wanted.update(file.name for file in self._files(path, resource))
        for parent, _, names in os.walk(self.folder, topdown=False):
            here = Path(parent)
            for name in names:
                relative = (here / name).relative_to(self.folder).as_posix()
                if relative not in wanted:
                    self._remove(relative)
            if here != self.folder and not any(here.iterdir()):
                here.rmdir()


def _order(snapshot: Snapshot) -> Callable[[str], tuple[int, str]]:
    """Subscription feeds first, then article pages: what a change must reach in 1 s."""
    topics = snapshot.index.topics

    def key(path: str) -> tuple[int, str]:
        if path in topics:
            return (0, path)
        return (1, path) if path.startswith("/articles/") else (2, path)

    return key


class Keeper:
    """Syncs a mirror on its own thread, so that rebuilds never wait on the disk."""

    def __init__(self, mirror: Mirror, source: Callable[[], Snapshot]) -> None:
        self.mirror = mirror
        self._source = source
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mirror", daemon=True)
        self.synced_at: datetime | None = None
        self.error: str | None = None
        self.errors = 0  # syncs that failed, since start

    def status(self) -> dict[str, object]:
        """For /healthz: where, when last whole, and the last error if it failed since."""
        return {
            "dir": str(self.mirror.folder),
            "synced_at": self.synced_at.isoformat() if self.synced_at else None,
            "error": self.error,
        }

    def start(self) -> None:
        self._thread.start()
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:  # started: the first build may have failed first
            self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._quietly(self.mirror.flush)

    def _quietly(self, flush: Callable[[], None]) -> None:
        try:
            flush()
        except OSError as exc:
            log.warning("mirror %s: could not save its manifest: %s", self.mirror.folder, exc)

    def _newer_than(self, snapshot: Snapshot) -> Callable[[], bool]:
        return lambda: self._source() is not snapshot

    def _run(self) -> None:
        synced: Snapshot | None = None
        looked = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(timeout=RECHECK_SECONDS)
            self._wake.clear()
            snapshot = self._source()
            if time.monotonic() - looked > RECONCILE_SECONDS:
                self.mirror.forget()
                synced, looked = None, time.monotonic()
            health = snapshot.health
            half = health.feeds_pending or health.pages_pending  # never mirrored half
            if snapshot is synced or half or self._stopping.is_set():
                self._quietly(lambda: self.mirror.flush(due_only=True))
                continue
            try:
                written = self.mirror.sync(snapshot, self._newer_than(snapshot))
            except Exception as exc:  # a full disk, say: try again at the next look
                self.error = str(exc)
                self.errors += 1
                log.exception("mirror %s: could not write; trying again", self.mirror.folder)
                continue
            if written is None:  # a newer snapshot came: go on with it at once
                self._wake.set()
                continue
            synced, self.synced_at, self.error = snapshot, datetime.now(UTC), None
            if written:
                log.info("mirror %s: %d files written", self.mirror.folder, written)

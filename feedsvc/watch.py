"""File-system events into settled batches of changed paths.

A path is handed on only after it has been quiet for `settle_ms` and, when it was
written in place, after the writer closed it (inotify's close-write): a writer
that pauses between chunks is not read half-way. A file that arrives by rename
(atomic save) is complete at once. Folder-level events (a subfolder created, moved
or deleted) ask for a full rescan instead: their files send no events. While the
articles folder does not exist, its nearest existing parent is watched instead, and
the folder is picked up (with a rescan) when it appears.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from .articles import is_candidate

log = logging.getLogger("feedsvc")
RESCAN = "\0rescan"  # a queued marker: rescan the whole folder
# A writer that keeps a file open without writing for this long is taken as done
# (some writers never close, e.g. on file systems without close events).
STALE_WRITER_SECONDS = 10.0


class Watcher(FileSystemEventHandler):
    def __init__(
        self,
        root: Path,
        settle_ms: int,
        on_paths: Callable[[set[str], frozenset[str]], set[str]],
        on_rescan: Callable[[frozenset[str]], set[str]],
    ) -> None:
        """on_paths/on_rescan get the paths open for writing, and return the paths
        still not ready (to be looked at again)."""
        self.root = root.resolve()
        self.settle = settle_ms / 1000
        self.on_paths = on_paths
        self.on_rescan = on_rescan
        self._due: dict[str, float] = {}
        self._writing: dict[str, float] = {}  # path -> last write event (monotonic)
        self._cond = threading.Condition()
        self._stopping = False
        self._observer = Observer()
        self._watch: ObservedWatch | None = None
        self._watching_root = False
        self._thread = threading.Thread(target=self._run, name="feedsvc-watch", daemon=True)

    def start(self) -> None:
        self._observe()
        self._observer.start()
        self._thread.start()

    def _observe(self) -> None:
        """Watch the folder, or while it is missing, its nearest existing parent."""
        with self._cond:
            if self._watching_root:
                return
            if self._watch is not None:
                self._observer.unschedule(self._watch)
            if self.root.is_dir():
                self._watch = self._observer.schedule(self, str(self.root), recursive=True)
                self._watching_root = True
                return
            parent = self.root.parent
            while not parent.is_dir():
                parent = parent.parent
            self._watch = self._observer.schedule(self, str(parent), recursive=False)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def queue(self, paths: set[str]) -> None:
        due = time.monotonic() + self.settle
        with self._cond:
            for path in paths:
                self._due[path] = due
            self._cond.notify_all()

    def busy(self) -> frozenset[str]:
        """Paths written in place and not yet closed by their writer."""
        now = time.monotonic()
        with self._cond:
            return frozenset(p for p, t in self._writing.items() if now - t < STALE_WRITER_SECONDS)

    def _relative(self, raw: str | bytes) -> str | None:
        try:
            rel = Path(os.fsdecode(raw)).relative_to(self.root).as_posix()
        except ValueError:
            return None
        return rel if is_candidate(rel) else None

    # watchdog calls this from its own thread
    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return
        if not self._watching_root:  # a parent's event: is the folder nearer now?
            self._observe()
            if self._watching_root:
                self.queue({RESCAN})
            return
        if isinstance(event, (DirCreatedEvent, DirDeletedEvent, DirMovedEvent)):
            self.queue({RESCAN})
            return
        if event.is_directory:
            return
        src = self._relative(event.src_path)
        dest = self._relative(getattr(event, "dest_path", "") or "")
        paths = {p for p in (src, dest) if p}
        if not paths:
            return
        with self._cond:
            for path in paths:
                if kind == "modified" and path == src:  # written in place, not yet closed
                    self._writing[path] = time.monotonic()
                else:  # closed, moved, deleted: no writer is half-way through
                    self._writing.pop(path, None)
        self.queue(paths)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    ready = {p for p, t in self._due.items() if t <= now}
                    for path in ready & self._writing.keys():
                        if now - self._writing[path] < STALE_WRITER_SECONDS:
                            ready.discard(path)  # the writer has not closed it yet
                            self._due[path] = now + self.settle
                    if ready:
                        for path in ready:
                            del self._due[path]
                        break
                    wait = min(self._due.values(), default=now + 3600) - now
                    self._cond.wait(timeout=max(wait, 0.005))
                if self._stopping:
                    return
            busy = self.busy()
            try:
                again = self.on_rescan(busy) if RESCAN in ready else self.on_paths(ready, busy)
            except Exception:  # the watcher must outlive any one failure
                log.exception("refresh failed; the next event or rescan retries")
                again = ready - {RESCAN}
            if again:
                self.queue(again)

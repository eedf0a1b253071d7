"""File-system events into settled batches of changed paths.

A path is handed on only after it has been quiet for `settle_ms`, so a file still
being written is not read half-way. Folder-level events (a subfolder created,
moved or deleted) ask for a full rescan instead: their files send no events.
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

from .articles import is_candidate

log = logging.getLogger("feedsvc")
RESCAN = "\0rescan"  # a queued marker: rescan the whole folder


class Watcher(FileSystemEventHandler):
    def __init__(
        self,
        root: Path,
        settle_ms: int,
        on_paths: Callable[[set[str]], set[str]],
        on_rescan: Callable[[], set[str]],
    ) -> None:
        """on_paths/on_rescan return the paths still not ready (to be looked at again)."""
        self.root = root.resolve()
        self.settle = settle_ms / 1000
        self.on_paths = on_paths
        self.on_rescan = on_rescan
        self._due: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._observer = Observer()
        self._thread = threading.Thread(target=self._run, name="feedsvc-watch", daemon=True)

    def start(self) -> None:
        self._observer.schedule(self, str(self.root), recursive=True)
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def queue(self, paths: set[str], delay: float | None = None) -> None:
        due = time.monotonic() + (self.settle if delay is None else delay)
        with self._cond:
            for path in paths:
                self._due[path] = due
            self._cond.notify_all()

    # watchdog calls this from its own thread
    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if isinstance(event, (DirCreatedEvent, DirDeletedEvent, DirMovedEvent)):
            self.queue({RESCAN})
            return
        if event.is_directory:
            return
        paths = set()
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            text = os.fsdecode(raw)
            try:
                rel = Path(text).relative_to(self.root).as_posix()
            except ValueError:
                continue
            if is_candidate(rel):
                paths.add(rel)
        if paths:
            self.queue(paths)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    ready = {p for p, t in self._due.items() if t <= now}
                    if ready:
                        for path in ready:
                            del self._due[path]
                        break
                    wait = min(self._due.values(), default=now + 3600) - now
                    self._cond.wait(timeout=max(wait, 0.005))
                if self._stopping:
                    return
            try:
                again = self.on_rescan() if RESCAN in ready else self.on_paths(ready)
            except Exception:  # the watcher must outlive any one failure
                log.exception("refresh failed; the next event or rescan retries")
                again = ready - {RESCAN}
            if again:
                self.queue(again)

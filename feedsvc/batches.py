"""Work handed off the request path: a request puts an item on a queue (one call in C),
and one thread does the work for a second's worth of items at a time.

The thread wakes once per batch, not once per item: at thousands of requests a
second, a wake per item takes the GIL from the request threads often enough to cost a
cheap answer (a 304) much of its throughput (figures in docs/design.md).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("feedsvc")
Item = TypeVar("Item")


class Batched(Generic[Item]):
    def __init__(self, work: Callable[[list[Item]], None], name: str, seconds: float = 1.0):
        self._work = work
        self._seconds = seconds
        # an item; an Event to set once what came before it is done; None: wake to stop
        self._queue: queue.SimpleQueue[Item | threading.Event | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """After the work on what was put before."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def flush(self, timeout: float = 10) -> None:
        """Until what was put before is done (here and now, when no thread runs)."""
        done = threading.Event()
        self._queue.put(done)
        if self._thread.is_alive():
            done.wait(timeout)
        else:
            self._round(None)

    def _run(self) -> None:
        while not self._stopping.is_set():
            first = self._queue.get()
            if first is not None and not isinstance(first, threading.Event):
                self._stopping.wait(self._seconds)  # a second's worth, unless stopping
            self._round(first)

    def _round(self, first: Item | threading.Event | None) -> None:
        """`first` and everything queued after it."""
        batch = [first]
        try:
            while True:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        items = [i for i in batch if i is not None and not isinstance(i, threading.Event)]
        if items:
            try:
                self._work(items)
            except Exception:  # the work must never stop serving, nor this thread
                name = self._thread.name
                log.exception("%s: could not do the work of %d items", name, len(items))
        for entry in batch:
            if isinstance(entry, threading.Event):
                entry.set()

"""WebSub publishing (SPEC §9): tell hubs which subscription documents changed.

What to announce is decided by pure functions (`changed_topics`, `retry_at`); the
`Notifier` delivers from the outbox in the state file on its own threads, so no
rebuild and no request ever waits on a hub, and a restart (even after kill -9)
still delivers what was pending.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from .snapshot import SiteIndex
from .store import HubRecord, Notification, Outbox

log = logging.getLogger("feedsvc")

FIRST_RETRY = 1.0  # seconds; doubling each attempt
LONGEST_WAIT = 600.0  # backoff and Retry-After are capped at 10 minutes
GIVE_UP_AFTER = 24 * 3600.0
SENDERS = 4  # POSTs in flight at once


# --- decisions: pure -----------------------------------------------------------------


def changed_topics(before: SiteIndex | None, after: SiteIndex) -> list[str]:
    """The topics to announce when `after` replaces `before`: documents that appeared
    or whose content changed. None before (a first start with an empty state)
    announces nothing; a document that disappeared is not announced."""
    if before is None:
        return []
    return sorted(
        url
        for path, (url, content) in after.topics.items()
        if before.topics.get(path, ("", ""))[1] != content
    )


@dataclass(frozen=True)
class Answer:
    """What one POST to a hub came to."""

    delivered: bool
    retry: bool  # worth trying again (no connection, timeout, 5xx, 429)
    error: str = ""
    retry_after: float | None = None  # seconds, from a Retry-After header


def retry_at(note: Notification, answer: Answer, now: float) -> float | None:
    """When to try again: 1 s doubling to 10 min, or the hub's Retry-After (up to
    10 min); None to give up (not worth retrying, or trying for 24 h already)."""
    if not answer.retry:
        return None
    wait = min(FIRST_RETRY * 2.0 ** min(note.attempts, 20), LONGEST_WAIT)
    if answer.retry_after is not None:
        wait = min(max(answer.retry_after, 0.0), LONGEST_WAIT)
    if now + wait - note.queued > GIVE_UP_AFTER:
        return None
    return now + wait


# --- I/O -------------------------------------------------------------------------------


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds, or an HTTP date (RFC 9110 allows both)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return float(parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _reason(exc: Exception) -> str:
    """The operating system's words (`Connection refused`, `Name or service not
    known`) rather than urllib3's nested wrappers."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return found[1].strip() if found else type(exc).__name__


def post(session: requests.Session, hub: str, topic: str, timeout: float) -> Answer:
    """One publish notification: a form POST naming the topic as hub.url and hub.topic
    (hubs differ in which they read)."""
    form = {"hub.mode": "publish", "hub.url": topic, "hub.topic": topic}
    try:
        reply = session.post(hub, data=form, timeout=timeout, allow_redirects=True)
    except requests.Timeout:
        return Answer(False, True, f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return Answer(False, True, f"cannot reach the hub: {_reason(exc)}")
    status = reply.status_code
    if 200 <= status < 300:
        return Answer(True, False)
    error = f"HTTP {status}: {reply.text.strip()[:200]}".rstrip(": ")
    retry = status >= 500 or status == 429
    return Answer(False, retry, error, _retry_after(reply.headers.get("Retry-After"), time.time()))


class Notifier:
    """Delivers the outbox: a dispatcher thread hands due notifications to a few sender
    threads, and sleeps until the next is due or something is announced."""

    def __init__(self, hubs: tuple[str, ...], timeout: float, outbox: Outbox) -> None:
        self.hubs = hubs
        self.timeout = timeout
        self.outbox = outbox
        self._wake = threading.Condition()
        self._kicked = False  # something to look at since the dispatcher last looked
        self._stopping = False
        self._local = threading.local()
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="feedsvc-websub")
        self.failures: dict[str, int] = dict.fromkeys(hubs, 0)  # POSTs failed, since start
        self._counting = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="feedsvc-websub", daemon=True)

    def start(self) -> None:
        dropped = self.outbox.restart(self.hubs, time.time())
        if dropped:
            log.info("websub: %d notifications for hubs no longer configured dropped", dropped)
        self._thread.start()

    def stop(self) -> None:
        """At once: a POST in flight is abandoned; its row is attempted after a restart."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._senders.shutdown(wait=False, cancel_futures=True)
        self._thread.join(timeout=2)

    def announce(self, topics: Iterable[str]) -> None:
        """Queue every (hub, topic); the first attempt leaves at once."""
        pairs = [(hub, topic) for topic in topics for hub in self.hubs]
        if not pairs:
            return
        self.outbox.add(pairs, time.time())
        self._kick()

    def _kick(self) -> None:
        with self._wake:
            self._kicked = True
            self._wake.notify_all()

    def status(self) -> list[HubRecord]:
        return self.outbox.status(self.hubs)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                self._kicked = False  # a kick from here on is seen by the wait below
            due = self.outbox.take_due(time.time(), limit=64)
            try:
                for note in due:
                    self._senders.submit(self._send, note)
            except RuntimeError:  # stopping: the rows stay for the next start
                return
            if due:
                continue
            next_due = self.outbox.next_due()
            wait = 60.0 if next_due is None else max(0.0, next_due - time.time())
            with self._wake:
                if not self._stopping and not self._kicked:
                    self._wake.wait(timeout=min(wait, 60.0))

    def _send(self, note: Notification) -> None:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        answer = post(session, note.hub, note.topic, self.timeout)
        now = time.time()
        if answer.delivered:
            self.outbox.delivered(note, now)
            log.info("websub: %s told of %s", note.hub, note.topic)
        else:
            with self._counting:  # four sender threads
                self.failures[note.hub] = self.failures.get(note.hub, 0) + 1
            again = retry_at(note, answer, now)
            self.outbox.failed(note, answer.error, again)
            if again is None:
                why = "not retried" if not answer.retry else "gave up after 24 h"
                log.warning(
                    "websub: %s refused %s (%s); %s", note.hub, note.topic, answer.error, why
                )
            else:
                log.info("websub: %s: %s; again in %.0f s", note.hub, answer.error, again - now)
        self._kick()


def ping(
    hubs: tuple[str, ...], topics: list[str], timeout: float, budget: float = 30.0
) -> list[tuple[str, str, str]]:
    """Tell every hub of every topic now, each (hub, topic) retried with the same
    backoff for at most `budget` seconds in all: for `feedsvc build --ping`, which has
    no process left to retry later. The (hub, topic, error) not delivered."""
    deadline = time.monotonic() + budget

    def deliver(hub: str, topic: str) -> str:
        session = requests.Session()
        note = Notification(hub, topic, time.time(), time.time(), 0)
        while True:
            left = deadline - time.monotonic()
            answer = post(session, hub, topic, min(timeout, max(left, 0.1)))
            if answer.delivered:
                return ""
            now = time.time()
            again = retry_at(note, answer, now)
            if again is None or time.monotonic() + (again - now) > deadline:
                return answer.error
            time.sleep(again - now)  # this command's own retry schedule, not a test's wait
            note = Notification(hub, topic, note.queued, again, note.attempts + 1)

    pairs = [(hub, topic) for topic in topics for hub in hubs]
    with ThreadPoolExecutor(SENDERS) as senders:
        errors = list(senders.map(lambda pair: deliver(*pair), pairs))
    return [(hub, topic, error) for (hub, topic), error in zip(pairs, errors, strict=True) if error]


def hub_health(records: list[HubRecord]) -> list[dict[str, object]]:
    """Each hub as /healthz shows it."""

    def when(stamp: float | None) -> str | None:
        return datetime.fromtimestamp(stamp, UTC).isoformat() if stamp is not None else None

    return [
        {
            "url": r.hub,
            "pending": r.pending,
            "last_delivery": when(r.last_delivery),
            "last_error": r.last_error,
        }
        for r in records
    ]

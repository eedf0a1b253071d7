"""The watcher and the scheduler on their own: real inotify events, real APScheduler."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedsvc.schedule import Schedule
from feedsvc.watch import RESCAN, Watcher

from .conftest import md, wait_for, write


class Calls:
    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[set[str]] = []
        self.busy: list[frozenset[str]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def paths(self, paths: set[str], busy: frozenset[str]) -> set[str]:
        with self.lock:
            self.batches.append(set(paths))
            self.busy.append(busy)
            if self.fail_first and len(self.batches) == 1:
                raise RuntimeError("a rebuild failed")
        return set()

    def rescan(self, busy: frozenset[str]) -> set[str]:
        return self.paths({RESCAN}, busy)

    def seen(self) -> set[str]:
        with self.lock:
            return set().union(*self.batches) if self.batches else set()


def test_events_are_settled_filtered_and_survive_a_failure(articles_dir: Path) -> None:
    calls = Calls(fail_first=True)
    watcher = Watcher(articles_dir, 100, calls.paths, calls.rescan)
    watcher.start()
    try:
        write(articles_dir, "a.md", md("क"), age=0)
        wait_for(lambda: "a.md" in calls.seen())  # this first call raises
        write(articles_dir, ".a.md.swp", "x", age=0)
        write(articles_dir, "b.md~", "x", age=0)
        write(articles_dir, "notes.rst", "x", age=0)
        write(articles_dir, "c.md", md("ख"), age=0)
        wait_for(lambda: "c.md" in calls.seen())  # still watching after the failure
        assert calls.seen() <= {"a.md", "c.md"}  # editor files never trigger anything
        (articles_dir / "sub").mkdir()
        wait_for(lambda: RESCAN in calls.seen())
    finally:
        watcher.stop()


def test_a_file_open_for_writing_is_held_back(articles_dir: Path) -> None:
    calls = Calls()
    watcher = Watcher(articles_dir, 50, calls.paths, calls.rescan)
    watcher.start()
    try:
        fh = (articles_dir / "slow.md").open("w", encoding="utf-8")
        fh.write("---\ntitle: धीमा\n")
        fh.flush()
        wait_for(lambda: "slow.md" in watcher.busy())
        assert "slow.md" not in calls.seen()
        fh.write("---\nपाठ।\n")
        fh.close()
        wait_for(lambda: "slow.md" in calls.seen())
        assert "slow.md" not in watcher.busy()
    finally:
        watcher.stop()


def test_date_jobs_follow_the_articles() -> None:
    published = threading.Event()
    schedule = Schedule(3600, lambda: None, published.set)
    schedule.start()

    def pending() -> list[str]:
        return [j.id for j in schedule._scheduler.get_jobs() if j.id.startswith("due:")]

    try:
        soon = datetime.now(UTC) + timedelta(milliseconds=300)
        later = datetime.now(UTC) + timedelta(days=1)
        edited = later + timedelta(hours=1)
        schedule.sync([soon, later])
        assert sorted(pending()) == sorted([f"due:{soon.isoformat()}", f"due:{later.isoformat()}"])
        wait_for(published.is_set, timeout=5)
        schedule.sync([edited])  # the date was edited: the old job goes
        assert pending() == [f"due:{edited.isoformat()}"]
        schedule.sync([])  # the article was deleted
        assert pending() == []
    finally:
        schedule.stop()


def test_stopping_while_a_rescan_runs_waits_for_it_without_a_deadlock() -> None:
    """SIGTERM during a long rebuild that the periodic rescan runs: the job ends by
    syncing date jobs while APScheduler's shutdown holds the lock a sync needs. The
    stop waits for the job, and the job does not wait for the stop."""
    running, release, synced = threading.Event(), threading.Event(), threading.Event()
    schedules: list[Schedule] = []

    def rescan() -> None:
        running.set()
        release.wait(30)
        schedules[0].sync([datetime.now(UTC) + timedelta(days=1)])
        synced.set()

    schedule = Schedule(1, rescan, lambda: None)
    schedules.append(schedule)
    schedule.start()
    wait_for(running.is_set)
    stopper = threading.Thread(target=schedule.stop, daemon=True)
    stopper.start()
    lock = schedule._scheduler._jobstores_lock

    def shutdown_holds_the_lock() -> bool:
        if lock.acquire(blocking=False):
            lock.release()
            return False
        return True

    wait_for(shutdown_holds_the_lock)
    release.set()
    stopper.join(timeout=10)
    assert not stopper.is_alive(), "stop() and the running job wait on each other"
    assert synced.is_set()


def test_a_schedule_stopped_before_it_started_never_starts() -> None:
    """A restart's first look may end after the server was asked to stop."""
    schedule = Schedule(1, lambda: None, lambda: None)
    schedule.stop()
    schedule.start()
    assert not schedule._scheduler.running

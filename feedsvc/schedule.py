"""APScheduler jobs: the periodic full rescan, and one date job per scheduled moment."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("feedsvc")
RESCAN_JOB = "rescan"
NEWS_JOB = "news"
NEWS_SECONDS = 3600  # articles age out of the news sitemap with time alone


class Schedule:
    def __init__(
        self, rescan_seconds: int, rescan: Callable[[], object], publish_due: Callable[[], object]
    ) -> None:
        self._scheduler = BackgroundScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self._publish_due = publish_due
        # APScheduler's shutdown holds the job stores' lock while it waits for running
        # jobs, and a running job (a rescan) ends by syncing date jobs, which needs that
        # lock: stop() first makes every later sync a no-op, so no job waits on it.
        self._syncing = threading.Lock()
        self._stopping = False
        self._scheduler.add_job(
            rescan, "interval", seconds=rescan_seconds, id=RESCAN_JOB, name="full rescan"
        )
        self._scheduler.add_job(
            publish_due, "interval", seconds=NEWS_SECONDS, id=NEWS_JOB, name="news sitemap"
        )

    def start(self) -> None:
        """Nothing once stopping: a restart's first look ends on the pages thread,
        perhaps after the server was asked to stop."""
        with self._syncing:
            if not self._stopping:
                self._scheduler.start()

    def stop(self) -> None:
        with self._syncing:  # a sync under way ends first; none starts after
            self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def sync(self, moments: list[datetime]) -> None:
        """One date job per distinct moment something is due (an article's publication,
        a tombstone's end); stale ones removed. Nothing once stopping."""
        with self._syncing:
            if not self._stopping:
                self._sync(moments)

    def _sync(self, moments: list[datetime]) -> None:
        wanted = {f"due:{m.isoformat()}": m for m in moments}
        for job in self._scheduler.get_jobs():
            if job.id.startswith("due:") and job.id not in wanted:
                job.remove()
        for job_id, moment in wanted.items():
            if self._scheduler.get_job(job_id) is None:
                # A few milliseconds late rather than early: the article is due *at* its time.
                self._scheduler.add_job(
                    self._publish_due,
                    "date",
                    run_date=moment + timedelta(milliseconds=5),
                    id=job_id,
                    name=f"publish at {moment.isoformat()}",
                )

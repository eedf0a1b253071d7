"""The `feedsvc` command: serve, build, check, stats."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .metrics import SiteState
    from .snapshot import SiteIndex
    from .store import HubRecord
    from .websub import Notifier

from . import __version__, heap
from .config import Config, load_config
from .errors import ConfigError, FeedsvcError

log = logging.getLogger("feedsvc")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedsvc", description="Hindi news feeds from a folder of articles."
    )
    parser.add_argument("--version", action="version", version=f"feedsvc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            metavar="FILE",
            help="config file (default: $FEEDSVC_CONFIG, else ./config.toml)",
        )
        return sub

    serve = command("serve", "watch the articles folder and serve feeds and pages over HTTP")
    serve.add_argument("--host", help="address to listen on (default: server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--dashboard-port",
        type=int,
        metavar="P",
        help="the dashboard's and /metrics' port (default: dashboard.port; 0: off)",
    )
    serve.add_argument(
        "--mirror",
        metavar="DIR",
        help="keep DIR a live static copy for nginx or a CDN (default: mirror.dir)",
    )
    build = command("build", "export every feed, the OPML and every page as static files")
    build.add_argument("--out", required=True, metavar="DIR", help="folder to write (replaced)")
    build.add_argument(
        "--ping",
        action="store_true",
        help="then tell the WebSub hubs (websub.hubs) of every feed that changed",
    )
    command("check", "list every article file that cannot be published, and why")
    stats = command("stats", "subscribers per feed: today, 7 and 30 days ago, by aggregator")
    stats.add_argument(
        "--access-log",
        nargs="+",
        default=[],
        metavar="FILE",
        help="first read these nginx access logs (combined format), from where the last read ended",
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if args.command in ("serve", "build"):
        heap.keep_small()
    try:
        cfg = load_config(args.config)
        if args.command == "check":
            return _check(cfg)
        if args.command == "build":
            return _build(cfg, Path(args.out), args.ping)
        if args.command == "stats":
            return _stats(cfg, [Path(f) for f in args.access_log], args.json)
        if args.mirror:  # against the working directory, as a shell user expects
            cfg = cfg.replace(mirror={"dir": str(Path(args.mirror).resolve())})
        if args.dashboard_port is not None:
            cfg = cfg.replace(dashboard={"port": args.dashboard_port})
        return _serve(cfg, args.host, args.port, args.access_log)
    except ConfigError as exc:  # also a state file that cannot be used
        print(f"feedsvc: configuration error: {exc}", file=sys.stderr)
        return 2
    except FeedsvcError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return 1


def _check(cfg: Config) -> int:
    from .ingest import Library
    from .store import Store
    from .topics import build_catalog

    logging.getLogger("feedsvc").setLevel(logging.ERROR)
    # Read-only: an in-memory store, and no waiting for files to settle.
    library = Library(cfg.replace(schedule={"settle_ms": 0}), Store(None))
    library.scan()
    problems = library.problems()
    for problem in problems:
        print(problem)
    articles = list(library.articles.values())
    catalog = build_catalog(articles, cfg)
    for message in catalog.problems:
        print(message)
    rejected = len(library.rejected)
    tags = len(catalog.kind("tag"))
    print(f"{len(articles)} articles, {tags} tags, {rejected} rejected")
    return 1 if rejected or library.folder_missing else 0


def _stats(cfg: Config, logs: list[Path], as_json: bool) -> int:
    import json

    from .stats import Counts

    counts = Counts.beside(cfg, _seconds)
    try:
        for path in logs:
            read = counts.read_log(path)
            if read.problem:
                print(f"{path}: cannot read: {read.problem}", file=sys.stderr)
            else:
                print(
                    f"{path}: {read.lines} new lines, {read.counted} feed polls counted, "
                    f"{read.skipped} not in nginx's combined format (skipped)",
                    file=sys.stderr,
                )
        today = counts.today()
        counts.prune(today)
        report = counts.report(today)
    finally:
        counts.close()
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
        return 0
    print(f"{'topic':40} {'today':>8} {'7 days ago':>11} {'30 days ago':>12}  aggregators")
    for topic in report.topics:
        largest = ", ".join(f"{a.name} {a.subscribers}" for a in topic.aggregators)
        print(
            f"{topic.topic:40} {topic.today:>8} {topic.days_7_ago:>11} "
            f"{topic.days_30_ago:>12}  {largest}"
        )
    if not report.topics:
        print("no feed polls counted in the last 30 days")
    return 0


def _build(cfg: Config, out: Path, ping: bool) -> int:
    from .export import export, exported, file_name
    from .publisher import Publisher

    if ping and not cfg.websub.hubs:
        raise ConfigError("build --ping needs at least one hub in websub.hubs")
    publisher = Publisher(cfg.replace(schedule={"settle_ms": 0}))
    try:
        snapshot = publisher.rescan()
        before = exported(out) if ping else {}  # what hubs must hear of
        count, written = export(snapshot, out)
    finally:
        publisher.close()
    log.info(
        "exported %d files to %s, %d of them written anew (%d articles; %d problems reported)",
        count,
        out,
        written,
        snapshot.index.articles,
        len(snapshot.health.rejected),
    )
    if not ping:
        return 0
    from .websub import ping as tell_hubs

    changed = sorted(
        url
        for path, (url, _) in snapshot.index.topics.items()
        if (resource := snapshot.get(path)) is not None
        and before.get(file_name(path, resource)) != resource.etag
    )
    undelivered = tell_hubs(cfg.websub.hubs, changed, cfg.websub.timeout_seconds)
    for hub, topic, error in undelivered:
        print(f"not delivered: {hub} {topic}: {error}")
    log.info("told %d hubs of %d changed feeds", len(cfg.websub.hubs), len(changed))
    return 1 if undelivered else 0


class _AccessLog:
    """Optional access log (off by default: aggregators poll a lot)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def logged(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            log.info(
                '%s "%s %s" %s',
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                status.split()[0],
            )
            return start_response(status, headers, *rest)

        return self.app(environ, logged)


class _Live:
    """The publisher kept fresh: file events and scheduled jobs lead to it."""

    def __init__(self, cfg: Config) -> None:
        from .metrics import Metrics
        from .publisher import Publisher
        from .schedule import Schedule
        from .stats import Counts, Recorder
        from .watch import Watcher
        from .websub import Notifier

        self.cfg = cfg
        self.metrics = Metrics(self.state)
        self.mirror: Keeper | None = None
        if cfg.mirror_dir is not None:  # claimed first: a folder not ours stops it here
            from .mirror import Keeper, Mirror

            mirror = Mirror(cfg.mirror_dir)
            self.mirror = Keeper(mirror, lambda: self.publisher.snapshot)
        self.publisher = Publisher(
            cfg, listener=self._announce, pages_later=True, observer=self._built
        )
        # beside the state file, opened after it: an unusable state.path is named first
        self.counts = Counts.beside(cfg, _seconds)
        self.recorder = Recorder(self.counts)
        self.notifier: Notifier | None = None
        if cfg.websub.hubs:
            outbox = self.publisher.store.outbox
            self.notifier = Notifier(cfg.websub.hubs, cfg.websub.timeout_seconds, outbox)
        self.schedule = Schedule(
            cfg.schedule.rescan_seconds, self._periodic_rescan, self.publisher.publish_due
        )
        self.watcher = Watcher(cfg.articles_dir, cfg.schedule.settle_ms, self._paths, self._rescan)
        self._looked = True  # the first look is done (else `finish` makes it)

    def start(self) -> None:
        """Until there is something to serve: the saved site, or a first start's
        newest articles, or else a first build of the feeds."""
        # Watch first, then scan: a file saved during the first scan is not missed.
        self.watcher.start()
        if self.publisher.library.folder_missing:
            log.warning(
                "articles folder %s does not exist (articles.dir); serving no articles "
                "until it appears",
                self.cfg.articles_dir,
            )
        self.recorder.start()
        self.metrics.start()
        self._looked = not (self.publisher.serve_saved() or self.publisher.serve_newest())
        if self._looked:
            self._first_look()

    def _first_look(self) -> None:
        # A look that fails with the saved site served returns (the periodic rescan
        # tries again); one with nothing to serve raises, and the start fails.
        self.publisher.rescan()
        if self.notifier is not None:
            # After the first build: what was pending (even in flight at a kill -9)
            # and what the first build announces go out once each, for a site that
            # is there to fetch.
            self.notifier.start()
        self.schedule.start()
        for moment, path in self.publisher.scheduled():
            log.info("scheduled: %s at %s", path, moment.isoformat())
        self._look_again(self._after_change())

    def finish(self) -> None:
        """Once the server listens: the first look when the saved site was served
        without it, the rest of the site a cold start left for after its feeds, then
        the mirror (never a site without its pages, nor an empty one), then what a
        warm start's first change would otherwise wait for."""
        if not self._looked:
            self._first_look()
        self.publisher.finish_pages()
        if self.mirror is not None:
            self.mirror.start()
        self.publisher.prepare()

    def stop(self) -> None:
        """Within a bounded time: a stuck job must not keep the process alive."""
        stopper = threading.Thread(target=self._stop_jobs, daemon=True)
        stopper.start()
        stopper.join(timeout=8)
        if self.notifier is not None:
            self.notifier.stop()
        if self.mirror is not None:
            self.mirror.stop()
        self.recorder.stop()
        self.metrics.stop()
        self.counts.close()
        self.publisher.close(abandon_save=True)

    def _built(self, seconds: float, latencies: list[float]) -> None:
        self.metrics.build_seconds.observe(seconds)
        for latency in latencies:
            self.metrics.file_to_feed.observe(latency)

    def state(self) -> SiteState:
        """What the metrics read when scraped."""
        from .metrics import SiteState

        snapshot = self.publisher.snapshot
        return SiteState(
            articles=snapshot.index.articles,
            topics=dict(snapshot.index.counts),
            scheduled=len(snapshot.health.scheduled),
            rejected=len(snapshot.health.rejected),
            websub_pending={record.hub: record.pending for record in self.hub_records()},
            websub_failures=dict(self.notifier.failures) if self.notifier else {},
            mirror_errors=self.mirror.errors if self.mirror is not None else None,
        )

    def hub_records(self) -> list[HubRecord]:
        return self.notifier.status() if self.notifier is not None else []

    def hubs(self) -> list[dict[str, object]]:
        """Each hub as /healthz shows it."""
        from .websub import hub_health

        return hub_health(self.hub_records())

    def _announce(self, before: SiteIndex | None, after: SiteIndex) -> None:
        from .websub import changed_topics

        if self.mirror is not None:
            self.mirror.kick()
        if self.notifier is not None:
            self.notifier.announce(changed_topics(before, after))

    def _stop_jobs(self) -> None:
        self.watcher.stop()
        self.schedule.stop()

    def _after_change(self) -> set[str]:
        """Date jobs for what is due later (articles, tombstones' ends); the paths to
        look at again."""
        due = [moment for moment, _ in self.publisher.scheduled()]
        self.schedule.sync(due + self.publisher.expiries())
        return self.publisher.pending()

    def _look_again(self, paths: set[str]) -> None:
        if paths:
            self.watcher.queue(paths)

    def _paths(self, paths: set[str], busy: frozenset[str]) -> set[str]:
        self.publisher.refresh(paths, busy)
        return self._after_change()

    def _rescan(self, busy: frozenset[str]) -> set[str]:
        self.publisher.rescan(busy)
        return self._after_change()

    def _periodic_rescan(self) -> None:
        self._look_again(self._rescan(self.watcher.busy()))


def _serve(cfg: Config, host: str | None, port: int | None, access_log: bool) -> int:
    from waitress.server import create_server

    from .web import create_app

    def stop(signum: int, frame: FrameType | None) -> None:
        # KeyboardInterrupt, not our own exception: waitress's loop lets only it
        # (and SystemExit) through its handlers, then shuts its workers down.
        raise KeyboardInterrupt

    if cfg.dashboard.port:
        from .dashboard import credentials

        credentials(cfg)  # off loopback without user and password: refused, naming them
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    live = _Live(cfg)
    server = desk = None
    try:
        live.start()
        mirror = live.mirror
        app = create_app(
            cfg,
            lambda: live.publisher.snapshot,
            live.hubs,
            (lambda: None) if mirror is None else mirror.status,
            live.recorder,
            live.metrics,
        )
        if access_log:
            app.wsgi_app = _AccessLog(app.wsgi_app)  # type: ignore[method-assign]
        server = create_server(
            app,
            host=host or cfg.server.host,
            port=port if port is not None else cfg.server.port,
            threads=8,
            ident="feedsvc",
            connection_limit=1000,
            channel_timeout=30,
        )
        server.print_listen("feedsvc serving on http://{}:{}/")
        desk = _desk(cfg, live)
        sys.stdout.flush()
        threading.Thread(target=live.finish, name="feedsvc-pages", daemon=True).start()
        server.run()  # returns on SIGINT/SIGTERM
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, say
        log.error("cannot serve: %s", exc)
        return 1
    finally:
        log.info("stopping")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for listening in (server, desk):
            if listening is not None:
                listening.close()
        live.stop()
    return 0


def _desk(cfg: Config, live: _Live) -> Any:
    """The dashboard's own listener, on a thread of its own; None when it is off."""
    if not cfg.dashboard.port:
        return None
    from waitress.server import create_server

    from .dashboard import Sources, create_dashboard

    mirror = live.mirror
    sources = Sources(
        snapshot=lambda: live.publisher.snapshot,
        hubs=live.hub_records,
        mirror=(lambda: None) if mirror is None else mirror.status,
        counts=live.counts,
        clock=_now,
        metrics=live.metrics,
    )
    app = create_dashboard(cfg, sources)
    desk = create_server(
        app, host=cfg.dashboard.host, port=cfg.dashboard.port, threads=2, ident="feedsvc-desk"
    )
    desk.print_listen("feedsvc dashboard on http://{}:{}/")
    threading.Thread(target=desk.run, name="feedsvc-desk", daemon=True).start()
    return desk


def _seconds() -> float:
    """The clock of what is counted and shown by day (tests run it ahead)."""
    return time.time()


def _now() -> datetime:
    return datetime.fromtimestamp(_seconds(), UTC)


if __name__ == "__main__":
    sys.exit(main())

"""The `feedsvc` command: serve, build, check."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .snapshot import SiteIndex
    from .websub import Notifier

from . import __version__
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        cfg = load_config(args.config)
        if args.command == "check":
            return _check(cfg)
        if args.command == "build":
            return _build(cfg, Path(args.out), args.ping)
        if args.mirror:  # against the working directory, as a shell user expects
            cfg = cfg.replace(mirror={"dir": str(Path(args.mirror).resolve())})
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
        from .publisher import Publisher
        from .schedule import Schedule
        from .watch import Watcher
        from .websub import Notifier

        self.cfg = cfg
        self.mirror: Keeper | None = None
        if cfg.mirror_dir is not None:  # claimed first: a folder not ours stops it here
            from .mirror import Keeper, Mirror

            mirror = Mirror(cfg.mirror_dir)
            self.mirror = Keeper(mirror, lambda: self.publisher.snapshot)
        self.publisher = Publisher(cfg, listener=self._announce, pages_later=True)
        self.notifier: Notifier | None = None
        if cfg.websub.hubs:
            outbox = self.publisher.store.outbox
            self.notifier = Notifier(cfg.websub.hubs, cfg.websub.timeout_seconds, outbox)
        self.schedule = Schedule(
            cfg.schedule.rescan_seconds, self._periodic_rescan, self.publisher.publish_due
        )
        self.watcher = Watcher(cfg.articles_dir, cfg.schedule.settle_ms, self._paths, self._rescan)

    def start(self) -> None:
        # Watch first, then scan: a file saved during the first scan is not missed.
        self.watcher.start()
        if self.publisher.library.folder_missing:
            log.warning(
                "articles folder %s does not exist (articles.dir); serving no articles "
                "until it appears",
                self.cfg.articles_dir,
            )
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
        """Once the server listens: the rest of the site a cold start left for after
        its feeds, then the mirror (never a site without its pages, nor an empty one),
        then what a warm start's first change would otherwise wait for."""
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
        self.publisher.close(abandon_save=True)

    def hubs(self) -> list[dict[str, object]]:
        from .websub import hub_health

        return hub_health(self.notifier.status()) if self.notifier is not None else []

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

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    live = _Live(cfg)
    server = None
    try:
        live.start()
        mirror = live.mirror
        app = create_app(
            cfg,
            lambda: live.publisher.snapshot,
            live.hubs,
            (lambda: None) if mirror is None else mirror.status,
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
        if server is not None:
            server.close()
        live.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

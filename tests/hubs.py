"""WebSub parts for the tests, all on 127.0.0.1: a recording hub that answers as told
(for hubs that misbehave on purpose), a subscriber, and flask-websub's hub run in its
own process (`python -m tests.hubs PORT STATE`), with a small stand-in for the celery
tasks it expects."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .server import free_port


@dataclass(frozen=True)
class Post:
    at: float  # time.time()
    content_type: str
    form: dict[str, str]


@dataclass
class Recording:
    posts: list[Post] = field(default_factory=list)
    # answers to give, in order: (status, headers); when empty, `default`
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, dict[str, str]] = (204, {})
    delay: float = 0.0  # seconds before each answer: a slow hub
    lock: threading.Lock = field(default_factory=threading.Lock)


class RecordingHub:
    """A hub that records every publish POST and answers from a script."""

    def __init__(self) -> None:
        self.record = Recording()
        record = self.record

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                form = dict(urllib.parse.parse_qsl(body))
                with record.lock:
                    record.posts.append(Post(time.time(), self.headers["Content-Type"], form))
                    status, headers = record.script.pop(0) if record.script else record.default
                if record.delay:
                    time.sleep(record.delay)  # a slow hub, on purpose
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, *script: tuple[int, dict[str, str]], default: int | None = None) -> None:
        with self.record.lock:
            self.record.script = list(script)
            if default is not None:
                self.record.default = (default, {})

    def posts(self, topic: str | None = None) -> list[Post]:
        with self.record.lock:
            found = list(self.record.posts)
        return [p for p in found if topic is None or p.form.get("hub.topic") == topic]

    def topics(self) -> set[str]:
        return {p.form["hub.topic"] for p in self.posts()}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Subscriber:
    """A WebSub subscriber: answers the hub's verification and keeps what it delivers."""

    def __init__(self) -> None:
        self.verified = threading.Event()
        self.received: list[bytes] = []
        self.received_at: list[float] = []  # time.time() of each delivery
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - verification of intent
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                challenge = query.get("hub.challenge", "").encode()
                self.send_response(200 if challenge else 404)
                self.send_header("Content-Length", str(len(challenge)))
                self.end_headers()
                self.wfile.write(challenge)
                if challenge:
                    subscriber.verified.set()

            def do_POST(self) -> None:  # noqa: N802 - content distribution
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # flask-websub forwards Content-Encoding: gzip with a body it already
                # decompressed: take the bytes as they are when they are not gzip.
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                subscriber.received.append(body)
                subscriber.received_at.append(time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.callback = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- flask-websub's hub, in its own process ---------------------------------------------


class _Retry(Exception):
    def __init__(self, countdown: float) -> None:
        self.countdown = countdown


class _Task:
    """What flask-websub asks of a celery task: .delay(), and for bound tasks
    self.request.retries and self.retry(countdown=...)."""

    def __init__(self, function: Callable[..., Any], bind: bool, max_retries: int) -> None:
        self.function = function
        self.bind = bind
        self.max_retries = max_retries

    def delay(self, *args: Any) -> None:
        threading.Thread(target=self._run, args=(args, 0), daemon=True).start()

    def _run(self, args: tuple[Any, ...], retries: int) -> None:
        try:
            if self.bind:
                self.function(self._context(retries), *args)
            else:
                self.function(*args)
        except _Retry as again:
            if retries < self.max_retries:
                timer = threading.Timer(min(again.countdown, 2.0), self._run, (args, retries + 1))
                timer.daemon = True
                timer.start()

    @staticmethod
    def _context(retries: int) -> Any:
        class Request:
            pass

        class Context:
            request = Request()

            @staticmethod
            def retry(countdown: float) -> None:
                raise _Retry(countdown)

        Context.request.retries = retries  # type: ignore[attr-defined]
        return Context()


class _Tasks:
    def task(self, **options: Any) -> Callable[[Callable[..., Any]], _Task]:
        def register(function: Callable[..., Any]) -> _Task:
            return _Task(function, options.get("bind", False), options.get("max_retries", 3))

        return register


def run_hub(port: int, state: Path) -> None:
    from flask import Flask
    from flask_websub.hub import Hub, SQLite3HubStorage
    from waitress import serve

    app = Flask("hub")
    app.config["PUBLISH_SUPPORTED"] = True
    hub = Hub(SQLite3HubStorage(str(state)), _Tasks(), REQUEST_TIMEOUT=5)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))
    serve(app, host="127.0.0.1", port=port, threads=4)


@dataclass
class HubProcess:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_hub(folder: Path) -> HubProcess:
    port = free_port()
    log = (folder / "hub.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.hubs", str(port), str(folder / "hub.sqlite3")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return HubProcess(process, f"http://127.0.0.1:{port}/hub")


if __name__ == "__main__":
    run_hub(int(sys.argv[1]), Path(sys.argv[2]))

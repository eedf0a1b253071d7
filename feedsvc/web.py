"""The Flask app: looks prebuilt bytes up in the current snapshot, and lets Werkzeug
do the HTTP (ETags, conditional requests, Range, HEAD).

The request path parses nothing, renders nothing and compresses nothing: everything
was made when the snapshot was built. Its bytes are in memory until saved, then read
from the warm-start file (one indexed read; a 304 reads nothing).
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import (
    is_resource_modified,
    parse_accept_header,
    parse_date,
    parse_etags,
    parse_range_header,
)
from werkzeug.wrappers import Response as BaseResponse

from .config import Config
from .metrics import Measured, Metrics
from .snapshot import Resource, Snapshot
from .text import html_safe_json
from .topics import KINDS, Ref, Topic, requested, slug_of_key
from .urls import PAGES_AFTER_FEEDS, article_path, feed_path, page_path

SnapshotSource = Callable[[], Snapshot]
# Told of each answer to a subscription document: (path, status, user agent, address).
# Called on the request path: it must only queue (stats.Recorder).
PollRecorder = Callable[[str, int, str, str], None]
# Told of every answer: (path, status, body bytes); on the request path too.
ResponseCounter = Callable[[tuple[str, str, int]], None]
ARCHIVE_MAX_AGE = 86_400  # seconds


@functools.lru_cache(maxsize=512)
def _encoding(accept_encoding: str, has_br: bool) -> str:
    """The best representation a client accepts, by q-value; anything it names wins
    over implicit identity. Memoized: clients send a handful of distinct headers."""
    accept = parse_accept_header(accept_encoding)
    best, best_q = "identity", -1.0
    for name in ("br", "gzip", "identity") if has_br else ("gzip", "identity"):
        quality = accept.quality(name)
        if name == "identity" and accept.find(name) < 0:  # neither named nor *
            quality = 0.001  # acceptable unless refused
        if quality > best_q:
            best, best_q = name, quality
    return best if best_q > 0 else "identity"


def _precondition_failed(environ: dict[str, Any], etag: str, resource: Resource) -> bool:
    """RFC 9110 §13.2.2, steps 1 and 2, which Werkzeug answers as if they were cache
    validators: If-Match (strong comparison; `*` matches, the resource exists), and
    If-Unmodified-Since only without it (an unreadable date is ignored)."""
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        return not parse_etags(if_match).contains(etag)
    since = parse_date(environ.get("HTTP_IF_UNMODIFIED_SINCE"))
    return since is not None and resource.last_modified > since


def _single_range(environ: dict[str, Any]) -> bool:
    """A Range of one byte range: served as 206. Several ranges (a multipart answer)
    are not served: the Range is ignored and the whole body sent (RFC 9110 §14.2)."""
    ranges = parse_range_header(environ.get("HTTP_RANGE"))
    return ranges is None or len(ranges.ranges) == 1  # unparseable: Werkzeug's 416


def _respond(resource: Resource, environ: dict[str, Any], max_age: int) -> BaseResponse:
    """A 200, 206, 304 or 412 for one resource; Werkzeug decides the cache validators
    and ranges, after the preconditions it does not evaluate."""
    encoding = _encoding(environ.get("HTTP_ACCEPT_ENCODING", ""), resource.has_br)
    etag = resource.etag if encoding == "identity" else f"{resource.etag}-{encoding}"
    headers = [
        ("ETag", f'"{etag}"'),
        ("Last-Modified", resource.http_date),
        ("Cache-Control", f"public, max-age={max_age}"),
        ("Vary", "Accept-Encoding"),
    ]
    if encoding != "identity":
        headers.append(("Content-Encoding", encoding))
    if resource.link:
        headers.append(("Link", resource.link))
    if resource.status != 200:  # a withdrawn article's notice: no representation to match
        body = resource.encoded(encoding)
        return Response(body, resource.status, headers, content_type=resource.content_type)
    if "HTTP_IF_MATCH" in environ or "HTTP_IF_UNMODIFIED_SINCE" in environ:
        if _precondition_failed(environ, etag, resource):
            return Response(status=412, headers=headers)
        environ = {k: v for k, v in environ.items() if k != "HTTP_IF_MATCH"}
    ranged = "HTTP_RANGE" in environ and _single_range(environ)
    if not ranged and not is_resource_modified(
        environ, etag=etag, last_modified=resource.last_modified, ignore_if_range=True
    ):
        return Response(status=304, headers=headers)
    body = resource.encoded(encoding)  # read only now: a 304 needs no bytes
    response = Response(body, content_type=resource.content_type, headers=headers)
    if ranged:
        try:
            return response.make_conditional(environ, accept_ranges=True, complete_length=len(body))
        except HTTPException as exc:  # 416 for a range past the end, or unparseable
            return exc.get_response(environ)
    response.headers["Accept-Ranges"] = "bytes"
    return response


class _FromSnapshot:
    """WSGI middleware: a GET or HEAD for a path the snapshot holds is answered from it
    directly; everything else (redirects, 404s, /healthz) goes on to Flask."""

    def __init__(
        self,
        app: Any,
        snapshots: SnapshotSource,
        max_age: int,
        recorder: PollRecorder | None = None,
        counter: ResponseCounter | None = None,
    ) -> None:
        self.app = app
        self.snapshots = snapshots
        self.max_age = max_age
        self.recorder = recorder
        self.counter = counter
        # A complete archive page changes only when one of its own articles does.
        self.archive_max_age = max(max_age, ARCHIVE_MAX_AGE)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            # PEP 3333 strings are latin-1; URLs are UTF-8 (as Werkzeug decodes them).
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
            snapshot = self.snapshots()
            resource = snapshot.get(path or "/") if path != "/404" else None
            if resource is not None:
                archived = path.startswith("/feeds/archive/")
                max_age = self.archive_max_age if archived else self.max_age
                response = _respond(resource, environ, max_age)
                status = response.status_code
                if self.recorder is not None and path in snapshot.index.topics:
                    agent = environ.get("HTTP_USER_AGENT", "")
                    self.recorder(path, status, agent, environ.get("REMOTE_ADDR", ""))
                if self.counter is not None:
                    length = 0 if environ["REQUEST_METHOD"] == "HEAD" else response.content_length
                    self.counter((path, str(status), length or 0))
                return response(environ, start_response)
        return self.app(environ, start_response)


def _canonical(snapshot: Snapshot, path: str) -> str | None:
    """The canonical URL path for another spelling of a topic's slug or an article id."""
    if path.startswith("/articles/"):
        wanted = unicodedata.normalize("NFC", path[len("/articles/") :]).strip("/")
        if "/articles/" + wanted in snapshot.resources:
            return article_path(wanted)
        return None
    found = requested(path)
    if found is None or found.kind is None:
        return None
    kind = found.kind
    aliases = snapshot.index.aliases.get(kind.name, {})
    key = kind.key_of(found.slug.strip("/"))
    slug = aliases.get(key) or aliases.get(slug_of_key(key))
    if slug is None:
        return None
    topic = Topic(Ref(kind.name, key), slug, "")
    return feed_path(topic, found.fmt) if found.fmt else page_path(topic)


def _health(
    snapshot: Snapshot, hubs: list[dict[str, object]], mirror: dict[str, object] | None
) -> Response:
    health = snapshot.health
    body: dict[str, object] = {
        "status": "degraded" if health.error else "ok",  # the previous site served
        "articles": snapshot.index.articles,
        **{kind.segment: snapshot.index.counts.get(name, 0) for name, kind in KINDS.items()},
        "last_scan": health.last_scan.isoformat() if health.last_scan else None,
        "last_build_seconds": health.last_build_seconds,
        "scheduled": [{"path": p, "at": at.isoformat()} for p, at in health.scheduled],
        "rejected": list(health.rejected),
        "feeds": "building" if health.feeds_pending else "ready",
        "pages": "building" if health.pages_pending or health.feeds_pending else "ready",
        "rebuilding": health.rebuilding,  # after an upgrade: the saved site meanwhile
        "checking": health.checking,  # at a restart: the saved site until the folder is read
        "error": health.error or None,
        "websub": {"hubs": hubs},
    }
    if mirror is not None:
        body["mirror"] = mirror
    response = Response(
        html_safe_json(json.dumps(body, ensure_ascii=False, indent=1)),
        content_type="application/json; charset=utf-8",
    )
    response.cache_control.no_cache = True
    return response


def _coming() -> Response:
    """A path a start serves after what it serves first: seconds later, not a 404 a
    crawler would believe."""
    return Response(
        "पृष्ठ बन रहे हैं, कुछ क्षण बाद फिर देखें",
        status=503,
        headers={"Retry-After": "5"},
        content_type="text/plain; charset=utf-8",
    )


def create_app(
    cfg: Config,
    snapshots: SnapshotSource,
    hubs: Callable[[], list[dict[str, object]]] = list,
    mirror: Callable[[], dict[str, object] | None] = lambda: None,
    recorder: PollRecorder | None = None,
    metrics: Metrics | None = None,
) -> Flask:
    """The WSGI app; `snapshots` returns the current snapshot (the publisher's); `hubs`
    the state of each WebSub hub and `mirror` the live mirror's, for /healthz;
    `recorder` is told of every answer to a subscription document, `metrics` of every
    answer."""
    app = Flask("feedsvc")
    app.extensions["feedsvc"] = {"config": cfg, "snapshots": snapshots}
    max_age = cfg.schedule.rescan_seconds
    base = cfg.base_url

    def not_found() -> Response:
        page = snapshots().get("/404")
        body = page.body if page is not None else "पृष्ठ नहीं मिला".encode()
        return Response(body, status=404, content_type="text/html; charset=utf-8")

    @app.route("/", defaults={"path": ""}, methods=["GET", "HEAD"])
    @app.route("/<path:path>", methods=["GET", "HEAD"])
    def serve(path: str) -> Response:
        """Only what the snapshot does not hold comes here: /healthz, redirects, 404s."""
        snapshot = snapshots()
        wanted = request.path
        if wanted == "/healthz":
            return _health(snapshot, hubs(), mirror())
        target = _canonical(snapshot, wanted)
        if target is not None and target != quote(wanted, safe="/"):
            return redirect(base + target, code=301)  # type: ignore[return-value]
        health = snapshot.health
        if health.feeds_pending or (health.pages_pending and wanted.startswith(PAGES_AFTER_FEEDS)):
            return _coming()
        return not_found()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return not_found()
        response = Response(
            f"{exc.code}: अनुरोध पूरा नहीं किया जा सका",
            status=exc.code or 400,
            content_type="text/plain; charset=utf-8",
        )
        if exc.code == 405:
            response.headers["Allow"] = "GET, HEAD"
        return response

    # Hits on the snapshot never reach Flask's routing; the rest does.
    inner = app.wsgi_app if metrics is None else Measured(app.wsgi_app, metrics)
    counter = None if metrics is None else metrics.response
    app.wsgi_app = _FromSnapshot(inner, snapshots, max_age, recorder, counter)  # type: ignore[method-assign]
    return app

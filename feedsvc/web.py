"""The Flask app: looks prebuilt bytes up in the current snapshot, and lets Werkzeug
do the HTTP (ETags, conditional requests, Range, HEAD).

The request path parses nothing, renders nothing, compresses nothing and reads no
file: everything was made when the snapshot was built.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import HTTPException

from .config import Config
from .snapshot import Resource, Snapshot
from .text import tag_key, tag_slug
from .urls import article_path, feed_path, tag_page_path

SnapshotSource = Callable[[], Snapshot]


def _encoding(resource: Resource) -> str:
    """The best representation the client accepts, by q-value; compressed wins ties."""
    accept = request.accept_encodings
    offers = [("br", resource.br), ("gzip", resource.gzip), ("identity", resource.body)]
    best, best_q = "identity", -1.0
    for name, body in offers:
        if body is None:
            continue
        if name == "identity" and name not in accept and "*" not in accept:
            quality = 0.001  # acceptable unless refused, but anything the client names wins
        else:
            quality = accept.quality(name)
        if quality > best_q:
            best, best_q = name, quality
    return best if best_q > 0 else "identity"


def _respond(resource: Resource, max_age: int, status: int = 200) -> Response:
    encoding = _encoding(resource)
    body = {"br": resource.br, "gzip": resource.gzip}.get(encoding) or resource.body
    response = Response(body, status=status, content_type=resource.content_type)
    response.headers["Vary"] = "Accept-Encoding"
    if status != 200:
        return response
    if encoding != "identity":
        response.headers["Content-Encoding"] = encoding
    response.set_etag(resource.etag if encoding == "identity" else f"{resource.etag}-{encoding}")
    response.last_modified = resource.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response.make_conditional(request, accept_ranges=True, complete_length=len(body))


def _canonical(snapshot: Snapshot, path: str) -> str | None:
    """The canonical URL path for another spelling of a tag slug or article id."""
    catalog: dict[str, list[str]] = snapshot.info.get("catalog", {})  # type: ignore[assignment]

    def slug_for(raw: str) -> str | None:
        key = tag_key(raw)
        if key in catalog:
            return catalog[key][0]
        wanted = tag_slug(key)
        for k, (slug, _) in catalog.items():
            if tag_slug(k) == wanted or slug == wanted:
                return slug
        return None

    if path.startswith("/tags/"):
        slug = slug_for(path[len("/tags/") :])
        return tag_page_path(slug) if slug else None
    if path.startswith("/feeds/tags/"):
        stem, _, fmt = path[len("/feeds/tags/") :].rpartition(".")
        slug = slug_for(stem) if fmt in ("atom", "rss") else None
        return feed_path(slug, fmt) if slug else None
    if path.startswith("/articles/"):
        wanted = unicodedata.normalize("NFC", path[len("/articles/") :]).strip("/")
        if "/articles/" + wanted in snapshot.resources:
            return article_path(wanted)
    return None


def create_app(cfg: Config, snapshots: SnapshotSource) -> Flask:
    """The WSGI app; `snapshots` returns the current snapshot (the publisher's)."""
    app = Flask("feedsvc")
    app.extensions["feedsvc"] = {"config": cfg, "snapshots": snapshots}
    max_age = cfg.schedule.rescan_seconds
    base = cfg.base_url

    def not_found(status: int = 404) -> Response:
        page = snapshots().get("/404")
        if page is None:
            return Response("पृष्ठ नहीं मिला", status=status, content_type="text/plain; charset=utf-8")
        return _respond(page, max_age, status=status)

    @app.route("/", defaults={"path": ""}, methods=["GET", "HEAD"])
    @app.route("/<path:path>", methods=["GET", "HEAD"])
    def serve(path: str) -> Response:
        snapshot = snapshots()
        wanted = request.path
        if wanted == "/healthz":
            return _health(snapshot)
        resource = snapshot.get(wanted) if wanted != "/404" else None
        if resource is not None:
            return _respond(resource, max_age)
        target = _canonical(snapshot, wanted)
        if target is not None and target != quote(wanted, safe="/"):
            return redirect(base + target, code=301)  # type: ignore[return-value]
        return not_found()

    def _health(snapshot: Snapshot) -> Response:
        info: dict[str, Any] = dict(snapshot.info)
        body = {
            "status": "ok",
            "articles": info.get("articles", 0),
            "tags": info.get("tags", 0),
            "last_scan": info.get("last_scan"),
            "last_build_seconds": info.get("last_build_seconds"),
            "scheduled": info.get("scheduled", []),
            "rejected": info.get("rejected", []),
        }
        response = Response(
            json.dumps(body, ensure_ascii=False, indent=1),
            content_type="application/json; charset=utf-8",
        )
        response.cache_control.no_cache = True
        return response

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

    return app

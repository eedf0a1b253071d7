"""WSGI apps for benchmarks/serving.py, built from $FEEDSVC_CONFIG and $BENCH_PATH.

`ours` is the real feedsvc app over a published snapshot; `counted` the same app as
`feedsvc serve` runs it, counting subscribers and metrics; `minimal` is the least a
Flask app can do to answer the same request with the same bytes (the ceiling).
"""

from __future__ import annotations

import os

from flask import Flask, Response, request

from feedsvc.config import load_config
from feedsvc.metrics import Metrics
from feedsvc.publisher import Publisher
from feedsvc.stats import Counts, Recorder
from feedsvc.web import create_app

_cfg = load_config()
_publisher = Publisher(_cfg.replace(schedule={"settle_ms": 0}))
_snapshot = _publisher.rescan()
ours = create_app(_cfg, lambda: _publisher.snapshot)
_recorder = Recorder(Counts.beside(_cfg))
_recorder.start()
_metrics = Metrics()
_metrics.start()
counted = create_app(_cfg, lambda: _publisher.snapshot, recorder=_recorder, metrics=_metrics)

_resource = _snapshot.get(os.environ["BENCH_PATH"])
assert _resource is not None
_gzip = _resource.gzip  # held in memory: the ceiling
minimal = Flask("minimal")


@minimal.route("/<path:anything>")
def _same_bytes(anything: str) -> Response:
    etag = f'"{_resource.etag}-gzip"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    return Response(
        _gzip,
        content_type=_resource.content_type,
        headers={"ETag": etag, "Content-Encoding": "gzip"},
    )

"""Prometheus metrics (SPEC §14), served on the dashboard's listener: requests and
bytes by route kind and status, build and file-to-feed histograms, and the state of
the site, the hubs and the mirror, read when scraped.

The request path pays one queue put (a thread counts a second's worth at a time); the
state is read only when Prometheus asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .batches import Batched
from .topics import PAGE_PREFIXES
from .urls import FEED_FORMATS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUILD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30, 60, 300)


def route_kind(path: str) -> str:
    """Which kind of resource a path asks for: the label requests are counted by."""
    if path.startswith("/feeds/archive/"):
        return "archive"
    if path.startswith("/feeds/"):
        return "feed" if path.rpartition(".")[2] in FEED_FORMATS else "other"
    if path.startswith("/articles/"):
        return "article"
    if path == "/" or path.startswith(PAGE_PREFIXES):
        return "page"
    if path in ("/sitemap.xml", "/news-sitemap.xml", "/robots.txt") or path.startswith(
        "/sitemaps/"
    ):
        return "sitemap"
    if path == "/feeds.opml":
        return "opml"
    if path.startswith("/media/"):
        return "media"
    return "health" if path == "/healthz" else "other"


@dataclass(frozen=True)
class SiteState:
    """What the site holds now, read at each scrape."""

    articles: int = 0
    topics: dict[str, int] = field(default_factory=dict)  # by kind: tag, section, author
    scheduled: int = 0
    rejected: int = 0
    websub_pending: dict[str, int] = field(default_factory=dict)  # by hub
    websub_failures: dict[str, int] = field(default_factory=dict)  # by hub, since start
    mirror_errors: int | None = None  # None: no mirror


@dataclass
class Metrics:
    """One registry per process (not the library's global one)."""

    state: Callable[[], SiteState] = SiteState
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        registry = self.registry
        self.requests = Counter(
            "feedsvc_http_responses",
            "Responses of the public port, by route kind and status",
            ["route", "status"],
            registry=registry,
        )
        self.response_bytes = Counter(
            "feedsvc_http_response_bytes",
            "Bytes of response bodies sent by the public port, by route kind",
            ["route"],
            registry=registry,
        )
        self.build_seconds = Histogram(
            "feedsvc_build_seconds",
            "Duration of each build",
            buckets=BUILD_BUCKETS,
            registry=registry,
        )
        self.file_to_feed = Histogram(
            "feedsvc_file_to_feed_seconds",
            "From an article file's last write to the feeds that show the change",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        registry.register(_StateCollector(self.state))
        self._batches: Batched[tuple[str, str, int]] = Batched(self._count, "feedsvc-metrics")
        self.response = self._batches.put  # (path, status, length): on the request path

    def start(self) -> None:
        self._batches.start()

    def stop(self) -> None:
        self._batches.stop()

    def _count(self, responses: list[tuple[str, str, int]]) -> None:
        """A second's worth of responses, by route kind and status (the counters are
        thread-safe: a scrape's flush may count beside the batches' thread)."""
        numbers: dict[tuple[str, str], int] = {}
        sizes: dict[str, int] = {}
        for path, status, length in responses:
            route = route_kind(path)
            numbers[route, status] = numbers.get((route, status), 0) + 1
            sizes[route] = sizes.get(route, 0) + length
        for (route, status), number in numbers.items():
            self.requests.labels(route, status).inc(number)
        for route, size in sizes.items():
            if size:
                self.response_bytes.labels(route).inc(size)

    def exposition(self) -> bytes:
        """What Prometheus reads; the responses of the last second counted first."""
        self._batches.flush(timeout=2)
        return bytes(generate_latest(self.registry))


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], SiteState]) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        state = self._state()
        yield _gauge("feedsvc_articles", "Published articles", state.articles)
        topics = GaugeMetricFamily("feedsvc_topics", "Feed topics, by kind", labels=["kind"])
        for kind, count in sorted(state.topics.items()):
            topics.add_metric([kind], count)
        yield topics
        yield _gauge(
            "feedsvc_scheduled_articles", "Articles waiting for their time", state.scheduled
        )
        yield _gauge("feedsvc_rejected_files", "Files refused, and build problems", state.rejected)
        pending = GaugeMetricFamily(
            "feedsvc_websub_pending", "WebSub notifications waiting, by hub", labels=["hub"]
        )
        for hub, count in sorted(state.websub_pending.items()):
            pending.add_metric([hub], count)
        yield pending
        failures = CounterMetricFamily(
            "feedsvc_websub_delivery_failures",
            "WebSub POSTs that failed (each attempt), by hub",
            labels=["hub"],
        )
        for hub, count in sorted(state.websub_failures.items()):
            failures.add_metric([hub], count)
        yield failures
        if state.mirror_errors is not None:
            yield CounterMetricFamily(
                "feedsvc_mirror_errors", "Live mirror syncs that failed", value=state.mirror_errors
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Measured:
    """WSGI middleware counting the responses of an app by route kind and status: the
    Flask app's (404s, redirects, /healthz); the snapshot's hits are counted where
    they are answered (web._FromSnapshot), without wrapping start_response."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        path = environ.get("PATH_INFO", "")
        head = environ.get("REQUEST_METHOD") == "HEAD"

        def counted(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            length = 0
            if not head:
                for name, value in headers:
                    if name.lower() == "content-length" and value.isdigit():
                        length = int(value)
            self.metrics.response((path, status[:3], length))
            return start_response(status, headers, *rest)

        result: Iterator[bytes] = self.app(environ, counted)
        return result

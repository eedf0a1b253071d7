"""The desk's own view (SPEC §14): a Hindi page on a listener of its own, never the
public one, with `/metrics` beside it. Rendered on the server (charts are inline SVG),
no script and no font from elsewhere; Basic auth off loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, Response, request
from jinja2 import Environment, PackageLoader, select_autoescape

from .config import Config
from .errors import ConfigError
from .metrics import CONTENT_TYPE, Metrics
from .notices import hindi_date
from .snapshot import Snapshot
from .stats import Aggregator, Counts
from .store import HubRecord
from .topics import KINDS

PASSWORD_VARIABLE = "FEEDSVC_DASHBOARD_PASSWORD"
CHART_DAYS = 90
HOURS = 48
TOPICS_SHOWN = 20
CHANGES = {
    "published": "प्रकाशित",
    "updated": "अद्यतन",
    "corrected": "सुधार",
    "withdrawn": "वापस लिया",
    "removed": "हटाया",
}

_env = Environment(
    loader=PackageLoader("feedsvc", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials(cfg: Config) -> tuple[str, str] | None:
    """The user and password the dashboard asks for; None on loopback (the machine's
    own users only). Off loopback without both: a configuration error naming what
    is missing, before anything starts."""
    if is_loopback(cfg.dashboard.host):
        return None
    password = os.environ.get(PASSWORD_VARIABLE, "")
    if not cfg.dashboard.user:
        raise ConfigError(
            f"dashboard.user must be set when dashboard.host ({cfg.dashboard.host}) is not "
            f"loopback, with the password in {PASSWORD_VARIABLE}"
        )
    if not password:
        raise ConfigError(
            f"{PASSWORD_VARIABLE} must hold the password of dashboard.user when "
            f"dashboard.host ({cfg.dashboard.host}) is not loopback"
        )
    return cfg.dashboard.user, password


@dataclass(frozen=True)
class Sources:
    """What the dashboard reads: the running service's parts, each read per request."""

    snapshot: Callable[[], Snapshot]
    hubs: Callable[[], list[HubRecord]]
    mirror: Callable[[], dict[str, object] | None]
    counts: Counts | None
    clock: Callable[[], datetime]
    metrics: Metrics


def create_dashboard(cfg: Config, sources: Sources) -> Flask:
    app = Flask("feedsvc-dashboard")
    wanted = credentials(cfg)

    @app.before_request
    def authenticate() -> Response | None:
        if wanted is None:
            return None
        given = request.authorization
        user = given.username if given is not None and given.username else ""
        password = given.password if given is not None and given.password else ""
        # both compared whatever the first gives: no timing tells which was wrong
        same_user = hmac.compare_digest(user.encode(), wanted[0].encode())
        same_password = hmac.compare_digest(password.encode(), wanted[1].encode())
        if same_user and same_password:
            return None
        return Response(
            "प्रवेश के लिए नाम और पासवर्ड चाहिए",
            401,
            {"WWW-Authenticate": 'Basic realm="feedsvc", charset="UTF-8"'},
            content_type="text/plain; charset=utf-8",
        )

    @app.get("/")
    def desk() -> Response:
        page = render(cfg, sources)
        response = Response(page, content_type="text/html; charset=utf-8")
        response.cache_control.no_store = True
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(sources.metrics.exposition(), content_type=CONTENT_TYPE)

    return app


# --- the page ---------------------------------------------------------------------------


def render(cfg: Config, sources: Sources) -> str:
    snapshot, tz = sources.snapshot(), cfg.tzinfo
    now = sources.clock()
    health, index = snapshot.health, snapshot.index
    counts = [
        ("लेख", index.articles),
        *((kind.label, index.counts.get(name, 0)) for name, kind in KINDS.items()),
        ("निर्धारित", len(health.scheduled)),
        ("मसौदे", health.drafts),
        ("अस्वीकृत", len(health.rejected)),
    ]
    changes = [
        {
            "kind": CHANGES.get(c.kind, c.kind),
            "title": c.title,
            "path": c.path,
            "when": hindi_date(c.at, tz),
            "latency": f"{c.latency:.2f} s" if c.latency is not None else "—",
        }
        for c in health.changes
    ]
    scheduled = [{"path": p, "when": hindi_date(at, tz)} for p, at in health.scheduled]
    hubs = [_hub(h, tz) for h in sources.hubs()]
    page = _env.get_template("dashboard.html").render(
        site=cfg.site,
        now=hindi_date(now, tz),
        counts=counts,
        changes=changes,
        scheduled=scheduled,
        rejected=list(health.rejected),
        hubs=hubs,
        mirror=sources.mirror(),
        topics=_subscribers(sources.counts, now.astimezone(tz).date(), now)
        if sources.counts
        else [],
        last_build=health.last_build_seconds,
    )
    return page


def _hub(hub: HubRecord, tz: ZoneInfo) -> dict[str, object]:
    delivered = hub.last_delivery
    when = hindi_date(datetime.fromtimestamp(delivered, UTC), tz) if delivered is not None else "—"
    return {
        "url": hub.hub,
        "pending": hub.pending,
        "last_delivery": when,
        "last_error": hub.last_error,
    }


@dataclass(frozen=True)
class TopicRow:
    """One topic's readers as the dashboard shows them."""

    topic: str
    today: int  # today's estimate of its readers
    peak: int  # the largest of its last 90 days
    chart: str  # SVG: its readers of the last 90 days
    polls: str  # SVG: its polls of each of the last 48 hours
    total_polls: int
    unchanged: str  # the share of those answered 304
    aggregators: tuple[Aggregator, ...]
    crawlers: int  # polls by crawlers today


def _subscribers(counts: Counts, today: date, now: datetime) -> list[TopicRow]:
    """The most read topics of the last 90 days (by today's readers): each with its
    90-day chart, its polls of the last 48 hours and their share answered 304."""
    series = counts.series(today - timedelta(days=CHART_DAYS - 1), today)
    hour = int(now.timestamp()) // 3600
    hours = range(hour - HOURS + 1, hour + 1)
    rows = []
    for topic in list(series)[:TOPICS_SHOWN]:
        hourly = counts.hourly(topic, hours[0], hours[-1])
        polls = [sum(hourly.get(h, (0, 0))) for h in hours]
        unchanged, total = sum(u for _, u in hourly.values()), sum(polls)
        rows.append(
            TopicRow(
                topic=topic,
                today=series[topic][today],
                peak=max(series[topic].values()),
                chart=line_chart(list(series[topic].values())),
                polls=bar_chart(polls),
                total_polls=total,
                unchanged=f"{100 * unchanged / total:.0f}%" if total else "—",
                aggregators=counts.aggregators(topic, today),
                crawlers=counts.crawler_polls(topic, today),
            )
        )
    return rows


def line_chart(values: Sequence[int], width: int = 360, height: int = 80) -> str:
    """An inline SVG line of the values (oldest first), scaled to its largest: no
    script, no font, and it shrinks with the page."""
    top = max(max(values, default=0), 1)
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{n * step:.1f},{height - 4 - (height - 8) * v / top:.1f}" for n, v in enumerate(values)
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="{len(values)} दिनों के पाठक, सबसे अधिक {top}">'
        f'<polyline fill="none" stroke="#0b4f8a" stroke-width="2" '
        f'vector-effect="non-scaling-stroke" points="{points}"/></svg>'
    )


def bar_chart(values: Sequence[int], width: int = 360, height: int = 40) -> str:
    """An inline SVG bar per value (polls per hour, oldest first)."""
    top = max(max(values, default=0), 1)
    step = width / max(len(values), 1)
    bars = "".join(
        f'<rect x="{n * step:.1f}" y="{height - height * v / top:.1f}" '
        f'width="{step * 0.8:.1f}" height="{height * v / top:.1f}"/>'
        for n, v in enumerate(values)
        if v
    )
    return (
        f'<svg class="bars" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="पिछले {len(values)} घंटों में हर घंटे के अनुरोध">'
        f'<g fill="#8aa9c7">{bars}</g></svg>'
    )

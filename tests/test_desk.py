"""The desk's own view (SPEC §14) through real parts: polls of the real server with
aggregator User-Agents, real nginx writing a real access log, the dashboard's own
listener with Basic auth off loopback, and /metrics."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from feedsvc.config import Config, from_dict
from feedsvc.dashboard import PASSWORD_VARIABLE, Sources, create_dashboard
from feedsvc.metrics import Metrics, SiteState
from feedsvc.snapshot import Change, Health, SiteIndex, Snapshot
from feedsvc.stats import Counts
from feedsvc.store import HubRecord

from .conftest import ROOT, md, wait_for, write
from .nginx import nginx_binary, start_nginx
from .server import feedsvc, free_port, request, start

FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; )"
INOREADER = "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; {n} subscribers; )"
NGINX = nginx_binary()


def site(root: Path, desk_port: int, more: str = "") -> Path:
    folder = root / "articles"
    write(folder, "desh/rail.md", md("रेल किराया", ["रेलवे"], "2025-10-02"))
    write(folder, "khel.md", md("हॉकी", ["खेल"], "2025-10-03"))
    write(folder, "later.md", md("कल की ख़बर", ["खेल"], "2099-01-01"))  # scheduled
    write(folder, "<script>alert(1)</script>.md", "---\ntitle: [x\n---\n")  # rejected
    config = root / "config.toml"
    config.write_text(
        '[site]\nid_authority = "news.example"\n[schedule]\nsettle_ms = 50\n'
        f"[dashboard]\nport = {desk_port}\n" + more
    )
    return config


def stats(config: Path, *logs: Path) -> tuple[dict, str]:
    args = ["--access-log", *map(str, logs)] if logs else []
    result = subprocess.run(
        feedsvc("stats", "--config", str(config), *args, "--json"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def by_topic(report: dict) -> dict[str, tuple[int, list]]:
    return {t["topic"]: (t["today"], t["aggregators"]) for t in report["topics"]}


def test_the_real_server_counts_its_own_polls(tmp_path: Path) -> None:
    desk = free_port()
    config = site(tmp_path, desk)
    server = start(config)
    try:
        polls = [
            ("/feeds/all.atom", FEEDLY.format(n=131)),
            ("/feeds/all.rss", FEEDLY.format(n=135)),  # all formats of a topic together
            ("/feeds/all.json", INOREADER.format(n=12)),
            ("/feeds/all.atom", "NetNewsWire/6.1"),
            ("/feeds/all.atom", "NetNewsWire/6.1"),  # the same reader again
            ("/feeds/all.atom", "Googlebot/2.1 (+http://www.google.com/bot.html)"),
            ("/feeds/all.atom", "facebookexternalhit/1.1"),
            ("/feeds/tags/खेल.atom", FEEDLY.format(n=7)),
            ("/feeds/sections/desh.rss", INOREADER.format(n=3)),
            ("/feeds/archive/all/1.atom", FEEDLY.format(n=999)),  # not a subscription document
            ("/feeds/tags/nothing.atom", FEEDLY.format(n=999)),  # 404: not counted
        ]
        for path, agent in polls:
            assert request(server.port, path, headers={"User-Agent": agent}).status < 500
        utf8 = ("\x01\x7f" + "९" * 100).encode().decode("latin-1")  # raw bytes on the wire
        answered = 0  # each hostile agent a reader of its own, when it got the feed
        for hostile in ("x" * 100_000, utf8, "1" * 50 + " subscribers"):
            reply = request(server.port, "/feeds/all.atom", headers={"User-Agent": hostile})
            assert reply.status < 500
            answered += reply.status == 200
        assert answered >= 2
        want = {
            "all": (
                135 + 12 + 1 + answered,
                [{"name": "Feedly", "subscribers": 135}, {"name": "Inoreader", "subscribers": 12}],
            ),
            "tags/खेल": (7, [{"name": "Feedly", "subscribers": 7}]),
            "sections/desh": (3, [{"name": "Inoreader", "subscribers": 3}]),
        }
        wait_for(lambda: by_topic(stats(config)[0]) == want, timeout=10)

        assert server.request("/dashboard").status == 404  # never on the public port
        assert server.request("/metrics").status == 404
        page = request(desk, "/")
        text = page.body.decode()
        assert page.status == 200 and "<svg" in text and "Feedly: 135" in text
        assert "later.md" in text and "&lt;script&gt;alert(1)&lt;/script&gt;.md" in text
        assert "<script" not in text
        metrics = request(desk, "/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        body = metrics.body.decode()
        assert 'feedsvc_http_responses_total{route="feed",status="200"}' in body
        assert 'feedsvc_http_responses_total{route="feed",status="404"} 1.0' in body
        for name in (
            "feedsvc_build_seconds_bucket",
            "feedsvc_articles 2.0",
            "feedsvc_scheduled_articles 1.0",
            "feedsvc_rejected_files 1.0",
            'feedsvc_topics{kind="tag"} 2.0',
        ):
            assert name in body, name
    finally:
        assert server.stop() == 0


CLOCKED = [sys.executable, "-m", "tests.clocked_serve"]  # its days run as CLOCK-DAYS says


def test_counts_move_on_with_the_days_through_the_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    )
    desk = free_port()
    config = site(tmp_path, desk)
    days = tmp_path / "CLOCK-DAYS"

    def report() -> dict:
        command = [*CLOCKED, "stats", "--config", str(config), "--json"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        found: dict = json.loads(result.stdout)
        return found

    def topic(name: str) -> dict:
        return next((t for t in report()["topics"] if t["topic"] == name), {"today": None})

    server = start(config, command=CLOCKED)
    try:

        def poll(agent: str, path: str = "/feeds/all.atom") -> None:
            assert request(server.port, path, headers={"User-Agent": agent}).status == 200

        poll(FEEDLY.format(n=100))
        poll("NetNewsWire/6.1")
        wait_for(lambda: topic("all")["today"] == 100 + 1)
        first = report()["day"]
        days.write_text("1")  # the next day: the same reader counts again, a new one too
        poll(FEEDLY.format(n=90))
        poll(INOREADER.format(n=5))
        poll("NetNewsWire/6.1")
        poll("Reeder/5.0")
        wait_for(lambda: topic("all")["today"] == 90 + 5 + 2)
        assert report()["day"] > first
        days.write_text("8")  # a week after that day: nothing polled yet today
        poll(FEEDLY.format(n=80), "/feeds/tags/खेल.atom")
        wait_for(lambda: topic("tags/खेल")["today"] == 80)
        assert (topic("all")["today"], topic("all")["days_7_ago"]) == (0, 97)
        assert [t["topic"] for t in report()["topics"]] == ["tags/खेल", "all"]
        page = request(desk, "/").body.decode()  # the dashboard's day is the same
        assert "आज 80 पाठक" in page and "आज 0 पाठक" in page
    finally:
        assert server.stop() == 0


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_nginx_access_logs_are_read_once_through_rotation_and_truncation(tmp_path: Path) -> None:
    config = site(tmp_path, 0)
    out = tmp_path / "out"
    built = subprocess.run(
        feedsvc("build", "--config", str(config), "--out", str(out)), capture_output=True
    )
    assert built.returncode == 0, built.stderr
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    assert NGINX is not None
    nginx = start_nginx(NGINX, out, tmp_path / "nginx", access_log=log)
    try:

        def poll(path: str, agent: str) -> None:
            assert nginx.request(path, headers={"User-Agent": agent}).status == 200

        wait_for(lambda: "/robots.txt" in log.read_text())  # nginx's start-up probe
        started = log.read_text().count("\n")
        poll("/feeds/all.atom", FEEDLY.format(n=100))
        poll("/feeds/tags/खेल.rss", INOREADER.format(n=4))
        poll("/feeds/all.atom", "NetNewsWire/6.1")
        wait_for(lambda: log.read_text().count("\n") == started + 3)
        report, said = stats(config, log)
        assert f"{started + 3} new lines, 3 feed polls counted" in said
        assert by_topic(report)["all"] == (101, [{"name": "Feedly", "subscribers": 100}])

        rotated = log.with_name("access.log.1")  # logrotate: move, then tell nginx
        log.rename(rotated)
        poll("/feeds/all.atom", FEEDLY.format(n=120))  # still into the moved file
        nginx.reopen_logs()
        wait_for(log.exists)
        poll("/feeds/all.atom", FEEDLY.format(n=150))
        poll("/feeds/all.atom", "Reeder/5.0")
        wait_for(lambda: log.read_text().count("\n") == 2)
        report, said = stats(config, log, rotated)
        assert said.count("feed polls counted") == 2
        assert "2 new lines, 2 feed polls counted" in said and "1 new lines, 1 feed polls" in said
        assert by_topic(report)["all"][0] == 150 + 2

        log.write_bytes(b"")  # copytruncate
        poll("/feeds/tags/खेल.rss", INOREADER.format(n=9))
        wait_for(lambda: log.read_text().count("\n") == 1)
        report, said = stats(config, log, rotated)
        assert "1 new lines, 1 feed polls counted" in said and "0 new lines" in said
        assert by_topic(report)["tags/खेल"][0] == 9
        log.unlink()  # a log that vanished: said, never fatal
        report, said = stats(config, log, rotated)
        assert "cannot read" in said and by_topic(report)["tags/खेल"][0] == 9
    finally:
        nginx.stop()


def test_serve_refuses_a_dashboard_off_loopback_without_a_user_and_password(tmp_path: Path) -> None:
    config = site(tmp_path, free_port())
    text = config.read_text().replace("[dashboard]\n", '[dashboard]\nhost = "0.0.0.0"\n')
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_VARIABLE}
    for extra, named in (("", "dashboard.user"), ('user = "desk"\n', PASSWORD_VARIABLE)):
        config.write_text(text.replace('host = "0.0.0.0"\n', 'host = "0.0.0.0"\n' + extra))
        command = feedsvc("serve", "--config", str(config), "--port", str(free_port()))
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 2 and named in result.stderr
        assert "Traceback" not in result.stderr


def desk_config(tmp_path: Path, host: str) -> Config:
    return from_dict({"dashboard": {"host": host, "user": "desk"}}, tmp_path)


def sources(tmp_path: Path, snapshot: Snapshot) -> Sources:
    counts = Counts(tmp_path / "stats.sqlite3", desk_config(tmp_path, "127.0.0.1").tzinfo)
    return Sources(
        snapshot=lambda: snapshot,
        hubs=lambda: [HubRecord("http://hub.example/", 2, None, "<b>503</b>")],
        mirror=lambda: None,
        counts=counts,
        clock=lambda: datetime.now().astimezone(),
        metrics=Metrics(SiteState),
    )


def test_off_loopback_the_dashboard_asks_for_the_password(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "गुप्त-पासवर्ड")
    app = create_dashboard(desk_config(tmp_path, "0.0.0.0"), sources(tmp_path, Snapshot()))
    client = app.test_client()

    def basic(user: str, password: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    nobody = client.get("/")
    assert nobody.status_code == 401 and nobody.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/", headers=basic("desk", "wrong")).status_code == 401
    assert client.get("/metrics", headers=basic("other", "गुप्त-पासवर्ड")).status_code == 401
    assert client.get("/", headers=basic("desk", "गुप्त-पासवर्ड")).status_code == 200
    assert client.get("/metrics", headers=basic("desk", "गुप्त-पासवर्ड")).status_code == 200


def test_the_dashboard_shows_every_name_and_reason_as_text(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    health = Health(
        scheduled=(("<img src=x onerror=alert(1)>.md", datetime.now().astimezone()),),
        rejected=(f"{hostile}.md:3: broken YAML <b>here</b>",),
        changes=(
            Change("published", f"शीर्षक {hostile}", "a.md", datetime.now().astimezone(), 0.4),
        ),
    )
    snapshot = Snapshot({}, SiteIndex(articles=1), health)
    app = create_dashboard(desk_config(tmp_path, "127.0.0.1"), sources(tmp_path, snapshot))
    page = app.test_client().get("/").get_data(as_text=True)
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.md:3: broken YAML &lt;b&gt;here&lt;/b&gt;" in page
    assert "शीर्षक &lt;script&gt;" in page and "0.40 s" in page


def test_a_chart_is_inline_svg_scaled_to_its_largest() -> None:
    from feedsvc.dashboard import bar_chart, line_chart

    chart = line_chart([0, 5, 10])
    assert chart.startswith("<svg") and 'points="0.0,76.0 180.0,40.0 360.0,4.0"' in chart
    assert "<rect" not in bar_chart([0, 0]) and bar_chart([1, 2]).count("<rect") == 2


def test_changes_are_listed_with_their_file_to_feed_time(tmp_path: Path) -> None:
    from feedsvc.publisher import Publisher

    from .conftest import folder_config

    write(tmp_path / "articles", "a.md", md("पहला", ["क"], "2025-01-01"))
    seen: list[tuple[float, list[float]]] = []
    publisher = Publisher(
        folder_config(tmp_path), workers=1, observer=lambda s, late: seen.append((s, late))
    )
    try:
        publisher.rescan()
        write(tmp_path / "articles", "b.md", md("दूसरा", ["क"], "2025-01-02"), age=0.5)
        write(
            tmp_path / "articles",
            "a.md",
            md("पहला", ["क"], "2025-01-01", corrections='[{date: "2025-01-02", text: "ठीक"}]'),
            age=0.5,
        )
        publisher.refresh({"b.md", "a.md"})
        (tmp_path / "articles" / "b.md").unlink()
        publisher.refresh({"b.md"})
        kinds = [(c.kind, c.path) for c in publisher.snapshot.health.changes]
        assert kinds[0] == ("withdrawn", "b.md")
        assert set(kinds[1:]) == {("corrected", "a.md"), ("published", "b.md")}  # one build
        latencies = [c.latency for c in publisher.snapshot.health.changes]
        assert latencies[0] is None and all(0.5 <= (t or 0) < 60 for t in latencies[1:])
        assert len(seen) == 3 and len(seen[1][1]) == 2  # the first build, then each change
    finally:
        publisher.close()

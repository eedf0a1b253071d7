"""WebSub push with a large corpus loaded, against the real `feedsvc serve`.

    pip install -e '.[test]'    # flask-websub, the local hub
    python benchmarks/push.py --articles 10000 --tags 300 --additions 20

1. File closed -> a hub received the publish notification for /feeds/all.atom
   (a recording hub on loopback), p50/p95 over the additions.
2. File closed -> a subscriber received the new feed through a real hub
   (flask-websub's, in its own process), p50/p95.
3. One change touching 300 topics (an article with 150 new tags: 300 tag feeds and
   `all`), delivered to a slow hub (20 ms an answer): the time until every topic was
   announced, and the rebuild time of an ordinary addition made meanwhile, beside the
   ordinary additions' (nothing waits on a hub).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from corpus import site  # noqa: E402

from tests.hubs import RecordingHub, Subscriber, start_hub  # noqa: E402
from tests.server import Server, free_port, start  # noqa: E402


def until(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.002)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def article(root: Path, name: str, title: str, tags: list[str]) -> float:
    """Write an article; the moment its file was closed."""
    listed = ", ".join(f'"{t}"' for t in tags)
    with (root / "articles" / f"{name}.md").open("w", encoding="utf-8") as fh:
        fh.write(f'---\ntitle: "{title}"\ntags: [{listed}]\n---\nपाठ।\n')
    return time.time()


def additions(
    server: Server, root: Path, hub: RecordingHub, subscriber: Subscriber, n: int
) -> None:
    topic = f"http://127.0.0.1:{server.port}/feeds/all.atom"
    to_hub, to_subscriber, builds = [], [], []
    for i in range(n):
        title = f"धक्का {i}"
        closed = article(root, f"push-{i}", title, ["ताज़ा"])
        until(lambda c=closed: any(p.at > c for p in hub.posts(topic)), f"addition {i} at the hub")
        to_hub.append(min(p.at for p in hub.posts(topic) if p.at > closed) - closed)
        wanted = title.encode()
        until(lambda w=wanted: any(w in b for b in subscriber.received), f"addition {i} delivered")
        at = next(
            t
            for b, t in zip(subscriber.received, subscriber.received_at, strict=False)
            if wanted in b
        )
        to_subscriber.append(at - closed)
        builds.append(json.loads(server.request("/healthz").body)["last_build_seconds"])
    print(f"file closed -> hub told ({n} additions): {percentiles(to_hub)}")
    print(f"file closed -> subscriber has the content via the hub: {percentiles(to_subscriber)}")
    print(f"rebuild per addition: median {statistics.median(builds) * 1000:.0f} ms")


def wide_change(server: Server, root: Path, hub: RecordingHub) -> None:
    hub.record.delay = 0.02
    before = len(hub.posts())
    tags = [f"लहर {i}" for i in range(150)]
    closed = article(root, "wide", "एक साथ कई विषय", tags)
    until(lambda: len(hub.posts()) > before, "the wide change at the hub")
    # an ordinary addition while the 302 notifications are being delivered
    ordinary = article(root, "meanwhile", "इसी बीच", ["ताज़ा"])
    until(lambda: "इसी बीच".encode() in server.request("/feeds/all.atom").body, "meanwhile")
    served = time.time() - ordinary
    build = json.loads(server.request("/healthz").body)["last_build_seconds"]
    until(
        lambda: len({p.form["hub.topic"] for p in hub.posts()[before:]}) >= 302, "302 topics", 120
    )
    done = max(p.at for p in hub.posts()[before:])
    print(
        f"one change, {len({p.form['hub.topic'] for p in hub.posts()[before:]})} topics, "
        f"slow hub (20 ms an answer): all announced {done - closed:.2f} s after the file closed"
    )
    print(
        f"an addition during that delivery: served {served * 1000:.0f} ms after closing, "
        f"rebuild {build * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--additions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recording, subscriber, real = RecordingHub(), Subscriber(), start_hub(root)
        port = free_port()
        config = site(
            root,
            args.articles,
            args.tags,
            f'base_url = "http://127.0.0.1:{port}"\n'
            f'[websub]\nhubs = ["{recording.url}", "{real.url}"]\n',
        )
        started = time.perf_counter()
        server = start(config, port=port, timeout=600)
        print(
            f"{args.articles} articles, {args.tags} tags: serving after {time.perf_counter() - started:.1f} s"
        )
        try:
            topic = f"http://127.0.0.1:{port}/feeds/all.atom"
            form = {
                "hub.mode": "subscribe",
                "hub.topic": topic,
                "hub.callback": subscriber.callback,
            }
            until(lambda: _accepted(real.url, form), "subscription")
            until(subscriber.verified.is_set, "verification")
            additions(server, root, recording, subscriber, args.additions)
            wide_change(server, root, recording)
        finally:
            server.stop()
            real.stop()
            recording.close()
            subscriber.close()


def _accepted(hub: str, form: dict[str, str]) -> bool:
    try:
        return requests.post(hub, data=form, timeout=2).status_code == 202
    except requests.ConnectionError:
        return False


if __name__ == "__main__":
    main()

"""Time from a new article file being closed to the served feed containing it,
with a large corpus loaded, against the real `feedsvc serve` on loopback, and to the
live mirror's file (what nginx serves) containing it.

    python benchmarks/freshness.py --articles 10000 --tags 300 --additions 50

Reports p50/p95 over the additions (settle_ms included: the default 300 ms) and the
server's own rebuild time for each (from /healthz). The first `--warmup` additions
are reported apart: after a cold start the server saves its first snapshot for warm
starts (seconds at 10,000 articles) beside them, which a server running for a while
has long done.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from corpus import site  # noqa: E402

from tests.server import request, start  # noqa: E402


def get(port: int, path: str) -> bytes:
    return request(port, path).body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--additions", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, args.articles, args.tags)
        started = time.perf_counter()
        mirror = root / "mirror"
        server = start(config, timeout=600, args=("--mirror", str(mirror)))
        mirrored_feed = mirror / "feeds" / "tags" / "ताज़ा.atom"
        print(
            f"{args.articles} articles, {args.tags} tags: serving after "
            f"{time.perf_counter() - started:.1f} s (cold start)"
        )
        while json.loads(get(server.port, "/healthz"))["mirror"]["synced_at"] is None:
            time.sleep(0.05)
        print(f"mirror whole {time.perf_counter() - started:.1f} s after the start")
        latencies, builds, mirrored = [], [], []
        try:
            for n in range(args.warmup + args.additions):
                title = f"ताज़ा खबर संख्या {n}"
                path = root / "articles" / f"fresh-{n}.md"
                with path.open("w", encoding="utf-8") as fh:
                    fh.write(
                        f'---\ntitle: "{title}"\ndate: 2026-06-01T10:{n:02d}:00+05:30\n'
                        f'tags: ["ताज़ा", "खेल"]\n---\nनया पाठ। {n}\n'
                    )
                closed = time.perf_counter()
                deadline = closed + 10
                while title.encode() not in get(server.port, "/feeds/tags/ताज़ा.atom"):
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"addition {n} not served within 10 s")
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - closed)
                while (
                    not mirrored_feed.exists() or title.encode() not in mirrored_feed.read_bytes()
                ):
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"addition {n} not in the mirror within 10 s")
                    time.sleep(0.002)
                mirrored.append(time.perf_counter() - closed)
                health = json.loads(get(server.port, "/healthz"))
                builds.append(health["last_build_seconds"])
        finally:
            server.stop()
        warm = args.warmup
        early = sorted(latencies[:warm])
        if early:
            print(
                f"warm-up additions (not counted): {', '.join(f'{t * 1000:.0f}' for t in early)} ms"
            )
        latencies, mirrored, builds = latencies[warm:], mirrored[warm:], builds[warm:]
        for what, times in (("served in feed", latencies), ("in the mirror", mirrored)):
            times.sort()
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            print(
                f"file closed -> {what}, {len(times)} additions: "
                f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                f"max {times[-1] * 1000:.0f} ms (settle_ms = 300 included)"
            )
        print(f"server rebuild per addition: median {statistics.median(builds) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

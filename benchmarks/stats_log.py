"""Reading a large nginx access log with `feedsvc stats --access-log`: wall time and
peak memory of the command, on a log of N lines (default 1,000,000) of feed polls by
aggregators, readers and crawlers over 30 days, then the same log read again
(incrementally: nothing new).

    python benchmarks/stats_log.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.server import feedsvc  # noqa: E402

AGENTS = [
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; )",
    "Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; {n} subscribers; )",
    "NewsBlur Feed Fetcher - {n} subscribers - http://www.newsblur.com/",
    "Mozilla/5.0 (X11; Linux x86_64) NetNewsWire/6.1",
    "Reeder/5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
PATHS = ["/feeds/all.atom", "/feeds/all.rss", "/feeds/tags/%E0%A4%96%E0%A5%87%E0%A4%B2.atom"]
PATHS += [f"/feeds/tags/t{n}.rss" for n in range(100)] + [
    "/articles/x",
    "/feeds/archive/all/1.atom",
]


def write_log(path: Path, lines: int) -> None:
    rng = random.Random(5)
    start = datetime(2026, 11, 7, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    step = 30 * 86_400 / lines
    with path.open("w") as fh:
        for n in range(lines):
            when = (start + timedelta(seconds=n * step)).strftime("%d/%b/%Y:%H:%M:%S %z")
            agent = rng.choice(AGENTS).format(n=rng.randint(1, 500))
            address = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            status = 304 if rng.random() < 0.6 else 200
            fh.write(
                f'{address} - - [{when}] "GET {rng.choice(PATHS)} HTTP/1.1" {status} 512 "-" "{agent}"\n'
            )


def run(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, result.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "config.toml").write_text('[site]\nid_authority = "bench.example"\n')
        log = root / "access.log"
        write_log(log, args.lines)
        size = log.stat().st_size / 1e6
        command = feedsvc("stats", "--config", str(root / "config.toml"), "--access-log", str(log))
        first, said = run(command)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        again, said_again = run(command)
        print(f"{args.lines} lines, {size:.0f} MB: read in {first:.1f} s, peak RSS {peak:.0f} MB")
        print(f"  {said}")
        print(f"read again (nothing new): {again:.2f} s; {said_again}")


if __name__ == "__main__":
    main()

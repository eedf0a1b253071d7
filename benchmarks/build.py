"""Full build and one-article incremental rebuild on a synthetic corpus.

    python benchmarks/build.py --articles 10000 --tags 300

Times (wall and CPU): a cold `feedsvc build` (empty state store), a warm one (state
and parse cache kept), and the incremental rebuild after one new article, the way
the watcher triggers it (Publisher.refresh).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import site  # noqa: E402

from feedsvc.config import load_config  # noqa: E402
from feedsvc.publisher import Publisher  # noqa: E402


def timed_command(args: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS MB) of one child process and the children it waited for."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(args)} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--changes", type=int, default=20, help="incremental rebuilds to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, args.articles, args.tags)
        build = [sys.executable, "-m", "feedsvc.cli", "build", "--config", str(config)]
        cold = timed_command([*build, "--out", str(root / "out")])
        warm = timed_command([*build, "--out", str(root / "out")])
        print(f"corpus: {args.articles} articles, {args.tags} tags")
        print(f"cold build : {cold[0]:6.2f} s wall, {cold[1]:6.2f} s CPU, peak RSS {cold[2]} MB")
        print(f"warm build : {warm[0]:6.2f} s wall, {warm[1]:6.2f} s CPU, peak RSS {warm[2]} MB")

        publisher = Publisher(load_config(config).replace(schedule={"settle_ms": 0}))
        start = time.perf_counter()
        publisher.rescan()
        print(f"warm start to first snapshot (in process): {time.perf_counter() - start:.2f} s")
        walls, cpus = [], []
        for n in range(args.changes):
            name = f"new-{n}.md"
            (root / "articles" / name).write_text(
                f'---\ntitle: "नया लेख {n}"\ndate: 2026-01-0{n % 9 + 1}T10:00:00+05:30\n'
                f'tags: ["नया", "खेल"]\n---\nनया पाठ। {n}\n',
                encoding="utf-8",
            )
            wall, cpu = time.perf_counter(), time.process_time()
            snapshot = publisher.refresh({name})
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            assert f"/articles/new-{n}" in snapshot.resources
        publisher.close()
        walls.sort()
        print(
            f"incremental rebuild (one new article, {args.changes} runs): "
            f"median {statistics.median(walls) * 1000:.0f} ms wall, "
            f"p95 {walls[int(len(walls) * 0.95) - 1] * 1000:.0f} ms, "
            f"median CPU {statistics.median(cpus) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()

"""feedsvc beside Pelican and Hugo on the same synthetic Hindi corpus, in one run.

    pip install -e '.[bench]'                       # feedsvc, and Pelican with Markdown
    apt-get install hugo                            # optional: Hugo
    python benchmarks/compare.py [--articles 10000] [--tags 300] [--runs 3]
    python benchmarks/compare.py --archive-scale    # 100,000 articles / 3,000 tags, 1 run
    python benchmarks/compare.py --articles 300000 --tags 9000 --runs 1 \
        --tools feedsvc,hugo-full --work /var/tmp/bench  # each corpus written once, reused

For each tool: a cold full build (empty cache and output), a warm rebuild with
nothing changed, and a rebuild after one new article. feedsvc's "one article" is
what `feedsvc serve` does on a file event (Publisher.refresh on a warm process);
Pelican runs with its content cache; Hugo has no cache to keep. Pelican is set to
write only the all/tag Atom+RSS feeds; `hugo` only the home and tag RSS outputs
(feeds only); `hugo-full` is Hugo doing all feedsvc's work, with the templates in
../shared/bench/hugo-site (every article page, tag pages and the home page,
full-content feeds). feedsvc also gets its time to first feed: a cold
`feedsvc serve` with an empty state, until its first 200 for /feeds/all.atom
(its RSS: the server's peak until the rest of the site is built too),
and a serving run on the built site: the warm start to its first feed, ten new
articles each timed from file to served feed, the process's resident memory after
them, then a restart with other settings (its first feed, and the new site whole).
A tool that is not installed is skipped, saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from corpus import WRITERS, generate, records, write_feedsvc  # noqa: E402

from tests.server import Server, start  # noqa: E402

HUGO_SITE = HERE.parent.parent / "shared" / "bench" / "hugo-site"
CHANGE_DEADLINE = 120.0  # seconds a new article may take to reach the served feed

PELICAN_CONF = """\
AUTHOR = "bench"
SITENAME = "बेंच"
SITEURL = ""
FEED_DOMAIN = "http://bench.example"
PATH = "content"
TIMEZONE = "Asia/Kolkata"
DEFAULT_LANG = "hi"
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
TAG_FEED_ATOM = "feeds/tag/{slug}.atom.xml"
TAG_FEED_RSS = "feeds/tag/{slug}.rss.xml"
CATEGORY_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
FEED_MAX_ITEMS = 50
ARTICLE_SAVE_AS = ""
PAGE_SAVE_AS = ""
TAG_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
DIRECT_TEMPLATES = []
LOAD_CONTENT_CACHE = True
CACHE_CONTENT = True
CACHE_PATH = "cache"
"""
HUGO_CONF = """\
baseURL = "http://bench.example/"
languageCode = "hi"
title = "बेंच"
disableKinds = ["section", "taxonomy", "sitemap", "robotsTXT", "404"]
ignoreErrors = ["error-disable-taxonomy"]
[outputs]
  home = ["RSS"]
  term = ["RSS"]
  page = []
[taxonomies]
  tag = "tags"
[services.rss]
  limit = 50
"""
PEERS = {
    "pelican": {
        "config": "pelicanconf.py",
        "text": PELICAN_CONF,
        "clear": ("out", "cache"),
        "build": ["pelican", "content", "-s", "pelicanconf.py", "-o", "out", "-q"],
    },
    "hugo": {
        "config": "config.toml",
        "text": HUGO_CONF,
        "clear": ("out", "resources"),
        "build": ["hugo", "--quiet", "-d", "out"],
    },
    "hugo-full": {  # hugo.toml and layouts/ copied from HUGO_SITE
        "config": "",
        "text": "",
        "clear": ("out", "resources"),
        "build": ["hugo", "--quiet", "-s", ".", "-d", "out"],
    },
}
# feedsvc's one-article step, timed inside a warm process as `feedsvc serve` runs it.
REFRESH = textwrap.dedent("""\
    import resource, sys, time
    from pathlib import Path
    from feedsvc.config import load_config
    from feedsvc.publisher import Publisher
    publisher = Publisher(load_config(sys.argv[1]).replace(schedule={"settle_ms": 0}))
    publisher.rescan()
    Path(sys.argv[2]).write_text(sys.stdin.read(), encoding="utf-8")
    wall, cpu = time.perf_counter(), time.process_time()
    snapshot = publisher.refresh({sys.argv[3]})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert snapshot.get("/articles/" + sys.argv[3].rsplit(".", 1)[0]) is not None
    print(wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    def add(self, wall: float, cpu: float, rss: int) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.rss.append(rss)

    def row(self) -> tuple[float, float, int]:
        return statistics.median(self.wall), statistics.median(self.cpu), max(self.rss)


class Meter:
    """Wall time, and CPU and peak RSS of one command (with the children it waited for),
    from wait4: commands run one at a time."""

    def measure(
        self, args: list[str], cwd: Path, stdin: str | None = None
    ) -> tuple[float, float, int, str]:
        with (
            tempfile.TemporaryFile("w+", encoding="utf-8") as out,
            tempfile.TemporaryFile("w+", encoding="utf-8") as err,
            tempfile.TemporaryFile("w+", encoding="utf-8") as given,
        ):
            given.write(stdin or "")
            given.seek(0)
            start = time.perf_counter()
            process = subprocess.Popen(args, cwd=cwd, stdin=given, stdout=out, stderr=err)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            if process.returncode:
                raise RuntimeError(f"{' '.join(args[:3])} failed: {err.read()[-2000:]}")
            return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, out.read()


def time_to_first_feed(config: Path) -> tuple[float, int]:
    """A cold `feedsvc serve` (empty state) until its first 200 for /feeds/all.atom,
    and its peak resident memory (MB) until the rest of the site is built."""
    shutil.rmtree(config.parent / "var", ignore_errors=True)
    server, seconds = _first_feed(config)
    try:
        server.wait_whole(timeout=3600)
        peak = _resident_mb(server.process.pid, "VmHWM:")
    finally:
        server.stop(timeout=600)
    return seconds, peak


@dataclass
class Serving:
    """`feedsvc serve` on the built site: what an operator sees after the build."""

    warm_start: float  # seconds from start to the first 200 for /feeds/all.atom
    warm_checked: float  # seconds from start until it has compared the folder with it
    rss_mb: int  # resident memory after a warm start and ten changes, as the tenth is served
    rss_idle_mb: int  # the same once their saves are done and the server is idle
    change_p50: float  # seconds from a new file to its entry in the served feed
    change_p95: float
    changes: list[float]  # each change's seconds, in the order they were made
    first_after_settings: float  # seconds to the first feed after a change of settings
    rebuilt_after_settings: float  # seconds until the new site was whole
    stop_after_rebuild: float  # seconds from SIGTERM to exit, as the new site is saved


def _first_feed(config: Path) -> tuple[Server, float]:
    """`feedsvc serve` started, and the seconds until its first 200 for /feeds/all.atom
    (the pages may come after the feeds)."""
    started = time.perf_counter()
    server = start(config, timeout=3600, whole=False)
    while server.request("/feeds/all.atom").status != 200:
        time.sleep(0.01)
    return server, time.perf_counter() - started


def _resident_mb(pid: int, field: str = "VmRSS:") -> int:
    """Resident memory now (VmRSS), or its peak so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    return 0


def _wait_idle(pid: int, quiet: int = 3, timeout: float = 600) -> None:
    """Until the process has used (almost) no CPU and written nothing for `quiet`
    seconds in a row: the saves of its last changes are done (a large save waits on
    the disk more than it computes)."""

    def activity() -> tuple[int, int]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(fields[11]) + int(fields[12]), int(io["wchar"])  # utime + stime, writes

    deadline, last, still = time.monotonic() + timeout, activity(), 0
    while still < quiet and time.monotonic() < deadline:
        time.sleep(1)
        now = activity()
        still = still + 1 if now[0] - last[0] < 3 and now[1] == last[1] else 0
        last = now


def serving(config: Path, articles: Path, new: list[dict]) -> Serving:
    """Warm start (nothing changed since the build), ten new articles one at a time,
    each timed from its file's write to its entry in the served /feeds/all.atom; the
    server's RSS then; a restart after a change of settings (the site's title)."""
    started = time.perf_counter()
    server, warm = _first_feed(config)
    written: list[Path] = []
    latencies = []
    try:
        server.wait_whole(timeout=3600)
        checked = time.perf_counter() - started
        for record in new:
            path = write_feedsvc(record, articles)
            written.append(path)
            begun = time.perf_counter()
            while record["title"] not in _feed(server):
                if time.perf_counter() - begun > CHANGE_DEADLINE:
                    raise RuntimeError(f"{path} not in /feeds/all.atom after {CHANGE_DEADLINE} s")
                time.sleep(0.02)
            latencies.append(time.perf_counter() - begun)
        rss = _resident_mb(server.process.pid)
        _wait_idle(server.process.pid)
        rss_idle = _resident_mb(server.process.pid)
    finally:
        server.stop()
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[site]\n", '[site]\ntitle = "बेंच, नया नाम"\n', 1))
    try:
        started = time.perf_counter()
        server, first = _first_feed(config)
        try:
            server.wait_whole(timeout=3600)
            rebuilt = time.perf_counter() - started
        finally:
            asked = time.perf_counter()
            server.stop(timeout=600)
            stopped = time.perf_counter() - asked
    finally:
        config.write_text(text, encoding="utf-8")
        for path in written:
            path.unlink()
    in_order = list(latencies)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return Serving(
        warm_start=warm,
        warm_checked=checked,
        rss_mb=rss,
        rss_idle_mb=rss_idle,
        change_p50=statistics.median(latencies),
        change_p95=p95,
        changes=in_order,
        first_after_settings=first,
        rebuilt_after_settings=rebuilt,
        stop_after_rebuild=stopped,
    )


def _feed(server: Server) -> str:
    """/feeds/all.atom as an aggregator asks for it (gzip)."""
    reply = server.request("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    gzipped = reply.headers.get("content-encoding") == "gzip"
    return (gzip.decompress(reply.body) if gzipped else reply.body).decode()


def corpus(folder: Path, articles: int, tags: int, fmt: str) -> None:
    """The corpus in one tool's format, written once: a folder holding it is reused."""
    marker = folder.with_name(f".{folder.name}.corpus")
    wanted = f"{articles} articles, {tags} tags, {fmt}"
    if not (folder.is_dir() and marker.is_file() and marker.read_text() == wanted):
        generate(folder, articles, tags, fmt=fmt)
        marker.write_text(wanted)


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--archive-scale", action="store_true", help="100,000 articles, 3,000 tags, 1 run"
    )
    parser.add_argument("--tools", default="feedsvc,pelican,hugo,hugo-full")
    parser.add_argument(
        "--work", type=Path, help="keep each tool's corpus here, written once and reused"
    )
    args = parser.parse_args()
    if args.archive_scale:
        args.articles, args.tags, args.runs = 100_000, 3_000, 1
    meter = Meter()
    tools = []
    for tool in args.tools.split(","):
        probe = {"feedsvc": sys.executable, "pelican": "pelican"}.get(tool, "hugo")
        if not shutil.which(probe):
            how = "pip install pelican markdown" if tool == "pelican" else "apt-get install hugo"
            print(f"{tool}: not installed, skipped ({how})")
        elif tool == "hugo-full" and not HUGO_SITE.is_dir():
            print(f"hugo-full: no templates at {HUGO_SITE}, skipped")
        else:
            tools.append(tool)
    extra = next(iter(records(args.articles + 1, args.tags, seed=99)))  # the one new article
    extra = {**extra, "n": 999_999, "title": "नया लेख " + extra["title"]}
    latest = datetime.now(UTC) - timedelta(minutes=10)  # newer than the corpus: in the feed
    changes = [  # ten new articles for the serving run
        {
            **record,
            "n": 999_000 + i,
            "title": f"बदलाव {i} " + record["title"],
            "date": latest + timedelta(seconds=i),
        }
        for i, record in enumerate(records(10, args.tags, seed=98))
    ]
    results: dict[str, dict[str, tuple]] = {}
    sizes: dict[str, int] = {}

    with contextlib.ExitStack() as stack:
        root = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print(f"corpus: {args.articles} articles, {args.tags} tags, {args.runs} run(s) each")
        for tool in tools:
            site = root / tool
            site.mkdir(parents=True, exist_ok=True)
            cold, warm, one, first = Runs(), Runs(), Runs(), Runs()
            if tool == "feedsvc":
                corpus(site / "articles", args.articles, args.tags, "feedsvc")
                (site / "config.toml").write_text(
                    '[site]\nid_authority = "bench.example"\n[schedule]\nsettle_ms = 0\n'
                )
                build = [
                    sys.executable,
                    "-m",
                    "feedsvc.cli",
                    "build",
                    "--config",
                    str(site / "config.toml"),
                    "--out",
                    str(site / "out"),
                ]
                for _ in range(args.runs):
                    seconds, peak = time_to_first_feed(site / "config.toml")
                    first.add(seconds, 0.0, peak)
                    shutil.rmtree(site / "var", ignore_errors=True)
                    cold.add(*meter.measure(build, site)[:3])
                    warm.add(*meter.measure(build, site)[:3])
                    new = write_feedsvc(extra, site / "articles")
                    rel = new.relative_to(site / "articles").as_posix()
                    text = new.read_text(encoding="utf-8")
                    new.unlink()
                    out = meter.measure(
                        [sys.executable, "-c", REFRESH, str(site / "config.toml"), str(new), rel],
                        site,
                        stdin=text,
                    )[3]
                    wall, cpu, rss = out.split()
                    one.add(float(wall), float(cpu), int(rss))
                    new.unlink()
                sizes[tool] = size_of(site / "out")
            else:
                peer = PEERS[tool]
                writer = "hugo" if tool == "hugo-full" else tool
                corpus(site / "content", args.articles, args.tags, writer)
                if tool == "hugo-full":
                    shutil.copy(HUGO_SITE / "hugo.toml", site / "hugo.toml")
                    shutil.copytree(HUGO_SITE / "layouts", site / "layouts", dirs_exist_ok=True)
                else:
                    (site / peer["config"]).write_text(peer["text"], encoding="utf-8")
                for _ in range(args.runs):
                    for folder in peer["clear"]:  # cold: no output, no cache
                        shutil.rmtree(site / folder, ignore_errors=True)
                    cold.add(*meter.measure(peer["build"], site)[:3])
                    warm.add(*meter.measure(peer["build"], site)[:3])
                    new = WRITERS[writer](extra, site / "content")
                    one.add(*meter.measure(peer["build"], site)[:3])
                    new.unlink()
                sizes[tool] = size_of(site / "out")
            results[tool] = {"cold": cold.row(), "warm": warm.row(), "one article": one.row()}
            if first.wall:
                results[tool]["first feed"] = first.row()
            cells = ", ".join(
                f"{name} {row[0]:.2f} s, {row[2]} MB" for name, row in results[tool].items()
            )
            print(f"  {tool}: {cells}", flush=True)
            if tool == "feedsvc":
                meter.measure(build, site)  # the state as a server left it: saved, whole
                served = serving(site / "config.toml", site / "articles", changes)
                print(
                    f"  feedsvc serve: warm start {served.warm_start:.2f} s to the first feed "
                    f"(the folder checked at {served.warm_checked:.2f} s); "
                    f"RSS {served.rss_mb} MB after ten changes ({served.rss_idle_mb} MB once "
                    f"their saves were done); a change to the served feed "
                    f"p50 {served.change_p50:.3f} s, p95 {served.change_p95:.3f} s "
                    f"(in order: {', '.join(f'{c:.2f}' for c in served.changes)}); after a "
                    f"change of settings, first feed {served.first_after_settings:.2f} s, "
                    f"new site whole {served.rebuilt_after_settings:.1f} s, then stopped "
                    f"(SIGTERM) in {served.stop_after_rebuild:.1f} s",
                    flush=True,
                )

    print(
        f"\n{'tool':8} {'build':12} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'output MB':>10}"
    )
    for tool, rows in results.items():
        for name, (wall, cpu, rss) in rows.items():
            print(f"{tool:8} {name:12} {wall:8.2f} {cpu:8.2f} {rss:12d} {sizes[tool] / 1e6:10.1f}")
    print("\nfeedsvc time / peer time (wall, median): below 1 is faster")
    ours = results.get("feedsvc")
    for peer in [t for t in results if t != "feedsvc"]:
        if ours is None:
            break
        theirs = results[peer]
        cells = [f"{name} {ours[name][0] / theirs[name][0]:.3f}" for name in theirs]
        print(f"  vs {peer}: " + ", ".join(cells))
    if ours is not None and "hugo-full" in results:
        full = results["hugo-full"]["cold"]
        print(
            f"\ntargets: cold build / hugo-full {ours['cold'][0] / full[0]:.2f} (<= 2.0), "
            f"peak RSS / hugo-full {ours['cold'][2] / full[2]:.2f}, "
            f"first feed / hugo-full {ours['first feed'][0] / full[0]:.2f} (<= 0.5)"
        )
    if ours is not None and "hugo" in results:
        feeds_only = results["hugo"]["cold"][0]
        print(f"targets: first feed / hugo feeds-only {ours['first feed'][0] / feeds_only:.2f}")
    if ours is not None:
        print(f"targets: warm build {ours['warm'][0]:.2f} s (<= 1 s)")
    print(
        "\nnote: CPU counts the parse workers; peak RSS is the largest single process. "
        "feedsvc's 'one article' is the warm serving process's refresh (its RSS: that process); "
        "its 'first feed' RSS is the cold server's peak until its whole site is built."
    )


if __name__ == "__main__":
    main()

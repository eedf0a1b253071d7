"""Requests per second for a 304 and a gzip 200 of a 50-entry tag feed, 64 connections
on loopback, for our app (without and with subscriber counting and metrics, as
`feedsvc serve` runs it) and a minimal Flask app with the same bytes, on waitress,
gunicorn and granian, and for nginx serving the live mirror (docs/nginx.conf), in the
same run.

    pip install -e '.[bench]'; apt-get install wrk nginx
    python benchmarks/serving.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from corpus import site  # noqa: E402

from feedsvc.config import load_config  # noqa: E402
from feedsvc.mirror import Mirror  # noqa: E402
from feedsvc.publisher import Publisher  # noqa: E402
from tests.nginx import nginx_binary, start_nginx  # noqa: E402


def servers(app: str, port: int) -> dict[str, list[str]]:
    target = f"wsgi_apps:{app}"
    return {
        "waitress": [
            sys.executable,
            "-m",
            "waitress",
            "--threads=8",
            f"--port={port}",
            "--host=127.0.0.1",
            "--connection-limit=1000",
            target,
        ],
        "gunicorn": [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            "gthread",
            "-w",
            "2",
            "--threads",
            "8",
            "-b",
            f"127.0.0.1:{port}",
            target,
        ],
        "granian": [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            target,
        ],
    }


def wrk(url: str, seconds: int, headers: dict[str, str]) -> float:
    args = ["wrk", "-t2", "-c64", f"-d{seconds}s", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"errors under load: {out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--servers", default="waitress,gunicorn,granian")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Room for 50 full entries: 400-800 words each come to ~11 KB an entry.
        config = site(root, 400, 8, "[feeds]\nmax_bytes = 1048576\n[schedule]\nsettle_ms = 0\n")
        publisher = Publisher(load_config(config))
        snapshot = publisher.rescan()
        publisher.close()
        feed = next(
            p
            for p in sorted(snapshot.resources)
            if p.startswith("/feeds/tags/")
            and p.endswith(".atom")
            and snapshot.get(p).body.count(b"<entry>") == 50
        )
        resource = snapshot.get(feed)
        print(
            f"feed: {feed} (50 entries, {len(resource.body)} bytes, {len(resource.gzip)} gzipped)"
        )
        env = {
            **os.environ,
            "FEEDSVC_CONFIG": str(config),
            "BENCH_PATH": feed,
            "PYTHONPATH": os.pathsep.join((str(HERE), str(HERE.parent))),
        }
        results: dict[tuple[str, str], tuple[float, float]] = {}
        port = 18_700
        for server in args.servers.split(","):
            for app in ("minimal", "ours", "counted"):
                port += 1
                process = subprocess.Popen(
                    servers(app, port)[server],
                    env=env,
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                try:
                    url = f"http://127.0.0.1:{port}{quote(feed)}"
                    wait_ready(url, process)
                    gz = {"Accept-Encoding": "gzip"}
                    cond = {**gz, "If-None-Match": f'"{resource.etag}-gzip"'}
                    status = urllib.request.urlopen(urllib.request.Request(url, headers=gz))
                    assert status.headers["Content-Encoding"] == "gzip"
                    results[(server, app)] = (
                        wrk(url, args.seconds, cond),
                        wrk(url, args.seconds, gz),
                    )
                finally:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=20)
        binary = nginx_binary()
        if binary is None:
            print("nginx is not installed: skipped")
        else:
            Mirror(root / "mirror").sync(snapshot)
            nginx = start_nginx(binary, root / "mirror", root / "nginx", workers="auto")
            try:
                url = f"http://127.0.0.1:{nginx.port}{quote(feed)}"
                gz = {"Accept-Encoding": "gzip"}
                etag = nginx.request(feed, gz).headers["etag"]
                cond = {**gz, "If-None-Match": etag}
                assert nginx.request(feed, cond).status == 304
                results[("nginx", "mirror")] = (
                    wrk(url, args.seconds, cond),
                    wrk(url, args.seconds, gz),
                )
            finally:
                nginx.stop()
        print(f"\n{'server':10} {'app':8} {'304 req/s':>10} {'gzip 200 req/s':>15}")
        for (server, app), (r304, r200) in results.items():
            print(f"{server:10} {app:8} {r304:10.0f} {r200:15.0f}")
        print()
        for server in args.servers.split(","):
            mine, ceiling = results[(server, "ours")], results[(server, "minimal")]
            counted = results[(server, "counted")]
            print(
                f"{server}: ours / minimal = {mine[0] / ceiling[0]:.0%} (304), "
                f"{mine[1] / ceiling[1]:.0%} (gzip 200); counting on / off = "
                f"{counted[0] / mine[0]:.1%} (304), {counted[1] / mine[1]:.1%} (gzip 200)"
            )
        if ("nginx", "mirror") in results and ("waitress", "ours") in results:
            edge, ours = results[("nginx", "mirror")], results[("waitress", "ours")]
            print(
                f"nginx on the mirror / feedsvc serve (waitress) = {edge[0] / ours[0]:.1f}x "
                f"(304), {edge[1] / ours[1]:.1f}x (gzip 200)"
            )


if __name__ == "__main__":
    main()

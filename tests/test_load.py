"""Load with churn against the real server: 64 clients for 20 s while articles are
added, edited and deleted ten times a second. Bounded; stops by itself."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import random
import threading
import time
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from .conftest import md, wait_for, write
from .server import start

CLIENTS = 64
SECONDS = float(os.environ.get("FEEDSVC_LOAD_SECONDS", "20"))
PATHS = [
    "/feeds/all.atom",
    "/feeds/all.rss",
    "/feeds/tags/मंथन.atom",
    "/feeds/tags/मंथन.rss",
    "/feeds/tags/स्थिर.atom",
    "/feeds.opml",
    "/",
    "/tags/मंथन",
]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[int, int] = {}
        self.failures: list[str] = []

    def add(self, status: int, failure: str | None = None) -> None:
        with self.lock:
            self.counts[status] = self.counts.get(status, 0) + 1
            if failure:
                self.failures.append(failure)


def client(port: int, stop: threading.Event, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    etags: dict[str, str] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    while not stop.is_set():
        path = rng.choice(PATHS)
        headers = {}
        if rng.random() < 0.5:
            headers["Accept-Encoding"] = "gzip"
        if (
            path in etags
            and rng.random() < 0.5
            and ("gzip" in etags[path]) == ("Accept-Encoding" in headers)
        ):
            headers["If-None-Match"] = etags[path]
        try:
            conn.request("GET", quote(path), headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.add(0, f"{path}: {exc!r}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            continue
        status, etag = response.status, response.getheader("ETag", "")
        failure = None
        if status >= 500:
            failure = f"{path}: {status}"
        elif status == 304:
            if etag != headers.get("If-None-Match") or body:
                failure = f"{path}: 304 with {etag} for {headers.get('If-None-Match')}"
        elif status == 200:
            zipped = response.getheader("Content-Encoding") == "gzip"
            if zipped:
                body = gzip.decompress(body)
            expected = f'"{hashlib.sha256(body).hexdigest()[:32]}{"-gzip" if zipped else ""}"'
            if etag != expected:
                failure = f"{path}: ETag {etag} does not match its body ({expected})"
            if path != "/" and not path.startswith("/tags/"):
                try:
                    etree.fromstring(body)
                except etree.XMLSyntaxError as exc:
                    failure = f"{path}: malformed XML: {exc}"
            etags[path] = etag
        elif status != 404:  # a tag feed may be between lives
            failure = f"{path}: unexpected {status}"
        tally.add(status, failure)
    conn.close()


def churn(folder: Path, stop: threading.Event, ops: list[str]) -> None:
    rng = random.Random(1)
    live: list[str] = []
    n = 0
    start = time.monotonic()
    while not stop.wait(max(0.0, start + (n + 1) * 0.1 - time.monotonic())):  # 10 a second
        n += 1
        action = rng.choice(["add", "add", "edit", "delete"]) if live else "add"
        if action == "add":
            name = f"churn-{n}.md"
            write(folder, name, md(f"मंथन लेख {n}", ["मंथन"], "2025-06-01", "पाठ। " * 200), age=0)
            live.append(name)
        elif action == "edit":
            name = rng.choice(live)
            write(
                folder,
                name,
                md(f"मंथन लेख {name} बदला {n}", ["मंथन"], "2025-06-02", "नया पाठ। " * 150),
                age=0,
            )
        else:
            name = live.pop(rng.randrange(len(live)))
            (folder / name).unlink()
        ops.append(action)


def test_load_with_churn(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    for i in range(40):
        write(folder, f"base-{i}.md", md(f"स्थिर लेख {i}", ["स्थिर"], f"2025-01-{i % 28 + 1:02d}"))
    write(folder, "seed-churn.md", md("मंथन आरंभ", ["मंथन"], "2025-01-01"))
    config = tmp_path / "config.toml"
    config.write_text("[schedule]\nsettle_ms = 100\n")
    server = start(config)
    wait_for(lambda: server.request("/feeds/tags/मंथन.atom").status == 200)
    stop, tally, ops = threading.Event(), Tally(), list[str]()
    threads = [
        threading.Thread(target=client, args=(server.port, stop, tally, i)) for i in range(CLIENTS)
    ]
    threads.append(threading.Thread(target=churn, args=(folder, stop, ops)))
    for thread in threads:
        thread.start()
    try:
        stop.wait(SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert server.stop() == 0
    served = sum(tally.counts.values())
    print(
        f"\n{served} requests in {SECONDS:.0f} s by {CLIENTS} clients, "
        f"{len(ops)} changes; by status: {dict(sorted(tally.counts.items()))}"
    )
    assert not tally.failures, tally.failures[:10]
    assert served > CLIENTS and tally.counts.get(200, 0) and tally.counts.get(304, 0)
    assert len(ops) >= SECONDS * 9
    assert not any(s >= 500 or s == 0 for s in tally.counts)

"""Crash safety: kill -9 in the middle of a rebuild and of an export."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from functools import partial
from pathlib import Path

import feedparser

from .conftest import md, wait_for, write
from .server import feedsvc, start


def _rebuilt_since_start(log: Path) -> bool:
    return b"rebuilt" in log.read_bytes().split(b"serving on")[-1]


ARTICLES = 600


def corpus(folder: Path) -> None:
    for i in range(ARTICLES):
        write(
            folder,
            f"s{i % 7}/a-{i}.md",
            md(f"लेख {i}", [f"विषय {i % 13}", "सब"], f"2025-03-{i % 28 + 1:02d}", "पाठ। " * 300),
        )


def test_kill_9_during_rebuild_loses_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    corpus(folder)
    config = tmp_path / "config.toml"
    config.write_text(
        "[schedule]\nsettle_ms = 50\n[feeds]\nmax_items = 5000\nmax_bytes = 50000000\n"
    )
    for round_ in range(3):
        server = start(config, timeout=120)  # answers /healthz once it is up
        for i in range(round_, ARTICLES, 3):  # edit a third of the articles: rebuilds start
            write(
                folder,
                f"s{i % 7}/a-{i}.md",
                md(
                    f"लेख {i} संस्करण {round_}",
                    [f"विषय {i % 13}", "सब"],
                    f"2025-03-{i % 28 + 1:02d}",
                    "नया पाठ। " * 300,
                ),
                age=0,
            )
        wait_for(partial(_rebuilt_since_start, server.log), timeout=30)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)

    with sqlite3.connect(tmp_path / "var" / "feedsvc.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    server = start(config, timeout=120)
    try:

        def complete() -> list | None:
            entries = feedparser.parse(server.request("/feeds/all.atom").body).entries
            return entries if len(entries) == ARTICLES else None

        entries = wait_for(complete, timeout=60)
        ids = [e.id for e in entries]
        assert len(set(ids)) == ARTICLES  # nothing lost, nothing doubled
        titles = {e.title for e in entries}
        for i in range(2, ARTICLES, 3):  # the last round's edits all arrived
            assert f"लेख {i} संस्करण 2" in titles
    finally:
        assert server.stop() == 0


def test_kill_9_during_export_keeps_the_previous_export(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    corpus(folder)
    config = tmp_path / "config.toml"
    config.write_text("[schedule]\nsettle_ms = 0\n")
    out = tmp_path / "public"
    build = feedsvc("build", "--config", str(config), "--out", str(out))
    subprocess.run(build, check=True, capture_output=True)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) > 2 * ARTICLES

    write(folder, "new.md", md("नया लेख", ["नया"], "2025-04-01"))
    for _ in range(3):
        process = subprocess.Popen(build, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        # Kill it once it has started writing its new export beside the old one.
        def writing(process: subprocess.Popen = process) -> bool:
            staged = [p for p in tmp_path.iterdir() if p.name.startswith(".public.")]
            return len(staged) > 1 or process.poll() is not None

        wait_for(writing, timeout=60, interval=0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        if after != before:  # it finished before the kill: the new export is whole
            assert Path("articles/new.html") in after
            before = after
    subprocess.run(build, check=True, capture_output=True)
    assert (out / "articles" / "new.html").is_file()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".public.")]
    assert leftovers == [os.readlink(out)]

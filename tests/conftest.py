"""Shared fixtures: real folders with real files, a real SQLite state file."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feedsvc.config import Config, from_dict
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot

ROOT = Path(__file__).resolve().parent.parent
SEED_NAME = "000_8fc8ec9304f2c137.txt"
SEED = ROOT / "articles" / SEED_NAME
SHARED_SEED = ROOT.parent / "shared" / "seeds" / SEED_NAME


@contextlib.contextmanager
def subscribed(state: Path, *urls: str) -> Iterator[Any]:
    """A real feed reader (the `reader` library) subscribed to these feeds and updated
    once; each must have been read without an error."""
    reader_lib = pytest.importorskip("reader", reason="the reader library is not installed")
    reader = reader_lib.make_reader(str(state))
    try:
        for url in urls:
            reader.add_feed(url)
        reader.update_feeds()
        for url in urls:
            assert reader.get_feed(url).last_exception is None, url
        yield reader
    finally:
        reader.close()


class Clock:
    """A clock a test sets: what a publisher asks for the time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def publish(cfg: Config, workers: int | None = None) -> Snapshot:
    """One build of the folder cfg names, its publisher closed after."""
    publisher = Publisher(cfg, workers=workers)
    try:
        return publisher.rescan()
    finally:
        publisher.close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll a condition until it holds or the deadline passes (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def write(folder: Path, name: str, content: str | bytes, age: float = 5.0) -> Path:
    """Write an article file, by default old enough to have settled."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = textwrap.dedent(content).lstrip("\n").encode("utf-8")
    path.write_bytes(content)
    if age:
        stamp = time.time() - age
        import os

        os.utime(path, (stamp, stamp))
    return path


def md(
    title: str, tags: list[str] | str = "", date: str = "", body: str = "पाठ।", **extra: str
) -> str:
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    lines = ["---", f'title: "{quoted}"']
    if tags:
        lines.append(
            f"tags: {tags!r}" if isinstance(tags, str) else "tags: [" + ", ".join(tags) + "]"
        )
    if date:
        lines.append(f"date: {date}")
    for key, value in extra.items():
        lines.append(f"{key}: {value}")
    lines += ["---", body, ""]
    return "\n".join(lines)


def folder_config(root: Path) -> Config:
    """The configuration of a site in `root`: articles in root/articles, state in
    root/var, files read as soon as they are seen."""
    return from_dict(
        {
            "site": {"id_authority": "news.example"},
            "articles": {"dir": str(root / "articles")},
            "schedule": {"settle_ms": 0},
        },
        root,
    )


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def make(**sections: dict[str, Any]) -> Config:
        raw: dict[str, Any] = {
            "site": {"id_authority": "news.example", "base_url": "http://news.example"},
            "schedule": {"settle_ms": 0},
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return from_dict(raw, tmp_path)

    return make


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    return folder


@pytest.fixture
def seeded(articles_dir: Path) -> Path:
    """An articles folder holding the seed article, byte for byte."""
    shutil.copyfile(SEED, articles_dir / SEED_NAME)
    return articles_dir

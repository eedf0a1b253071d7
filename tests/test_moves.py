"""A file moved or renamed keeps its entry id, whatever the order the change is seen in.

The case that once failed: a move into a folder whose path sorts before the old
path (`zzz-story.md` -> `aaa-archive/zzz-story.md`), where the new path was read
while the old row still looked present.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest

from feedsvc.publisher import Publisher

from .conftest import folder_config, md, wait_for, write
from .server import start

OLD, NEW = "zzz-story.md", "aaa-archive/zzz-story.md"


@pytest.fixture
def story(tmp_path: Path) -> Iterator[tuple[Path, Publisher]]:
    folder = tmp_path / "articles"
    write(folder, OLD, md("कहानी", ["क"], "2025-03-01", "कहानी का पाठ।"))
    write(folder, "other.md", md("दूसरी", ["क"], "2025-03-02"))
    (folder / "aaa-archive").mkdir()
    publisher = Publisher(folder_config(tmp_path), workers=1)
    publisher.rescan()
    yield folder, publisher
    publisher.close()


def ids(publisher: Publisher) -> dict[str, str]:
    return {path: a.id for path, a in publisher.library.articles.items()}


ORDERS: dict[str, Callable[[Publisher], object]] = {
    "one batch": lambda p: p.refresh({OLD, NEW}),
    "new path first": lambda p: (p.refresh({NEW}), p.refresh({OLD})),
    "old path first": lambda p: (p.refresh({OLD}), p.refresh({NEW})),
}


@pytest.mark.parametrize("order", ORDERS, ids=list(ORDERS))
def test_a_move_into_a_folder_that_sorts_first_keeps_the_id(
    story: tuple[Path, Publisher], order: str
) -> None:
    folder, publisher = story
    os.rename(folder / OLD, folder / NEW)
    ORDERS[order](publisher)
    assert ids(publisher) == {NEW: "zzz-story", "other.md": "other"}
    feed = feedparser.parse(publisher.snapshot.get("/feeds/all.atom").body)
    assert [e.id for e in feed.entries] == [
        "tag:news.example,2026:articles/other",
        "tag:news.example,2026:articles/zzz-story",
    ]


def test_a_copy_is_a_new_article(story: tuple[Path, Publisher]) -> None:
    folder, publisher = story
    shutil.copyfile(folder / OLD, folder / NEW)
    publisher.refresh({NEW})
    assert ids(publisher) == {OLD: "zzz-story", NEW: "aaa-archive/zzz-story", "other.md": "other"}


def test_a_move_while_stopped_keeps_the_id_through_the_rescan(
    story: tuple[Path, Publisher], tmp_path: Path
) -> None:
    folder, publisher = story
    publisher.close()
    os.rename(folder / OLD, folder / NEW)
    again = Publisher(folder_config(tmp_path), workers=1)
    try:
        again.rescan()
        assert ids(again) == {NEW: "zzz-story", "other.md": "other"}
    finally:
        again.close()


def test_the_live_server_keeps_the_id_of_a_file_moved_into_an_earlier_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "articles"
    write(folder, OLD, md("कहानी", ["क"], "2025-03-01", "कहानी का पाठ।"))
    (folder / "aaa-archive").mkdir()
    config = tmp_path / "config.toml"
    config.write_text('[site]\nid_authority = "news.example"\n[schedule]\nsettle_ms = 100\n')
    server = start(config)
    try:
        os.rename(folder / OLD, folder / NEW)
        wait_for(lambda: "same content as removed" in server.log.read_text())
        feed = feedparser.parse(server.request("/feeds/all.atom").body)
        assert [e.id for e in feed.entries] == ["tag:news.example,2026:articles/zzz-story"]
        assert server.request("/articles/zzz-story").status == 200
    finally:
        assert server.stop() == 0

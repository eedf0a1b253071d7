"""The state store with a real SQLite file: what survives restarts, renames and edits."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedsvc.ingest import Library
from feedsvc.store import Store

from .conftest import SEED_NAME, folder_config, md, write


def _open(folder: Path, make_config, state: Path) -> Library:
    library = Library(make_config(articles={"dir": str(folder)}), Store(state))
    library.scan()
    return library


def test_store_is_sqlite_in_wal_mode(seeded: Path, make_config, tmp_path: Path) -> None:
    state = tmp_path / "var" / "state.sqlite3"
    _open(seeded, make_config, state).store.close()
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = db.execute("SELECT id, first_seen, changed_at FROM files").fetchone()
    assert row[0] == "000_8fc8ec9304f2c137"


def test_seed_publication_time_is_its_mtime_when_first_seen(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    first = datetime(2025, 7, 12, 9, 15, 42, tzinfo=UTC).timestamp()
    os.utime(seeded / SEED_NAME, (first, first))
    state = tmp_path / "state.sqlite3"
    article = _open(seeded, make_config, state).articles[SEED_NAME]
    assert article.date is not None and article.date.timestamp() == first
    assert article.date.utcoffset().total_seconds() == 5.5 * 3600  # shown in IST
    assert article.updated == article.date

    # Edited later (new mtime), after a restart: same publication time, newer updated.
    path = seeded / SEED_NAME
    path.write_bytes(path.read_bytes().replace("लावरोव की यात्रा".encode(), "यात्रा".encode(), 1))
    later = first + 86_400
    os.utime(path, (later, later))
    again = _open(seeded, make_config, state).articles[SEED_NAME]
    assert again.date == article.date
    assert again.updated is not None and again.updated.timestamp() == later


def test_a_future_mtime_is_not_trusted(articles_dir: Path, make_config, tmp_path: Path) -> None:
    path = write(articles_dir, "a.txt", "शीर्षक\n\nपाठ है।\n")
    future = time.time() + 10 * 86_400
    os.utime(path, (future, future))
    article = _open(articles_dir, make_config, tmp_path / "s.sqlite3").articles["a.txt"]
    assert article.date is not None and article.date.timestamp() <= time.time()


def test_unchanged_files_are_not_read_again_on_restart(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite3"
    path = write(seeded, "a.md", md("पहला शीर्षक", ["क"]))
    _open(seeded, make_config, state).store.close()
    stat = os.stat(path)
    # Same size and mtime, other bytes: a restart that re-read would see the new title.
    path.write_bytes(path.read_bytes().replace("पहला".encode(), "दूजा".encode()))
    assert os.stat(path).st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _open(seeded, make_config, state).articles["a.md"].title == "पहला शीर्षक"
    # A changed mtime makes it read (and hash) the file again.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _open(seeded, make_config, state).articles["a.md"].title == "दूजा शीर्षक"


def test_a_renamed_or_moved_file_keeps_its_id_and_dates(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite3"
    before = _open(seeded, make_config, state).articles[SEED_NAME]
    (seeded / "2025" / "july").mkdir(parents=True)
    moved = seeded / "2025" / "july" / "renamed.txt"
    os.rename(seeded / SEED_NAME, moved)
    os.utime(moved, (time.time(), time.time()))  # even with a fresh mtime
    library = _open(seeded, make_config, state)
    assert list(library.articles) == ["2025/july/renamed.txt"]
    after = library.articles["2025/july/renamed.txt"]
    assert after.id == before.id == "000_8fc8ec9304f2c137"
    assert (after.date, after.updated) == (before.date, before.updated)
    assert after.title == before.title


def test_rename_seen_by_an_event_refresh_keeps_the_id(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    library = _open(seeded, make_config, tmp_path / "state.sqlite3")
    before = library.articles[SEED_NAME]
    os.rename(seeded / SEED_NAME, seeded / "new-name.txt")
    library.refresh({SEED_NAME})  # the delete event first
    library.refresh({"new-name.txt"})  # then the create
    assert library.articles["new-name.txt"].id == before.id
    assert library.articles["new-name.txt"].date == before.date


def test_deleting_the_state_file_loses_only_remembered_times(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    write(seeded, "a.md", md("लेख", ["क"], "2025-07-01T10:00:00"))
    state = tmp_path / "state.sqlite3"
    first = _open(seeded, make_config, state)
    before = dict(first.articles)
    texts = {path: first.text(article) for path, article in before.items()}
    first.store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(state) + suffix).unlink(missing_ok=True)
    second = _open(seeded, make_config, state)
    after = second.articles
    assert before.keys() == after.keys()
    for path, article in before.items():
        assert after[path].id == article.id
        assert after[path].title == article.title
        assert second.text(after[path]) == texts[path]
    assert after["a.md"].date == before["a.md"].date  # it came from the file


def test_two_files_claiming_one_id(articles_dir: Path, make_config, tmp_path: Path) -> None:
    write(articles_dir, "a.md", md("एक", id="same"))
    write(articles_dir, "b.md", md("दो", id="same"))
    library = _open(articles_dir, make_config, tmp_path / "s.sqlite3")
    assert list(library.articles) == ["a.md"]
    assert "already used by a.md" in library.rejected["b.md"].reason


def test_a_body_held_in_memory_is_not_doubled_by_saving_it(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    """Python keeps a UTF-8 copy inside a non-ASCII str bound as an SQLite parameter;
    the store binds bodies as bytes, so the bodies a build is about to use stay single."""
    write(seeded, "a.md", md("लेख", ["क"], "2025-07-01T10:00:00", "देवनागरी पाठ। " * 200))
    library = _open(seeded, make_config, tmp_path / "state.sqlite3")
    try:
        body = library._texts["a.md"].body
        assert "देवनागरी पाठ।" in body
        assert sys.getsizeof(body) == sys.getsizeof(body.encode().decode())
        assert library.store.text("a.md").body == body
        with sqlite3.connect(tmp_path / "state.sqlite3") as db:
            kind = db.execute("SELECT typeof(body) FROM files WHERE path = 'a.md'").fetchone()
        assert kind == ("text",)
    finally:
        library.store.close()


# Files a-e claiming ids from a small set: duplicates come and go, one file or two
# (told in one batch) at a time.
id_write = st.tuples(st.sampled_from("abcde"), st.sampled_from(["x", "y", "z", None]))
id_step = st.lists(id_write, min_size=1, max_size=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(id_step, min_size=1, max_size=12))
def test_a_refresh_checks_ids_as_a_check_of_every_id_would(
    steps: list[list[tuple[str, str | None]]],
) -> None:
    """A refresh looks only at the ids of what changed; the same history told to a
    library that checks every id after each refresh ends the same, step by step."""
    root = Path(tempfile.mkdtemp())
    try:
        folder = root / "articles"
        folder.mkdir()
        cfg = folder_config(root)
        kept, full = (
            Library(cfg, Store(root / "kept.sqlite3")),
            Library(cfg, Store(root / "full.sqlite3")),
        )
        full._check_changed_ids = full._check_ids  # type: ignore[method-assign]
        kept.scan()
        full.scan()
        for n, step in enumerate(steps):
            names = set()
            for letter, claimed in step:  # None: the file is deleted
                names.add(f"{letter}.md")
                if claimed is None:
                    (folder / f"{letter}.md").unlink(missing_ok=True)
                else:
                    write(folder, f"{letter}.md", md(f"लेख {n}", id=claimed))
            kept.refresh(names)
            full.refresh(names)
            assert {p: a.id for p, a in kept.articles.items()} == {
                p: a.id for p, a in full.articles.items()
            }
            assert kept.rejected.keys() == full.rejected.keys()
        kept.store.close()
        full.store.close()
    finally:
        shutil.rmtree(root)

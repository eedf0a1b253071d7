"""The same articles give the same bytes whichever way they were parsed: in a process
pool or one by one, fresh or from the state store's parse cache."""

from __future__ import annotations

from pathlib import Path

from feedsvc.config import from_dict
from feedsvc.ingest import POOL_MIN_FILES
from feedsvc.publisher import Publisher

from .conftest import SEED, md, write


def _corpus(folder: Path) -> None:
    for i in range(POOL_MIN_FILES + 20):
        if i % 10 == 9:
            write(
                folder,
                f"plain/{i}.txt",
                f"सादा लेख {i}\n\nपहला वाक्य {i}। दूसरा वाक्य।\n\nक{i % 4}, सादा",
            )
        else:
            write(
                folder,
                f"md/{i}.md",
                md(
                    f"लेख {i}",
                    [f"विषय {i % 7}", "सब"],
                    f"2025-02-{i % 28 + 1:02d}T0{i % 10}:00:00",
                    f"**पाठ** {i}। " * 40,
                ),
            )
    write(folder, "seed.txt", SEED.read_bytes())


def _build(root: Path, folder: Path, state: str, workers: int) -> dict[str, bytes]:
    cfg = from_dict(
        {
            "articles": {"dir": str(folder)},
            "state": {"path": state},
            "schedule": {"settle_ms": 0},
            "site": {"id_authority": "x.example"},
        },
        root,
    )
    publisher = Publisher(cfg, workers=workers)
    try:
        snapshot = publisher.rescan()
        return {path: r.body for path, r in snapshot.resources.items()}
    finally:
        publisher.close()


def test_pool_serial_and_cache_give_identical_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    _corpus(folder)
    pooled = _build(tmp_path, folder, "pool.sqlite3", workers=2)
    serial = _build(tmp_path, folder, "serial.sqlite3", workers=1)
    saved = _build(tmp_path, folder, "pool.sqlite3", workers=2)  # the saved snapshot
    (tmp_path / "pool-snapshot.sqlite3").unlink()
    cached = _build(tmp_path, folder, "pool.sqlite3", workers=2)  # rebuilt from the parse cache
    assert pooled.keys() == serial.keys() == cached.keys() == saved.keys()
    assert len(pooled) > POOL_MIN_FILES
    for path in pooled:
        assert pooled[path] == serial[path] == cached[path] == saved[path], path


def test_a_warm_start_serves_the_saved_snapshot_only_when_nothing_changed(
    tmp_path: Path, caplog
) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    first = _build(tmp_path, folder, "s.sqlite3", workers=1)
    with caplog.at_level("INFO", logger="feedsvc"):
        again = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert "serving the saved snapshot" in caplog.text and again == first
    write(folder, "b.md", md("दूसरा बदला", ["ख"], "2025-01-02"), age=1)  # while it was down
    caplog.clear()
    with caplog.at_level("INFO", logger="feedsvc"):
        changed = _build(tmp_path, folder, "s.sqlite3", workers=1)
    assert "serving the saved snapshot" not in caplog.text
    assert "दूसरा बदला".encode() in changed["/feeds/all.atom"]
    assert changed["/feeds/tags/क.atom"] == first["/feeds/tags/क.atom"]


def test_bodies_stay_in_memory_only_while_a_feed_holds_the_article(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    for day in range(1, 5):
        write(folder, f"d{day}.md", md(f"दिन {day}", ["क"], f"2025-01-0{day}", f"पाठ संख्या {day}।"))
    cfg = from_dict(
        {"articles": {"dir": str(folder)}, "feeds": {"max_items": 2}, "schedule": {"settle_ms": 0}},
        tmp_path,
    )
    publisher = Publisher(cfg, workers=1)
    try:
        first = publisher.rescan()
        assert publisher.library._bodies.keys() == {"d3.md", "d4.md"}
        assert "पाठ संख्या 1।".encode() in first.get("/articles/d1").body  # pages have them all

        again = publisher.rescan()  # nothing changed: nothing rebuilt, nothing reloaded
        assert again.get("/feeds/all.atom") is first.get("/feeds/all.atom")
        assert "d1.md" not in publisher.library._bodies

        for day in (3, 4):
            (folder / f"d{day}.md").unlink()
        after = publisher.refresh({"d3.md", "d4.md"})  # d1 and d2 come back into the feeds
        feed = after.get("/feeds/tags/क.atom").body.decode()
        assert "पाठ संख्या 1।" in feed and "पाठ संख्या 2।" in feed
    finally:
        publisher.close()

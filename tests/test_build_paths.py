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
        assert len(publisher.library.articles) == POOL_MIN_FILES + 21
        return {path: r.body for path, r in snapshot.resources.items()}
    finally:
        publisher.close()


def test_pool_serial_and_cache_give_identical_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    _corpus(folder)
    pooled = _build(tmp_path, folder, "pool.sqlite3", workers=2)
    serial = _build(tmp_path, folder, "serial.sqlite3", workers=1)
    cached = _build(tmp_path, folder, "pool.sqlite3", workers=2)  # every file from the cache
    assert pooled.keys() == serial.keys() == cached.keys()
    assert len(pooled) > POOL_MIN_FILES
    for path in pooled:
        assert pooled[path] == serial[path] == cached[path], path

"""The export of the sample articles, kept under tests/expected/export as the reference.

Regenerate it when a change to the output is intended, and review the diff:

    python -m tests.expected

The samples are copied with fixed modification times (the plain-text seed takes its
date from its file's time) and built at a fixed moment (one sample is scheduled).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.config import load_config
from feedsvc.export import MANIFEST, export
from feedsvc.publisher import Publisher

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = Path(__file__).resolve().parent / "expected" / "export"
FILE_TIME = datetime(2026, 11, 1, 6, 30, tzinfo=UTC).timestamp()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def export_samples(work: Path) -> Path:
    """Build the samples with the repository's config.toml; the export folder."""
    shutil.copytree(ROOT / "articles", work / "articles")
    # A plain-text file is published at its file's time: each a minute older than the
    # one before, in path order (the seed first), so no two share a moment.
    copied = sorted(
        Path(folder) / name for folder, _, names in os.walk(work / "articles") for name in names
    )
    for order, path in enumerate(copied):
        stamp = FILE_TIME - 60 * order
        os.utime(path, (stamp, stamp))
    shutil.copyfile(ROOT / "config.toml", work / "config.toml")
    cfg = load_config(work / "config.toml")
    publisher = Publisher(cfg.replace(schedule={"settle_ms": 0}), clock=lambda: NOW)
    try:
        export(publisher.rescan(), work / "out")
    finally:
        publisher.close()
    return work / "out"


def files(folder: Path) -> dict[str, bytes]:
    """Every file's bytes by relative path; a .gz stands for its decompressed bytes."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:  # the manifest names inodes
            data = path.read_bytes()
            found[path.relative_to(folder).as_posix()] = (
                gzip.decompress(data) if path.suffix == ".gz" else data
            )
    return found


def regenerate() -> None:
    with tempfile.TemporaryDirectory() as work:
        out = export_samples(Path(work))
        shutil.rmtree(EXPECTED, ignore_errors=True)
        EXPECTED.mkdir(parents=True)
        for name, data in files(out).items():
            if not name.endswith(".gz"):
                target = EXPECTED / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    print(f"wrote {EXPECTED}", file=sys.stderr)


if __name__ == "__main__":
    regenerate()

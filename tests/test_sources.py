"""Saved work is reused exactly when the code that made it is the code running now.

An upgrade that changes only the serving side keeps the saved site and the parse
cache; one that changes rendering builds the site again but parses nothing again;
one that changes parsing parses every file again. Upgrades here are real: a copy
of the package, edited, run in its own process.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from feedsvc import sources

from .conftest import md, write

UPGRADE = """\
import logging, sys
from feedsvc.config import load_config
from feedsvc.publisher import Publisher
logging.basicConfig(level=logging.INFO, format="%(message)s")
publisher = Publisher(load_config(sys.argv[1]), workers=1)
try:
    publisher.rescan()
finally:
    publisher.close()
"""


def _copy(tmp_path: Path) -> Path:
    package = tmp_path / "release" / "feedsvc"
    shutil.copytree(sources.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _edit(file: Path, line: str = "# another release\n") -> None:
    with file.open("a", encoding="utf-8") as out:
        out.write(line)


def test_a_digest_covers_its_module_and_all_it_imports(tmp_path: Path) -> None:
    package = _copy(tmp_path)

    def digests() -> tuple[str, str]:
        return (
            sources.digest("articles", package=package),
            sources.digest("publisher", templates=True, package=package),
        )

    parse, render = digests()
    assert (parse, render) == (sources.parsing(), sources.rendering())
    _edit(package / "dashboard.py")  # serving only
    assert digests() == (parse, render)
    _edit(package / "site.py")  # rendering
    assert digests()[0] == parse and digests()[1] != render
    parse, render = digests()
    _edit(package / "templates" / "article.html", "{# another release #}\n")
    assert digests()[0] == parse and digests()[1] != render
    parse, render = digests()
    _edit(package / "markup.py")  # parsing, which rendering also imports
    assert digests()[0] != parse and digests()[1] != render
    parse, render = digests()
    _edit(package / "__init__.py")  # the version feeds name
    assert digests()[0] != parse and digests()[1] != render

    # A module imported later is covered from the day it is imported.
    parse = digests()[0]
    _edit(package / "articles.py", "from . import stats  # noqa: F401\n")
    assert "stats" in sources.closure("articles", package)
    parse = digests()[0]
    _edit(package / "stats.py")
    assert digests()[0] != parse


def test_an_upgrade_reuses_what_its_code_did_not_change(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    config = tmp_path / "config.toml"
    config.write_text(
        '[articles]\ndir = "articles"\n[state]\npath = "s.sqlite3"\n'
        '[site]\nid_authority = "x.example"\n[schedule]\nsettle_ms = 0\n',
        encoding="utf-8",
    )
    package = _copy(tmp_path)

    def start() -> str:
        """A restart on the release as it is now: what it logged."""
        env = {**os.environ, "PYTHONPATH": str(package.parent)}
        done = subprocess.run(
            [sys.executable, "-c", UPGRADE, str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stderr

    def fingerprints() -> set[str]:
        with sqlite3.connect(tmp_path / "s.sqlite3") as db:
            return {row[0] for row in db.execute("SELECT fingerprint FROM files")}

    assert "rebuilt" in start()
    parsed_with = fingerprints()
    assert len(parsed_with) == 1

    _edit(package / "dashboard.py")
    log = start()
    assert "serving the saved snapshot" in log and "rebuilt" not in log, log
    assert fingerprints() == parsed_with

    _edit(package / "site.py")
    log = start()
    assert "rebuilt 9 feeds" in log, log  # all, क and ख in three formats
    assert fingerprints() == parsed_with  # the parse cache was used

    _edit(package / "markup.py")
    log = start()
    assert "rebuilt 9 feeds" in log, log
    assert len(fingerprints()) == 1 and fingerprints() != parsed_with  # both parsed again

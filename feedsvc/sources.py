"""Digests of this package's own source: what a saved result was made by.

A parse cache row or a saved site is reused only when the code that made it is
the code running now. Each digest covers one module and every module of this
package it imports (read from the source, so a new import is covered the day it
is written), with `__init__.py` (the version, which feeds name) and, for
rendering, the templates. An upgrade that changes only the serving side (the
dashboard, the counts, the HTTP layer) re-parses nothing and rebuilds nothing;
one that changes how Markdown becomes HTML re-parses every file once.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def imported(source: str) -> set[str]:
    """The package's modules a module's source imports (`from .x import`, `from . import x`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def closure(root: str, package: Path = PACKAGE) -> list[str]:
    """`root` and the package's modules it imports, directly or not, sorted."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        path = package / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        todo.extend(imported(path.read_text(encoding="utf-8")))
    return sorted(seen)


def digest(root: str, *, templates: bool = False, package: Path = PACKAGE) -> str:
    """Of the source `root` depends on (and the templates, when it renders pages)."""
    files = [package / f"{name}.py" for name in ["__init__", *closure(root, package)]]
    if templates:
        files.extend(sorted((package / "templates").glob("*")))
    hashed = hashlib.sha256()
    for file in files:
        hashed.update(file.relative_to(package).as_posix().encode() + b"\0")
        hashed.update(hashlib.sha256(file.read_bytes()).digest())
    return hashed.hexdigest()


@functools.cache
def parsing() -> str:
    """What a parse cache row depends on: `articles` and what it imports."""
    return digest("articles")


@functools.cache
def rendering() -> str:
    """What a saved site depends on: the publisher, all it imports, the templates."""
    return digest("publisher", templates=True)

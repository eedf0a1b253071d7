"""The design rules ARCHITECTURE.md states, checked on the source: short functions,
feedgen in one module, and imports that never run in a circle."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "feedsvc"
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
            elif node.module:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_function_is_longer_than_60_lines() -> None:
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long


def test_a_build_reads_as_a_short_list_of_steps() -> None:
    """site.build calls one named function per step; the work is in those."""
    [build] = [
        node
        for node in _modules()["site"].body
        if isinstance(node, ast.FunctionDef) and node.name == "build"
    ]
    assert build.end_lineno is not None and build.end_lineno - build.lineno + 1 <= 20


def test_only_feeds_imports_feedgen() -> None:
    importers = {
        name
        for name, tree in _modules().items()
        if any(module.startswith("feedgen") for module in _imports(tree))
    }
    assert importers == {"feeds"}


def test_the_package_imports_no_module_in_a_circle() -> None:
    modules = _modules()
    graph = {name: _imports(tree) & modules.keys() for name, tree in modules.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {exc.args[1]}") from None
    # data flows one way: the parts near the files never import those near HTTP
    assert order.index("articles") < order.index("store") < order.index("publisher")
    assert order.index("snapshot") < order.index("publisher") < order.index("cli")
    assert "web" not in graph["publisher"] and "publisher" not in graph["web"]

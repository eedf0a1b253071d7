"""`feedsvc serve` with faults injected into its builds, for the tests that a failed
or interrupted rebuild keeps the previous feeds served and that the server recovers.
In its working directory: while FAIL-BUILDS is there, builds fail; while HOLD-BUILDS
is there, a build waits before it starts (BUILD-HELD says one is waiting), so that
the test can kill the server in the middle of it. While HOLD-SCANS is there, a scan
of the articles folder waits the same way (SCAN-HELD).

    python -m tests.faulty_serve serve --config FILE ...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from feedsvc import cli, site
from feedsvc.ingest import Library, Outcome

_build = site.build
_scan = Library.scan


def _hold(while_there: str, held: str) -> None:
    deadline = time.monotonic() + 60
    while Path(while_there).exists() and time.monotonic() < deadline:
        Path(held).touch()
        time.sleep(0.05)  # under way, until the test lets it go (or kills it)


def failing_build(*args: Any, **kwargs: Any) -> site.Built:
    if Path("FAIL-BUILDS").exists():
        raise RuntimeError("injected build failure")
    _hold("HOLD-BUILDS", "BUILD-HELD")
    return _build(*args, **kwargs)


def held_scan(library: Library, busy: frozenset[str] = frozenset()) -> Outcome:
    _hold("HOLD-SCANS", "SCAN-HELD")
    return _scan(library, busy)


# The publisher imports site.build when it builds: the name it finds is this one.
setattr(site, "build", failing_build)  # noqa: B010
setattr(Library, "scan", held_scan)  # noqa: B010

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))

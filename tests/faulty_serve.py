"""`feedsvc serve` with faults injected into its builds, for the tests that a failed
or interrupted rebuild keeps the previous feeds served and that the server recovers.
In its working directory: while FAIL-BUILDS is there, builds fail; while HOLD-BUILDS
is there, a build waits before it starts (BUILD-HELD says one is waiting), so that
the test can kill the server in the middle of it.

    python -m tests.faulty_serve serve --config FILE ...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from feedsvc import cli, site

_build = site.build


def failing_build(*args: Any, **kwargs: Any) -> site.Built:
    if Path("FAIL-BUILDS").exists():
        raise RuntimeError("injected build failure")
    deadline = time.monotonic() + 60
    while Path("HOLD-BUILDS").exists() and time.monotonic() < deadline:
        Path("BUILD-HELD").touch()
        time.sleep(0.05)  # a build in progress, until the test lets it go (or kills it)
    return _build(*args, **kwargs)


# The publisher imports site.build when it builds: the name it finds is this one.
setattr(site, "build", failing_build)  # noqa: B010

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))

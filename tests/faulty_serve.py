"""`feedsvc serve` whose builds fail while a file named FAIL-BUILDS is in its working
directory: a fault injected into the real server, for the test that a failed rebuild
keeps the previous feeds served and that the next change recovers.

    python -m tests.faulty_serve serve --config FILE ...
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from feedsvc import cli, site

_build = site.build


def failing_build(*args: Any, **kwargs: Any) -> site.Built:
    if Path("FAIL-BUILDS").exists():
        raise RuntimeError("injected build failure")
    return _build(*args, **kwargs)


# The publisher imports site.build when it builds: the name it finds is this one.
setattr(site, "build", failing_build)  # noqa: B010

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))

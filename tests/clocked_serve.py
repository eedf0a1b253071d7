"""`feedsvc` whose day clock runs ahead by the days written in a file named CLOCK-DAYS
in its working directory (read at every tick): for the tests that follow counts over
days through the real server and the real `stats` command.

    python -m tests.clocked_serve serve --config FILE ...
"""

from __future__ import annotations

import sys
from pathlib import Path

from feedsvc import cli

_real = cli._seconds


def ahead() -> float:
    days = Path("CLOCK-DAYS")
    return _real() + (float(days.read_text()) * 86_400 if days.exists() else 0.0)


# The counts and the dashboard take the clock when serve starts: this one.
setattr(cli, "_seconds", ahead)  # noqa: B010

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))

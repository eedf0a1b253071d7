"""Static export: the snapshot as files for nginx or a CDN, swapped in whole.

Feeds and feeds.opml keep their served paths; pages become `index.html`,
`tags/<slug>.html`, `articles/<id>.html` (nginx: `try_files $uri $uri.html`).
Every file gets a `.gz` sibling for `gzip_static`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import FeedsvcError
from .snapshot import HTML, Snapshot


def file_name(path: str, content_type: str) -> str:
    if path == "/":
        return "index.html"
    if path == "/404":
        return "404.html"
    name = path.lstrip("/")
    return name + ".html" if content_type == HTML else name


def _progress(total: int) -> Callable[[int], None]:
    """A one-line progress bar on a terminal; silent in pipes and files."""
    if not sys.stderr.isatty():
        return lambda done: None

    def show(done: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def export(snapshot: Snapshot, out: Path) -> int:
    """Write every resource under a temporary folder beside `out`, then swap it in.

    A crash before the swap leaves the previous export as it was.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    items = sorted(snapshot.resources.items())
    show = _progress(len(items))
    try:
        for done, (path, resource) in enumerate(items, start=1):
            target = staging / file_name(path, resource.content_type)
            if not target.resolve().is_relative_to(staging):
                raise FeedsvcError(f"refusing to write {path} outside the export folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(resource.body)
            target.with_name(target.name + ".gz").write_bytes(resource.gzip)
            mtime = resource.last_modified.timestamp()
            os.utime(target, (mtime, mtime))
            os.utime(target.with_name(target.name + ".gz"), (mtime, mtime))
            show(done)
        os.chmod(staging, 0o755)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
        os.rename(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(items)

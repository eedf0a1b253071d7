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
from collections.abc import Callable, Iterable
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
    """Write every resource into a new folder beside `out`, then point `out` at it.

    `out` is a symlink to the current export (`.<name>.<n>` beside it), replaced in
    one atomic rename: a crash at any moment leaves `out` whole, old or new.
    """
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    current = os.readlink(out) if out.is_symlink() else None
    _remove_debris(out, keep=current)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    items = sorted(snapshot.resources.items())
    show = _progress(len(items))
    try:
        for done, (path, resource) in enumerate(items, start=1):
            target = staging / file_name(path, resource.content_type)
            if not target.resolve().is_relative_to(staging):
                raise FeedsvcError(f"refusing to write {path} outside the export folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(resource.body)
            zipped = target.with_name(target.name + ".gz")
            zipped.write_bytes(resource.gzip)
            mtime = resource.last_modified.timestamp()
            os.utime(target, (mtime, mtime))
            os.utime(zipped, (mtime, mtime))
            show(done)
        os.chmod(staging, 0o755)
        link = out.with_name(f".{out.name}.link-{os.getpid()}")
        os.symlink(staging.name, link)
        if out.exists() and not out.is_symlink():
            # An export made before symlinks, or a plain folder: moved aside once.
            os.rename(out, out.with_name(f".{out.name}.old-{os.getpid()}"))
        os.replace(link, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _remove_debris(out, keep=staging.name)
    return len(items)


def exported(out: Path, paths: Iterable[str]) -> dict[str, bytes]:
    """The bytes of these resources in the current export at `out` (those present)."""
    found: dict[str, bytes] = {}
    for path in paths:
        try:
            found[path] = (out / path.lstrip("/")).read_bytes()
        except OSError:
            continue
    return found


def _remove_debris(out: Path, keep: str | None) -> None:
    """Earlier exports, and what a crashed export left behind."""
    for sibling in out.parent.glob(f".{out.name}.*"):
        if sibling.name == keep:
            continue
        if sibling.is_symlink() or sibling.is_file():
            sibling.unlink(missing_ok=True)
        else:
            shutil.rmtree(sibling, ignore_errors=True)

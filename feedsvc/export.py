"""The snapshot as static files for nginx (`gzip_static on`) or a CDN origin.

Feeds and feeds.opml keep their served paths; pages become `index.html`,
`tags/<slug>.html`, `articles/<id>.html` (nginx: `try_files $uri $uri.html`); a
withdrawn article's notice `withdrawn/articles/<id>.html`, which nginx answers with
410 (docs/nginx.conf).
Every file gets a `.gz` sibling, and its resource's Last-Modified as mtime.

A folder of ours holds a manifest: for each file, the ETag of the bytes we put there
and the inode, size and mtime the file had just after. A file whose stat still matches
is known to hold those bytes without reading it; anything else is read and compared.
So a stale or lost manifest costs reads, never wrong bytes, and unchanged files are
never rewritten: nginx's own validators (from size and mtime) stay put.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from zlib_ng import zlib_ng

from .errors import FeedsvcError
from .snapshot import GZIP_LEVEL, HTML, Resource, Snapshot

MANIFEST = ".feedsvc-mirror"  # marks a folder as ours; dot files are never resources
_FORMAT = 1
# The .gz bytes follow from the identity bytes, the level and zlib-ng: all three name them.
_GZ_TAG = f"-gz{GZIP_LEVEL}-ng{zlib_ng.ZLIBNG_RUNTIME_VERSION}"


WITHDRAWN = "withdrawn"  # the notices of withdrawn articles: nginx answers 410 with them


def file_name(path: str, resource: Resource) -> str:
    if path == "/":
        return "index.html"
    if path == "/404":
        return "404.html"
    name = path.lstrip("/")
    if resource.status == 410:  # not where nginx would serve it as a page (200)
        return f"{WITHDRAWN}/{name}.html"
    return name + ".html" if resource.content_type == HTML else name


class StaticFile(NamedTuple):
    """One file of a resource: its identity bytes or their .gz. (A tuple: an export
    makes two per resource, and tuples are made fastest.)"""

    name: str  # relative to the folder, '/'-separated
    etag: str
    mtime_ns: int
    resource: Resource
    zipped: bool

    def data(self) -> bytes:
        return self.resource.gzip if self.zipped else self.resource.body


def files_of(path: str, resource: Resource) -> tuple[StaticFile, StaticFile]:
    name = file_name(path, resource)
    parts = name.split("/")
    if ".." in parts or "" in parts or name.startswith(MANIFEST):
        raise FeedsvcError(f"refusing to write {path} outside the export folder")
    mtime_ns = int(resource.last_modified.timestamp()) * 1_000_000_000
    return (
        StaticFile(name, resource.etag, mtime_ns, resource, False),
        StaticFile(name + ".gz", resource.etag + _GZ_TAG, mtime_ns, resource, True),
    )


class Written(NamedTuple):
    """What we put in a file, and how the file looked right after."""

    etag: str
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, etag: str, stat: os.stat_result) -> Written:
        return cls(etag, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def holds(self, etag: str, stat: os.stat_result | None) -> bool:
        return (
            stat is not None
            and etag == self.etag
            and (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            == (self.inode, self.size, self.mtime_ns)
        )


def load_manifest(folder: Path) -> dict[str, Written] | None:
    """The folder's manifest; None when the folder is not ours (or unreadable as such)."""
    try:
        data = json.loads((folder / MANIFEST).read_bytes())
        if data.get("format") != _FORMAT:
            return {}
        return {name: Written(*row) for name, row in data["files"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # ours, but damaged: every file is checked by reading it


def save_manifest(folder: Path, rows: Iterable[tuple[str, Written]]) -> None:
    """Written a row at a time as the rows come: an export of 100,000 articles has
    340,000, which as a dict and then one JSON document in memory would be a few
    hundred MB at the end of every export."""
    write_beside(folder / MANIFEST, _manifest(rows), None)


def _manifest(rows: Iterable[tuple[str, Written]]) -> Iterator[bytes]:
    yield b'{"format":%d,"files":{' % _FORMAT
    for n, (name, w) in enumerate(rows):
        row = [w.etag, w.inode, w.size, w.mtime_ns]
        yield b"%s%s:%s" % (b"," if n else b"", _dumps(name), _dumps(row))
    yield b"}}"


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def stat_or_none(target: str | Path) -> os.stat_result | None:
    try:
        return os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_beside(
    target: Path, data: bytes | Iterable[bytes], mtime_ns: int | None
) -> os.stat_result:
    """Write next to `target` (the bytes, or the chunks as they come), set the mtime,
    then rename over it: readers see the old file or the new one, never part of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.writelines([data] if isinstance(data, bytes) else data)
        if mtime_ns is not None:
            os.utime(temporary, ns=(mtime_ns, mtime_ns))
        stat = os.stat(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return stat


def same_bytes(target: Path, stat: os.stat_result | None, data: bytes) -> bool:
    if stat is None or stat.st_size != len(data):
        return False
    try:
        return target.read_bytes() == data
    except OSError:
        return False


def static_files(snapshot: Snapshot) -> Iterator[StaticFile]:
    for path, resource in sorted(snapshot.resources.items()):
        yield from files_of(path, resource)


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


def _holds(previous: str | None, old: Mapping[str, Written], file: StaticFile) -> bool:
    """Whether the previous export holds this file with these very bytes and times."""
    return (
        previous is not None
        and (known := old.get(file.name)) is not None
        and known.holds(file.etag, stat_or_none(f"{previous}/{file.name}"))
    )


def export(snapshot: Snapshot, out: Path) -> tuple[int, int]:
    """Make a new tree beside `out`, then point the symlink `out` at it in one rename.

    Files the previous export already holds are hard links to it, so a build with
    little changed writes little, and a crash at any moment leaves `out` whole, old
    or new; when it holds them all, nothing is done. Returns the number of files, and
    how many of them were written anew.

    Two passes over the snapshot's files, none of them kept (at 100,000 articles there
    are 340,000): the first checks every name before any write, finds the folders to
    make and which files the previous export holds, a bit each; the second writes.
    """
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    current = os.readlink(out) if out.is_symlink() else None
    previous = str(out.parent / current) if current else None
    old = (load_manifest(Path(previous)) or {}) if previous is not None else {}
    folders: set[str] = set()
    held = bytearray()
    for file in static_files(snapshot):  # a bad path stops it here
        folders.add(os.path.dirname(file.name))
        held.append(_holds(previous, old, file))
    _remove_debris(out, keep=current)
    if previous is not None and sum(held) == len(held) == len(old):
        return len(held), 0
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for folder in sorted(folders - {""}):
            os.makedirs(f"{staging}/{folder}", exist_ok=True)
        fresh = _fill(staging, previous, old, held, snapshot)
        os.chmod(staging, 0o755)
        _point(out, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _remove_debris(out, keep=staging.name)
    return len(held), fresh


def _fill(
    staging: Path,
    previous: str | None,
    old: Mapping[str, Written],
    held: bytearray,
    snapshot: Snapshot,
) -> int:
    """Every file into the new tree (a hard link to the previous one where it holds
    it), its manifest row written as it goes; the number written anew."""
    show = _progress(len(held))
    fresh = 0

    def rows() -> Iterator[tuple[str, Written]]:
        nonlocal fresh
        for n, file in enumerate(static_files(snapshot)):  # nobody reads the new tree yet
            if held[n] and _link(f"{previous}/{file.name}", f"{staging}/{file.name}"):
                yield file.name, old[file.name]  # a hard link: same inode, size, mtime
            else:
                yield file.name, Written.of(file.etag, _write_new(f"{staging}/{file.name}", file))
                fresh += 1
            show(n + 1)

    save_manifest(staging, rows())
    return fresh


def _write_new(target: str, file: StaticFile) -> os.stat_result:
    with open(target, "wb") as handle:
        handle.write(file.data())
    os.utime(target, ns=(file.mtime_ns, file.mtime_ns))
    return os.stat(target)


def _link(source: str, target: str) -> bool:
    try:
        os.link(source, target)
    except OSError:
        return False  # a file system without hard links: written instead
    return True


def _point(out: Path, staging: Path) -> None:
    link = out.with_name(f".{out.name}.link-{os.getpid()}")
    os.symlink(staging.name, link)
    if out.exists() and not out.is_symlink():
        # An export made before symlinks, or a plain folder: moved aside once.
        os.rename(out, out.with_name(f".{out.name}.old-{os.getpid()}"))
    os.replace(link, out)


def exported(out: Path) -> dict[str, str]:
    """The ETag of every file in the current export at `out`, by name, from its
    manifest (empty when there is no export, or one without a manifest)."""
    manifest = load_manifest(out) if out.is_dir() else None
    return {name: written.etag for name, written in (manifest or {}).items()}


def _remove_debris(out: Path, keep: str | None) -> None:
    """Earlier exports, and what a crashed export left behind."""
    for sibling in out.parent.glob(f".{out.name}.*"):
        if sibling.name == keep:
            continue
        if sibling.is_symlink() or sibling.is_file():
            sibling.unlink(missing_ok=True)
        else:
            shutil.rmtree(sibling, ignore_errors=True)

"""Immutable rendered bytes per URL path, with validators and compressed variants.

Everything a request needs is computed here, once per resource: the request path
only looks a resource up.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from zlib_ng import zlib_ng

from .scratch import ScratchFile

try:  # optional: brotli when installed, gzip always
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

HTML = "text/html; charset=utf-8"


# gzip is zlib-ng's: the same format, made three times as fast as zlib's at the same
# size, and archive pages (most of a full build's bytes) are all compressed. Levels
# chosen by measurement on a 520 KB Devanagari feed: level 3 takes 2.1 ms for 74 KB
# where 5 takes 4.3 ms for 67 KB (zlib's 5: 6.4 ms for 73 KB); brotli 5 takes 8 ms for
# 67 KB (brotli is optional: pip install -e '.[brotli]').
GZIP_LEVEL = 3
GZIP_WBITS = 31  # deflate in a gzip wrapper
BROTLI_QUALITY = 5


class Source(Protocol):
    """Where a resource's bytes live once out of memory: the warm-start file, or a
    `Scratch` file until they are saved."""

    def read(self, etag: str, coding: str) -> bytes | None: ...


# Told of each batch of resources a build made: their bytes go to disk, then the
# resources let them go (Held.spill to the warm-start file, Held.park to a Scratch).
Spill = Callable[[list["Resource"]], None]


class Codings(NamedTuple):
    gzip: bytes | None  # None: compressed when first asked for (see Held)
    br: bytes | None
    identity: bytes | None  # None: compact (identity is the gzip decompressed)


def _encode(body: bytes, coding: str) -> bytes:
    if coding == "br":
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY))
    # The gzip header zlib-ng writes has no time: the same bytes give the same .gz, so
    # validators survive restarts.
    return zlib_ng.compress(body, GZIP_LEVEL, wbits=GZIP_WBITS)


# One compression of a resource at a time (a reader, the mirror and the save may ask
# together): striped, not one lock per resource, which would cost memory for 300,000.
_COMPRESSING = tuple(threading.Lock() for _ in range(16))


class Held:
    """A resource's bytes: in memory from the build until they are on disk (a full
    build writes them a batch at a time as it goes; any other build's save writes
    them), then read from the warm-start file when asked. The file's reader keeps the
    most asked compressed bytes within a budget of its own (warmstart.SavedBytes): the
    memory of a server follows its hot feeds, not its archive. Spilling changes where
    bytes are, never what they are: a Resource stays the same object.

    A feed made by a partial build (or by a cold start's first build) is compressed
    when first asked for (a gzip reader, the mirror, the save, the next full build),
    not by the build: a new article then reaches the served feeds without waiting on
    4 MB of gzip. Its identity bytes may wait in a `Scratch` file meanwhile (`park`):
    a cold start's first build serves every feed of the archive before it saves any."""

    __slots__ = ("_gzip", "_br", "_identity", "_source", "_raw")

    def __init__(self, codings: Codings | None, source: Source | None = None) -> None:
        self._source = source
        gz, br, identity = codings or (None, None, None)
        self._gzip: bytes | None = gz
        self._br: bytes | None = br
        self._identity: bytes | None = identity
        # Compressed codings are made from the identity bytes (in memory or parked),
        # not read: until spilled, nothing holds them.
        self._raw = identity is not None

    def get(self, etag: str, coding: str) -> bytes | None:
        value: bytes | None = getattr(self, "_" + coding)
        if value is None and coding != "identity" and self._raw:
            value = self._compress(etag, coding)
        if value is None and self._source is not None:
            value = self._source.read(etag, coding)
        return value

    def _lock(self) -> threading.Lock:
        return _COMPRESSING[id(self) % len(_COMPRESSING)]

    def _compress(self, etag: str, coding: str) -> bytes | None:
        with self._lock():
            value: bytes | None = getattr(self, "_" + coding)
            if value is None and self._raw:  # else spilled meanwhile: read it saved
                identity = self._identity
                if identity is None and self._source is not None:
                    identity = self._source.read(etag, "identity")
                if identity is not None:
                    value = _encode(identity, coding)
                    setattr(self, "_" + coding, value)
        return value

    def compressed(self) -> bool:
        """Its gzip bytes are made (in memory or saved)."""
        return self._gzip is not None or not self._raw

    @property
    def saved(self) -> bool:
        """Its bytes, every coding, are in the file it reads them from."""
        return self._source is not None and not self._raw

    def resident(self) -> tuple[str, ...]:
        """The codings in memory."""
        return tuple(c for c in Codings._fields if getattr(self, "_" + c) is not None)

    @property
    def source(self) -> Source | None:
        return self._source

    def spill(self, source: Source) -> None:
        with self._lock():
            self._source = source  # first: a reader that finds no bytes finds the source
            self._raw = False
            self._identity = self._gzip = self._br = None

    def park(self, etag: str, scratch: Scratch) -> None:
        """Its identity bytes to the scratch file, when they are only in memory; its
        compressed codings are still made from them when first asked for."""
        with self._lock():
            identity = self._identity
            if identity is None:  # parked or spilled already
                return
            scratch.put(etag, identity)
            self._source = scratch
            self._identity = None


class Scratch:
    """Identity bytes of resources that are served but not saved (yet), in an unnamed
    file beside the state file: in the OS's cache, not in the process. A cold start's
    first build makes every subscription document of the archive uncompressed (at
    100,000 articles, about 5 GB); they wait here for their first reader or for the
    build that saves them. The file is gone when the last resource parked in it is."""

    def __init__(self, folder: Path) -> None:
        self._file = ScratchFile[str](folder)  # by ETag: the same ETag is the same bytes

    def __call__(self, resources: list[Resource]) -> None:
        """A Spill: their identity bytes parked here."""
        for resource in resources:
            resource.held.park(resource.etag, self)

    def put(self, etag: str, body: bytes) -> None:
        if etag not in self._file:
            self._file.put(etag, body)

    def read(self, etag: str, coding: str) -> bytes | None:
        return self._file.get(etag) if coding == "identity" else None


@dataclass(frozen=True, slots=True)  # one per path: 168,000 at 100,000 articles
class Resource:
    content_type: str
    etag: str  # strong, of the identity body; encodings get their own
    last_modified: datetime
    link: str  # the HTTP Link header (WebSub discovery), if any
    compact: bool  # only the gzip bytes kept (identity is decompressed when asked)
    has_br: bool
    held: Held = field(compare=False, repr=False)
    status: int = 200  # 410: a withdrawn article's notice

    @classmethod
    def make(
        cls,
        body: bytes,
        content_type: str,
        last_modified: datetime,
        compact: bool = False,
        link: str = "",
        lazy: bool = False,
        status: int = 200,
        etag: str | None = None,
    ) -> Resource:
        """compact: keep only the gzip bytes. For the thousands of article and archive
        pages, which clients fetch gzipped. lazy (not compact): compress when asked.
        etag: the body's digest, when the caller has it already."""
        has_br = brotli is not None and not compact
        if lazy and not compact:
            codings = Codings(None, None, body)
        else:
            br = _encode(body, "br") if has_br else None
            codings = Codings(_encode(body, "gzip"), br, None if compact else body)
        return cls(
            content_type=content_type,
            etag=etag or digest(body),
            last_modified=_second(last_modified),
            link=link,
            compact=compact,
            has_br=has_br,
            held=Held(codings),
            status=status,
        )

    @property
    def http_date(self) -> str:
        """Last-Modified as sent: formatted when asked (1.4 µs), not held by each of
        the 168,000 resources of a 100,000-article site (13 MB)."""
        return http_date(self.last_modified)

    def _coding(self, coding: str) -> bytes:
        data = self.held.get(self.etag, coding)
        assert data is not None, f"{coding} bytes of {self.etag} were never made"
        return data

    @property
    def gzip(self) -> bytes:
        return self._coding("gzip")

    @property
    def br(self) -> bytes | None:
        return self._coding("br") if self.has_br else None

    @property
    def body(self) -> bytes:
        """The identity bytes (decompressed for a compact resource: rare clients only)."""
        return (
            zlib_ng.decompress(self.gzip, wbits=GZIP_WBITS)
            if self.compact
            else self._coding("identity")
        )

    def encoded(self, encoding: str) -> bytes:
        """The bytes for a content coding: gzip, br (when made), else identity."""
        if encoding == "gzip" or encoding == "br" and self.has_br:
            return self._coding(encoding)
        return self.body


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def http_date(moment: datetime) -> str:
    """An HTTP date (RFC 9110: IMF-fixdate), as Last-Modified sends it."""
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def _second(moment: datetime) -> datetime:
    """HTTP dates have whole seconds: Last-Modified must compare equal to what we sent."""
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class SiteIndex:
    """What the site holds besides bytes, for requests and for the next partial build."""

    articles: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)  # topics of each kind, by name
    # stored topic ref -> (slug, name)
    catalog: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # kind -> any spelling of a topic's slug -> its canonical slug
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    windows: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # feed: article ids
    # subscription document: (its self URL, the WebSub topic; a digest of its bytes
    # without hub links)
    topics: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # subscription document -> its archive pages -> each page's signature
    archives: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # found while building (tags dropped, entries left out)
    tombstoned: tuple[str, ...] = ()  # the withdrawn articles whose tombstones its feeds show

    def to_json(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "counts": dict(self.counts),
            "catalog": {key: list(value) for key, value in self.catalog.items()},
            "aliases": {kind: dict(found) for kind, found in self.aliases.items()},
            "windows": {path: list(ids) for path, ids in self.windows.items()},
            "topics": {path: list(topic) for path, topic in self.topics.items()},
            "archives": {feed: dict(pages) for feed, pages in self.archives.items()},
            "problems": list(self.problems),
            "tombstoned": list(self.tombstoned),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SiteIndex:
        return cls(
            articles=int(data["articles"]),
            counts={kind: int(count) for kind, count in data["counts"].items()},
            catalog={key: (slug, name) for key, (slug, name) in data["catalog"].items()},
            aliases={kind: dict(found) for kind, found in data["aliases"].items()},
            # ids as the Articles hold them (every window names them again), and paths
            # as the snapshot's resources hold them (55,000 archive pages at 100,000
            # articles are named here and by the resources read back with this index)
            windows={
                sys.intern(path): tuple(map(sys.intern, ids))
                for path, ids in data["windows"].items()
            },
            topics={
                sys.intern(path): (url, digest) for path, (url, digest) in data["topics"].items()
            },
            archives={
                sys.intern(feed): {sys.intern(page): sign for page, sign in pages.items()}
                for feed, pages in data["archives"].items()
            },
            problems=tuple(data["problems"]),
            tombstoned=tuple(data["tombstoned"]),
        )


@dataclass(frozen=True)
class Change:
    """One change readers saw, as the desk's view lists it."""

    kind: str  # published, updated, corrected, withdrawn, removed (rejected, a draft)
    title: str
    path: str
    at: datetime  # when the feeds showing it were served
    latency: float | None  # seconds from the file's last write (or its due time) to then


@dataclass(frozen=True)
class Health:
    """The publisher's state as /healthz shows it; not part of what a build makes."""

    last_scan: datetime | None = None
    last_build_seconds: float = 0.0
    scheduled: tuple[tuple[str, datetime], ...] = ()  # (path, publication time)
    rejected: tuple[str, ...] = ()  # files skipped, build problems, a missing folder
    pages_pending: bool = False  # a cold start's archive and article pages still to come
    feeds_pending: bool = False  # a first start serves `all` and its front page alone
    rebuilding: bool = False  # the saved site is served while everything is built again
    checking: bool = False  # the saved site is served while the folder is compared with it
    drafts: int = 0
    changes: tuple[Change, ...] = ()  # the last ones, the newest first
    error: str = ""  # why the last build or save failed, until one succeeds


@dataclass(frozen=True)
class Snapshot:
    """One consistent set of everything served; replaced whole, never changed."""

    resources: Mapping[str, Resource] = field(default_factory=dict)
    index: SiteIndex = SiteIndex()
    health: Health = Health()

    def __post_init__(self) -> None:
        # Another snapshot's resources are read-only already: shared, not copied
        # (140,000 entries at 100,000 articles, at every swap).
        if not isinstance(self.resources, MappingProxyType):
            object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))

    def get(self, path: str) -> Resource | None:
        return self.resources.get(path)


@dataclass(frozen=True)
class Item:
    """One rendered body, before compression."""

    path: str
    body: bytes
    content_type: str
    newest: datetime  # its newest content's time: the least its Last-Modified may be
    link: str = ""  # its HTTP Link header
    status: int = 200


def last_modified(newest: datetime, old: Resource | None, changed: bool, now: datetime) -> datetime:
    """Last-Modified stays put while the bytes do, and moves forward when they change,
    past the previous value and never earlier than the newest content: a client that
    polls with If-Modified-Since alone then never gets a 304 for changed bytes
    (deleting an older article changes a feed but not its newest entry)."""
    if old is None:
        return newest
    if not changed:
        return max(old.last_modified, _second(newest))
    return max(_second(newest), _second(now), old.last_modified + timedelta(seconds=1))


def make_resources(
    items: Iterable[Item],
    previous: Mapping[str, Resource],
    now: datetime,
    compact: Callable[[str], bool] = lambda path: False,
    lazy: bool = False,
    spill: Spill | None = None,
) -> dict[str, Resource]:
    """Resources for rendered bodies; one whose bytes did not change keeps its old
    Resource (compressed bytes, ETag, Last-Modified). New ones are compressed on every
    core (zlib-ng and brotli release the GIL) a batch at a time, the next batch rendered
    meanwhile: `items` may be a generator whose bodies are never all in memory. `lazy`:
    those not compact are compressed when first asked for (a partial build, on a new
    article's way to its feeds). `spill` is given each batch made, to put its bytes on
    disk before the batch after next is rendered (a lazy build's, uncompressed: Scratch)."""
    out: dict[str, Resource] = {}

    def make(item: Item, etag: str | None) -> Resource:
        old = previous.get(item.path)
        when = last_modified(item.newest, old, True, now)
        return Resource.make(
            item.body,
            item.content_type,
            when,
            compact=compact(item.path),
            link=item.link,
            lazy=lazy,
            status=item.status,
            etag=etag,
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        waiting: _Batch | None = None
        for items_now in _batches(items):  # rendered while `waiting` is compressed
            fresh, etags, kept = [], [], []
            for item in items_now:
                old = previous.get(item.path)
                etag = None if old is None else digest(item.body)  # hashed once
                if old is not None and _same(old, item, etag):
                    when = last_modified(item.newest, old, False, now)
                    out[item.path] = old if when == old.last_modified else _moved(old, when)
                    kept.append(old)
                else:
                    fresh.append(item)
                    etags.append(etag)
            # left uncompressed by the build before (a cold start's first)
            bare = [] if lazy else [r for r in kept if not r.held.compressed()]
            batch = _Batch(
                paths=[item.path for item in fresh],
                made=pool.map(make, fresh, etags),
                kept=kept,
                compressing=pool.map(_compress, bare),
            )
            del fresh, etags, items_now  # the bodies are the pool's now
            if waiting is not None:
                waiting.collect(out, spill)
            waiting = batch
        if waiting is not None:
            waiting.collect(out, spill)
    return out


@dataclass
class _Batch:
    """A batch handed to the pool, its resources collected once the next is rendered."""

    paths: list[str]
    made: Iterator[Resource]
    kept: list[Resource]
    compressing: Iterator[None]

    def collect(self, out: dict[str, Resource], spill: Spill | None) -> None:
        """Waits for the pool; its exceptions are raised here."""
        made = list(self.made)
        out.update(zip(self.paths, made, strict=True))
        for _ in self.compressing:
            pass
        if spill is not None:
            spill(made + self.kept)


def _same(old: Resource, item: Item, etag: str | None) -> bool:
    """The item's bytes (`etag`, their digest) and headers are the old resource's."""
    return (
        old.etag == etag
        and old.content_type == item.content_type
        and old.link == item.link
        and old.status == item.status
    )


def _compress(resource: Resource) -> None:
    resource.held.get(resource.etag, "gzip")
    if resource.has_br:
        resource.held.get(resource.etag, "br")


def _moved(resource: Resource, when: datetime) -> Resource:
    return dataclasses.replace(resource, last_modified=when)


BATCH = 256  # items: enough to keep every core busy
BATCH_BYTES = 16 * 1024 * 1024  # or bodies: 40 feeds of a big site, not 256 (100 MB)


def _batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    """The items BATCH at a time, or fewer when their bodies reach BATCH_BYTES."""
    batch: list[Item] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item.body)
        if len(batch) == BATCH or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch

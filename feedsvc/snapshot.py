"""Immutable rendered bytes per URL path, with validators and compressed variants.

Everything a request needs is computed here, once per resource: the request path
only looks a resource up.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

try:  # optional: brotli when installed, gzip always
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"


@dataclass(frozen=True)
class Resource:
    body: bytes
    content_type: str
    etag: str  # strong, of the identity body; encodings get their own
    last_modified: datetime
    gzip: bytes
    br: bytes | None

    @classmethod
    def make(cls, body: bytes, content_type: str, last_modified: datetime) -> Resource:
        return cls(
            body=body,
            content_type=content_type,
            etag=hashlib.sha256(body).hexdigest()[:32],
            last_modified=last_modified.astimezone(UTC).replace(microsecond=0),
            # mtime=0: the same bytes give the same .gz, so validators survive restarts.
            gzip=gzip.compress(body, compresslevel=9, mtime=0),
            br=brotli.compress(body, quality=9) if brotli else None,
        )

    def same_as(self, body: bytes, last_modified: datetime) -> bool:
        return self.body == body and self.last_modified == last_modified.astimezone(UTC).replace(
            microsecond=0
        )


@dataclass(frozen=True)
class Snapshot:
    """One consistent set of everything served; replaced whole, never changed."""

    resources: Mapping[str, Resource]
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    def get(self, path: str) -> Resource | None:
        return self.resources.get(path)


def reuse_or_make(
    previous: Snapshot | None, path: str, body: bytes, content_type: str, last_modified: datetime
) -> Resource:
    """Keep the old Resource (and its compressed bytes) when nothing in it changed."""
    old = previous.get(path) if previous else None
    if old is not None and old.content_type == content_type and old.same_as(body, last_modified):
        return old
    return Resource.make(body, content_type, last_modified)

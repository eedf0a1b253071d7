"""Typed configuration, read once from config.toml and validated before anything runs."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .urls import normalize_base


@dataclass(frozen=True)
class SiteConfig:
    title: str = "हिंदी समाचार"
    base_url: str = "http://127.0.0.1:8000"
    author: str = "संपादक"
    language: str = "hi"
    timezone: str = "Asia/Kolkata"
    id_authority: str = ""
    icon: str = ""  # square icon: an http(s) URL or a path under the articles dir
    logo: str = ""  # wide logo: likewise
    accent_color: str = ""  # six hex digits, e.g. "c0392b"


@dataclass(frozen=True)
class ArticlesConfig:
    dir: str = "articles"
    max_bytes: int = 1_048_576


@dataclass(frozen=True)
class FeedsConfig:
    max_items: int = 50
    max_bytes: int = 524_288
    summary_only: bool = False
    summary_chars: int = 280
    archive_page_size: int = 0  # RFC 5005 pages; 0: min(25, max_items // 2)
    tombstone_days: float = 7.0  # how long a withdrawn article's tombstone stays in feeds

    @property
    def archive_size(self) -> int:
        """Articles per archive page; 0 when there are no archives (max_items < 2)."""
        if self.max_items < 2:
            return 0
        return self.archive_page_size or min(25, self.max_items // 2)


@dataclass(frozen=True)
class ScheduleConfig:
    rescan_seconds: int = 60
    settle_ms: int = 300


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000


@dataclass(frozen=True)
class StateConfig:
    path: str = "var/feedsvc.sqlite3"


@dataclass(frozen=True)
class WebsubConfig:
    hubs: tuple[str, ...] = ()  # WebSub hubs told of every change; empty: off
    timeout_seconds: int = 10  # per POST to a hub


@dataclass(frozen=True)
class MirrorConfig:
    dir: str = ""  # `feedsvc serve` keeps this folder a live static copy; empty: off


@dataclass(frozen=True)
class DashboardConfig:
    host: str = "127.0.0.1"  # its own listener, never the public one
    port: int = 8001  # 0: off
    user: str = ""  # Basic auth, required off loopback (password: FEEDSVC_DASHBOARD_PASSWORD)


@dataclass(frozen=True)
class StatsConfig:
    keep_days: int = 400  # per-day subscriber counts are kept this long


@dataclass(frozen=True)
class TopicOverride:
    """An editor's choice for one tag, section or author ([tags], [sections],
    [authors]): its display name and, optionally, an ASCII slug; for an author also
    the address of a page about them and an e-mail address, for the feeds' author
    elements."""

    name: str | None = None
    slug: str | None = None
    uri: str | None = None
    email: str | None = None


Overrides = dict[str, TopicOverride]  # keyed by any spelling an editor uses


@dataclass(frozen=True)
class Config:
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None
    site: SiteConfig = SiteConfig()
    articles: ArticlesConfig = ArticlesConfig()
    feeds: FeedsConfig = FeedsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    server: ServerConfig = ServerConfig()
    state: StateConfig = StateConfig()
    websub: WebsubConfig = WebsubConfig()
    mirror: MirrorConfig = MirrorConfig()
    dashboard: DashboardConfig = DashboardConfig()
    stats: StatsConfig = StatsConfig()
    tags: Overrides = field(default_factory=dict)
    sections: Overrides = field(default_factory=dict)
    authors: Overrides = field(default_factory=dict)

    @property
    def articles_dir(self) -> Path:
        return (self.root / self.articles.dir).resolve()

    @property
    def state_path(self) -> Path:
        return (self.root / self.state.path).resolve()

    @property
    def mirror_dir(self) -> Path | None:
        return (self.root / self.mirror.dir).resolve() if self.mirror.dir else None

    @property
    def base_url(self) -> str:
        """ASCII, lower-case host, percent-encoded path, no trailing slash."""
        return normalize_base(self.site.base_url)

    @property
    def authority(self) -> str:
        return self.site.id_authority or (urlsplit(self.base_url).hostname or "localhost")

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    def replace(self, **sections: Any) -> Config:
        """A copy with some sections' fields changed: replace(site={"base_url": ...})."""
        changes = {
            name: dataclasses.replace(getattr(self, name), **values)
            if isinstance(values, dict) and name not in _OVERRIDE_TABLES
            else values
            for name, values in sections.items()
        }
        return dataclasses.replace(self, **changes)


_SECTIONS: dict[str, type] = {
    "site": SiteConfig,
    "articles": ArticlesConfig,
    "feeds": FeedsConfig,
    "schedule": ScheduleConfig,
    "server": ServerConfig,
    "state": StateConfig,
    "websub": WebsubConfig,
    "mirror": MirrorConfig,
    "dashboard": DashboardConfig,
    "stats": StatsConfig,
}

_MINIMUM = {
    "articles.max_bytes": 1,
    "feeds.max_items": 1,
    "feeds.max_bytes": 1024,
    "feeds.summary_chars": 20,
    "schedule.rescan_seconds": 1,
    "schedule.settle_ms": 0,
    "server.port": 0,
    "websub.timeout_seconds": 1,
    "feeds.archive_page_size": 0,
    "dashboard.port": 0,
    "stats.keep_days": 31,
}


def _section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{name}.{key}"
        if key not in known:
            raise ConfigError(f"unknown key {where} (known: {', '.join(known)})")
        want = type(known[key].default)
        if want is tuple:  # a list of strings in TOML
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where} must be a list of strings, not {value!r}")
            values[key] = tuple(v.strip() for v in value)
            continue
        if want is float and type(value) is int:  # TOML writes 7 for 7.0
            value = float(value)
        # bool is an int in Python; neither may stand for the other here.
        if type(value) is not want:
            raise ConfigError(
                f"{where} must be {want.__name__}, not {type(value).__name__} ({value!r})"
            )
        minimum = _MINIMUM.get(where)
        if minimum is not None and cast(int, value) < minimum:
            raise ConfigError(f"{where} must be at least {minimum}, not {value}")
        values[key] = value
    return cls(**values)


# The tables of editors' choices, and the keys each entry may have besides name, slug.
_OVERRIDE_TABLES = {"tags": (), "sections": (), "authors": ("uri", "email")}


def _overrides(table: str, raw: Any) -> Overrides:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{table}] must be a table")
    extra = _OVERRIDE_TABLES[table]
    known = ("name", "slug", *extra)
    out = {}
    for spelling, value in raw.items():
        where = f"{table}.{spelling}"
        if isinstance(value, str):
            if not value.strip():
                raise ConfigError(f"{where} must be a non-empty display name")
            out[spelling] = TopicOverride(name=value)
            continue
        if not isinstance(value, dict):
            fields = " = ..., ".join(known)
            raise ConfigError(f"{where} must be a display name or {{ {fields} = ... }}")
        for key, item in value.items():
            if key not in known:
                raise ConfigError(f"unknown key {where}.{key} (known: {', '.join(known)})")
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(f"{where}.{key} must be a non-empty string")
        slug = value.get("slug")
        if slug is not None and not (
            slug.isascii() and all(c.isalnum() or c == "-" for c in slug) and slug.strip("-")
        ):
            raise ConfigError(f"{where}.slug must be ASCII letters, digits and '-', not {slug!r}")
        uri, email = value.get("uri"), value.get("email")
        if uri is not None and (urlsplit(uri).scheme not in ("http", "https") or not uri.isascii()):
            raise ConfigError(f"{where}.uri must be an http(s) URL in ASCII, not {uri!r}")
        if email is not None and not _looks_like_email(email):
            raise ConfigError(f"{where}.email must be an e-mail address, not {email!r}")
        out[spelling] = TopicOverride(
            name=value.get("name"), slug=slug.lower() if slug else None, uri=uri, email=email
        )
    return out


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(local and at and "." in domain) and not any(c in value for c in ' <>()",;')


def _check(cfg: Config) -> None:
    url = urlsplit(cfg.site.base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"site.base_url must be an http(s) URL, not {cfg.site.base_url!r}")
    if url.query or url.fragment:
        raise ConfigError("site.base_url must not have a query or fragment")
    try:
        normalize_base(cfg.site.base_url)
    except (UnicodeError, ValueError) as exc:
        raise ConfigError(f"site.base_url has a host that cannot be used: {exc}") from None
    try:
        ZoneInfo(cfg.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"site.timezone: unknown time zone {cfg.site.timezone!r}") from None
    feeds = cfg.feeds
    if not 0 < feeds.tombstone_days < 36_500:
        raise ConfigError(
            f"feeds.tombstone_days must be a positive number of days, not {feeds.tombstone_days}"
        )
    if feeds.archive_page_size > feeds.max_items // 2:
        raise ConfigError(
            f"feeds.archive_page_size must be at most feeds.max_items / 2 "
            f"({feeds.max_items // 2}), not {feeds.archive_page_size}"
        )
    color = cfg.site.accent_color
    if color and not (len(color) == 6 and all(c in "0123456789abcdefABCDEF" for c in color)):
        raise ConfigError(f"site.accent_color must be six hex digits such as c0392b, not {color!r}")
    for key in ("icon", "logo"):
        value = getattr(cfg.site, key)
        if "://" in value and urlsplit(value).scheme not in ("http", "https"):
            raise ConfigError(f"site.{key} must be an http(s) URL or a path, not {value!r}")
    for hub in cfg.websub.hubs:
        parts = urlsplit(hub)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"websub.hubs: {hub!r} is not an http(s) URL")
    authority = cfg.authority
    if not authority.isascii() or any(c in authority for c in "/:@ "):
        raise ConfigError(f"site.id_authority must be an ASCII domain name, not {authority!r}")


def from_dict(raw: dict[str, Any], root: Path, source: Path | None = None) -> Config:
    """Build a Config from parsed TOML; relative paths will resolve against root."""
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _OVERRIDE_TABLES:
            sections[name] = _overrides(name, value)
        elif name in _SECTIONS:
            sections[name] = _section(name, _SECTIONS[name], value)
        else:
            known = ", ".join([*_SECTIONS, *_OVERRIDE_TABLES])
            raise ConfigError(f"unknown section [{name}] (known: {known})")
    cfg = Config(root=root, source=source, **sections)
    _check(cfg)
    return cfg


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """--config, else $FEEDSVC_CONFIG, else ./config.toml, else none (built-in defaults)."""
    chosen = explicit or os.environ.get("FEEDSVC_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path.resolve()
    local = Path.cwd() / "config.toml"
    return local.resolve() if local.is_file() else None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        return from_dict({}, Path.cwd())
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return from_dict(raw, path.parent, path)

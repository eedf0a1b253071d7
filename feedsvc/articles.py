"""One file into one Article, or into one ArticleError naming the line and the reason.

Two layouts: Markdown with YAML (---) or TOML (+++) front matter, and the plain-text
layout of the seed (title line, paragraphs, a tag line, related headlines).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import functools
import os
import stat
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, Protocol

import regex
import yaml

from . import markup, text
from .config import Config
from .errors import ArticleError, RetryLater, Vanished

EXTENSIONS = (".md", ".txt")
_PARTIAL = ("~", ".swp", ".swo", ".swx", ".tmp", ".part", ".crdownload", ".bak")


@dataclass(frozen=True)
class Correction:
    """A correction an editor made to a published article, shown to its readers."""

    date: datetime
    text: str

    def to_json(self) -> list[str]:
        return [self.date.isoformat(), self.text]

    @classmethod
    def from_json(cls, data: list[str]) -> Correction:
        return cls(datetime.fromisoformat(data[0]), data[1])


@dataclass(frozen=True)
class ParsedArticle:
    """What one file says, cleaned and normalized. Times the file does not give are
    None: the state store fills them in (ingest.resolve) to make an Article."""

    id: str
    path: str  # relative to the articles dir, POSIX separators
    title: str
    body_html: str
    summary: str
    tags: tuple[str, ...] = ()
    date: datetime | None = None
    updated: datetime | None = None
    authors: tuple[str, ...] = ()  # the bylines it names; none: the site's author
    section: str = ""  # its section path ("शहर/लखनऊ"), from the field or the folder
    image: str | None = None
    draft: bool = False
    related: tuple[str, ...] = ()
    explicit_id: bool = False  # the id came from front matter, not from the path
    withdrawn: str | None = None  # `withdrawn`: why it was taken back ("" for no reason)
    corrections: tuple[Correction, ...] = ()  # newest first

    def to_json(self) -> dict[str, Any]:
        # Shallow: asdict's deep copy took 1.4 s of a 10,000-article cold build.
        data = {name: getattr(self, name) for name in _PARSED_FIELDS}
        for key in ("date", "updated"):
            data[key] = data[key].isoformat() if data[key] else None
        data["corrections"] = [c.to_json() for c in self.corrections]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParsedArticle:
        """Rows written by an older version may lack or have other fields: they are
        re-parsed anyway (their parse fingerprint differs), but must still load."""
        data = {key: value for key, value in data.items() if key in _PARSED_FIELDS}
        data.setdefault("body_html", "")  # kept apart by the store
        for key in ("date", "updated"):
            data[key] = datetime.fromisoformat(data[key]) if data[key] else None
        for key in ("tags", "related", "authors"):
            data[key] = tuple(data.get(key, ()))
        data["corrections"] = tuple(Correction.from_json(c) for c in data.get("corrections", ()))
        return cls(**data)


_PARSED_FIELDS = tuple(f.name for f in dataclasses.fields(ParsedArticle))


@dataclass(frozen=True, slots=True)
class Article:
    """A publishable article: identity and both times resolved (timezone-aware).

    It holds no text but its title: bodies and summaries are most of an archive's
    bytes, and a build reads those it renders (`Library.text`, an `ArticleText`).
    `source`, the digest of the file's bytes, stands for them in comparisons.

    A server holds one per article of the archive: slots, not a dict each, and its
    topics' spellings and keys interned (3,000 tags shared by 100,000 articles are
    3,000 strings, not 500,000).
    """

    id: str
    path: str
    title: str
    date: datetime
    updated: datetime
    source: str
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # named bylines; none: the site's author
    section: str = ""  # section path as spelled, levels joined by "/"; "": none
    image: str | None = None
    related: tuple[str, ...] = ()
    corrections: tuple[Correction, ...] = ()  # newest first
    # Made once from the fields above, as every build sorts and groups by them:
    # (date, updated, id), the times as microseconds since 1970, is the newest-first
    # order (comparing aware datetimes took 38 ms of every rebuild's sort at 10,000
    # articles); the key of each tag, in the order of `tags`; the section and each
    # section above it, as spelled, the top first (`शहर/लखनऊ` is in `शहर` and in
    # `शहर/लखनऊ`), and their keys; the key of each author.
    order: tuple[int, int, str] = field(init=False, repr=False, compare=False)
    tag_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    section_levels: tuple[str, ...] = field(init=False, repr=False, compare=False)
    section_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    author_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A warm start makes 100,000 of these: C loops (map), memoized keys (one object
        # per key already), and a section's levels shared by all its articles.
        put = object.__setattr__
        put(self, "id", sys.intern(self.id))  # also the key of its archive positions
        put(self, "tags", tuple(map(sys.intern, self.tags)))
        put(self, "authors", tuple(map(sys.intern, self.authors)))
        put(self, "order", (micros(self.date), micros(self.updated), self.id))
        put(self, "tag_keys", _same_or(self.tags, tuple(map(text.tag_key, self.tags))))
        put(self, "author_keys", _same_or(self.authors, tuple(map(text.tag_key, self.authors))))
        section = _section(self.section)
        put(self, "section", section.path)
        put(self, "section_levels", section.levels)
        put(self, "section_keys", section.keys)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _ARTICLE_FIELDS}
        data["date"], data["updated"] = self.date.isoformat(), self.updated.isoformat()
        data["corrections"] = [c.to_json() for c in self.corrections]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Article:
        """Fields a saved article no longer has (a summary, saved by an older version)
        are left out: the saved site still loads, and serves while it is rebuilt."""
        data = {key: value for key, value in data.items() if key in _ARTICLE_FIELDS}
        same = data["updated"] == data["date"]  # most articles: one moment, one object
        data["date"] = datetime.fromisoformat(data["date"])
        data["updated"] = data["date"] if same else datetime.fromisoformat(data["updated"])
        for key in ("tags", "related", "authors"):
            data[key] = tuple(data[key])
        data["corrections"] = tuple(Correction.from_json(c) for c in data["corrections"])
        return cls(**data)


_ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(Article) if f.init)


def _same_or(spelled: tuple[str, ...], keys: tuple[str, ...]) -> tuple[str, ...]:
    """The spellings themselves when they are their keys, as Devanagari tags and
    names mostly are (no case to fold): one tuple per article, not two."""
    return spelled if keys == spelled else keys


class ArticleText(NamedTuple):
    """What a build renders of an article besides its fields: read from the store when
    needed, never held for the whole archive (at 100,000 articles the summaries alone
    are 60 MB of strings)."""

    summary: str  # plain text, for feeds' summaries, list pages and og:description
    body: str  # sanitized HTML


class Texts(Protocol):
    """Where a build reads articles' text (the library: memory, then the store)."""

    def text(self, article: Article) -> ArticleText: ...

    def summary(self, article: Article) -> str:
        """Its summary alone, for list pages: read without the body."""
        ...


class _Section(NamedTuple):
    path: str
    levels: tuple[str, ...]
    keys: tuple[str, ...]


@functools.lru_cache(maxsize=1 << 12)
def _section(path: str) -> _Section:
    parts = path.split("/") if path else []
    levels = tuple(sys.intern("/".join(parts[: n + 1])) for n in range(len(parts)))
    return _Section(sys.intern(path), levels, tuple(map(text.path_key, levels)))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the least of all moments: no content yet
_MICRO = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Microseconds since 1970: an aware moment as an integer, which compares fast."""
    return (moment - EPOCH) // _MICRO


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)  # relative POSIX paths of candidates
    problems: list[ArticleError] = field(default_factory=list)  # skipped, reported
    rejected: list[ArticleError] = field(default_factory=list)  # articles that cannot be read
    unlisted: list[str] = field(default_factory=list)  # folders that could not be listed

    def listed(self, path: str) -> bool:
        """Whether the folder of this path was listed (else its files are unknown, not
        gone: a folder that cannot be read for a moment deletes nothing)."""
        return not any(path.startswith(folder + "/") for folder in self.unlisted)


def is_candidate(relpath: str) -> bool:
    """Whether a relative path names an article file at all (SPEC §2.3)."""
    parts = PurePosixPath(relpath).parts
    if not parts or any(p.startswith((".", "_")) for p in parts[:-1]):
        return False
    return _is_article_name(parts[-1])


def _is_article_name(name: str) -> bool:
    return (
        name.endswith(EXTENSIONS)
        and not name.startswith((".", "_", "#"))
        and not name.endswith(_PARTIAL)
    )


def rel_path(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def discover(root: Path) -> Discovery:
    """Every article file below root; symlinks that leave root are reported, not followed.
    Relative paths are made as strings (no Path per file: a tenth of a warm start)."""
    found = Discovery()
    root = root.resolve()
    seen_dirs = {root}

    def walk(folder: Path, prefix: str) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            relative = rel_path(root, folder)
            found.problems.append(
                ArticleError(f"cannot list folder: {exc.strerror}", path=relative)
            )
            found.unlisted.append(relative)
            return
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if not target.is_relative_to(root):
                    if entry.name.endswith(EXTENSIONS) or target.is_dir():
                        found.problems.append(
                            ArticleError(
                                f"symlink leads outside the articles folder (to {target}); skipped",
                                path=prefix + entry.name,
                            )
                        )
                    continue
            if entry.is_dir(follow_symlinks=True):
                real = Path(entry.path).resolve()
                if real not in seen_dirs:
                    seen_dirs.add(real)
                    yield from walk(Path(entry.path), prefix + entry.name + "/")
            elif _is_article_name(entry.name):
                yield prefix + entry.name

    for rel in walk(root, ""):
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8, kept by surrogateescape
            shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
            found.rejected.append(
                ArticleError("file name is not valid UTF-8; rename it", path=shown)
            )
            continue
        found.files.append(rel)
    return found


# --- reading bytes ------------------------------------------------------------


@dataclass(frozen=True)
class RawFile:
    data: bytes
    size: int
    mtime_ns: int


def read_file(path: Path, max_bytes: int) -> RawFile:
    """The file's bytes, refusing anything that is not a regular file or is too big."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Vanished("file vanished before it could be read") from None
    except OSError as exc:
        raise ArticleError(f"cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ArticleError("not a regular file")
    if info.st_size > max_bytes:
        raise ArticleError(
            f"file is {info.st_size} bytes, over articles.max_bytes ({max_bytes}); not read"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Vanished("file vanished before it could be read") from None
    except OSError as exc:
        raise ArticleError(f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
        info = os.fstat(fh.fileno())
    if len(data) > max_bytes:
        raise ArticleError(f"file grew over articles.max_bytes ({max_bytes}); not read")
    return RawFile(data, len(data), info.st_mtime_ns)


def decode(data: bytes) -> str:
    """BOM-aware decoding; anything but UTF-8 (or UTF-16 with a BOM) is refused.

    Line endings become LF; nothing else is touched here.
    """
    if data.startswith(codecs.BOM_UTF8):
        encoding, data = "utf-8", data[3:]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in data:
        raise ArticleError(
            "contains NUL bytes: binary, or UTF-16 without a byte-order mark; save as UTF-8"
        )
    else:
        encoding = "utf-8"
    try:
        decoded = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1 if encoding == "utf-8" else None
        raise ArticleError(
            f"not valid {encoding.upper()} (byte {exc.start}): save the file as UTF-8", line
        ) from None
    return decoded.replace("\r\n", "\n").replace("\r", "\n")


# --- parsing ------------------------------------------------------------------


# libyaml when the build has it (about 10x faster than pure Python here).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(block: str) -> Any:
    """Safe YAML, refusing aliases: front matter never needs them, and refusing them
    stops alias bombs before anything is expanded."""
    if "*" in block:  # an alias needs one; most front matter has none
        for event in yaml.parse(block, Loader=_YAML_LOADER):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise ArticleError(
                    "YAML aliases (*name) are not allowed in front matter",
                    mark.line + 2 if mark else None,
                )
    return yaml.load(block, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def _front_matter(source: str) -> tuple[dict[str, Any], list[str], str, int] | None:
    """(fields, front-matter lines, body, first body line number) or None without one."""
    lines = source.split("\n")
    fence = lines[0].strip()
    if fence not in ("---", "+++"):
        return None
    closers = ("---", "...") if fence == "---" else ("+++",)
    for end in range(1, len(lines)):
        if lines[end].rstrip() in closers:
            break
    else:
        raise ArticleError(f"front matter opened with {fence} on line 1 is never closed", 1)
    block = "\n".join(lines[1:end])
    body = "\n".join(lines[end + 1 :])
    if fence == "---":
        try:
            fields = _load_yaml(block)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            # A problem found at the end of the block belongs to its last line.
            line = min(mark.line + 2, max(end, 2)) if mark else None
            raise ArticleError(f"broken YAML front matter: {exc.problem or exc}", line) from None
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ArticleError(f"broken YAML front matter: {first}", 1) from None
    else:
        try:
            fields = tomllib.loads(block)
        except tomllib.TOMLDecodeError as exc:
            found = regex.search(r"line (\d+)", str(exc))
            # "at end of document": the last line of the front matter.
            line = int(found[1]) + 1 if found else end
            reason = regex.sub(r"\s*\(at (?:line|end).*\)$", "", str(exc))
            raise ArticleError(f"broken TOML front matter: {reason}", line) from None
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise ArticleError("front matter must be a mapping of field: value", 2)
    return fields, lines[1:end], body, end + 2


def _key_line(fm_lines: list[str], key: str) -> int | None:
    pattern = regex.compile(rf"\s*[\"']?{regex.escape(key)}[\"']?\s*[:=]")
    for number, line in enumerate(fm_lines, start=2):
        if pattern.match(line):
            return number
    return None


@contextlib.contextmanager
def _at_key(fm_lines: list[str], key: str) -> Iterator[None]:
    """An ArticleError raised within is told at the key's line (found only then)."""
    try:
        yield
    except ArticleError as exc:
        raise ArticleError(exc.reason, _key_line(fm_lines, key)) from None


def _safe_id(value: str) -> str:
    value = text.clean_line(value).strip("/")
    parts = value.split("/")
    if (
        not value
        or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        or any(c in value for c in '\\?#%<>"')
    ):
        raise ArticleError(f"id {value!r} cannot be used in a URL: use letters, digits, '-', '/'")
    return value


def default_id(relpath: str) -> str:
    return text.clean(str(PurePosixPath(relpath).with_suffix("")))


def parse(
    relpath: str,
    source: str,
    cfg: Config,
    written: datetime | None = None,
    *,
    body: bool = True,
) -> ParsedArticle:
    """Parse decoded file text; raises ArticleError with a line number. `written`: when
    the file was last written (no correction is dated after it; default now).

    body=False: the fields alone, the body and (unless front matter gives it) the
    summary left empty; of a Markdown file only the front matter is read. Every field
    is what the whole file gives. A first start chooses its newest articles by it."""
    if not body and relpath.endswith(".md"):
        head = _head(source)
        if head is not None:
            try:
                return _parse_markdown(relpath, text.clean(head), cfg, written, body=False)
            except ArticleError:
                pass  # told exactly, with its line, by the whole file
    # Cleaned once, here: nothing XML forbids goes further (YAML refuses most of it too).
    source = text.clean(source)
    if not source.strip():
        raise ArticleError("file is empty", 1)
    if relpath.endswith(".md"):
        return _parse_markdown(relpath, source, cfg, written, body=body)
    return _parse_plain(relpath, source, cfg, written, body=body)


# A line that may close front matter, whichever fence opened it.
_CLOSING_LINE = regex.compile(r"^(?:---|\.\.\.|\+\+\+)[^\S\n]*$", regex.MULTILINE)


def _head(source: str) -> str | None:
    """The source up to the first line after the first that may close its front
    matter; None without one. Cleaning keeps lines as they are (nothing it removes or
    composes crosses a line feed), so the front matter read from this prefix is the
    whole file's whenever it is closed within it."""
    start = source.find("\n") + 1
    found = _CLOSING_LINE.search(source, start) if start else None
    return source[: found.end()] if found is not None else None


def _str_field(fields: dict[str, Any], key: str, fm_lines: list[str]) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ArticleError(
            f"{key} must be text, not {type(value).__name__}", _key_line(fm_lines, key)
        )
    return value


def _tags_field(fields: dict[str, Any], fm_lines: list[str]) -> list[str]:
    raw_tags = fields.get("tags", [])
    if raw_tags is None:
        return []
    if isinstance(raw_tags, str):
        return text.split_tags(raw_tags)
    if isinstance(raw_tags, list) and all(
        isinstance(t, (str, int)) and not isinstance(t, bool) for t in raw_tags
    ):
        return [t for t in (text.clean_line(str(t)) for t in raw_tags) if t]
    raise ArticleError(
        "tags must be a list of words or one comma-separated string, "
        f"not {type(raw_tags).__name__}",
        _key_line(fm_lines, "tags"),
    )


NAME_MAX = 80  # characters of a section level or an author's name
SECTION_DEPTH = 5  # levels of a section path: deeper is a mistake, not a desk


def _named(value: str, what: str) -> str:
    """A section level or an author's name, cleaned; refused when it cannot name a
    feed (empty, too long, or with no letter or digit for its URL)."""
    name = text.clean_line(value)
    if not name:
        raise ArticleError(f"{what} is empty")
    if len(name) > NAME_MAX:
        raise ArticleError(f"{what} {name[:40]!r}… is longer than {NAME_MAX} characters")
    if not text.tag_slug(text.tag_key(name)):
        raise ArticleError(f"{what} {name!r} has no letters or digits to name a feed")
    return name


def section_path(value: str, what: str) -> str:
    """A section path ("शहर/लखनऊ") checked level by level; "" for none."""
    if not value.strip():
        return ""
    levels = value.strip().strip("/").split("/")
    if len(levels) > SECTION_DEPTH:
        raise ArticleError(
            f"{what} {value!r} has {len(levels)} levels; a section path has at most {SECTION_DEPTH}"
        )
    return "/".join(_named(level, f"{what} level") for level in levels)


def folder_section(relpath: str) -> str:
    """The section a file's folder gives it: every folder below the articles folder is
    a level (`shahar/lucknow/y.txt` is in `shahar/lucknow`); none at the top."""
    folder = str(PurePosixPath(relpath).parent)
    if folder == ".":
        return ""
    try:
        return section_path(folder, "folder")
    except ArticleError as exc:
        raise ArticleError(
            f"{exc.reason}: rename or move it (a Markdown file may set `section` instead)"
        ) from None


def _section_field(fields: dict[str, Any], fm_lines: list[str], relpath: str) -> str:
    """The `section` field wins over the folder; `section: ""` is none."""
    if "section" not in fields:
        return folder_section(relpath)
    value = fields["section"]
    if value is None:
        return ""
    with _at_key(fm_lines, "section"):
        if not isinstance(value, str):
            raise ArticleError(f"section must be text, not {type(value).__name__}")
        return section_path(value, "section")


def _authors_field(fields: dict[str, Any], fm_lines: list[str]) -> tuple[str, ...]:
    """`author`: one name or a list (co-authors); a name given twice counts once. No
    name at all (absent, empty, blank, []) is the site's author."""
    value = fields.get("author")
    if value is None or value == [] or isinstance(value, str) and not value.strip():
        return ()
    names = value if isinstance(value, list) else [value]
    found: list[str] = []
    with _at_key(fm_lines, "author"):
        for number, name in enumerate(names, start=1):
            if not isinstance(name, str):  # a number or a mapping is a mistake, not a name
                raise ArticleError(
                    f"author must be a name or a list of names, not {type(name).__name__}"
                )
            found.append(_named(name, f"author {number}" if isinstance(value, list) else "author"))
    return tuple(_unique(found))


REASON_MAX = 500  # characters of a withdrawal's reason: details belong on a page
NOTE_MAX = 2000  # characters of one correction
CORRECTIONS_MAX = 100  # per article: past that, merge them into one
FUTURE_SLACK = timedelta(minutes=5)  # clocks differ a little between machines


def _withdrawn_field(fields: dict[str, Any], fm_lines: list[str]) -> str | None:
    """`withdrawn: "कारण"` (or `true`, no reason given): None when not withdrawn."""
    value = fields.get("withdrawn")
    if value is None or value is False:
        return None
    if value is True:
        return ""
    with _at_key(fm_lines, "withdrawn"):
        if not isinstance(value, str):
            raise ArticleError(
                f"withdrawn must be the reason, as text (or true), not {type(value).__name__}"
            )
        reason = text.clean_line(value)
        if len(reason) > REASON_MAX:
            raise ArticleError(
                f"withdrawn reason is {len(reason)} characters; at most {REASON_MAX} "
                "(give the details on a page and link it)"
            )
    return reason


def _corrections_field(
    fields: dict[str, Any],
    fm_lines: list[str],
    cfg: Config,
    published: datetime | None,
    written: datetime | None,
) -> tuple[Correction, ...]:
    """`corrections:`, a list of {date, text}: newest first."""
    value = fields.get("corrections")
    if value is None or value == []:
        return ()
    with _at_key(fm_lines, "corrections"):
        if not isinstance(value, list):
            raise ArticleError(
                f"corrections must be a list of {{date, text}}, not {type(value).__name__}"
            )
        found = []
        for number, item in enumerate(value, start=1):
            if not isinstance(item, dict) or set(item) != {"date", "text"}:
                raise ArticleError(f"correction {number} must have a date and a text, no more")
            if not isinstance(item["text"], str):
                raise ArticleError(f"correction {number}: text must be text")
            found.append(_correction(item["date"], item["text"], cfg, number))
        return checked_corrections(found, published, written)


def _correction(date: object, note: str, cfg: Config, number: int) -> Correction:
    when = text.parse_date(date, cfg.tzinfo)
    cleaned = text.clean_line(note)
    if not cleaned:
        raise ArticleError(f"correction {number} has no text")
    if len(cleaned) > NOTE_MAX:
        raise ArticleError(f"correction {number} is {len(cleaned)} characters; at most {NOTE_MAX}")
    return Correction(when, cleaned)


def checked_corrections(
    found: list[Correction], published: datetime | None, written: datetime | None = None
) -> tuple[Correction, ...]:
    """Newest first; none dated before the article's publication, nor after the file
    was written (a correction is dated when it is made: a later date is a typo; the
    file's time, not the clock, so that the verdict does not change while the file
    stays the same)."""
    if len(found) > CORRECTIONS_MAX:
        raise ArticleError(
            f"{len(found)} corrections; at most {CORRECTIONS_MAX} (merge the older ones)"
        )
    latest = (written or datetime.now(UTC)) + FUTURE_SLACK
    for correction in found:
        if published is not None and correction.date < published:
            raise ArticleError(
                f"correction dated {correction.date.isoformat()} is before the article's "
                f"publication ({published.isoformat()})"
            )
        if correction.date > latest:
            raise ArticleError(
                f"correction dated {correction.date.isoformat()} is in the future: "
                "date it when it is made"
            )
    return tuple(sorted(found, key=lambda c: c.date, reverse=True))


def _parse_markdown(
    relpath: str, source: str, cfg: Config, written: datetime | None, *, body: bool = True
) -> ParsedArticle:
    found = _front_matter(source)
    if found is None:
        raise ArticleError("no front matter: start the file with --- (YAML) or +++ (TOML)", 1)
    fields, fm_lines, markdown, _ = found
    title = text.clean_line(_str_field(fields, "title", fm_lines) or "")
    if not title:
        raise ArticleError("missing title in front matter", _key_line(fm_lines, "title") or 1)

    tags = _tags_field(fields, fm_lines)

    def when(key: str) -> datetime | None:
        value = fields.get(key)
        if value is None or value == "":
            return None
        with _at_key(fm_lines, key):
            return text.parse_date(value, cfg.tzinfo)

    draft = fields.get("draft", False)
    if not isinstance(draft, bool):
        raise ArticleError("draft must be true or false", _key_line(fm_lines, "draft"))
    explicit_id = _str_field(fields, "id", fm_lines)
    with _at_key(fm_lines, "id"):
        article_id = _safe_id(explicit_id) if explicit_id is not None else default_id(relpath)

    body_html = markup.markdown_to_html(markdown) if body else ""
    summary = _str_field(fields, "summary", fm_lines)
    if summary:
        summary = text.clean_line(summary)
    elif body:
        summary = text.summarize(markup.html_to_text(body_html), cfg.feeds.summary_chars)
    else:
        summary = ""
    image = _str_field(fields, "image", fm_lines)
    published = when("date")
    return ParsedArticle(
        id=article_id,
        path=relpath,
        title=title,
        body_html=body_html,
        summary=summary,
        tags=tuple(_unique(tags)),
        date=published,
        updated=when("updated"),
        authors=_authors_field(fields, fm_lines),
        section=_section_field(fields, fm_lines, relpath),
        withdrawn=_withdrawn_field(fields, fm_lines),
        corrections=_corrections_field(fields, fm_lines, cfg, published, written),
        image=text.clean_line(image) if image else None,
        draft=draft,
        explicit_id=explicit_id is not None,
    )


_SENTENCE_PUNCTUATION = regex.compile(r"[।॥.?!:;\"“”‘’()\[\]…–—]")


def _is_tag_line(line: str) -> bool:
    labels = [label.strip() for label in line.split(",")]
    return all(
        label
        and len(label) <= 40
        and len(label.split()) <= 4
        and not _SENTENCE_PUNCTUATION.search(label)
        for label in labels
    )


def _parse_plain(
    relpath: str, source: str, cfg: Config, written: datetime | None, *, body: bool = True
) -> ParsedArticle:
    lines = source.split("\n")  # cleaned already, in parse()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ArticleError("file has only white space", 1)
    title = text.clean_line(lines[first])
    if not title:
        raise ArticleError("no title: the first non-empty line must be the title", first + 1)
    tag_at = next(
        (
            i
            for i in range(len(lines) - 1, first, -1)
            if lines[i].strip() and _is_tag_line(lines[i])
        ),
        None,
    )
    paragraphs: list[str] = []
    if body:
        body_lines = lines[first + 1 : tag_at if tag_at is not None else len(lines)]
        paragraphs = [p.strip() for p in "\n".join(body_lines).split("\n\n")]
        paragraphs = [p for p in paragraphs if p]
    tags = text.split_tags(lines[tag_at]) if tag_at is not None else []
    related, marked = [], []  # after the tag line: related links, corrections
    for number in range(tag_at + 1, len(lines)) if tag_at is not None else ():
        line = text.clean_line(lines[number])
        if line.startswith(CORRECTION_MARK):
            marked.append((number, line))
        elif line:
            related.append(line)
    corrections = _correction_lines(marked, cfg, written)
    return ParsedArticle(
        id=default_id(relpath),
        path=relpath,
        title=title,
        body_html=markup.paragraphs_to_html(paragraphs) if body else "",
        summary=text.summarize(" ".join(paragraphs), cfg.feeds.summary_chars) if body else "",
        tags=tuple(_unique(tags)),
        section=folder_section(relpath),
        related=tuple(related),
        corrections=corrections,
    )


CORRECTION_MARK = "सुधार:"
_CORRECTION_LINE = regex.compile(r"सुधार:\s*(.+?)\s+[—–-]\s+(.+)")


def _correction_lines(
    lines: list[tuple[int, str]], cfg: Config, written: datetime | None
) -> tuple[Correction, ...]:
    """`सुधार: <date> — <text>` lines, cleaned (numbered from 0)."""
    found: list[Correction] = []
    for number, line in lines:
        match = _CORRECTION_LINE.fullmatch(line)
        if match is None:
            raise ArticleError("a correction line reads `सुधार: <date> — <text>`", number + 1)
        try:
            found.append(_correction(match[1], match[2], cfg, len(found) + 1))
        except ArticleError as exc:
            raise ArticleError(exc.reason, number + 1) from None
    # the publication time of a plain-text file is known only once the store has seen it
    return checked_corrections(found, None, written)


def _unique(tags: list[str]) -> list[str]:
    """Drop repeats of one tag or name (same key) within an article, keeping the first
    spelling."""
    seen: set[str] = set()
    out = []
    for tag in tags:
        key = text.tag_key(tag)
        if key and key not in seen:
            seen.add(key)
            out.append(tag)
    return out


def load(
    root: Path, relpath: str, cfg: Config, *, body: bool = True
) -> tuple[RawFile, ParsedArticle]:
    """Read, decode and parse one file (body=False: see `parse`); errors carry the
    relative path.

    A file that fails to decode while younger than the settle time may still be
    being written: that is RetryLater, not a verdict.
    """
    try:
        raw = read_file(root / relpath, cfg.articles.max_bytes)
    except ArticleError as exc:
        raise exc.located(relpath) from None
    try:
        source = decode(raw.data)
    except ArticleError as exc:
        age_ns = time.time_ns() - raw.mtime_ns
        kind = RetryLater if 0 <= age_ns < cfg.schedule.settle_ms * 1_000_000 else ArticleError
        raise kind(exc.reason, exc.line, relpath) from None
    try:
        written = datetime.fromtimestamp(raw.mtime_ns / 1e9, UTC)
        return raw, parse(relpath, source, cfg, written, body=body)
    except ArticleError as exc:
        raise exc.located(relpath) from None

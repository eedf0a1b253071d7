"""Every bad input of SPEC §2.3–2.4: one clear message, and nothing else is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.cli import main
from feedsvc.ingest import Library
from feedsvc.store import Store

from .conftest import SEED_NAME, md, write

GOOD = md("अच्छा लेख", ["भारत"], "2025-07-01", "यह लेख ठीक है।")
ALIAS_BOMB = (
    "---\ntitle: बम\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n---\nपाठ\n"
)

# name, bytes, (expected line or None, words the reason must contain)
REJECTED: list[tuple[str, bytes, int | None, str]] = [
    ("invalid-utf8.md", b"---\ntitle: x\n---\nok\n\xc3\x28 bad\n", 5, "not valid UTF-8"),
    ("utf16-no-bom.txt", "Title शीर्षक\n\nपाठ".encode("utf-16-le"), None, "NUL bytes"),
    ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "NUL bytes"),
    ("empty.md", b"", 1, "empty"),
    ("blank.txt", b"  \n\t\n \r\n", 1, "empty"),
    ("no-title.md", b"---\ndate: 2025-07-01\ntags: [x]\n---\nbody\n", 1, "missing title"),
    ("blank-title.md", b"---\ntitle: '  '\n---\nbody\n", 2, "missing title"),
    ("broken-yaml.md", b"---\ntitle: ok\ntags: [a, b\ndate: 2025-01-01\n---\nbody\n", 4, "YAML"),
    ("broken-toml.md", b'+++\ntitle = "ok"\ntags = [1,\n+++\nbody\n', 3, "TOML"),
    ("broken-toml-2.md", b'+++\ntitle = "ok"\ndate = = 1\n+++\nbody\n', 3, "TOML"),
    ("unclosed.md", b"---\ntitle: ok\nbody without end\n", 1, "never closed"),
    ("alias-bomb.md", ALIAS_BOMB.encode(), 4, "aliases"),
    (
        "bad-date.md",
        "---\ntitle: x\ntags: [a]\ndate: कल सुबह\n---\nb\n".encode(),
        4,
        "cannot read date",
    ),
    ("bad-tags.md", b"---\ntitle: x\ntags: {a: 1}\n---\nb\n", 3, "tags must be"),
    ("number-tags.md", b"---\ntitle: x\ntags: 42\n---\nb\n", 3, "tags must be"),
    ("no-front-matter.md", "# शीर्षक\n\nपाठ\n".encode(), 1, "no front matter"),
    ("bad-id.md", b"---\ntitle: x\nid: ../../etc/passwd\n---\nb\n", 3, "cannot be used in a URL"),
]
PUBLISHED = [
    ("bom-utf8.md", b"\xef\xbb\xbf" + md("बीओएम वाला", ["भारत"]).encode(), "बीओएम वाला", ("भारत",)),
    (
        "bom-utf16le.txt",
        b"\xff\xfe" + "यूटीएफ़-16 LE\r\n\r\nपाठ है।\r\n\r\nएक, दो".encode("utf-16-le"),
        "यूटीएफ़-16 LE",
        ("एक", "दो"),
    ),
    (
        "bom-utf16be.txt",
        b"\xfe\xff" + "यूटीएफ़-16 BE\n\nपाठ है।\n\nतीन".encode("utf-16-be"),
        "यूटीएफ़-16 BE",
        ("तीन",),
    ),
    (
        "crlf.txt",
        "सीआरएलएफ़\r\n\r\nपहला अनुच्छेद है।\r\n\r\nTRUMP, US\r\n".encode(),
        "सीआरएलएफ़",
        ("TRUMP", "US"),
    ),
    ("cr-only.txt", "केवल सीआर\r\rपहला अनुच्छेद है।\r\rक, ख\r".encode(), "केवल सीआर", ("क", "ख")),
    (
        "controls.md",
        md("नियं\x01त्रण\x7f \u0085शीर्षक\u200b", ["a\x1bb"], body="पा\x02ठ\x0c है।").encode(),
        "नियंत्रण शीर्षक",
        ("ab",),
    ),
]


def _library(folder: Path, make_config, tmp_path: Path, **feeds) -> Library:
    cfg = make_config(articles={"dir": str(folder), **feeds})
    return Library(cfg, Store(tmp_path / "state.sqlite3"))


@pytest.mark.parametrize(("name", "data", "line", "reason"), REJECTED, ids=[r[0] for r in REJECTED])
def test_bad_file_is_rejected_alone(
    name: str, data: bytes, line: int | None, reason: str, seeded: Path, make_config, tmp_path: Path
) -> None:
    write(seeded, "good.md", GOOD)
    write(seeded, name, data)
    library = _library(seeded, make_config, tmp_path)
    library.scan()
    assert set(library.articles) == {"good.md", SEED_NAME}
    assert list(library.rejected) == [name]
    error = library.rejected[name]
    assert error.path == name and error.line == line
    assert reason in error.reason
    assert str(error).startswith(f"{name}:{line}: " if line else f"{name}: ")
    assert library.articles["good.md"].title == "अच्छा लेख"


@pytest.mark.parametrize(
    ("name", "data", "title", "tags"), PUBLISHED, ids=[p[0] for p in PUBLISHED]
)
def test_odd_but_valid_files_are_read_correctly(
    name: str, data: bytes, title: str, tags: tuple, articles_dir: Path, make_config, tmp_path: Path
) -> None:
    write(articles_dir, "good.md", GOOD)
    write(articles_dir, name, data)
    library = _library(articles_dir, make_config, tmp_path)
    library.scan()
    assert not library.rejected
    article = library.articles[name]
    assert article.title == title
    assert article.tags == tags
    for field in (article.title, *library.text(article), *article.tags):
        assert "\r" not in field and "\x00" not in field and "\x7f" not in field
    assert library.articles["good.md"].title == "अच्छा लेख"


def test_control_characters_leave_the_body(articles_dir: Path, make_config, tmp_path: Path) -> None:
    write(articles_dir, "c.txt", "शीर्षक\x07\n\nपा\x00ठ\x1b है\x9b।\ufffe\n".encode())
    library = _library(articles_dir, make_config, tmp_path)
    library.scan()
    assert "c.txt" in library.rejected  # NUL without a BOM: refused as binary
    write(articles_dir, "c.txt", "शीर्षक\x07\n\nपाठ\x1b है\x9b।\ufffe\n".encode())
    library.scan()
    article = library.articles["c.txt"]
    assert article.title == "शीर्षक"
    assert library.text(article).body == "<p>पाठ है।</p>"


def test_oversized_file_is_rejected_without_being_read(
    seeded: Path, make_config, tmp_path: Path
) -> None:
    huge = seeded / "huge.md"
    with huge.open("wb") as fh:  # 64 GiB, sparse: reading it whole would never finish
        fh.truncate(64 * 1024**3)
    library = _library(seeded, make_config, tmp_path)
    library.scan()
    assert "over articles.max_bytes" in library.rejected["huge.md"].reason
    assert SEED_NAME in library.articles


def test_max_bytes_is_configurable(articles_dir: Path, make_config, tmp_path: Path) -> None:
    write(articles_dir, "a.md", md("छोटा", body="क" * 200))
    library = _library(articles_dir, make_config, tmp_path, max_bytes=100)
    library.scan()
    assert "max_bytes (100)" in library.rejected["a.md"].reason


def test_symlink_out_and_temp_files_are_ignored(seeded: Path, make_config, tmp_path: Path) -> None:
    outside = write(tmp_path, "secret.md", md("बाहर का लेख"))
    (seeded / "leak.md").symlink_to(outside)
    for name in ("draft.md~", ".draft.md.swp", "draft.md.tmp", "x.md.part", "y.md.crdownload"):
        write(seeded, name, md("अस्थायी"))
    library = _library(seeded, make_config, tmp_path)
    library.scan()
    assert set(library.articles) == {SEED_NAME}
    assert not library.rejected
    assert [str(p).split(":")[0] for p in library.problems()] == ["leak.md"]


def test_a_young_file_that_fails_to_decode_is_retried(
    articles_dir: Path, make_config, tmp_path: Path
) -> None:
    cfg = make_config(articles={"dir": str(articles_dir)}, schedule={"settle_ms": 60_000})
    library = Library(cfg, Store(tmp_path / "s.sqlite3"))
    write(articles_dir, "half.md", b"---\ntitle: \xe0\xa4", age=0)
    outcome = library.scan()
    assert "half.md" in outcome.pending and "half.md" not in library.rejected


def test_fixing_a_rejected_file_publishes_it(
    articles_dir: Path, make_config, tmp_path: Path
) -> None:
    write(articles_dir, "a.md", b"---\ntitle: [\n---\n")
    library = _library(articles_dir, make_config, tmp_path)
    library.scan()
    assert "a.md" in library.rejected
    write(articles_dir, "a.md", md("ठीक हुआ"), age=3)
    library.scan()
    assert library.articles["a.md"].title == "ठीक हुआ" and not library.rejected


def test_check_on_the_shipped_articles_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parent.parent
    assert main(["check", "--config", str(root / "config.toml")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith(", 0 rejected")
    assert int(out[-1].split()[0]) >= 7


def test_check_names_each_bad_file_and_counts_the_good(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, data, _, _ in REJECTED:
        write(seeded, name, data)
    for name, data, _, _ in PUBLISHED:
        write(seeded, name, data)
    huge = seeded / "huge.md"
    with huge.open("wb") as fh:
        fh.truncate(2 * 1024**2)
    (seeded / "leak.md").symlink_to(write(tmp_path, "outside.md", GOOD))
    write(seeded, "x.md~", GOOD)
    config = tmp_path / "config.toml"
    config.write_text(f'[articles]\ndir = "{seeded.name}"\n[state]\npath = "s.db"\n')
    assert main(["check", "--config", str(config)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    for name, _, line, reason in REJECTED:
        expected = f"{name}:{line}: " if line else f"{name}: "
        assert any(text.startswith(expected) and reason in text for text in lines), name
    assert any(text.startswith("huge.md: ") and "max_bytes" in text for text in lines)
    assert any(text.startswith("leak.md: ") for text in lines)
    good = 1 + len(PUBLISHED)
    assert lines[-1].startswith(f"{good} articles, ")
    assert lines[-1].endswith(f", {len(REJECTED) + 1} rejected")
    assert not (tmp_path / "s.db").exists()  # check writes no state

"""A hostile corpus: every file what an editor (or an accident) may drop in the folder,
each with its expected outcome. Whatever happens to one file, the rest is published
and every feed stays well-formed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest
import regex
from lxml import etree

from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot

from .conftest import SEED, SEED_NAME, md
from .server import feedsvc, without_root_powers

Maker = Callable[[Path], None]


def text(name: str, content: str | bytes) -> Maker:
    def make(folder: Path) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
        stamp = time.time() - 10
        os.utime(folder / name, (stamp, stamp))

    return make


def sized(name: str, size: int, line: bytes = b"") -> Maker:
    def make(folder: Path) -> None:
        with (folder / name).open("wb") as fh:
            if line:
                fh.write("विशाल फ़ाइल\n".encode())
                fh.write(line * (size // len(line)))
            else:
                fh.truncate(size)

    return make


def fifo(name: str) -> Maker:
    return lambda folder: os.mkfifo(folder / name)


def with_mtime(name: str, content: str, stamp: float) -> Maker:
    def make(folder: Path) -> None:
        (folder / name).write_text(content, encoding="utf-8")
        os.utime(folder / name, (stamp, stamp))

    return make


def dangling(name: str) -> Maker:
    """Listed, then gone when read: a link to a file deleted a moment ago."""
    return lambda folder: (folder / name).symlink_to(folder / "deleted-just-now.md")


def bad_name(folder: Path) -> None:
    name = os.fsencode(folder) + b"/\xff\xfe" + "नाम.md".encode()
    with open(name, "wb") as fh:
        fh.write(md("गलत नाम", ["क"]).encode())


WORD = "क्षि" * 25_000  # 100,000 characters, one word
# name -> (maker, outcome, reason for rejected / check on the published article)
CORPUS: dict[str, tuple[Maker, str, str]] = {
    "script-title.md": (
        text("script-title.md", md("<script>alert(1)</script> शीर्षक", ["क"])),
        "published",
        "",
    ),
    "onerror-body.md": (
        text("onerror-body.md", md("चित्र", ["क"], body='<img src=x onerror="alert(1)">पाठ।')),
        "published",
        "",
    ),
    "script-body.txt": (
        text("script-body.txt", "शीर्षक <b>\n\n<script>alert(1)</script> पाठ।\n\nक"),
        "published",
        "",
    ),
    "javascript-link.md": (
        text(
            "javascript-link.md",
            md("कड़ी", body="[x](javascript:alert(1)) <a href='JaVaScRiPt:x'>y</a>"),
        ),
        "published",
        "",
    ),
    "cdata-end.md": (
        text("cdata-end.md", md("]]> & < > \" '", ['"]]>"'], body="]]> & <b>")),
        "published",
        "",
    ),
    "tag-traversal.md": (
        text("tag-traversal.md", md("यात्रा", ["../etc", "/", ".", ".."])),
        "published",
        "",
    ),
    "tag-huge.md": (text("tag-huge.md", md("विशाल टैग", ["क" * 10_000, "ठीक"])), "published", ""),
    "tag-commas.md": (text("tag-commas.md", md("अल्पविराम", ",,, ,")), "published", ""),
    "tag-script.md": (text("tag-script.md", md("टैग स्क्रिप्ट", ['"<script>"'])), "published", ""),
    "tag-spaces.md": (
        text("tag-spaces.md", md("रिक्त", ['"\u00a0TRUMP\u200b"', '"\u202eउलटा\u202c"'])),
        "published",
        "",
    ),
    "bidi-title.md": (
        text("bidi-title.md", md("\u202eउलटा\u202c \u200fशीर्षक\u2066", ["क"])),
        "published",
        "",
    ),
    "zwj.md": (text("zwj.md", md("क्\u200dष ज़रा", ["क्\u200dष", "क्\u200cष"])), "published", ""),
    "combining.md": (
        text("combining.md", md("क" + "\u093c\u0951" * 500, ["a\u0301" * 50])),
        "published",
        "",
    ),
    "controls.txt": (
        text("controls.txt", "शीर्षक\x01\x1f\x7f\n\nपाठ\x0b है\x85।\ufffe\uffff\n\nक"),
        "published",
        "",
    ),
    "long-word.md": (text("long-word.md", md("लंबा शब्द", ["शब्द"], body=WORD)), "published", ""),
    "million-lines.txt": (sized("million-lines.txt", 1_000_000, b"\n"), "published", ""),
    "mtime-1970.md": (with_mtime("mtime-1970.md", md("पुराना 1970"), 0), "published", ""),
    "mtime-1940.txt": (
        with_mtime("mtime-1940.txt", "पुराना 1940\n\nपाठ है।", -946_771_200),
        "published",
        "",
    ),
    "future-mtime.txt": (
        with_mtime("future-mtime.txt", "भविष्य\n\nपाठ है।", time.time() + 9e7),
        "published",
        "",
    ),
    "huge-25mb.md": (
        sized("huge-25mb.md", 25 * 1024**2, b"x" * 99 + b"\n"),
        "rejected",
        "max_bytes",
    ),
    "sparse-64g.txt": (sized("sparse-64g.txt", 64 * 1024**3), "rejected", "max_bytes"),
    "fifo.md": (fifo("fifo.md"), "rejected", "not a regular file"),
    "dangling.md": (dangling("dangling.md"), "ignored", ""),
    "nul.md": (text("nul.md", b"---\ntitle: x\n---\n\x00\x00"), "rejected", "NUL"),
    "latin1.md": (
        text("latin1.md", "---\ntitle: café\n---\n".encode("latin-1")),
        "rejected",
        "UTF-8",
    ),
    "alias-bomb.md": (
        text("alias-bomb.md", "---\ntitle: x\na: &a [1]\nb: [*a, *a]\n---\n"),
        "rejected",
        "aliases",
    ),
    "yaml-object.md": (
        text("yaml-object.md", "---\ntitle: !!python/object:os.system {}\n---\n"),
        "rejected",
        "YAML",
    ),
    "title-list.md": (
        text("title-list.md", "---\ntitle: [a, b]\n---\n"),
        "rejected",
        "title must be text",
    ),
    "empty.txt": (text("empty.txt", b""), "rejected", "empty"),
    "only-bom.md": (text("only-bom.md", b"\xef\xbb\xbf"), "rejected", "empty"),
    "only-controls.txt": (text("only-controls.txt", "\x01\x02\x7f\u200b"), "rejected", "empty"),
    "id-traversal.md": (
        text("id-traversal.md", md("x", id="../../../etc/passwd")),
        "rejected",
        "URL",
    ),
    "bad-name": (bad_name, "rejected", "not valid UTF-8"),
    "x.md.swp": (text("x.md.swp", md("अस्थायी")), "ignored", ""),
    "x.md~": (text("x.md~", md("अस्थायी")), "ignored", ""),
    ".hidden.md": (text(".hidden.md", md("छिपा")), "ignored", ""),
    "_partial.md": (text("_partial.md", md("अधूरा")), "ignored", ""),
    "x.md.crdownload": (text("x.md.crdownload", md("डाउनलोड")), "ignored", ""),
}


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Publisher, Snapshot, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "articles"
    folder.mkdir()
    shutil.copyfile(SEED, folder / SEED_NAME)
    stamp = time.time() - 10
    os.utime(folder / SEED_NAME, (stamp, stamp))
    for maker, _, _ in CORPUS.values():
        maker(folder)
    (root / "config.toml").write_text(
        '[site]\nid_authority = "news.example"\n[schedule]\nsettle_ms = 0\n'
    )
    from feedsvc.config import load_config

    publisher = Publisher(load_config(root / "config.toml"))
    snapshot = publisher.rescan()
    yield publisher, snapshot, folder
    publisher.close()


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_expected_outcome(hostile, name: str) -> None:
    publisher, _, _ = hostile
    _, outcome, reason = CORPUS[name]
    library = publisher.library
    rejected = {e.path: e for e in library.rejected.values()}
    if name == "bad-name":
        [error] = [e for p, e in rejected.items() if "\\xff\\xfe" in p]
        assert reason in error.reason
        return
    if outcome == "published":
        assert name in library.articles, rejected.get(name)
    elif outcome == "rejected":
        assert name in rejected and reason in rejected[name].reason, rejected.get(name)
        assert str(rejected[name]).startswith(name)
    else:
        assert name not in library.articles and name not in rejected


def test_the_seed_and_every_good_article_are_still_published(hostile) -> None:
    publisher, snapshot, _ = hostile
    published = {n for n, (_, outcome, _) in CORPUS.items() if outcome == "published"}
    assert published | {SEED_NAME} <= set(publisher.library.articles)
    entries = feedparser.parse(snapshot.get("/feeds/all.atom").body).entries
    assert "Russia-North Korea" in " ".join(e.title for e in entries)


def test_every_feed_is_well_formed_and_parses(hostile) -> None:
    _, snapshot, _ = hostile
    for path, resource in snapshot.resources.items():
        if path.endswith(".json"):
            assert json.loads(resource.body)["items"], path
        elif path.startswith("/feeds"):
            etree.fromstring(resource.body)  # raises on anything malformed
            parsed = feedparser.parse(resource.body)
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))


def test_nothing_dangerous_reaches_a_feed_or_page(hostile) -> None:
    _, snapshot, _ = hostile
    for path, resource in snapshot.resources.items():
        if not resource.content_type.startswith(("text/html", "application/")):
            continue
        body = resource.body.decode("utf-8")
        assert "<script" not in body.lower(), path  # JSON Feed too: < is \u003c there
        if path.endswith(".json"):  # only content_html is HTML
            assert not regex.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", body), path
            body = "\n".join(i.get("content_html", "") for i in json.loads(body)["items"])
            assert "<script" not in body.lower(), path
        assert "onerror=" not in body.lower() or "&lt;" in body, path
        assert not regex.search(r"href=\"\s*javascript:", body, regex.IGNORECASE), path
        assert not regex.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", body), path


def test_tag_rules(hostile) -> None:
    publisher, snapshot, _ = hostile
    slugs = {
        p.split("/")[-1].rsplit(".", 1)[0]
        for p in snapshot.resources
        if p.startswith("/feeds/tags/")
    }
    assert "etc" in slugs  # ../etc: the dots go, the word stays
    assert not {"", ".", "..", "/"} & slugs
    assert all(len(s) <= 80 and "/" not in s for s in slugs)
    assert "script" in slugs and "trump" in slugs and "उलटा" in slugs
    problems = "\n".join(snapshot.index.problems)
    assert "no letters or digits" in problems and "longer than 100" in problems
    assert "/feeds/tags/ठीक.atom" in snapshot.resources  # the huge tag's sibling survives
    article = publisher.library.articles["tag-spaces.md"]
    assert article.tags == ("TRUMP", "उलटा")


def test_summaries_and_titles(hostile) -> None:
    publisher, _, _ = hostile
    articles = publisher.library.articles
    summary = publisher.library.summary(articles["long-word.md"])
    assert summary.endswith("…") and regex.fullmatch(r"(?:क्षि)+…", summary)
    assert articles["bidi-title.md"].title == "उलटा शीर्षक"
    assert articles["controls.txt"].title == "शीर्षक"
    assert publisher.library.text(articles["controls.txt"]).body == "<p>पाठ है।</p>"
    assert articles["future-mtime.txt"].date.timestamp() <= time.time()
    assert articles["mtime-1940.txt"].date.year == 1940


def test_unreadable_file(tmp_path: Path) -> None:
    """A file without read permission is rejected with the reason; the rest counts."""
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copyfile(SEED, folder / SEED_NAME)
    locked = folder / "locked.md"
    locked.write_text(md("बंद"))
    locked.chmod(0)
    (tmp_path / "config.toml").write_text("[schedule]\nsettle_ms = 0\n")
    command = without_root_powers(feedsvc("check", "--config", str(tmp_path / "config.toml")))
    if command is None:
        pytest.skip("running as root without setpriv: root reads every file")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "locked.md: cannot read: Permission denied"
    assert lines[-1] == "1 articles, 3 tags, 1 rejected"

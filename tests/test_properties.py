"""Property-based: arbitrary Unicode anywhere in an article never crashes a build, never
breaks a feed, and a file that is refused always says why."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import feedparser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.config import from_dict
from feedsvc.publisher import Publisher

NASTY = (
    "\u202e\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidi
    "\u200d\u200c\u00ad\u2060\ufeff\u200b"  # joiners, soft hyphen, BOM, ZWSP
    "\u093c\u094d\u0951\u0952\u0301\u20dd"  # combining marks
    "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\x9f\ufffe\uffff\U0010ffff\U0001fffe"
    "]]>&<>\"'\\\n\t\r:-#{}[],*!|%@`"
    "क़ज़फ़ड़ढ़ऩऱऴ०१२३ TRUMP"
)
nasty_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(NASTY), st.characters(codec="utf-8"), st.characters(categories=["Cs"])
    ),
    max_size=80,
)


def _check(folder: Path, name: bytes, data: bytes) -> None:
    good = folder / "good.md"
    good.write_text(
        '---\ntitle: "अच्छा"\ntags: [क]\ndate: 2025-01-01\n---\nठीक है।\n', encoding="utf-8"
    )
    path = os.fsencode(folder) + b"/" + name
    with open(path, "wb") as fh:
        fh.write(data)
    old = time.time() - 10
    os.utime(path, (old, old))
    cfg = from_dict(
        {
            "articles": {"dir": str(folder)},
            "schedule": {"settle_ms": 0},
            "state": {"path": str(folder.parent / "state.sqlite3")},
        },
        folder.parent,
    )
    publisher = Publisher(cfg)
    try:
        snapshot = publisher.rescan()
        library = publisher.library
        assert "good.md" in library.articles
        for error in library.rejected.values():
            assert error.reason.strip()
        for path_, resource in snapshot.resources.items():
            if path_.endswith(".json"):
                feed = json.loads(resource.body)
                assert feed["version"] == "https://jsonfeed.org/version/1.1", path_
            elif path_.startswith("/feeds"):
                etree.fromstring(resource.body)
                parsed = feedparser.parse(resource.body)
                assert not parsed.bozo, (path_, parsed.get("bozo_exception"))
            elif resource.content_type.startswith("text/html"):
                resource.body.decode("utf-8")
        assert [
            e.title
            for e in feedparser.parse(snapshot.get("/feeds/all.atom").body).entries
            if e.title == "अच्छा"
        ] == ["अच्छा"]
    finally:
        publisher.close()


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=nasty_text, body=nasty_text, tags=st.lists(nasty_text, max_size=4), extra=nasty_text)
def test_markdown_with_arbitrary_text(title: str, body: str, tags: list[str], extra: str) -> None:
    # JSON strings are YAML double-quoted scalars: every character reaches the parser.
    front = (
        f"---\ntitle: {json.dumps(title)}\ntags: {json.dumps(tags)}\n"
        f"summary: {json.dumps(extra)}\nauthor: {json.dumps(extra)}\n---\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        _check(folder, b"hostile.md", _encode(front + body))


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=300), text=nasty_text)
def test_plain_text_with_arbitrary_bytes(raw: bytes, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        _check(folder, b"a.txt", raw)
        _check(folder, b"b.txt", _encode(text))
        _check(folder, b"c.md", b"---\n" + raw)


@settings(max_examples=30, deadline=None)
@given(
    name=st.text(
        alphabet=st.sampled_from(NASTY.replace("/", "").replace("\x00", "") + "abcकख"),
        min_size=1,
        max_size=20,
    )
)
def test_arbitrary_file_names(name: str) -> None:
    raw = os.fsencode(name) if "\ud800" not in name else name.encode("utf-8", "surrogateescape")
    raw = raw.replace(b"/", b"_").replace(b"\x00", b"_") + b".md"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        _check(folder, raw, '---\ntitle: "नाम"\n---\nपाठ।\n'.encode())
        _check(folder, b"\xff\xfe" + raw, '---\ntitle: "बाइट"\n---\nपाठ।\n'.encode())


@given(article_id=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])))
def test_an_article_page_is_served_at_its_id(article_id: str) -> None:
    """The snapshot's key for an article page is what a request for its URL decodes to."""
    from feedsvc.urls import article_path, served, served_article_path

    assert served_article_path(article_id) == served(article_path(article_id))

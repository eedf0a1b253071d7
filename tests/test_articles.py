"""Parsing real files: the seed field by field, Markdown with YAML and TOML, sanitizing."""

from __future__ import annotations

import dataclasses
import html
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc import markup
from feedsvc import text as text_rules
from feedsvc.articles import decode, discover, load, parse
from feedsvc.config import Config, from_dict
from feedsvc.errors import ArticleError
from feedsvc.text import tag_key, tag_slug

from .conftest import SEED, SEED_NAME, SHARED_SEED

SEED_TEXT = SEED.read_bytes().decode("utf-8")
SEED_LINES = SEED_TEXT.split("\n")


def test_shipped_seed_is_the_shared_seed_byte_for_byte() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("shared/seeds is not beside this checkout")
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def test_seed_field_by_field(seeded: Path, make_config) -> None:
    cfg: Config = make_config(articles={"dir": str(seeded)})
    _, article = load(seeded, SEED_NAME, cfg)
    assert article.id == "000_8fc8ec9304f2c137"
    assert article.title == SEED_LINES[0]
    assert article.title == (
        "Russia-North Korea Ties Deepen: लावरोव की उत्तर कोरिया यात्रा पर दुनिया की नजरें"
    )
    assert article.tags == ("TRUMP", "US", "DONALD")
    assert [tag_slug(tag_key(t)) for t in article.tags] == ["trump", "us", "donald"]

    tag_line = SEED_LINES.index("TRUMP, US, DONALD")
    paragraphs = [p.strip() for p in "\n".join(SEED_LINES[1:tag_line]).split("\n\n") if p.strip()]
    assert len(paragraphs) == 7
    expected_body = "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    assert article.body_html == expected_body
    assert "TRUMP, US, DONALD" not in article.body_html

    related = [line for line in SEED_LINES[tag_line + 1 :] if line.strip()]
    assert article.related == tuple(related)
    assert article.related[0].startswith("Trump प्रशासन को बड़ा झटका, जज का सख्त आदेश")
    assert "," in article.related[0]

    assert article.summary != "वॉशिंगटन/प्योंगयांग।"
    assert article.summary.startswith("वॉशिंगटन/प्योंगयांग। रूस और उत्तर कोरिया")
    assert paragraphs[0].startswith(article.summary.removesuffix("…"))
    assert len(article.summary) <= cfg.feeds.summary_chars
    assert article.summary.endswith("।…")  # cut at a sentence end, and marked as cut
    assert article.date is None  # the file gives none: the store remembers first sight
    assert article.authors == () and article.section == ""  # the site's author; no section
    assert not article.draft


def test_seed_text_is_escaped_never_interpreted(make_config) -> None:
    cfg = make_config()
    article = parse("x.txt", "शीर्षक <b>\n\n<script>alert(1)</script> & मज़ा\n\nक, ख", cfg)
    assert article.title == "शीर्षक <b>"
    assert article.body_html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; मज़ा</p>"
    assert article.tags == ("क", "ख")


def test_plain_text_without_tag_line_is_untagged(make_config) -> None:
    article = parse("x.txt", "शीर्षक\n\nयह एक वाक्य है। और दूसरा वाक्य भी है।", make_config())
    assert article.tags == () and article.related == ()
    assert article.body_html.count("<p>") == 1


def test_markdown_with_yaml(make_config) -> None:
    source = (
        "---\ntitle: 'ट्रंप का बयान'\ndate: २०२५-०७-१२\ntags: TRUMP, उत्तर कोरिया\n"
        "author: डेस्क\nimage: https://img.example/a.jpg\nid: world/trump-1\n---\n"
        "पहला **अनुच्छेद**।\n\n<script>x()</script><img src=x onerror=alert(1)>"
        "\n\n[क्लिक](javascript:alert(1)) <a href='data:text/html,x'>d</a> <iframe src=//x></iframe>"
        "<style>p{}</style><p onclick='x()'>p</p>\n"
    )
    article = parse("world/a.md", source, make_config())
    assert article.id == "world/trump-1"
    assert article.title == "ट्रंप का बयान"
    assert article.tags == ("TRUMP", "उत्तर कोरिया")
    assert article.date is not None and article.date.isoformat() == "2025-07-12T00:00:00+05:30"
    assert article.authors == ("डेस्क",)
    assert article.section == "world"  # its folder
    assert article.image == "https://img.example/a.jpg"
    assert "<strong>अनुच्छेद</strong>" in article.body_html
    lowered = article.body_html.lower()
    for banned in ("<script", "onerror", "onclick", "<iframe", "<style", "x()"):
        assert banned not in lowered, banned
    tree = lxml.html.fragment_fromstring(article.body_html, create_parent="div")
    for element in tree.iter():
        for name, value in element.attrib.items():
            assert not name.startswith("on")
            assert not value.strip().lower().startswith(("javascript:", "data:")), value
    assert article.summary.startswith("पहला अनुच्छेद।")


def test_markdown_with_toml(make_config) -> None:
    source = '+++\ntitle = "मौसम"\ntags = ["दिल्ली", "Trump"]\ndraft = true\n+++\nबारिश।\n'
    article = parse("a.md", source, make_config())
    assert (article.title, article.tags, article.draft) == ("मौसम", ("दिल्ली", "Trump"), True)
    assert article.body_html == "<p>बारिश।</p>"


def test_repeated_tags_in_one_article_count_once(make_config) -> None:
    article = parse("a.md", "---\ntitle: t\ntags: [TRUMP, Trump, ' trump ']\n---\n", make_config())
    assert article.tags == ("TRUMP",)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("शीर्षक\r\nपाठ\r\n".encode(), "शीर्षक\nपाठ\n"),
        ("शीर्षक\rपाठ\r".encode(), "शीर्षक\nपाठ\n"),
        (b"\xef\xbb\xbf" + "शीर्षक".encode(), "शीर्षक"),
        (b"\xff\xfe" + "शीर्षक\r\n".encode("utf-16-le"), "शीर्षक\n"),
        (b"\xfe\xff" + "शीर्षक".encode("utf-16-be"), "शीर्षक"),
        ("a\u2028b\x85c".encode(), "a\u2028b\x85c"),  # split on \n only
    ],
)
def test_decoding(data: bytes, text: str) -> None:
    assert decode(data) == text


def test_lines_split_on_newline_only(make_config) -> None:
    article = parse("x.txt", "शीर्षक\u2028आगे\x85अंत\n\nयह पाठ है।", make_config())
    # One line: U+2028 folds to a space, U+0085 (a C1 control) is removed.
    assert article.title == "शीर्षक आगेअंत"
    assert article.body_html == "<p>यह पाठ है।</p>"


def test_decoding_refuses_binary() -> None:
    with pytest.raises(ArticleError, match="NUL"):
        decode("Title: शीर्षक".encode("utf-16-le"))
    with pytest.raises(ArticleError, match="UTF-8") as caught:
        decode(b"title\nok\n\xff\xfe bad")
    assert caught.value.line == 3


def test_discovery_skips_what_is_not_an_article(articles_dir: Path, tmp_path: Path) -> None:
    for name in [
        "a.md",
        "b.txt",
        "sub/c.md",
        ".hidden.md",
        "_draft.md",
        ".git/x.md",
        "_private/y.md",
        "a.md~",
        "a.md.swp",
        ".a.md.swp",
        "a.md.tmp",
        "a.md.part",
        "a.md.crdownload",
        "notes.rst",
        "image.jpg",
    ]:
        path = articles_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    outside = tmp_path / "outside.md"
    outside.write_text("---\ntitle: बाहर\n---\n")
    (articles_dir / "link-out.md").symlink_to(outside)
    (articles_dir / "link-in.md").symlink_to(articles_dir / "a.md")
    found = discover(articles_dir)
    assert found.files == ["a.md", "b.txt", "link-in.md", "sub/c.md"]
    assert [(p.path, "outside" in p.reason) for p in found.problems] == [("link-out.md", True)]


# --- the fields alone: what a first start chooses its newest articles by ----------------

_LINES = [
    "---",
    "+++",
    "...",
    "--- ",
    "\u200b---",
    "-\u200b--",
    "---\x0c",
    "\u093c---",  # a combining mark after a line feed composes with nothing
    "---\x85",
    "\u2028---",
    "a\x1cb",
    "\x00",
    'title: "ख़बर"',
    "title = 'ख़बर'",
    "tags: [क, ख]",
    "tags = ['क']",
    "date: 2025-01-02",
    "summary: सार",
    "draft: true",
    "id: a/b",
    "title: [",
    "",
    "पाठ की पंक्ति।",
    "# शीर्षक",
    "सुधार: 2025-01-03 — ठीक किया",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_LINES), min_size=1, max_size=9),
    st.sampled_from(["a.md", "a.txt"]),
)
def test_the_fields_alone_are_the_whole_files_fields(lines: list[str], name: str) -> None:
    """Reading a file's fields without its body gives every field the whole file
    gives, or the same error; whatever an invisible character does to a fence."""
    cfg = from_dict({}, Path("/nowhere"))
    source = "\n".join(lines)
    written = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        whole = parse(name, source, cfg, written)
    except ArticleError as exc:
        with pytest.raises(ArticleError) as refused:
            parse(name, source, cfg, written, body=False)
        assert (refused.value.reason, refused.value.line) == (exc.reason, exc.line)
        return
    alone = parse(name, source, cfg, written, body=False)
    explicit = name.endswith(".md") and whole.summary == "सार"  # from the front matter
    assert alone == dataclasses.replace(
        whole, body_html="", summary=whole.summary if explicit else ""
    )


def test_the_fields_alone_read_no_body(monkeypatch) -> None:
    """Neither Markdown nor cleaning touches the body when only the fields are read."""
    cfg = from_dict({}, Path("/nowhere"))
    source = '---\ntitle: "ख़बर"\ndate: 2025-01-02\n---\nपाठ की पंक्ति।\n'
    cleaned: list[str] = []
    real = text_rules.clean

    def clean(value: str) -> str:
        cleaned.append(value)
        return real(value)

    def no_markdown(markdown: str) -> str:
        raise AssertionError("the body was rendered")

    monkeypatch.setattr(text_rules, "clean", clean)
    monkeypatch.setattr(markup, "markdown_to_html", no_markdown)
    parsed = parse("a.md", source, cfg, body=False)
    assert (parsed.title, parsed.body_html, parsed.summary) == ("ख़बर", "", "")
    assert cleaned and not any("पाठ" in value for value in cleaned)
    with pytest.raises(AssertionError, match="rendered"):
        parse("a.md", source, cfg)

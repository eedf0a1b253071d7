"""Sections and bylines (SPEC §12): a feed per folder level or `section` field, a feed
per named author, with everything tag feeds have; read back field by field."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from lxml import etree, html

from feedsvc.config import Config, from_dict
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot
from feedsvc.topics import Ref
from feedsvc.web import create_app

from .conftest import md, publish, subscribed, wait_for, write
from .nginx import nginx_binary, start_nginx
from .server import Server, start

BASE = "http://news.example"
REENA = {"slug": "reena", "uri": "https://news.example/team/reena", "email": "reena@news.example"}
SECTIONS = {"desh": "देश", "शहर": {"name": "शहर", "slug": "shahar"}, "लखनऊ": {"slug": "lucknow"}}
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"


def newsroom(folder: Path) -> None:
    """Desks in Latin and Devanagari folders, a city below a desk, a co-authored
    story, a `section` field that overrides the folder, and one with neither."""
    write(folder, "desh/rail.md", md("रेल किराया", ["रेलवे"], "2025-10-02", author='"रीना शर्मा"'))
    write(
        folder,
        "desh/kabaddi.md",
        md("कबड्डी लीग", ["कबड्डी"], "2025-10-05", section='"खेल"', author='"अमित वर्मा"'),
    )
    write(
        folder,
        "videsh/nepal.md",
        md("नेपाल चुनाव", ["नेपाल"], "2025-10-03", author='["रीना शर्मा", "अमित वर्मा"]'),
    )
    write(folder, "शहर/लखनऊ/metro.md", md("लखनऊ मेट्रो", ["मेट्रो"], "2025-10-04"))
    write(folder, "शहर/yatayat.md", md("यातायात नीति", ["यातायात"], "2025-10-01"))
    write(folder, "top.md", md("मुख्य ख़बर", ["भारत"], "2025-10-06"))


@pytest.fixture
def cfg(make_config, tmp_path: Path) -> Config:
    folder = tmp_path / "articles"
    newsroom(folder)
    config: Config = make_config(
        articles={"dir": str(folder)}, sections=SECTIONS, authors={"रीना शर्मा": REENA}
    )
    return config


@pytest.fixture
def site(cfg: Config) -> Snapshot:
    return publish(cfg, workers=1)


def titles(snapshot: Snapshot, path: str) -> list[str]:
    resource = snapshot.get(path)
    assert resource is not None, path
    parsed = feedparser.parse(resource.body)
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return [entry.title for entry in parsed.entries]


def test_each_folder_level_and_section_field_has_a_feed(site: Snapshot) -> None:
    for fmt in ("atom", "rss"):
        assert titles(site, f"/feeds/sections/desh.{fmt}") == ["रेल किराया"]  # not kabaddi
        assert titles(site, f"/feeds/sections/खेल.{fmt}") == ["कबड्डी लीग"]  # the field wins
        assert titles(site, f"/feeds/sections/videsh.{fmt}") == ["नेपाल चुनाव"]
        # a parent holds its sub-sections' articles
        assert titles(site, f"/feeds/sections/shahar.{fmt}") == ["लखनऊ मेट्रो", "यातायात नीति"]
        assert titles(site, f"/feeds/sections/shahar/lucknow.{fmt}") == ["लखनऊ मेट्रो"]
    sections = {p for p in site.resources if p.startswith("/feeds/sections/")}
    assert len(sections) == 5 * 3  # no section for the article at the top
    assert "मुख्य ख़बर" in titles(site, "/feeds/all.atom")
    json_feed = json.loads(site.get("/feeds/sections/shahar/lucknow.json").body)
    assert json_feed["title"] == "हिंदी समाचार — शहर › लखनऊ"
    assert json_feed["home_page_url"] == f"{BASE}/sections/shahar/lucknow"
    assert json_feed["feed_url"] == f"{BASE}/feeds/sections/shahar/lucknow.json"
    assert [i["title"] for i in json_feed["items"]] == ["लखनऊ मेट्रो"]


def test_every_named_author_has_a_feed_and_none_for_the_site_author(
    site: Snapshot, cfg: Config
) -> None:
    assert titles(site, "/feeds/authors/reena.atom") == ["नेपाल चुनाव", "रेल किराया"]
    amit = "/feeds/authors/" + "अमित-वर्मा"
    assert titles(site, amit + ".rss") == ["कबड्डी लीग", "नेपाल चुनाव"]
    authors = {p.rsplit(".", 1)[0] for p in site.resources if p.startswith("/feeds/authors/")}
    assert authors == {"/feeds/authors/reena", amit}  # संपादक, the site's, has none
    counts = json.loads(create_app_for(site, cfg).get("/healthz").data)
    assert (counts["sections"], counts["authors"]) == (5, 2)


def create_app_for(snapshot: Snapshot, cfg: Config) -> Any:
    return create_app(cfg, lambda: snapshot).test_client()


def test_entries_carry_section_category_and_every_author(site: Snapshot) -> None:
    atom = etree.fromstring(site.get("/feeds/sections/videsh.atom").body)
    [entry] = atom.findall(f"{ATOM}entry")
    people = [
        (a.findtext(f"{ATOM}name"), a.findtext(f"{ATOM}uri"), a.findtext(f"{ATOM}email"))
        for a in entry.findall(f"{ATOM}author")
    ]
    assert people == [
        ("रीना शर्मा", REENA["uri"], REENA["email"]),
        ("अमित वर्मा", None, None),
    ]
    categories = [
        (c.get("term"), c.get("scheme"), c.get("label")) for c in entry.iter(f"{ATOM}category")
    ]
    assert categories == [
        ("नेपाल", f"{BASE}/tags/", "नेपाल"),
        ("videsh", f"{BASE}/sections/", "videsh"),
    ]
    sub = etree.fromstring(site.get("/feeds/sections/shahar/lucknow.atom").body)
    [category] = [c for c in sub.iter(f"{ATOM}category") if "/sections/" in c.get("scheme", "")]
    assert (category.get("term"), category.get("label")) == ("shahar/lucknow", "शहर › लखनऊ")

    rss = etree.fromstring(site.get("/feeds/sections/videsh.rss").body)
    [item] = rss.iter("item")
    assert [c.text for c in item.iter(f"{DC}creator")] == ["रीना शर्मा", "अमित वर्मा"]
    assert item.find("author") is None  # names go in dc:creator, never beside it
    domains = [(c.get("domain"), c.text) for c in item.iter("category")]
    assert (f"{BASE}/sections/", "videsh") in domains

    parsed = feedparser.parse(site.get("/feeds/authors/reena.atom").body)
    nepal = parsed.entries[0]
    assert [a.name for a in nepal.authors] == ["रीना शर्मा", "अमित वर्मा"]
    assert nepal.authors[0].href == REENA["uri"] and nepal.authors[0].email == REENA["email"]
    item = json.loads(site.get("/feeds/authors/reena.json").body)["items"][0]
    assert item["authors"] == [{"name": "रीना शर्मा", "url": REENA["uri"]}, {"name": "अमित वर्मा"}]
    top = feedparser.parse(site.get("/feeds/all.atom").body).entries[0]
    assert top.title == "मुख्य ख़बर" and top.author == "संपादक"  # names none: the site's


def test_spellings_that_differ_only_as_keys_are_one_section_and_one_author(
    make_config, tmp_path: Path
) -> None:
    folder = tmp_path / "articles"
    precomposed, decomposed = "\u095b\u093f\u0932\u093e", "\u091c\u093c\u093f\u0932\u093e"
    assert precomposed != decomposed and unicodedata.normalize("NFC", precomposed) == decomposed
    write(folder, f"{precomposed}/a.md", md("पहला", date="2025-01-01", author='"Reena Sharma"'))
    write(folder, f"{decomposed}/b.md", md("दूसरा", date="2025-01-02", author='"reena  SHARMA"'))
    write(folder, "Desh/c.md", md("तीसरा", date="2025-01-03", author='"REENA SHARMA"'))
    write(folder, "desh/d.md", md("चौथा", date="2025-01-04", author='"Reena Sharma"'))
    snapshot = publish(make_config(articles={"dir": str(folder)}), workers=1)
    assert titles(snapshot, f"/feeds/sections/{decomposed}.atom") == ["दूसरा", "पहला"]
    assert titles(snapshot, "/feeds/sections/desh.atom") == ["चौथा", "तीसरा"]
    assert titles(snapshot, "/feeds/authors/reena-sharma.atom") == ["चौथा", "तीसरा", "दूसरा", "पहला"]
    parsed = feedparser.parse(snapshot.get("/feeds/authors/reena-sharma.atom").body)
    assert parsed.feed.title == "हिंदी समाचार — Reena Sharma"  # the most common spelling


def test_pages_show_sections_and_authors_linked(site: Snapshot) -> None:
    page = html.fromstring(site.get("/articles/videsh/nepal").body)
    links = {a.text: a.get("href") for a in page.iter("a")}
    assert links["videsh"] == f"{BASE}/sections/videsh"
    assert links["रीना शर्मा"] == f"{BASE}/authors/reena"
    assert links["अमित वर्मा"] == f"{BASE}/authors/" + quote("अमित-वर्मा")
    feeds = {ln.get("href") for ln in page.iter("link") if ln.get("rel") == "alternate"}
    assert {f"{BASE}/feeds/sections/videsh.atom", f"{BASE}/feeds/authors/reena.rss"} <= feeds
    metro = html.fromstring(site.get("/articles/शहर/लखनऊ/metro").body)
    path = [a.text for a in metro.xpath("//p[contains(@class, 'section')]/a")]
    assert path == ["शहर", "लखनऊ"]
    front = html.fromstring(site.get("/").body)
    [nested] = [
        li for li in front.iter("li") if li.find("a") is not None and li.find("a").text == "शहर"
    ]
    assert nested.find("a").get("href") == f"{BASE}/sections/shahar"
    assert "लखनऊ" in [a.text for a in nested.find("ul").iter("a")]  # inside its section
    section = html.fromstring(site.get("/sections/shahar").body)
    assert section.findtext(".//h1") == "खंड: शहर"
    assert "लखनऊ" in [a.text for a in section.iter("a")]
    discovered = {ln.get("href") for ln in section.iter("link") if ln.get("rel") == "alternate"}
    assert f"{BASE}/feeds/sections/shahar.json" in discovered
    author = html.fromstring(site.get("/authors/reena").body)
    assert author.findtext(".//h1") == "लेखक: रीना शर्मा"
    sitemap = site.get("/sitemap.xml").body.decode()
    for page_path in ("/sections/shahar/lucknow", "/authors/reena", "/sections/desh"):
        assert f"<loc>{BASE}{quote(page_path)}</loc>" in sitemap


def test_opml_groups_sections_tags_and_authors(site: Snapshot) -> None:
    body = etree.fromstring(site.get("/feeds.opml").body).find("body")
    assert body is not None
    top = list(body)
    assert top[0].get("xmlUrl") == f"{BASE}/feeds/all.atom"
    assert [o.get("text") for o in top[1:]] == ["खंड", "विषय", "लेखक"]
    sections = top[1]
    [shahar] = [o for o in sections if o.get("xmlUrl", "").endswith("/shahar.atom")]
    assert [o.get("xmlUrl") for o in shahar] == [f"{BASE}/feeds/sections/shahar/lucknow.atom"]
    every = [o.get("xmlUrl") for o in body.iter("outline") if o.get("xmlUrl")]
    assert len(every) == len(set(every)) == 1 + 5 + 6 + 2


def test_other_spellings_of_a_slug_redirect_to_the_canonical_url(
    site: Snapshot, cfg: Config
) -> None:
    client = create_app_for(site, cfg)
    for asked, canonical in (
        ("/sections/शहर", "/sections/shahar"),
        ("/sections/SHAHAR/Lucknow", "/sections/shahar/lucknow"),
        ("/sections/शहर/लखनऊ", "/sections/shahar/lucknow"),
        ("/feeds/sections/Desh.atom", "/feeds/sections/desh.atom"),
        ("/authors/रीना शर्मा", "/authors/reena"),
        ("/feeds/authors/Amit-Varma.rss", None),
    ):
        reply = client.get(quote(asked))
        if canonical is None:
            assert reply.status_code == 404
            continue
        assert reply.status_code == 301, asked
        assert reply.headers["Location"] == BASE + canonical
    raw = client.get("/feeds/sections/खेल.atom")
    encoded = client.get("/feeds/sections/" + quote("खेल") + ".atom")
    assert raw.status_code == encoded.status_code == 200 and raw.data == encoded.data


def test_sections_and_authors_have_archives_and_are_announced(cfg: Config) -> None:
    folder = cfg.articles_dir
    for n in range(5):
        write(
            folder,
            f"desh/more-{n}.md",
            md(f"और {n}", date=f"2025-09-0{n + 1}", author='"रीना शर्मा"'),
        )
    snapshot = publish(cfg.replace(feeds={"max_items": 4}), workers=1)
    for feed in ("sections/desh", "authors/reena"):
        page = snapshot.get(f"/feeds/archive/{feed}/1.atom")
        assert page is not None, feed
        links = {
            ln.get("rel"): ln.get("href") for ln in etree.fromstring(page.body).iter(f"{ATOM}link")
        }
        assert links["current"] == f"{BASE}/feeds/{feed}.atom"
        current = etree.fromstring(snapshot.get(f"/feeds/{feed}.atom").body)
        rels = {ln.get("rel"): ln.get("href") for ln in current.iter(f"{ATOM}link")}
        assert rels["prev-archive"].startswith(f"{BASE}/feeds/archive/{feed}/")
    topics = snapshot.index.topics  # the WebSub topics: subscription documents only
    assert "/feeds/sections/shahar/lucknow.json" in topics and "/feeds/authors/reena.rss" in topics
    assert not [path for path in topics if "/archive/" in path]


def test_a_change_rebuilds_only_the_feeds_it_touches(cfg: Config) -> None:
    publisher = Publisher(cfg, workers=1)
    try:
        before = publisher.rescan()
        write(
            cfg.articles_dir,
            "videsh/nepal.md",
            md("नेपाल चुनाव", ["नेपाल"], "2025-10-03", author='"अमित वर्मा"'),
        )
        after = publisher.refresh({"videsh/nepal.md"})
        untouched = ("/feeds/sections/desh.atom", "/feeds/sections/shahar.rss", "/sections/desh")
        for path in untouched:
            assert after.get(path) is before.get(path), path  # carried, not rendered
        assert titles(after, "/feeds/authors/reena.atom") == ["रेल किराया"]  # co-author gone
        assert after.get("/feeds/authors/reena.atom") is not before.get("/feeds/authors/reena.atom")
        assert after.get("/feeds/sections/videsh.atom") is not before.get(
            "/feeds/sections/videsh.atom"
        )
    finally:
        publisher.close()


BAD: dict[str, tuple[str, str, int | None]] = {
    # file: (content, what the message says, its line)
    "list-section.md": (md("x", section="[देश, विदेश]"), "section must be text, not list", 3),
    "empty-level.md": (md("x", section='"शहर//लखनऊ"'), "section level is empty", 3),
    "long-section.md": (md("x", section='"' + "क" * 81 + '"'), "longer than 80 characters", 3),
    "punctuation.md": (md("x", section='"!!!"'), "has no letters or digits", 3),
    "deep-field.md": (md("x", section='"a/b/c/d/e/f/g/h/i/j"'), "has 10 levels", 3),
    "!!!/in-punctuation.md": (md("x"), "folder level '!!!' has no letters or digits", None),
    "a/b/c/d/e/f/g/h/i/j/deep.txt": ("शीर्षक\n\nपाठ।", "has 10 levels; a section path", None),
    "empty-author.md": (md("x", author='["रीना", ""]'), "author 2 is empty", 3),
    "dict-author.md": (md("x", author="{name: x}"), "not dict", 3),
    "long-author.md": (md("x", author='"' + "क" * 81 + '"'), "longer than 80 characters", 3),
}


def test_bad_sections_and_authors_reject_only_their_file(make_config, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    newsroom(folder)
    for name, (content, _, _) in BAD.items():
        write(folder, name, content)
    write(
        folder, "twice.md", md("दो बार", date="2025-01-01", author='["Reena", "reena ", "REENA"]')
    )
    publisher = Publisher(make_config(articles={"dir": str(folder)}), workers=1)
    try:
        snapshot = publisher.rescan()
        rejected = publisher.library.rejected
        for name, (_, reason, line) in BAD.items():
            assert name in rejected, name
            assert reason in rejected[name].reason and rejected[name].line == line, rejected[name]
            where = f"{name}:{line}" if line else name
            assert str(rejected[name]).startswith(f"{where}: "), str(rejected[name])
        assert publisher.library.articles["twice.md"].authors == ("Reena",)  # merged
        assert len(publisher.library.articles) == 7  # the newsroom and the merged one
        assert titles(snapshot, "/feeds/sections/शहर.atom") == ["लखनऊ मेट्रो", "यातायात नीति"]
    finally:
        publisher.close()


def test_a_stored_ref_never_mistakes_a_tag_for_another_kind() -> None:
    for ref in (
        Ref("all", ""),
        Ref("tag", "section"),
        Ref("section", "शहर/लखनऊ"),
        Ref("author", "x"),
    ):
        assert Ref.from_stored(ref.stored) == ref
    assert Ref("tag", "trump").stored == "trump"  # as state files always kept it


# Through the real server, with real nginx on its live mirror.

NGINX = nginx_binary()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, Path, Server]]:
    folder, mirror = tmp_path / "articles", tmp_path / "mirror"
    newsroom(folder)
    config = tmp_path / "config.toml"
    config.write_text(
        '[site]\nbase_url = "http://news.example"\nid_authority = "news.example"\n'
        "[schedule]\nsettle_ms = 50\n"
        '[authors]\n"रीना शर्मा" = { slug = "reena" }\n'
    )
    server = start(config, args=("--mirror", str(mirror)))
    wait_for(lambda: (mirror / "feeds" / "sections" / "desh.atom").is_file(), timeout=30)
    try:
        yield folder, mirror, server
    finally:
        assert server.stop() == 0


def served_ids(server: Server, path: str) -> list[str]:
    return [e.id for e in server.entries(path)]


def test_a_move_between_desks_keeps_the_id(live) -> None:
    folder, _, server = live
    rail = "tag:news.example,2026:articles/desh/rail"
    assert served_ids(server, "/feeds/sections/desh.atom") == [rail]
    (folder / "videsh" / "rail.md").write_bytes((folder / "desh" / "rail.md").read_bytes())
    (folder / "desh" / "rail.md").unlink()
    wait_for(lambda: rail in served_ids(server, "/feeds/sections/videsh.atom"), timeout=5)
    wait_for(lambda: server.request("/feeds/sections/desh.atom").status == 404, timeout=5)
    # desh held only that story: its feeds and page went
    for path in ("/sections/desh", "/feeds/sections/desh.rss", "/feeds/sections/desh.json"):
        assert server.request(path).status == 404, path
    assert served_ids(server, "/feeds/all.atom").count(rail) == 1


def test_a_co_author_removed_leaves_that_authors_feed(live) -> None:
    folder, _, server = live
    nepal = "tag:news.example,2026:articles/videsh/nepal"
    amit = "/feeds/authors/" + "अमित-वर्मा" + ".atom"
    assert nepal in served_ids(server, amit) and nepal in served_ids(
        server, "/feeds/authors/reena.atom"
    )
    write(
        folder,
        "videsh/nepal.md",
        md("नेपाल चुनाव", ["नेपाल"], "2025-10-03", author='"रीना शर्मा"'),
        age=1,
    )
    wait_for(lambda: nepal not in served_ids(server, amit), timeout=5)
    assert nepal in served_ids(server, "/feeds/authors/reena.atom")
    entry = feedparser.parse(server.request("/feeds/authors/reena.atom").body).entries[0]
    assert [a.name for a in entry.authors] == ["रीना शर्मा"]


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_an_emptied_section_is_gone_through_nginx_on_the_mirror(live, tmp_path: Path) -> None:
    folder, mirror, server = live
    assert NGINX is not None
    nginx = start_nginx(NGINX, mirror, tmp_path / "nginx")
    try:
        for path in ("/sections/शहर", "/feeds/sections/शहर/लखनऊ.atom"):
            assert nginx.request(path).status == 200, path
            assert nginx.request(path).body == server.request(path).body, path
        (folder / "शहर" / "लखनऊ" / "metro.md").unlink()
        gone = ("/feeds/sections/शहर/लखनऊ.atom", "/sections/शहर/लखनऊ")
        wait_for(lambda: all(nginx.request(p).status == 404 for p in gone), timeout=5)
        for path in gone:
            assert server.request(path).status == 404
        assert nginx.request("/feeds/sections/शहर.atom").status == 200  # its parent stays
    finally:
        nginx.stop()


def test_the_reader_library_reads_section_and_author_feeds(live, tmp_path: Path) -> None:
    _, _, server = live
    base = f"http://127.0.0.1:{server.port}"
    section = base + quote("/feeds/sections/शहर/लखनऊ.atom")
    byline = base + "/feeds/authors/reena.json"
    with subscribed(tmp_path / "reader.sqlite", section, byline) as reader:
        assert reader.get_feed(section).title == "हिंदी समाचार — शहर › लखनऊ"
        assert reader.get_feed(byline).title == "हिंदी समाचार — रीना शर्मा"
        [metro] = reader.get_entries(feed=section)
        assert (metro.title, metro.authors_str) == ("लखनऊ मेट्रो", "संपादक")
        assert metro.id == "tag:news.example,2026:articles/शहर/लखनऊ/metro".replace(
            "शहर/लखनऊ", quote("शहर/लखनऊ")
        )
        titles = sorted(e.title for e in reader.get_entries(feed=byline))
        assert titles == sorted(["नेपाल चुनाव", "रेल किराया"])
        nepal = next(e for e in reader.get_entries(feed=byline) if e.title == "नेपाल चुनाव")
        assert "रीना शर्मा" in (nepal.authors_str or "")


def test_a_change_of_sections_or_authors_in_config_is_built_at_the_next_start(
    cfg: Config,
) -> None:
    first = Publisher(cfg, workers=1)
    first.rescan()
    first.wait_saved()
    first.close()
    renamed = from_dict(
        {
            "site": {"id_authority": "news.example", "base_url": BASE},
            "articles": {"dir": str(cfg.articles_dir)},
            "schedule": {"settle_ms": 0},
            "sections": {"desh": {"name": "भारत", "slug": "india"}},
            "authors": {"रीना शर्मा": {"slug": "reena", "email": "desk@news.example"}},
        },
        cfg.root,
    )
    again = Publisher(renamed, workers=1)
    try:
        snapshot = again.rescan()
        assert titles(snapshot, "/feeds/sections/india.atom") == ["रेल किराया"]
        assert snapshot.get("/feeds/sections/desh.atom") is None
        assert b"desk@news.example" in snapshot.get("/feeds/authors/reena.atom").body
    finally:
        again.close()

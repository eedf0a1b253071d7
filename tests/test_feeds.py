"""Feeds read back with feedparser, field by field; determinism; the feedgen traps."""

from __future__ import annotations

import gzip
import html
import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from lxml import etree

from feedsvc.config import Config
from feedsvc.export import MANIFEST, export
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Resource, Snapshot

from .conftest import ROOT, SEED, SEED_NAME, md, publish, write
from .server import feedsvc

SEED_LINES = SEED.read_text(encoding="utf-8").split("\n")
SEED_ID = "tag:news.example,2026:articles/000_8fc8ec9304f2c137"
SEED_TIME = datetime(2025, 7, 12, 9, 15, 42, tzinfo=UTC)
ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}


@pytest.fixture
def site(seeded: Path, make_config) -> tuple[Snapshot, Config]:
    os.utime(seeded / SEED_NAME, (SEED_TIME.timestamp(), SEED_TIME.timestamp()))
    for sample in (ROOT / "articles").glob("*.md"):
        shutil.copy2(sample, seeded / sample.name)
    shutil.copytree(ROOT / "articles" / "images", seeded / "images")
    write(
        seeded,
        "korea.md",
        md(
            "उत्तर कोरिया पर नई खबर",
            ["TRUMP", "उत्तर कोरिया"],
            "2025-07-20T10:00:00+05:30",
            "सियोल। नई खबर आई है।",
        ),
    )
    cfg = make_config(articles={"dir": str(seeded)}, tags={"TRUMP": "ट्रंप"})
    return publish(cfg), cfg


def parsed(snapshot: Snapshot, path: str) -> feedparser.FeedParserDict:
    result = feedparser.parse(snapshot.get(path).body)
    assert not result.bozo, (path, result.get("bozo_exception"))
    return result


def feed_paths(snapshot: Snapshot) -> list[str]:
    """The XML feeds (JSON Feed has its own tests: feedparser does not read it)."""
    return [
        p for p in snapshot.resources if p.startswith("/feeds/") and p.endswith((".atom", ".rss"))
    ]


def test_every_feed_parses_cleanly(site) -> None:
    snapshot, _ = site
    paths = feed_paths(snapshot)
    assert "/feeds/all.atom" in paths and "/feeds/tags/उत्तर-कोरिया.rss" in paths
    for path in paths:
        result = parsed(snapshot, path)
        assert result.version == ("atom10" if path.endswith(".atom") else "rss20")
        assert result.feed.language == "hi" if path.endswith(".rss") else True
        assert result.entries


@pytest.mark.parametrize("slug", ["trump", "us", "donald", None])
@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_seed_entry_field_by_field(site, slug: str | None, fmt: str) -> None:
    snapshot, cfg = site
    path = f"/feeds/all.{fmt}" if slug is None else f"/feeds/tags/{slug}.{fmt}"
    result = parsed(snapshot, path)
    [entry] = [e for e in result.entries if e.id == SEED_ID]
    assert entry.title == SEED_LINES[0]
    assert entry.link == "http://news.example/articles/000_8fc8ec9304f2c137"
    assert entry.published_parsed[:6] == SEED_TIME.timetuple()[:6]
    if fmt == "atom":  # RSS 2.0 items have no updated date
        assert entry.updated_parsed[:6] == SEED_TIME.timetuple()[:6]
    assert entry.author == cfg.site.author
    if fmt == "atom":
        expected_tags = [("trump", "ट्रंप"), ("us", "US"), ("donald", "DONALD")]
        assert [(t.term, t.label) for t in entry.tags] == expected_tags
    else:  # RSS <category> carries the display name, its domain the tag scheme
        assert [t.term for t in entry.tags] == ["ट्रंप", "US", "DONALD"]
    assert entry.summary.startswith("वॉशिंगटन/प्योंगयांग। रूस और उत्तर कोरिया के बीच")
    assert entry.summary != "वॉशिंगटन/प्योंगयांग।"
    content = entry.content[0].value
    body = "\n".join(SEED_LINES[1 : SEED_LINES.index("TRUMP, US, DONALD")])
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    assert len(paragraphs) == 7
    for paragraph in paragraphs:
        assert f"<p>{html.escape(paragraph, quote=False)}</p>" in content
    assert "TRUMP, US, DONALD" not in content and "NASA" not in content
    if slug is not None:
        assert (
            result.feed.title == f"{cfg.site.title} — {dict(trump='ट्रंप').get(slug, slug.upper())}"
        )


def test_atom_structure(site) -> None:
    snapshot, cfg = site
    body = snapshot.get("/feeds/tags/trump.atom").body
    assert b"ns0:" not in body  # extension elements share feedgen's default namespace
    root = etree.fromstring(body)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "hi"
    links = [(ln.get("rel"), ln.get("href")) for ln in root.findall("a:link", ATOM_NS)]
    assert links == [  # alternate first: some consumers take the first link for the site
        ("alternate", "http://news.example/tags/trump"),
        ("self", "http://news.example/feeds/tags/trump.atom"),
    ]
    entries = root.findall("a:entry", ATOM_NS)
    updated = [e.findtext("a:updated", namespaces=ATOM_NS) or "" for e in entries]
    assert root.findtext("a:updated", namespaces=ATOM_NS) == max(updated)
    published = [e.findtext("a:published", namespaces=ATOM_NS) or "" for e in entries]
    assert published == sorted(published, reverse=True)  # newest first
    for entry in entries:
        assert entry.find("a:content", ATOM_NS).get("type") == "html"
        assert entry.findtext("a:author/a:name", namespaces=ATOM_NS)


def test_rss_structure(site) -> None:
    snapshot, cfg = site
    root = etree.fromstring(snapshot.get("/feeds/tags/trump.rss").body)
    channel = root.find("channel")
    assert channel.findtext("link") == "http://news.example/tags/trump"  # not the self link
    self_link = channel.find("{http://www.w3.org/2005/Atom}link")
    assert (self_link.get("rel"), self_link.get("href")) == (
        "self",
        "http://news.example/feeds/tags/trump.rss",
    )
    assert channel.findtext("language") == "hi"
    assert channel.findtext("ttl") == "1"
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false" and guid.text.startswith("tag:news.example,")
        assert item.find("author") is None  # a plain name is not an e-mail address
        assert item.findtext("{http://purl.org/dc/elements/1.1/}creator")
        assert item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
        stamp = item.findtext("pubDate") or ""
        assert re.fullmatch(
            r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|"
            r"Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
            stamp,
        )
        assert len(item.findall("pubDate")) == 1
    newest = max(
        parsedate_to_datetime(i.findtext("pubDate") or "") for i in channel.findall("item")
    )
    assert parsedate_to_datetime(channel.findtext("lastBuildDate") or "") >= newest


def test_enclosure_in_both_formats(site) -> None:
    snapshot, _ = site
    size = (ROOT / "articles" / "images" / "stadium.jpg").stat().st_size
    url = "http://news.example/media/images/stadium.jpg"
    atom = etree.fromstring(snapshot.get("/feeds/tags/क्रिकेट.atom").body)
    [entry] = atom.findall("a:entry", ATOM_NS)
    links = [
        (ln.get("rel"), ln.get("href"), ln.get("type"), ln.get("length"))
        for ln in entry.findall("a:link", ATOM_NS)
    ]
    assert ("enclosure", url, "image/jpeg", str(size)) in links
    assert len(links) == 2  # the article link and the enclosure, no duplicate alternate
    assert b"media:group" not in snapshot.get("/feeds/tags/क्रिकेट.atom").body
    rss = etree.fromstring(snapshot.get("/feeds/tags/क्रिकेट.rss").body)
    enclosure = rss.find("channel/item/enclosure")
    assert (enclosure.get("url"), enclosure.get("type"), enclosure.get("length")) == (
        url,
        "image/jpeg",
        str(size),
    )
    assert (
        snapshot.get("/media/images/stadium.jpg").body
        == (ROOT / "articles" / "images" / "stadium.jpg").read_bytes()
    )
    entry = parsed(snapshot, "/feeds/tags/क्रिकेट.atom").entries[0]
    assert entry.enclosures[0].href == url


def test_every_uri_is_ascii_and_devanagari_percent_encoded(site) -> None:
    snapshot, _ = site
    body = snapshot.get("/feeds/tags/उत्तर-कोरिया.atom").body
    root = etree.fromstring(body)
    slug = quote("उत्तर-कोरिया")
    assert root.find("a:link[@rel='self']", ATOM_NS).get("href") == (
        f"http://news.example/feeds/tags/{slug}.atom"
    )
    uris = [ln.get("href") for ln in root.iter("{http://www.w3.org/2005/Atom}link")]
    uris += [e.text for e in root.iter("{http://www.w3.org/2005/Atom}id")]
    assert all(u.isascii() for u in uris), uris
    opml = etree.fromstring(snapshot.get("/feeds.opml").body)
    urls = [o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")]
    assert all(u.isascii() for u in urls)


def test_devanagari_article_id_is_percent_encoded(articles_dir: Path, make_config) -> None:
    write(articles_dir, "समाचार/पहला.md", md("पहला", ["क"], "2025-01-01"))
    snapshot = publish(make_config(articles={"dir": str(articles_dir)}))
    entry = parsed(snapshot, "/feeds/all.atom").entries[0]
    assert entry.id == "tag:news.example,2026:articles/" + quote("समाचार/पहला")
    assert entry.link == "http://news.example/articles/" + quote("समाचार/पहला")
    assert "/articles/समाचार/पहला" in snapshot.resources


def test_opml_lists_every_topic_once(site) -> None:
    snapshot, cfg = site
    opml = etree.fromstring(snapshot.get("/feeds.opml").body)
    assert opml.get("version") == "2.0"
    urls = sorted(o.get("xmlUrl") or "" for o in opml.iter("outline") if o.get("xmlUrl"))
    atom = [p for p in feed_paths(snapshot) if p.endswith(".atom")]
    assert urls == sorted("http://news.example" + quote(p) for p in atom)
    titles = {o.get("title") for o in opml.iter("outline") if o.get("xmlUrl")}
    assert f"{cfg.site.title} — ट्रंप" in titles


def test_scheduled_and_draft_articles_are_absent(articles_dir: Path, make_config) -> None:
    write(articles_dir, "now.md", md("अभी", ["आज"], "2025-01-01"))
    write(articles_dir, "later.md", md("बाद में", ["कल", "आज"], "2099-01-01"))
    write(articles_dir, "draft.md", md("मसौदा", ["गुप्त", "आज"], "2025-01-02", draft="true"))
    snapshot = publish(make_config(articles={"dir": str(articles_dir)}))
    titles = [e.title for e in parsed(snapshot, "/feeds/all.atom").entries]
    assert titles == ["अभी"]
    assert [e.title for e in parsed(snapshot, "/feeds/tags/आज.rss").entries] == ["अभी"]
    for slug in ("कल", "गुप्त"):
        assert f"/feeds/tags/{slug}.atom" not in snapshot.resources
        assert f"/tags/{slug}" not in snapshot.resources
    assert "/articles/later" not in snapshot.resources
    assert [path for path, _ in snapshot.health.scheduled] == ["later.md"]


def test_max_items_keeps_the_newest(articles_dir: Path, make_config) -> None:
    for day in range(1, 8):
        write(articles_dir, f"d{day}.md", md(f"दिन {day}", ["क"], f"2025-01-0{day}"))
    cfg = make_config(articles={"dir": str(articles_dir)}, feeds={"max_items": 3})
    snapshot = publish(cfg)
    for path in ("/feeds/all.atom", "/feeds/tags/क.rss"):
        assert [e.title for e in parsed(snapshot, path).entries] == ["दिन 7", "दिन 6", "दिन 5"]


def test_max_bytes_drops_the_oldest(articles_dir: Path, make_config) -> None:
    for day in range(1, 10):
        write(
            articles_dir,
            f"d{day}.md",
            md(f"दिन {day}", ["क"], f"2025-01-0{day}", "लंबा पाठ। " * 300),
        )
    cfg = make_config(articles={"dir": str(articles_dir)}, feeds={"max_bytes": 40_000})
    snapshot = publish(cfg)
    for path in ("/feeds/all.atom", "/feeds/all.rss"):
        body = snapshot.get(path).body
        assert len(body) <= 40_000
        titles = [e.title for e in parsed(snapshot, path).entries]
        assert 1 <= len(titles) < 9
        assert titles == [f"दिन {d}" for d in range(9, 9 - len(titles), -1)]


def test_summary_only(articles_dir: Path, make_config) -> None:
    write(articles_dir, "a.md", md("सार", ["क"], "2025-01-01", "पहला वाक्य। दूसरा वाक्य।"))
    cfg = make_config(articles={"dir": str(articles_dir)}, feeds={"summary_only": True})
    snapshot = publish(cfg)
    assert b"content:encoded" not in snapshot.get("/feeds/all.rss").body
    entry = parsed(snapshot, "/feeds/all.atom").entries[0]
    assert "content" not in entry and entry.summary == "पहला वाक्य। दूसरा वाक्य।"


def test_entry_ids_survive_edits_and_a_new_base_url(
    articles_dir: Path, make_config, tmp_path: Path
) -> None:
    path = write(articles_dir, "a.md", md("पुराना शीर्षक", ["क"], "2025-01-01", "पुराना पाठ।"))
    cfg = make_config(articles={"dir": str(articles_dir)})
    cfg = cfg.replace(site={"id_authority": ""})  # pinned in the state file at first run
    ids = {e.title: e.id for e in parsed(publish(cfg), "/feeds/all.atom").entries}
    write(articles_dir, "a.md", md("नया शीर्षक", ["ख", "ग"], "2025-03-01", "नया पाठ।"), age=1)
    moved = cfg.replace(site={"base_url": "https://other.example/news"})
    snapshot = publish(moved)
    [entry] = parsed(snapshot, "/feeds/all.atom").entries
    assert entry.title == "नया शीर्षक"
    assert entry.id == ids["पुराना शीर्षक"] == "tag:news.example,2026:articles/a"
    assert entry.link == "https://other.example/news/articles/a"
    assert path.exists()


def test_same_articles_same_bytes_in_two_processes(site, seeded: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[site]\nid_authority = "news.example"\n[articles]\ndir = "{seeded}"\n'
        f'[state]\npath = "{tmp_path / "state.sqlite3"}"\n'
    )
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        subprocess.run(
            feedsvc("build", "--config", str(config), "--out", str(out)),
            check=True,
            capture_output=True,
        )
        outs.append(out)
        # The second process must render everything again, not serve the saved snapshot.
        (tmp_path / "state-snapshot.sqlite3").unlink()
        time.sleep(1.1)  # a second apart: nothing may depend on the clock

    def listed(out: Path) -> list[Path]:  # the manifest names inodes: not a resource
        return sorted(
            p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.name != MANIFEST
        )

    files = listed(outs[0])
    assert files == listed(outs[1])
    assert len(files) > 20
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_build_reports_rejected_files_and_exits_0(seeded: Path, tmp_path: Path) -> None:
    write(seeded, "broken.md", b"---\ntitle: [\n---\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[articles]\ndir = "{seeded}"\n[schedule]\nsettle_ms = 0\n')
    done = subprocess.run(
        feedsvc("build", "--config", str(config), "--out", str(tmp_path / "o")),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    assert "broken.md:2: broken YAML front matter" in done.stderr
    assert (tmp_path / "o" / "feeds" / "tags" / "trump.atom").is_file()
    assert done.stdout == ""  # no progress bar in a pipe


def test_incremental_build_reuses_untouched_feeds(articles_dir: Path, make_config) -> None:
    write(articles_dir, "a.md", md("क लेख", ["क"], "2025-01-01"))
    write(articles_dir, "b.md", md("ख लेख", ["ख"], "2025-01-02"))
    publisher = Publisher(make_config(articles={"dir": str(articles_dir)}))
    before = publisher.rescan()
    write(articles_dir, "b.md", md("ख लेख बदला", ["ख", "ग"], "2025-01-02"), age=1)
    after = publisher.refresh({"b.md"})
    for path in ("/feeds/tags/क.atom", "/feeds/tags/क.rss", "/tags/क", "/articles/a"):
        assert after.get(path) is before.get(path)  # not even re-rendered
    for path in ("/feeds/all.atom", "/feeds/tags/ख.atom", "/articles/b"):
        assert after.get(path).etag != before.get(path).etag
    assert "/feeds/tags/ग.rss" in after.resources
    publisher.close()


def test_export_writes_served_paths_with_gz_siblings(site, tmp_path: Path) -> None:
    snapshot, _ = site
    out = tmp_path / "public"
    export(snapshot, out)
    assert (out / "feeds" / "all.atom").read_bytes() == snapshot.get("/feeds/all.atom").body
    assert gzip.decompress((out / "feeds" / "tags" / "उत्तर-कोरिया.rss.gz").read_bytes()) == (
        snapshot.get("/feeds/tags/उत्तर-कोरिया.rss").body
    )
    for name in (
        "index.html",
        "feeds.opml",
        "tags/trump.html",
        "articles/000_8fc8ec9304f2c137.html",
        "404.html",
    ):
        assert (out / name).is_file() and (out / (name + ".gz")).is_file(), name


def test_a_second_export_links_what_did_not_change(site, tmp_path: Path) -> None:
    snapshot, _ = site
    out = tmp_path / "public"
    total, written = export(snapshot, out)
    assert written == total == 2 * len(snapshot.resources)
    feed, page = out / "feeds" / "all.atom", out / "index.html"
    inodes = (feed.stat().st_ino, page.stat().st_ino)
    page.chmod(0o644)
    with open(page, "r+b") as handle:  # changed in place, behind our back
        handle.write(b"XX")
    assert export(snapshot, out) == (total, 1)  # only the page mended
    assert feed.stat().st_ino == inodes[0] and page.stat().st_ino != inodes[1]
    assert page.read_bytes() == snapshot.get("/").body
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".public.")]) == 1
    tree = os.readlink(out)
    assert export(snapshot, out) == (total, 0)  # it holds them all: nothing to do
    assert os.readlink(out) == tree


def test_a_failed_export_leaves_the_previous_one(site, tmp_path: Path) -> None:
    snapshot, _ = site
    out = tmp_path / "public"
    export(snapshot, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    evil = Resource.make(b"x", "text/plain", SEED_TIME)
    broken = Snapshot({**snapshot.resources, "/zzz/../../../escape": evil})
    with pytest.raises(Exception, match="outside the export folder"):
        export(broken, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    current = os.readlink(out)
    debris = [p for p in tmp_path.iterdir() if p.name.startswith(".public") and p.name != current]
    assert not debris


def test_an_entry_that_cannot_be_serialized_is_left_out_not_the_feed(make_config) -> None:
    """Defence in depth: parsing cleans what XML forbids, but should an article still
    carry it, that one entry goes with a message and the feeds stay whole."""
    from datetime import timedelta

    from feedsvc.arrangement import Arrangement
    from feedsvc.articles import Article, ArticleText
    from feedsvc.site import Job, Plan, build
    from feedsvc.snapshot import SiteIndex
    from feedsvc.urls import Urls

    cfg = make_config()
    when = SEED_TIME
    good = Article("good", "good.md", "अच्छा", when, when, "1", ("क",))
    later = when + timedelta(days=1)
    bad = Article("bad", "bad.md", "ख़राब\x00", later, later, "2", ("क",))
    texts = {"good.md": ArticleText("ठीक", "<p>ठीक</p>"), "bad.md": ArticleText("x", "<p>x</p>")}

    class Texts:
        def text(self, article: Article) -> ArticleText:
            return texts[article.path]

        def summary(self, article: Article) -> str:
            return texts[article.path].summary

    built = build(
        Job(
            arranged=Arrangement().arrange([good, bad], cfg),
            cfg=cfg,
            urls=Urls(cfg.base_url, "news.example"),
            plan=Plan.full({}),
            previous=SiteIndex(),
            texts=Texts(),
            now=later,
        )
    )
    for path in ("/feeds/all.atom", "/feeds/all.rss", "/feeds/tags/क.atom"):
        entries = feedparser.parse(built.snapshot.get(path).body).entries
        assert [e.title for e in entries] == ["अच्छा"], path
    problems = built.snapshot.index.problems
    assert any(p.startswith("bad.md: left out of the feeds") for p in problems)

"""The live mirror (SPEC §11): a folder nginx serves, kept equal to the snapshot."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from lxml import etree

from feedsvc import warmstart
from feedsvc.errors import ConfigError
from feedsvc.export import MANIFEST, file_name
from feedsvc.mirror import Keeper, Mirror
from feedsvc.publisher import Publisher
from feedsvc.snapshot import Health, Snapshot

from .conftest import folder_config, md, wait_for, write
from .nginx import SERVER_BLOCK, Nginx, nginx_binary, start_nginx
from .server import Server, feedsvc, start

Stats = dict[str, tuple[int, int, int]]


def stats(folder: Path) -> Stats:
    """Inode, mtime and ctime of every file: a rewrite or even a utime changes them."""
    found: Stats = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.name != MANIFEST:
            st = path.stat()
            found[path.relative_to(folder).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return found


def check_mirror(folder: Path, snapshot: Snapshot) -> None:
    """Every resource as a file and a .gz, mtime its Last-Modified; nothing else."""
    expected = {MANIFEST}
    for path, resource in snapshot.resources.items():
        name = file_name(path, resource)
        expected |= {name, name + ".gz"}
        target = folder / name
        assert target.read_bytes() == resource.body, path
        assert gzip.decompress((folder / (name + ".gz")).read_bytes()) == resource.body, path
        mtime = int(resource.last_modified.timestamp())
        assert target.stat().st_mtime == mtime == (folder / (name + ".gz")).stat().st_mtime
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert present == expected


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Publisher]]:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला लेख", ["राजनीति", "खेल"], "2025-03-01", "पहले का पाठ।"))
    write(folder, "b.md", md("दूसरा लेख", ["खेल"], "2025-03-02", "दूसरे का पाठ।"))
    write(folder, "c.md", md("तीसरा लेख", ["विज्ञान"], "2025-03-03", "तीसरे का पाठ।"))
    publisher = Publisher(folder_config(tmp_path), workers=1)
    publisher.rescan()
    yield folder, publisher
    publisher.close()


def test_a_new_mirror_holds_every_resource(site, tmp_path: Path) -> None:
    _, publisher = site
    mirror = tmp_path / "mirror"
    written = Mirror(mirror).sync(publisher.snapshot)
    check_mirror(mirror, publisher.snapshot)
    assert written == 2 * len(publisher.snapshot.resources)


def test_a_site_not_yet_whole_is_never_mirrored(site, tmp_path: Path) -> None:
    """A first start's newest articles, or its feeds before their pages: nginx keeps
    what the folder held until the site is whole."""
    _, publisher = site
    whole = publisher.snapshot
    looked: list[Snapshot] = []
    current = [Snapshot(whole.resources, whole.index, Health(feeds_pending=True))]

    def source() -> Snapshot:
        looked.append(current[0])
        return current[0]

    keeper = Keeper(Mirror(tmp_path / "mirror"), source)
    keeper.start()
    try:
        for half in (
            current[0],
            Snapshot(whole.resources, whole.index, Health(pages_pending=True)),
        ):
            current[0] = half
            seen = len(looked)

            def looked_again(seen: int = seen) -> bool:  # its look at `half` is over
                keeper.kick()
                return len(looked) > seen + 1

            wait_for(looked_again, timeout=10)
            assert keeper.synced_at is None
            assert not [p for p in (tmp_path / "mirror").rglob("*") if p.name != MANIFEST]
        current[0] = whole
        keeper.kick()
        wait_for(lambda: keeper.synced_at, timeout=10)
        check_mirror(tmp_path / "mirror", whole)
    finally:
        keeper.stop()


def test_only_what_changed_is_written(site, tmp_path: Path) -> None:
    folder, publisher = site
    mirror = Mirror(tmp_path / "mirror")
    mirror.sync(publisher.snapshot)
    before = stats(mirror.folder)
    assert mirror.sync(publisher.snapshot) == 0
    assert stats(mirror.folder) == before

    write(folder, "c.md", md("तीसरा लेख, बदला", ["विज्ञान"], "2025-03-03", "नया पाठ।"))
    old = publisher.snapshot
    new = publisher.refresh({"c.md"})
    changed = {p for p, r in new.resources.items() if old.resources.get(p) is not r}
    assert "/feeds/tags/विज्ञान.atom" in changed and "/feeds/tags/खेल.atom" not in changed
    assert mirror.sync(new) == 2 * len(changed)
    check_mirror(mirror.folder, new)
    after = stats(mirror.folder)
    rewritten = {name for name in before if after.get(name) != before[name]}
    names = {file_name(p, new.resources[p]) for p in changed}
    assert rewritten == names | {name + ".gz" for name in names}


def test_a_newer_snapshot_cuts_a_sync_short_and_feeds_go_first(site, tmp_path: Path) -> None:
    _, publisher = site
    snapshot = publisher.snapshot
    mirror = Mirror(tmp_path / "mirror")
    feeds = set(snapshot.index.topics)
    looks = iter(range(len(feeds) + 1))
    assert mirror.sync(snapshot, stale=lambda: next(looks) == len(feeds)) is None
    present = {
        path
        for path, resource in snapshot.resources.items()
        if (mirror.folder / file_name(path, resource)).is_file()
    }
    assert present == feeds  # every subscription document first, nothing else yet
    assert mirror.sync(snapshot) == 2 * (len(snapshot.resources) - len(feeds))
    check_mirror(mirror.folder, snapshot)


def test_a_restart_writes_only_differences(site, tmp_path: Path) -> None:
    _, publisher = site
    folder = tmp_path / "mirror"
    Mirror(folder).sync(publisher.snapshot)
    before = stats(folder)
    manifest = (folder / MANIFEST).stat()
    # A fresh process, the same snapshot: not a file touched, not even the manifest.
    assert Mirror(folder).sync(publisher.snapshot) == 0
    assert stats(folder) == before
    assert (folder / MANIFEST).stat().st_ino == manifest.st_ino

    feed, page = folder / "feeds" / "all.atom", folder / "articles"
    os.utime(feed, (1, 1))  # right bytes, wrong time
    article = next(page.glob("*.html"))
    article.write_bytes(b"<p>changed by hand</p>")  # wrong bytes
    gone = folder / "feeds" / "all.rss.gz"
    gone.unlink()
    (folder / "stray.html").write_bytes(b"left over")
    (folder / "feeds" / ".all.atom.123.tmp").write_bytes(b"<feed")  # a crashed write
    (folder / "old-tag").mkdir()
    (folder / "old-tag" / "x.html").write_bytes(b"x")
    (folder / MANIFEST).unlink()  # even without the manifest: compared, not rewritten
    (folder / MANIFEST).write_text("{}")
    feed_inode = feed.stat().st_ino

    assert Mirror(folder).sync(publisher.snapshot) == 2  # the page and the lost .gz
    check_mirror(folder, publisher.snapshot)
    assert feed.stat().st_ino == feed_inode  # only its time was set
    assert not (folder / "old-tag").exists()
    after = stats(folder)
    mended = {"feeds/all.atom", article.relative_to(folder).as_posix(), "feeds/all.rss.gz"}
    assert {name for name in before if after[name] != before[name]} == mended


def test_a_second_look_restores_files_changed_by_hand(site, tmp_path: Path) -> None:
    """What the keeper does every few minutes: every file looked at again."""
    _, publisher = site
    mirror = Mirror(tmp_path / "mirror")
    mirror.sync(publisher.snapshot)
    (mirror.folder / "feeds" / "all.atom").unlink()
    (mirror.folder / "index.html").write_bytes(b"defaced")
    (mirror.folder / "extra.html").write_bytes(b"left by someone")
    assert mirror.sync(publisher.snapshot) == 0  # nothing changed as far as it knows
    mirror.forget()
    assert mirror.sync(publisher.snapshot) == 2
    check_mirror(mirror.folder, publisher.snapshot)


def test_a_folder_that_is_not_ours_is_refused_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "index.html").write_text("someone's site")
    with pytest.raises(ConfigError, match=r"mirror\.dir: .*www.*nothing was deleted"):
        Mirror(folder)
    assert (folder / "index.html").read_text() == "someone's site"
    assert not (folder / MANIFEST).exists()

    (tmp_path / "articles").mkdir()
    config = tmp_path / "config.toml"
    config.write_text('[mirror]\ndir = "www"\n')
    run = subprocess.run(
        feedsvc("serve", "--config", str(config), "--port", "0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "mirror.dir" in run.stderr and "Traceback" not in run.stderr
    assert [p.name for p in folder.iterdir()] == ["index.html"]

    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="mirror.dir: cannot use"):
        Mirror(tmp_path / "file")


def test_relative_mirror_folders(tmp_path: Path) -> None:
    """[mirror] dir against the config file's folder, --mirror against the working one."""
    site_dir, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    write(site_dir / "articles", "a.md", md("लेख", ["क"], "2025-03-01"))
    elsewhere.mkdir()
    config = site_dir / "config.toml"
    config.write_text('[mirror]\ndir = "public"\n[schedule]\nsettle_ms = 0\n')
    for args, expected in (((), site_dir / "public"), (("--mirror", "out"), elsewhere / "out")):
        server = start(config, args=args, cwd=elsewhere)
        try:
            wait_for((expected / "feeds" / "all.atom").is_file, timeout=30)
        finally:
            assert server.stop() == 0
    assert not (elsewhere / "public").exists() and not (site_dir / "out").exists()


# Real nginx, in front of a real `feedsvc serve --mirror`.

NGINX = nginx_binary()
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (.ci/run installs it)"
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, Path, Server, Nginx]]:
    folder, mirror = tmp_path / "articles", tmp_path / "mirror"
    write(folder, "a.md", md("पहला लेख", ["राजनीति", "खेल"], "2025-03-01", "पहले का पाठ।"))
    write(folder, "b.md", md("दूसरा लेख", ["खेल"], "2025-03-02", "दूसरे का पाठ।"))
    config = tmp_path / "config.toml"
    config.write_text('[site]\nid_authority = "news.example"\n[schedule]\nsettle_ms = 50\n')
    server = start(config, args=("--mirror", str(mirror)))
    wait_for(lambda: (mirror / "feeds" / "all.atom").is_file(), timeout=30)
    assert NGINX is not None
    nginx = start_nginx(NGINX, mirror, tmp_path / "nginx")
    try:
        yield folder, mirror, server, nginx
    finally:
        nginx.stop()
        server.stop()


def server_body(server: Server, path: str) -> bytes:
    reply = server.request(path)
    assert reply.status in (200, 410), (path, reply.status)
    return reply.body


def same_document(nginx: Nginx, server: Server, path: str) -> bool:
    return nginx.request(path).body == server.request(path).body


@needs_nginx
def test_nginx_serves_what_feedsvc_serves(live) -> None:
    _, _, server, nginx = live
    warnings = nginx.log.read_text() + (nginx.log.parent / "error.log").read_text()
    assert "[warn]" not in warnings and "[emerg]" not in warnings  # the block is clean
    for path in ("/feeds/all.atom", "/feeds/tags/खेल.rss", "/feeds/all.json", "/feeds.opml"):
        ours, theirs = server.request(path), nginx.request(path)
        assert theirs.status == 200 and theirs.body == ours.body, path
        assert theirs.headers["content-type"] == ours.headers["content-type"], path
        assert theirs.headers["last-modified"] == ours.headers["last-modified"], path
    entries = feedparser.parse(nginx.request("/feeds/all.atom").body).entries
    assert [e.title for e in entries] == ["दूसरा लेख", "पहला लेख"]
    page = nginx.request(urlsplit(entries[0].link).path)
    assert page.status == 200 and "दूसरे का पाठ।" in page.body.decode()
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert nginx.request("/").body == server.request("/").body
    zipped = nginx.request("/feeds/all.atom", {"Accept-Encoding": "gzip"})
    assert zipped.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(zipped.body) == server.request("/feeds/all.atom").body
    missing = nginx.request("/articles/nothing-here")
    assert missing.status == 404 and missing.body == server.request("/nothing-here").body
    assert nginx.request("/" + MANIFEST).status == 404


@needs_nginx
def test_changes_reach_nginx_and_validators_stay(live, tmp_path: Path) -> None:
    folder, mirror, server, nginx = live
    tag = "/feeds/tags/राजनीति.atom"
    first = nginx.request(tag)
    validators = {"If-None-Match": first.headers["etag"]}
    since = {"If-Modified-Since": first.headers["last-modified"]}
    assert nginx.request(tag, validators).status == 304

    write(folder, "c.md", md("तीसरा लेख", ["खेल"], "2025-03-03", "तीसरे का पाठ।"), age=0)
    wait_for(lambda: "तीसरा लेख".encode() in nginx.request("/feeds/all.atom").body, timeout=10)
    wait_for(lambda: same_document(nginx, server, "/feeds/tags/खेल.atom"), timeout=10)
    # The untouched tag feed: the same file, so the same validators.
    assert nginx.request(tag, validators).status == 304
    assert nginx.request(tag, since).status == 304
    entry = feedparser.parse(nginx.request("/feeds/all.atom").body).entries[0]
    assert entry.title == "तीसरा लेख"
    last_modified = parsedate_to_datetime(
        server.request("/feeds/all.atom").headers["last-modified"]
    )
    assert (mirror / "feeds" / "all.atom").stat().st_mtime == last_modified.timestamp()

    # A restart rewrites nothing: nginx's validators survive it. (Once the change is
    # saved for warm starts: a stop abandons a save under way, and a restart that
    # builds again moves the changed documents' Last-Modified on, as it must.)
    saved = tmp_path / "var" / "feedsvc-snapshot.sqlite3"
    wait_for(lambda: (found := warmstart.load(saved)) is not None and "c.md" in found.published)
    before = stats(mirror)
    assert server.stop() == 0
    again = start(tmp_path / "config.toml", args=("--mirror", str(mirror)))
    try:
        wait_for(lambda: same_document(nginx, again, "/feeds/all.atom"), timeout=30)
        assert stats(mirror) == before
        assert nginx.request(tag, validators).status == 304
        (folder / "c.md").unlink()
        gone = urlsplit(entry.link).path
        wait_for(lambda: nginx.request(gone).status == 410, timeout=10)  # withdrawn
        notice = nginx.request(gone)
        assert notice.body == server_body(again, gone) and "वापस ले लिया गया".encode() in notice.body
        assert notice.headers["content-type"] == "text/html; charset=utf-8"
        assert nginx.request("/withdrawn" + gone + ".html").status == 404  # never directly
        assert [
            e.title for e in feedparser.parse(nginx.request("/feeds/all.atom").body).entries
        ] == [
            "दूसरा लेख",
            "पहला लेख",
        ]
    finally:
        assert again.stop() == 0


@needs_nginx
def test_nginx_never_serves_a_partial_file(live) -> None:
    """Large feeds rewritten again and again while nginx is read without pause: every
    answer is a whole document, identity and gzip alike."""
    folder, _, _, nginx = live
    body = "यह एक लंबा वाक्य है जो बार बार आता है। " * 400
    stop = threading.Event()
    seen: list[int] = []
    bad: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            for headers in ({}, {"Accept-Encoding": "gzip"}):
                reply = nginx.request("/feeds/all.atom", headers)
                data = gzip.decompress(reply.body) if headers else reply.body
                try:
                    etree.fromstring(data)
                except etree.XMLSyntaxError as exc:
                    bad.append(str(exc))
                seen.append(len(data))

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for n in range(12):
            write(folder, f"big{n % 4}.md", md(f"लंबा लेख {n}", ["खेल"], "2025-03-05", body), age=0)
            marker = f"लंबा लेख {n}".encode()

            def arrived(marker: bytes = marker) -> bool:
                return marker in nginx.request("/feeds/all.atom").body

            wait_for(arrived, timeout=10)
    finally:
        stop.set()
        reader.join(timeout=10)
    assert not bad
    assert len(set(seen)) > 4  # it did read the feed while it changed


def test_the_readme_shows_the_nginx_configuration() -> None:
    readme = (SERVER_BLOCK.parent.parent / "README.md").read_text()
    block = "server {" + SERVER_BLOCK.read_text().split("server {", 1)[1].rstrip("\n")
    shown = "\n".join("    " + line if line else "" for line in block.split("\n"))
    assert shown in readme  # as a Markdown code block


def one_article_site(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(articles folder, mirror folder, config file) of a one-article site."""
    folder, mirror = tmp_path / "articles", tmp_path / "mirror"
    write(folder, "a.md", md("पहला लेख", ["क"], "2025-03-01"))
    config = tmp_path / "config.toml"
    config.write_text("[schedule]\nsettle_ms = 0\n")
    return folder, mirror, config


def test_the_mirror_keeps_up_after_a_kill(tmp_path: Path) -> None:
    """kill -9 mid-run: the next start mends the mirror, and removes what was left."""
    folder, mirror, config = one_article_site(tmp_path)
    server = start(config, args=("--mirror", str(mirror)))
    wait_for(lambda: (mirror / "feeds" / "all.atom").is_file(), timeout=30)
    server.stop(signal.SIGKILL)
    write(folder, "b.md", md("दूसरा लेख", ["ख"], "2025-03-02"))
    (mirror / "feeds" / ".all.atom.999.tmp").write_bytes(b"<fe")
    again = start(config, args=("--mirror", str(mirror)))
    try:
        wait_for(lambda: same_document_file(mirror, again, "/feeds/all.atom"), timeout=30)
        wait_for(lambda: not (mirror / "feeds" / ".all.atom.999.tmp").exists(), timeout=10)
        assert (mirror / "feeds" / "tags" / "ख.atom").is_file()
    finally:
        assert again.stop() == 0


def test_a_mirror_that_cannot_be_written_says_so_and_recovers(tmp_path: Path) -> None:
    folder, mirror, config = one_article_site(tmp_path)
    server = start(config, args=("--mirror", str(mirror)))
    try:

        def mirror_health() -> dict:
            return dict(json.loads(server.request("/healthz").body)["mirror"])

        wait_for(lambda: mirror_health()["synced_at"], timeout=30)
        assert mirror_health()["dir"] == str(mirror) and mirror_health()["error"] is None
        shutil.rmtree(mirror / "feeds" / "tags")
        (mirror / "feeds" / "tags").write_text("in the way")
        write(folder, "b.md", md("दूसरा लेख", ["ख"], "2025-03-02"), age=0)
        wait_for(lambda: mirror_health()["error"], timeout=10)
        feed = server.request("/feeds/tags/ख.atom")
        assert feed.status == 200  # serving goes on
        (mirror / "feeds" / "tags").unlink()
        wait_for(lambda: mirror_health()["error"] is None, timeout=10)
        assert (mirror / "feeds" / "tags" / "ख.atom").read_bytes() == feed.body
    finally:
        assert server.stop() == 0


def same_document_file(mirror: Path, server: Server, path: str) -> bool:
    return (mirror / path.lstrip("/")).read_bytes() == server.request(path).body

"""What goes wrong outside a single article, through the real commands: a rebuild
that fails, a state file that cannot be used, an articles folder that is missing."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from feedsvc import warmstart
from feedsvc.config import from_dict
from feedsvc.publisher import Publisher
from feedsvc.scratch import ScratchFile

from .conftest import ROOT, md, wait_for, write
from .server import feedsvc, start, without_root_powers


def _titles(body: bytes) -> list[str]:
    return [entry.title for entry in feedparser.parse(body).entries]


def test_a_failed_rebuild_keeps_the_previous_feeds_and_the_next_change_recovers(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    config = tmp_path / "config.toml"
    config.write_text("[schedule]\nsettle_ms = 100\n")
    command = [sys.executable, "-m", "tests.faulty_serve"]
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + env_path if env_path else "")
    try:
        server = start(config, command=command)
    finally:
        if env_path is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = env_path
    try:
        before = server.request("/feeds/all.atom")
        assert _titles(before.body) == ["पहला"]

        (tmp_path / "FAIL-BUILDS").touch()
        write(folder, "b.md", md("दूसरा", ["क"], "2025-01-02"))
        wait_for(lambda: "rebuild failed" in server.log.read_text())
        during = server.request("/feeds/all.atom")
        assert during.status == 200 and during.body == before.body
        assert during.headers["etag"] == before.headers["etag"]
        assert server.request("/healthz").status == 200

        (tmp_path / "FAIL-BUILDS").unlink()
        write(folder, "c.md", md("तीसरा", ["ख"], "2025-01-03"))
        wait_for(lambda: len(_titles(server.request("/feeds/all.atom").body)) == 3)
        assert _titles(server.request("/feeds/all.atom").body) == ["तीसरा", "दूसरा", "पहला"]
        assert _titles(server.request("/feeds/tags/क.atom").body) == ["दूसरा", "पहला"]
    finally:
        assert server.stop() == 0


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(feedsvc(*args), capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.mark.parametrize("command", ["serve", "build", "check"])
@pytest.mark.parametrize("case", ["parent is a file", "path is a folder"])
def test_an_unusable_state_path_is_a_config_error(tmp_path: Path, command: str, case: str) -> None:
    write(tmp_path / "articles", "a.md", md("लेख"))
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "folder.sqlite3").mkdir()
    state = "blocker/var/state.sqlite3" if case == "parent is a file" else "folder.sqlite3"
    (tmp_path / "config.toml").write_text(f'[state]\npath = "{state}"\n')
    args = {"serve": ["--port", "0"], "build": ["--out", str(tmp_path / "out")], "check": []}
    result = _run(command, *args[command], cwd=tmp_path)
    if command == "check":  # check keeps no state: the path is never touched
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("feedsvc: configuration error: state.path: ")
    assert str(tmp_path / state) in lines[-1]


def test_a_read_only_state_file_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "articles", "a.md", md("लेख"))
    (tmp_path / "config.toml").write_text('[state]\npath = "state.sqlite3"\n')
    assert _run("build", "--out", "out", cwd=tmp_path).returncode == 0
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        if (tmp_path / name).exists():
            (tmp_path / name).chmod(0o444)
    command = without_root_powers(feedsvc("build", "--out", "out"))
    if command is None:
        pytest.skip("running as root without setpriv: root writes every file")
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "configuration error: state.path: " in result.stderr.strip().splitlines()[-1]


def test_check_names_a_missing_articles_folder_and_fails(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[articles]\ndir = "artciles"\n')
    result = _run("check", cwd=tmp_path)
    assert result.returncode == 1
    assert f"articles folder {tmp_path / 'artciles'} does not exist" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "0 articles, 0 tags, 0 rejected"


def test_a_folder_that_appears_is_not_reported_missing_once_its_files_are_in(
    tmp_path: Path,
) -> None:
    """Its files may come in by events before the next full scan: the health must not
    go on saying the folder is missing while it serves them."""
    from feedsvc.config import from_dict
    from feedsvc.publisher import Publisher

    folder = tmp_path / "news" / "articles"
    cfg = from_dict({"articles": {"dir": "news/articles"}, "schedule": {"settle_ms": 0}}, tmp_path)
    publisher = Publisher(cfg, workers=1)
    try:
        before = publisher.rescan()
        assert [str(e) for e in before.health.rejected] == [
            f"articles folder {folder} does not exist (articles.dir)"
        ]
        write(folder, "a.md", md("आ गया", ["क"], "2025-01-01"))
        after = publisher.refresh({"a.md"})  # an event, no scan
    finally:
        publisher.close()
    assert after.health.rejected == () and after.get("/feeds/tags/क.atom") is not None


def test_serve_warns_of_a_missing_articles_folder_and_picks_it_up(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[articles]\ndir = "news/articles"\n[schedule]\nsettle_ms = 100\n')
    server = start(config)
    try:
        folder = tmp_path / "news" / "articles"
        assert f"WARNING articles folder {folder} does not exist" in server.log.read_text()
        health = server.request("/healthz").body.decode()
        assert "does not exist" in health
        write(folder, "a.md", md("आ गया", ["क"], "2025-01-01"))
        wait_for(lambda: server.request("/feeds/tags/क.atom").status == 200)
        assert _titles(server.request("/feeds/all.atom").body) == ["आ गया"]
        assert "does not exist" not in server.request("/healthz").body.decode()
    finally:
        assert server.stop() == 0


def test_a_restart_serves_the_saved_site_while_it_reads_the_folder(
    tmp_path: Path, monkeypatch
) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    config = tmp_path / "config.toml"
    config.write_text("[schedule]\nsettle_ms = 100\n")
    command = [sys.executable, "-m", "tests.faulty_serve"]
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    )
    server = start(config, command=command)
    old = server.request("/feeds/all.atom").body
    saved = tmp_path / "var" / "feedsvc-snapshot.sqlite3"
    wait_for(lambda: warmstart.load(saved) is not None)
    assert server.stop() == 0
    write(folder, "c.md", md("तीसरा", ["क"], "2025-01-03"))  # while it was down
    (tmp_path / "HOLD-SCANS").touch()  # its first look takes as long as the test says
    server = start(config, command=command, whole=False)
    try:
        wait_for(lambda: (tmp_path / "SCAN-HELD").exists())
        health = json.loads(server.request("/healthz").body)
        assert health["checking"] is True and health["error"] is None
        assert server.request("/feeds/all.atom").body == old  # served before the look
        assert server.request("/articles/a").status == 200
        (tmp_path / "HOLD-SCANS").unlink()
        wait_for(lambda: not json.loads(server.request("/healthz").body)["checking"])
        assert _titles(server.request("/feeds/all.atom").body) == ["तीसरा", "दूसरा", "पहला"]
        write(folder, "d.md", md("चौथा", ["ख"], "2025-01-04"))  # and goes on as usual
        wait_for(lambda: _titles(server.request("/feeds/tags/ख.atom").body) == ["चौथा", "दूसरा"])
    finally:
        server.stop()


def test_after_an_upgrade_the_saved_site_is_served_until_the_new_one_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change of settings (as an upgrade of the code) builds the whole site again: the
    saved site is served meanwhile, also while that build fails; a kill -9 in the middle
    of the build serves it again, and the new site arrives whole, on its own, once a
    build succeeds."""
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01", "पहले का पाठ।"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    config = tmp_path / "config.toml"
    mirror = tmp_path / "mirror"
    config.write_text(
        f'[site]\ntitle = "पुराना नाम"\n[schedule]\nsettle_ms = 100\n[mirror]\ndir = "{mirror}"\n'
    )
    server = start(config)
    old = {p: server.request(p).body for p in ("/feeds/all.atom", "/articles/a", "/tags/क")}
    saved = tmp_path / "var" / "feedsvc-snapshot.sqlite3"
    wait_for(lambda: saved.exists() and warmstart.load(saved) is not None)  # whole on disk
    wait_for(lambda: (mirror / "feeds" / "all.atom").is_file())
    assert (mirror / "feeds" / "all.atom").read_bytes() == old["/feeds/all.atom"]
    assert server.stop() == 0
    config.write_text(config.read_text().replace("पुराना नाम", "नया नाम"))
    (tmp_path / "FAIL-BUILDS").touch()  # the new site's build fails: still the saved one
    command = [sys.executable, "-m", "tests.faulty_serve"]
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    )
    server = start(config, command=command, whole=False)
    try:
        wait_for(lambda: "rebuild failed" in server.log.read_text())
        health = json.loads(server.request("/healthz").body)
        assert health["rebuilding"] is True and health["pages"] == "ready"
        for path, body in old.items():  # whole and unchanged, pages too
            reply = server.request(path)
            assert reply.status == 200 and reply.body == body, path
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        (tmp_path / "FAIL-BUILDS").unlink()
        (tmp_path / "HOLD-BUILDS").touch()  # the next build is under way when killed
        server = start(config, command=command, whole=False)
        wait_for(lambda: (tmp_path / "BUILD-HELD").exists())
        health = json.loads(server.request("/healthz").body)
        assert health["rebuilding"] is True
        for path, body in old.items():
            assert server.request(path).body == body, path
        # the mirror keeps the saved site too: it starts once the new one is whole
        assert (mirror / "feeds" / "all.atom").read_bytes() == old["/feeds/all.atom"]
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL  # in the middle of the build
        kept = warmstart.load(saved)  # the saved site, not a half-built one
        assert kept is not None and kept.snapshot.get("/articles/a").body == old["/articles/a"]
        (tmp_path / "HOLD-BUILDS").unlink()
        server = start(config, command=command, whole=False)  # no fault: it builds again
        wait_for(lambda: "नया नाम".encode() in server.request("/articles/a").body)
        assert "नया नाम" in server.request("/feeds/all.atom").body.decode()
        assert json.loads(server.request("/healthz").body)["rebuilding"] is False
        assert _titles(server.request("/feeds/tags/क.atom").body) == ["पहला"]
        wait_for(lambda: "नया नाम".encode() in (mirror / "feeds" / "all.atom").read_bytes())
        write(folder, "c.md", md("तीसरा", ["क"], "2025-01-03"))  # and goes on as usual
        wait_for(lambda: _titles(server.request("/feeds/tags/क.atom").body) == ["तीसरा", "पहला"])
    finally:
        server.stop()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MB tmpfs of its own: a disk that can really fill up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path) -> Path:
    """Fill the disk to its last byte; the file that does it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        size = 65536
        while size:  # smaller and smaller writes, down to one byte
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_fails_the_build_and_the_next_one_after_space_returns_succeeds(
    tmp_path: Path, small_disk: Path
) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    write(folder, "b.md", md("दूसरा", ["ख"], "2025-01-02"))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[state]\npath = "{small_disk}/state.sqlite3"\n[schedule]\nsettle_ms = 100\n'
    )
    server = start(config)
    try:
        before = server.request("/feeds/all.atom")
        saved = small_disk / "state-snapshot.sqlite3"
        wait_for(lambda: warmstart.load(saved) is not None)
        filler = _fill(small_disk)

        # Its row does not fit: the state file cannot take it.
        write(folder, "c.md", md("तीसरा", ["क"], "2025-01-03", "लंबा पाठ। " * 12_000))
        wait_for(lambda: "could not build" in server.log.read_text())
        failures = [line for line in server.log.read_text().splitlines() if "could not" in line]
        assert len(failures) == 1, failures
        assert "disk is full" in failures[0] and str(small_disk) in failures[0]
        health = json.loads(server.request("/healthz").body)
        assert health["status"] == "degraded" and "disk is full" in health["error"]
        during = server.request("/feeds/all.atom")  # the previous site, whole
        assert during.body == before.body and during.headers["etag"] == before.headers["etag"]
        assert server.request("/articles/a").status == 200

        filler.unlink()  # space returns; the next change builds both
        write(folder, "d.md", md("चौथा", ["ख"], "2025-01-04"))
        wait_for(lambda: len(_titles(server.request("/feeds/all.atom").body)) == 4)
        assert _titles(server.request("/feeds/all.atom").body) == ["चौथा", "तीसरा", "दूसरा", "पहला"]
        assert _titles(server.request("/feeds/tags/क.atom").body) == ["तीसरा", "पहला"]
        health = json.loads(server.request("/healthz").body)
        assert health["status"] == "ok" and health["error"] is None
        wait_for(
            lambda: (
                (s := warmstart.load(saved)) is not None and "/articles/d" in s.snapshot.resources
            )
        )
    finally:
        assert server.stop() == 0


def test_a_full_disk_under_the_kept_entries_fails_the_build_not_the_article(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild writes the entries it serializes to a file beside the state: when
    that disk is full the build fails as any other write would (the previous feeds
    served, /healthz saying why), never publishing feeds that leave the article out."""
    folder = tmp_path / "articles"
    write(folder, "a.md", md("पहला", ["क"], "2025-01-01"))
    cfg = from_dict({"articles": {"dir": str(folder)}, "schedule": {"settle_ms": 0}}, tmp_path)
    publisher = Publisher(cfg, workers=1)
    try:
        before = publisher.rescan().get("/feeds/all.atom")
        assert before is not None

        def full(fd: int, end: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        with monkeypatch.context() as patched:
            patched.setattr(ScratchFile, "_append", staticmethod(full))
            write(folder, "b.md", md("दूसरा", ["क"], "2025-01-02"))
            during = publisher.refresh({"b.md"})
            assert during.get("/feeds/all.atom") is before  # not rebuilt without it
            assert "No space left on device" in during.health.error
            assert not any("left out" in problem for problem in during.index.problems)
        after = publisher.refresh({"b.md"})  # space returns: the next look builds it
        assert _titles(after.get("/feeds/all.atom").body) == ["दूसरा", "पहला"]
        assert after.health.error == ""
    finally:
        publisher.close()

"""Icon, logo and accent colour (SPEC §10.5), in every format, and their config errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image as PILImage

from feedsvc.publisher import Publisher
from feedsvc.snapshot import Snapshot

from .conftest import md, write
from .server import feedsvc

BASE = "http://news.example"
ATOM = "{http://www.w3.org/2005/Atom}"
WEBFEEDS = "{http://webfeeds.org/rss/1.0}"
LOGO = "https://cdn.example/लोगो.png"


def _publish(articles_dir: Path, make_config, **site: str) -> Snapshot:
    write(articles_dir, "a.md", md("पहला", ["क"], "2025-01-01"))
    publisher = Publisher(make_config(articles={"dir": str(articles_dir)}, site=site), workers=1)
    try:
        return publisher.rescan()
    finally:
        publisher.close()


@pytest.fixture
def icon(articles_dir: Path) -> str:
    (articles_dir / "brand").mkdir()
    PILImage.new("RGB", (256, 256), (192, 57, 43)).save(articles_dir / "brand" / "icon.png")
    return "brand/icon.png"


def test_icon_logo_and_accent_in_every_format(articles_dir: Path, make_config, icon: str) -> None:
    snapshot = _publish(articles_dir, make_config, icon=icon, logo=LOGO, accent_color="C0392B")
    icon_url, logo_url = (
        f"{BASE}/media/brand/icon.png",
        "https://cdn.example/%E0%A4%B2%E0%A5%8B%E0%A4%97%E0%A5%8B.png",
    )

    atom = etree.fromstring(snapshot.get("/feeds/tags/क.atom").body)
    assert atom.findtext(f"{ATOM}icon") == icon_url and atom.findtext(f"{ATOM}logo") == logo_url

    rss = etree.fromstring(snapshot.get("/feeds/tags/क.rss").body)
    channel = rss.find("channel")
    image = channel.find("image")
    assert image.findtext("url") == logo_url
    assert image.findtext("title") == "हिंदी समाचार — क"
    assert image.findtext("link") == f"{BASE}/tags/%E0%A4%95"
    assert channel.findtext(f"{WEBFEEDS}icon") == icon_url
    assert channel.findtext(f"{WEBFEEDS}logo") == logo_url
    assert channel.findtext(f"{WEBFEEDS}accentColor") == "c0392b"

    feed = json.loads(snapshot.get("/feeds/all.json").body)
    assert feed["icon"] == feed["favicon"] == icon_url

    served = snapshot.get("/media/brand/icon.png")
    assert served is not None and served.content_type == "image/png"
    assert served.body == (articles_dir / "brand" / "icon.png").read_bytes()


def test_without_a_logo_the_rss_image_is_the_icon(
    articles_dir: Path, make_config, icon: str
) -> None:
    snapshot = _publish(articles_dir, make_config, icon=icon)
    channel = etree.fromstring(snapshot.get("/feeds/all.rss").body).find("channel")
    assert channel.find("image").findtext("url") == f"{BASE}/media/brand/icon.png"
    assert channel.find(f"{WEBFEEDS}accentColor") is None
    atom = etree.fromstring(snapshot.get("/feeds/all.atom").body)
    assert atom.find(f"{ATOM}logo") is None


def test_no_branding_declares_no_webfeeds(articles_dir: Path, make_config) -> None:
    snapshot = _publish(articles_dir, make_config)
    for path in ("/feeds/all.rss", "/feeds/all.atom"):
        body = snapshot.get(path).body
        assert b"webfeeds" not in body and b"<image>" not in body and b"<icon>" not in body
    assert "icon" not in json.loads(snapshot.get("/feeds/all.json").body)


def test_a_missing_icon_file_is_reported_and_left_out(articles_dir: Path, make_config) -> None:
    snapshot = _publish(articles_dir, make_config, icon="brand/missing.png")
    assert (
        "site.icon: no file brand/missing.png in the articles folder; left out"
        in snapshot.index.problems
    )
    assert b"<icon>" not in snapshot.get("/feeds/all.atom").body


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "accent_color",
            "red",
            "site.accent_color must be six hex digits such as c0392b, not 'red'",
        ),
        (
            "icon",
            "ftp://x.example/i.png",
            "site.icon must be an http(s) URL or a path, not 'ftp://x.example/i.png'",
        ),
    ],
)
def test_bad_branding_is_a_config_error(tmp_path: Path, key: str, value: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(f'[site]\n{key} = "{value}"\n')
    result = subprocess.run(
        feedsvc("check", "--config", str(tmp_path / "config.toml")), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"feedsvc: configuration error: {message}"

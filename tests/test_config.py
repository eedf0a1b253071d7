from __future__ import annotations

import os
from pathlib import Path

import pytest

from feedsvc.cli import main
from feedsvc.config import find_config, from_dict, load_config
from feedsvc.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid_and_lists_every_section() -> None:
    cfg = load_config(ROOT / "config.toml")
    assert cfg.articles_dir == ROOT / "articles"
    assert cfg.site.timezone == "Asia/Kolkata"
    assert cfg.feeds.max_items == 50 and cfg.feeds.max_bytes == 524288
    assert cfg.tags["TRUMP"].name == "ट्रंप"
    assert cfg.tags["राजनीति"].slug == "politics"
    assert cfg.sections["शहर"].slug == "shahar" and cfg.sections["desh"].name == "देश"
    assert cfg.authors["रीना शर्मा"].email == "reena@feedsvc.example"


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEEDSVC_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.source is None
    assert cfg.state_path == tmp_path / "var" / "feedsvc.sqlite3"
    assert cfg.site.base_url == "http://127.0.0.1:8000"
    assert cfg.authority == "127.0.0.1"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"site": {"titel": "x"}}, "site.titel"),
        ({"feeds": {"max_items": "50"}}, "feeds.max_items"),
        ({"feeds": {"summary_only": 1}}, "feeds.summary_only"),
        ({"schedule": {"rescan_seconds": True}}, "schedule.rescan_seconds"),
        ({"feeds": {"max_items": 0}}, "feeds.max_items"),
        ({"server": {"port": 80.5}}, "server.port"),
        ({"sites": {}}, "[sites]"),
        ({"site": {"base_url": "ftp://x"}}, "site.base_url"),
        ({"site": {"timezone": "Mars/Olympus"}}, "site.timezone"),
        ({"site": {"base_url": "http://" + "a" * 70 + ".com"}}, "site.base_url"),
        ({"site": {"base_url": "http://x:99999"}}, "site.base_url"),
        ({"tags": {"x": {"name": "a", "colour": "b"}}}, "tags.x.colour"),
        ({"tags": {"x": {"slug": "राजनीति"}}}, "tags.x.slug"),
        ({"tags": {"x": 3}}, "tags.x"),
        ({"tags": {"x": {"uri": "https://a.example"}}}, "tags.x.uri"),  # authors only
        ({"feeds": {"tombstone_days": 0}}, "feeds.tombstone_days"),
        ({"dashboard": {"port": "8001"}}, "dashboard.port"),
        ({"dashboard": {"password": "x"}}, "dashboard.password"),  # from the environment
        ({"stats": {"keep_days": 7}}, "stats.keep_days"),
        ({"feeds": {"tombstone_days": -1.5}}, "feeds.tombstone_days"),
        ({"feeds": {"tombstone_days": "7"}}, "feeds.tombstone_days"),
        ({"sections": {"desh": {"slug": "देश"}}}, "sections.desh.slug"),
        ({"sections": {"desh": ""}}, "sections.desh"),
        ({"sections": []}, "[sections]"),
        ({"authors": {"रीना": {"uri": "javascript:alert(1)"}}}, "authors.रीना.uri"),
        ({"authors": {"रीना": {"email": "not an address"}}}, "authors.रीना.email"),
        ({"authors": {"रीना": {"name": "रीना", "twitter": "x"}}}, "authors.रीना.twitter"),
    ],
)
def test_invalid_config_names_the_key(raw: dict, named: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(raw, tmp_path)
    assert named in str(caught.value)


def test_tombstone_days_take_whole_days_and_fractions(tmp_path: Path) -> None:
    assert from_dict({"feeds": {"tombstone_days": 7}}, tmp_path).feeds.tombstone_days == 7.0
    assert from_dict({"feeds": {"tombstone_days": 0.25}}, tmp_path).feeds.tombstone_days == 0.25


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "srv" / "news"
    site.mkdir(parents=True)
    (site / "config.toml").write_text('[articles]\ndir = "posts"\n[state]\npath = "s/db"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(str(site / "config.toml"))
    assert cfg.articles_dir == site / "posts"
    assert cfg.state_path == site / "s" / "db"


def test_environment_variable_names_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.toml").write_text('[site]\ntitle = "परीक्षण"\n')
    monkeypatch.setenv("FEEDSVC_CONFIG", str(tmp_path / "c.toml"))
    assert find_config() == tmp_path / "c.toml"
    assert load_config().site.title == "परीक्षण"


def test_invalid_config_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[feeds]\nmax_items = 'many'\n")
    for command in (["check"], ["build", "--out", str(tmp_path / "o")], ["serve"]):
        assert main([command[0], "--config", str(bad), *command[1:]]) == 2
        err = capsys.readouterr().err
        assert "feeds.max_items" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    assert main(["check", "--config", os.fspath(tmp_path / "nope.toml")]) == 2


def test_broken_toml_config_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_base_url_is_ascii_with_a_lower_case_host(tmp_path: Path) -> None:
    cfg = from_dict({"site": {"base_url": "HTTPS://News.Example:8443/समाचार/"}}, tmp_path)
    assert (
        cfg.base_url
        == "https://news.example:8443/%E0%A4%B8%E0%A4%AE%E0%A4%BE%E0%A4%9A%E0%A4%BE%E0%A4%B0"
    )
    idn = from_dict({"site": {"base_url": "http://समाचार.भारत"}}, tmp_path)
    assert idn.base_url.isascii() and idn.base_url.startswith("http://xn--")

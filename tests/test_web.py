"""The Flask app through its test client: HTTP semantics, pages, redirects, hostile input."""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from lxml import html as lxml_html

from feedsvc.publisher import Publisher
from feedsvc.web import create_app

from .conftest import ROOT, md, write

try:
    import brotli
except ImportError:  # optional
    brotli = None


@pytest.fixture
def client(seeded: Path, make_config) -> Iterator[FlaskClient]:
    for sample in (ROOT / "articles").glob("*.md"):
        shutil.copy2(sample, seeded / sample.name)
    write(
        seeded,
        "korea.md",
        md(
            'कोरिया <b>खबर</b> & "उद्धरण"',
            ["उत्तर कोरिया", "<script>"],
            "2025-07-20T10:00:00+05:30",
            "सियोल। <script>alert(1)</script>खबर।",
        ),
    )
    cfg = make_config(
        articles={"dir": str(seeded)}, tags={"राजनीति": {"name": "राजनीति", "slug": "politics"}}
    )
    publisher = Publisher(cfg)
    publisher.rescan()
    app = create_app(cfg, lambda: publisher.snapshot)
    yield app.test_client()
    publisher.close()


CONTENT_TYPES = {
    "/feeds/all.atom": "application/atom+xml; charset=utf-8",
    "/feeds/all.rss": "application/rss+xml; charset=utf-8",
    "/feeds/tags/trump.atom": "application/atom+xml; charset=utf-8",
    "/feeds.opml": "text/x-opml; charset=utf-8",
    "/": "text/html; charset=utf-8",
    "/tags/trump": "text/html; charset=utf-8",
    "/articles/000_8fc8ec9304f2c137": "text/html; charset=utf-8",
}


@pytest.mark.parametrize(("path", "kind"), CONTENT_TYPES.items())
def test_200_with_validators_and_exact_content_type(
    client: FlaskClient, path: str, kind: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == kind
    assert response.headers["ETag"].startswith('"') and not response.headers["ETag"].startswith(
        "W/"
    )
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Cache-Control"] in ("public, max-age=60", "max-age=60, public")


def test_304_on_if_none_match_and_if_modified_since(client: FlaskClient) -> None:
    first = client.get("/feeds/tags/trump.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = client.get("/feeds/tags/trump.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    listed = client.get("/feeds/tags/trump.atom", headers={"If-None-Match": f'"nope", {etag}'})
    assert listed.status_code == 304
    star = client.get("/feeds/tags/trump.atom", headers={"If-None-Match": "*"})
    assert star.status_code == 304
    since = client.get("/feeds/tags/trump.atom", headers={"If-Modified-Since": modified})
    assert since.status_code == 304 and since.data == b"" and since.headers["ETag"] == etag
    old = client.get(
        "/feeds/tags/trump.atom", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert old.status_code == 200 and old.data == first.data
    stale = client.get("/feeds/tags/trump.atom", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200


def test_gzip_and_brotli_decompress_to_identical_bytes(client: FlaskClient) -> None:
    plain = client.get("/feeds/all.rss")
    zipped = client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]  # a strong ETag per representation
    repeat = client.get(
        "/feeds/all.rss",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]},
    )
    assert repeat.status_code == 304
    refused = client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.data == plain.data
    if brotli is not None:
        br = client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip;q=0.5, br;q=0.9"})
        assert br.headers["Content-Encoding"] == "br"
        assert brotli.decompress(br.data) == plain.data
        preferred = client.get("/feeds/all.rss", headers={"Accept-Encoding": "br;q=0.1, gzip"})
        assert preferred.headers["Content-Encoding"] == "gzip"


def test_head_has_headers_and_no_body(client: FlaskClient) -> None:
    get = client.get("/feeds/all.atom")
    head = client.head("/feeds/all.atom")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(get.data))


def test_range_requests(client: FlaskClient) -> None:
    whole = client.get("/feeds/all.atom").data
    part = client.get("/feeds/all.atom", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == whole[:100]


def test_devanagari_slugs_raw_and_percent_encoded(client: FlaskClient) -> None:
    encoded = client.get("/feeds/tags/" + quote("उत्तर-कोरिया") + ".atom")
    raw = client.get("/feeds/tags/उत्तर-कोरिया.atom")
    assert encoded.status_code == raw.status_code == 200 and encoded.data == raw.data
    lower = client.get("/tags/" + quote("उत्तर-कोरिया").lower())
    assert lower.status_code == 200


@pytest.mark.parametrize(
    ("asked", "canonical"),
    [
        ("/tags/TRUMP", "/tags/trump"),
        ("/tags/Trump", "/tags/trump"),
        ("/feeds/tags/TRUMP.atom", "/feeds/tags/trump.atom"),
        ("/feeds/tags/%EF%BC%B4%EF%BC%B2%EF%BC%B5%EF%BC%AD%EF%BC%B0.rss", "/feeds/tags/trump.rss"),
        ("/tags/" + quote("उत्तर कोरिया"), "/tags/" + quote("उत्तर-कोरिया")),
        ("/tags/" + quote("उत्तर_कोरिया"), "/tags/" + quote("उत्तर-कोरिया")),
        ("/tags/" + quote("राजनीति"), "/tags/politics"),
        ("/feeds/tags/" + quote("राजनीति") + ".atom", "/feeds/tags/politics.atom"),
    ],
)
def test_non_canonical_spellings_redirect(client: FlaskClient, asked: str, canonical: str) -> None:
    response = client.get(asked)
    assert response.status_code == 301
    assert response.headers["Location"] == "http://news.example" + canonical


def test_decomposed_article_id_redirects(articles_dir: Path, make_config) -> None:
    write(articles_dir, "ज़रा.md", md("ज़रा", ["क"], "2025-01-01"))  # NFC: decomposed nukta
    cfg = make_config(articles={"dir": str(articles_dir)})
    publisher = Publisher(cfg)
    publisher.rescan()
    client = create_app(cfg, lambda: publisher.snapshot).test_client()
    canonical = "/articles/" + quote("\u091c\u093cरा")
    assert client.get(canonical).status_code == 200
    response = client.get("/articles/" + quote("\u095bरा"))  # precomposed spelling
    assert response.status_code == 301 and response.headers["Location"].endswith(canonical)
    publisher.close()


def test_pages_are_hindi_with_autodiscovery(client: FlaskClient) -> None:
    page: Any = lxml_html.fromstring(client.get("/").data)
    assert page.get("lang") == "hi"
    alternates = {(ln.get("type"), ln.get("href")) for ln in page.xpath("//link[@rel='alternate']")}
    assert ("application/atom+xml", "http://news.example/feeds/all.atom") in alternates
    assert ("application/rss+xml", "http://news.example/feeds/all.rss") in alternates
    text = page.text_content()
    assert "ताज़ा समाचार" in text and "विषय" in text
    assert "Russia-North Korea Ties Deepen: लावरोव की उत्तर कोरिया यात्रा पर दुनिया की नजरें" in text
    tag = lxml_html.fromstring(client.get("/tags/trump").data)
    hrefs = {ln.get("href") for ln in tag.xpath("//link[@rel='alternate']")}
    assert "http://news.example/feeds/tags/trump.atom" in hrefs
    article: Any = lxml_html.fromstring(client.get("/articles/000_8fc8ec9304f2c137").data)
    assert article.xpath("//h1")[0].text_content().startswith("Russia-North Korea")
    assert len(article.xpath("//article/p[not(@class)]")) == 7
    months = "जनवरी|फ़रवरी|मार्च|अप्रैल|मई|जून|जुलाई|अगस्त|सितंबर|अक्तूबर|नवंबर|दिसंबर"
    assert re.search(rf"प्रकाशित \d{{1,2}} ({months}) 20\d\d", article.text_content())


def test_hindi_dates_on_pages(articles_dir: Path, make_config) -> None:
    write(articles_dir, "a.md", md("तारीख़", ["क"], "2026-11-27T10:00:00"))
    cfg = make_config(articles={"dir": str(articles_dir)})
    publisher = Publisher(cfg)
    publisher.rescan()
    client = create_app(cfg, lambda: publisher.snapshot).test_client()
    assert "27 नवंबर 2026" in client.get("/articles/a").get_data(as_text=True)
    publisher.close()


def test_titles_and_tags_are_escaped_bodies_sanitized(client: FlaskClient) -> None:
    page = client.get("/articles/korea").get_data(as_text=True)
    assert "<script>" not in page and "<b>खबर</b>" not in page
    assert "कोरिया &lt;b&gt;खबर&lt;/b&gt; &amp; &#34;उद्धरण&#34;" in page
    index = client.get("/").get_data(as_text=True)
    assert "<script>" not in index


def test_healthz(client: FlaskClient) -> None:
    body = client.get("/healthz").get_json()
    assert body["articles"] == 7 and body["tags"] >= 10
    assert body["last_scan"] and isinstance(body["rejected"], list)
    assert [s["path"] for s in body["scheduled"]] == ["budget-2027.md"]


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/tags/नहीं-है",
        "/articles/नहीं",
        "/feeds/tags/none.atom",
        "/feeds/all.xml",
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/feeds/..%2F..%2Fetc%2Fpasswd",
        "/articles/%00",
        "/tags/%ff%fe",
        "/x" * 3000,
        "/feeds/tags/.atom",
        "/404",
        "/media/../x",
        "/feeds/tags/%E0%A4.atom",
        "/tags/..",
        "/tags/.",
        "/articles/../config.toml",
    ],
)
def test_unknown_and_hostile_paths_get_a_hindi_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 400), path
    if response.status_code == 404:
        text = response.get_data(as_text=True)
        assert "पृष्ठ नहीं मिला" in text
        assert "passwd" not in text and "नहीं-है" not in text  # the request is not echoed


def test_huge_query_string_and_odd_methods(client: FlaskClient) -> None:
    assert client.get("/feeds/all.atom?" + "x=" + "क" * 10_000).status_code == 200
    assert client.post("/feeds/all.atom").status_code == 405
    assert client.delete("/").status_code == 405


def test_forged_host_changes_nothing(client: FlaskClient) -> None:
    normal = client.get("/feeds/all.atom")
    forged = client.get("/feeds/all.atom", headers={"Host": "evil.example"})
    assert forged.data == normal.data
    redirect = client.get("/tags/TRUMP", headers={"Host": "evil.example"})
    assert redirect.headers["Location"].startswith("http://news.example/")
    assert b"evil" not in client.get("/", headers={"Host": "evil.example"}).data


# -- hostile requests: (method, path, headers) -> never a 500, nothing from outside the
# snapshot, nothing of the request echoed into HTML unescaped -------------------------

HOSTILE_REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/../../etc/passwd", {}),
    ("GET", "/%2e%2e/%2e%2e/etc/passwd", {}),
    ("GET", "/%252e%252e/etc/passwd", {}),
    ("GET", "/feeds/%2e%2e/%2e%2e/config.toml", {}),
    ("GET", "/feeds/tags/..%2f..%2fconfig.toml", {}),
    ("GET", "/feeds/tags/..%5c..%5cconfig.toml", {}),
    ("GET", "/articles/..%2F..%2Fvar%2Ffeedsvc.sqlite3", {}),
    ("GET", "/media/../config.toml", {}),
    ("GET", "/media/%2e%2e/config.toml", {}),
    ("GET", "//etc/passwd", {}),
    ("GET", "/./feeds/all.atom", {}),
    ("GET", "/feeds//all.atom", {}),
    ("GET", "/feeds/all.atom%00.html", {}),
    ("GET", "/%00", {}),
    ("GET", "/tags/%ff%fe%fd", {}),
    ("GET", "/tags/%c0%ae%c0%ae", {}),
    ("GET", "/tags/%E0%A4", {}),
    ("GET", "/tags/%zz", {}),
    ("GET", "/tags/%", {}),
    ("GET", "/tags/<script>alert(1)</script>", {}),
    ("GET", "/tags/%3Cscript%3Ealert(1)%3C%2Fscript%3E", {}),
    ("GET", "/articles/%0d%0aSet-Cookie:%20x=1", {}),
    ("GET", "/" + "a" * 20_000, {}),
    ("GET", "/tags/" + "क" * 5_000, {}),
    ("GET", "/feeds/all.atom?" + "q=" + "x" * 10_000, {}),
    ("GET", "/?<script>=1&a=%ff", {}),
    ("GET", "/feeds/all.atom", {"Host": "evil.example"}),
    ("GET", "/tags/TRUMP", {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}),
    ("GET", "/feeds/all.atom", {"Accept-Encoding": "gzip;q=abc, br;q=1.5"}),
    ("GET", "/feeds/all.atom", {"Accept-Encoding": "*;q=0"}),
    ("GET", "/feeds/all.atom", {"Accept-Encoding": "identity;q=0, *;q=0"}),
    ("GET", "/feeds/all.atom", {"Accept-Encoding": "x" * 8000}),
    ("GET", "/feeds/all.atom", {"Accept-Encoding": ",,,;;;q=,"}),
    ("GET", "/feeds/all.atom", {"If-None-Match": "*"}),
    ("GET", "/feeds/all.atom", {"If-None-Match": '"a", "b", W/"c", ' * 200}),
    ("GET", "/feeds/all.atom", {"If-None-Match": "not-quoted"}),
    ("GET", "/feeds/all.atom", {"If-Modified-Since": "yesterday"}),
    ("GET", "/feeds/all.atom", {"If-Modified-Since": "Mon, 99 Foo 99999 99:99:99 GMT"}),
    ("GET", "/feeds/all.atom", {"If-Modified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"}),
    ("GET", "/feeds/all.atom", {"Range": "bytes=999999999-"}),
    ("GET", "/feeds/all.atom", {"Range": "bytes=a-b"}),
    ("GET", "/feeds/all.atom", {"Range": "bytes=0-1,2-3,4-5"}),
    ("GET", "/feeds/all.atom", {"If-Range": "garbage", "Range": "bytes=0-10"}),
    ("HEAD", "/feeds/all.atom", {"Accept-Encoding": "br"}),
    ("POST", "/feeds/all.atom", {}),
    ("PUT", "/articles/new", {}),
    ("DELETE", "/feeds/all.atom", {}),
    ("PATCH", "/", {}),
    ("OPTIONS", "/", {}),
    ("TRACE", "/", {}),
    ("GET", "/healthz", {"Accept": "text/html"}),
]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    HOSTILE_REQUESTS,
    ids=[f"{m} {p[:40]} {list(h)}" for m, p, h in HOSTILE_REQUESTS],
)
def test_hostile_requests(client: FlaskClient, method: str, path: str, headers: dict) -> None:
    response = client.open(path, method=method, headers=headers)
    assert response.status_code < 500
    body = response.get_data()
    assert b"[site]" not in body and b"root:" not in body and b"SQLite format" not in body
    if response.status_code == 200 and method == "GET":
        served = response.get_data() if "Content-Encoding" not in response.headers else None
        if served is not None and response.headers["Content-Type"].startswith(
            ("application/", "text/")
        ):
            snapshot = client.application.extensions["feedsvc"]["snapshots"]()
            assert any(r.body == served for r in snapshot.resources.values()) or response.headers[
                "Content-Type"
            ].startswith("application/json")
    lowered = body.lower()
    assert b"<script>alert" not in lowered and b"evil.example" not in lowered
    assert "Set-Cookie" not in response.headers


def test_hostile_request_count() -> None:
    assert len(HOSTILE_REQUESTS) >= 40

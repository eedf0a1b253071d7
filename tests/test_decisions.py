"""The pure decisions, alone: a file's identity and dates (ingest.identify, resolve)
and what a build renders (site.Plan). No folder, no store, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from feedsvc.articles import Article, ParsedArticle
from feedsvc.ingest import Seen, identify, resolve
from feedsvc.site import Plan
from feedsvc.snapshot import Resource
from feedsvc.store import FileRecord
from feedsvc.topics import ALL, Ref

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC).timestamp()


def record(path: str = "a.md", digest: str = "h1", present: bool = True) -> FileRecord:
    return FileRecord(
        path=path,
        id="first-id",
        hash=digest,
        size=10,
        mtime_ns=int(T0 * 1e9),
        first_seen=T0,
        changed_at=T0,
        present=present,
    )


def test_a_new_file_is_identified_by_its_path_and_its_time() -> None:
    assert identify("news/a.md", "h1", T0 + 5, None, None) == Seen("news/a", T0 + 5, T0 + 5)


def test_an_unchanged_file_keeps_everything() -> None:
    assert identify("a.md", "h1", T0 + 99, record(), None) == Seen("first-id", T0, T0)


def test_an_edited_file_keeps_its_id_and_first_time_and_changes_now() -> None:
    assert identify("a.md", "h2", T0 + 60, record(), None) == Seen("first-id", T0, T0 + 60)
    # a modification time before first seen (a restored backup) is not a change back in time
    assert identify("a.md", "h2", T0 - 60, record(), None) == Seen("first-id", T0, T0)


def test_a_moved_file_continues_the_row_it_came_from() -> None:
    old = record("old/a.md", present=False)
    assert identify("new/a.md", "h1", T0 + 5, None, old) == Seen("first-id", T0, T0, "old/a.md")
    # its own row, when it has one, wins over a look-alike elsewhere
    assert identify("a.md", "h1", T0 + 5, record(), old).moved_from is None


def parsed(**fields: object) -> ParsedArticle:
    values: dict[str, object] = {
        "id": "a",
        "path": "a.md",
        "title": "शीर्षक",
        "body_html": "<p>पाठ</p>",
        "summary": "पाठ",
        "tags": ("क",),
    }
    return ParsedArticle(**(values | fields))  # type: ignore[arg-type]


def test_dates_the_file_does_not_give_come_from_the_store() -> None:
    article = resolve(parsed(), Seen("first-id", T0, T0), "h1", IST)
    assert isinstance(article, Article)
    assert article.id == "first-id"  # no id in the file: the one first seen with
    assert article.date == article.updated == datetime.fromtimestamp(T0, IST)
    assert article.date.utcoffset() == timedelta(hours=5, minutes=30)
    assert article.source == "h1"


def test_a_change_after_first_seen_is_the_update() -> None:
    article = resolve(parsed(), Seen("a", T0, T0 + 3600), "h2", IST)
    assert article.updated - article.date == timedelta(hours=1)


def test_the_file_s_own_id_and_dates_win() -> None:
    date = datetime(2025, 7, 12, 10, 0, tzinfo=IST)
    given = parsed(id="given/id", explicit_id=True, date=date)
    article = resolve(given, Seen("first-id", T0, T0 + 60), "h", IST)
    assert article.id == "given/id" and article.date == date
    assert article.updated == datetime.fromtimestamp(T0 + 60, IST)


def test_updated_is_never_before_published() -> None:
    date = datetime(2025, 7, 12, 10, 0, tzinfo=IST)
    article = resolve(
        parsed(date=date, updated=date - timedelta(days=1)), Seen("a", T0, T0), "h", IST
    )
    assert article.updated == article.date == date


def test_equal_articles_do_not_depend_on_their_bodies() -> None:
    seen = Seen("a", T0, T0)
    one = resolve(parsed(body_html="<p>एक</p>"), seen, "h1", IST)
    two = resolve(parsed(body_html="<p>दो</p>"), seen, "h1", IST)
    assert one == two  # the digest of the file stands for the body


def _resource() -> Resource:
    return Resource.make(b"x", "text/html; charset=utf-8", datetime(2026, 1, 1, tzinfo=UTC))


def _article(article_id: str, tags: tuple[str, ...]) -> Article:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return Article(article_id, f"{article_id}.md", "t", when, when, "h", tags)


def test_a_full_plan_renders_everything() -> None:
    plan = Plan.full({"/tags/क": _resource()})
    assert plan.is_full
    assert plan.renders(Ref("tag", "क"), "/tags/क") and plan.renders_article("a", "/articles/a")


def test_a_partial_plan_renders_what_was_touched_or_is_missing() -> None:
    previous = {"/tags/क": _resource(), "/tags/ख": _resource(), "/articles/a": _resource()}
    plan = Plan.partial(frozenset({Ref("tag", "क")}), frozenset({"b"}), previous)
    assert not plan.is_full
    assert plan.renders(Ref("tag", "क"), "/tags/क")
    assert not plan.renders(Ref("tag", "ख"), "/tags/ख")  # carried over
    assert plan.renders(Ref("tag", "ग"), "/tags/ग")  # new: nothing to carry
    assert plan.renders(ALL, "/feeds/all.atom")  # `all` holds every change
    assert not plan.renders_article("a", "/articles/a")
    assert plan.renders_article("b", "/articles/b")


def test_a_renamed_tag_widens_the_plan_to_every_feed_of_its_articles() -> None:
    a, b = _article("a", ("क", "ख")), _article("b", ("ग",))
    k, kh, g = Ref("tag", "क"), Ref("tag", "ख"), Ref("tag", "ग")
    members = {k: [a], kh: [a], g: [b]}
    plan = Plan.partial(frozenset(), frozenset(), {})
    before = {"क": ("k", "क"), "ख": ("kh", "ख"), "ग": ("g", "ग")}  # stored refs
    after = before | {"क": ("k", "नया नाम")}
    wider = plan.widened(before, after, members)
    assert wider.topics == frozenset({k, kh}) and wider.articles == frozenset({"a"})
    assert plan.widened(before, before, members) is plan


def test_a_renamed_section_widens_the_plan_to_its_sub_sections_and_articles() -> None:
    a = _article("a", ("क",))
    top, sub = Ref("section", "shahar"), Ref("section", "shahar/lucknow")
    members = {top: [a], sub: [a], Ref("tag", "क"): [a]}
    before = {top.stored: ("shahar", "शहर"), sub.stored: ("shahar/lucknow", "लखनऊ")}
    after = {top.stored: ("city", "शहर"), sub.stored: ("city/lucknow", "लखनऊ")}
    wider = Plan.partial(frozenset(), frozenset(), {}).widened(before, after, members)
    assert wider.topics == frozenset(members) and wider.articles == frozenset({"a"})

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.errors import ArticleError
from feedsvc.text import (
    ELLIPSIS,
    SLUG_MAX,
    clean,
    clean_line,
    parse_date,
    split_tags,
    summarize,
    tag_key,
    tag_slug,
)

IST = ZoneInfo("Asia/Kolkata")
ZARA_PRECOMPOSED = "\u095b" + "रा"  # ज़ typed as one code point
ZARA_DECOMPOSED = "\u091c\u093c" + "रा"


@pytest.mark.parametrize(
    "spelling", ["TRUMP", "Trump", " trump ", "ＴＲＵＭＰ", "tr\u200dump", "TRU\u00adMP"]
)
def test_spellings_of_one_tag_share_a_key(spelling: str) -> None:
    assert tag_key(spelling) == "trump"


def test_lookalike_letters_are_another_tag() -> None:
    assert tag_key("TRUМP") != "trump"  # Cyrillic М


def test_nukta_letters_typed_either_way_are_one_tag() -> None:
    assert tag_key(ZARA_PRECOMPOSED) == tag_key(ZARA_DECOMPOSED)
    # NFC decomposes U+095B; compare after NFC, never assume "precomposed".
    assert tag_key(ZARA_PRECOMPOSED) == unicodedata.normalize("NFC", ZARA_DECOMPOSED)


def test_separators_and_digits_fold() -> None:
    assert tag_key("उत्तर कोरिया") == tag_key("उत्तर-कोरिया") == tag_key("उत्तर__कोरिया")
    assert tag_key("G२०") == tag_key("g20")


@pytest.mark.parametrize(
    ("tag", "slug"),
    [
        ("भारत की राजनीति", "भारत-की-राजनीति"),  # matras kept: not भरत-क-रजनत
        ("उत्तर कोरिया", "उत्तर-कोरिया"),
        ("TRUMP", "trump"),
        ("C++ / Rust!", "c-rust"),
        ("कला", "कला"),
        ("काला", "काला"),
        ("...", ""),
    ],
)
def test_slugs_keep_devanagari(tag: str, slug: str) -> None:
    assert tag_slug(tag_key(tag)) == slug


def test_long_slug_is_cut_on_a_grapheme_boundary() -> None:
    slug = tag_slug(tag_key("क्षि" * 40))
    assert len(slug) <= SLUG_MAX
    assert regex.fullmatch(r"(?:क्षि)+", slug)


def test_split_tags_cleans_each_label() -> None:
    assert split_tags("TRUMP, US,  ,DONALD\r") == ["TRUMP", "US", "DONALD"]
    assert split_tags("\u202eX\u202c, \u00a0Y\u200b") == ["X", "Y"]


def test_clean_removes_what_xml_forbids() -> None:
    dirty = "a\x00b\x08c\x0bd\x7fe\x85f\ufffeg\uffffh\ufeffi\u200bj\tk\nl\ud800m"
    assert clean(dirty) == "abcdefghij\tk\nlm"
    assert clean_line("  शीर्षक\u202e उलटा\u2066 \n") == "शीर्षक उलटा"


@given(
    st.text(
        st.one_of(
            st.characters(),
            st.sampled_from("\x00\x85\ufeff\u200b\ufffe\U0001fffe\U0010ffff\U00020000"),
        )
    )
)
def test_clean_removes_exactly_the_unwanted_characters(text: str) -> None:
    def unwanted(c: str) -> bool:
        point = ord(c)
        return (
            (point < 0x20 and c not in "\t\n")
            or 0x7F <= point <= 0x9F
            or 0xD800 <= point <= 0xDFFF
            or 0xFDD0 <= point <= 0xFDEF
            or c in "\ufeff\u200b"
            or point & 0xFFFE == 0xFFFE
        )

    kept = "".join(c for c in text if not unwanted(c))
    assert clean(text) == unicodedata.normalize("NFC", kept)


SEED_PARAGRAPH = (
    "वॉशिंगटन/प्योंगयांग। रूस और उत्तर कोरिया के बीच बढ़ती रणनीतिक नजदीकियों के बीच रूसी विदेश "
    "मंत्री सर्गेई लावरोव शनिवार को उत्तर कोरिया पहुंचे। यह दौरा ऐसे समय में हो रहा है जब दोनों "
    "देश हाल के वर्षों में आपसी सहयोग को नए आयाम देने की कोशिश कर रहे हैं।"
)


def test_summary_is_not_just_the_dateline() -> None:
    summary = summarize(SEED_PARAGRAPH, 120)
    assert summary != "वॉशिंगटन/प्योंगयांग।"
    assert summary.startswith("वॉशिंगटन/प्योंगयांग। रूस")
    assert len(summary) <= 120


def test_summary_cuts_at_the_last_sentence_end_that_fits() -> None:
    first_two = SEED_PARAGRAPH[: SEED_PARAGRAPH.index("पहुंचे।") + len("पहुंचे।")]
    assert summarize(SEED_PARAGRAPH, len(first_two) + 10) == first_two + ELLIPSIS
    assert summarize(SEED_PARAGRAPH, 1000) == SEED_PARAGRAPH


def test_summary_without_sentence_end_cuts_at_a_word_with_ellipsis() -> None:
    text = "शब्द " * 100
    summary = summarize(text, 50)
    assert summary.endswith(ELLIPSIS) and len(summary) <= 50
    assert summary[:-1].split(" ")[-1] == "शब्द"


def test_one_huge_word_is_cut_between_graphemes() -> None:
    summary = summarize("क्षि" * 25_000, 280)
    assert summary.endswith(ELLIPSIS) and len(summary) <= 280
    assert regex.fullmatch(r"(?:क्षि)+…", summary)


@given(st.text(min_size=0, max_size=400), st.integers(min_value=20, max_value=300))
def test_summary_never_breaks_a_grapheme(text: str, limit: int) -> None:
    summary = summarize(text, limit)
    assert len(summary) <= limit
    body = summary.removesuffix(ELLIPSIS)
    folded = regex.sub(r"\s+", " ", text).strip()
    assert folded.startswith(body)
    if body and len(body) < len(folded):
        clusters = [m.end() for m in regex.finditer(r"\X", folded)]
        assert len(body) in clusters


@given(st.text(max_size=60))
def test_tag_key_is_idempotent_and_slug_is_clean(tag: str) -> None:
    key = tag_key(tag)
    assert tag_key(key) == key
    slug = tag_slug(key)
    assert not slug.startswith("-") and not slug.endswith("-") and "--" not in slug
    assert "/" not in slug and "." not in slug and len(slug) <= SLUG_MAX


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-07-12", datetime(2025, 7, 12, tzinfo=IST)),
        ("२०२५-०७-१२", datetime(2025, 7, 12, tzinfo=IST)),
        ("२०२५-०७-१२T०९:३०:००", datetime(2025, 7, 12, 9, 30, tzinfo=IST)),
        ("12 सितम्बर 2025", datetime(2025, 9, 12, tzinfo=IST)),
        ("12 सितंबर 2025", datetime(2025, 9, 12, tzinfo=IST)),
        ("१२ फ़रवरी २०२५ 10:30", datetime(2025, 2, 12, 10, 30, tzinfo=IST)),
        ("3 नवम्बर, 2025", datetime(2025, 11, 3, tzinfo=IST)),
        ("2025-07-12T10:00:00Z", datetime(2025, 7, 12, 15, 30, tzinfo=IST)),
        ("2025-07-12 10:00:00+00:00", datetime(2025, 7, 12, 15, 30, tzinfo=IST)),
    ],
)
def test_dates(value: str, expected: datetime) -> None:
    parsed = parse_date(value, IST)
    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_naive_dates_are_in_the_site_zone() -> None:
    parsed = parse_date("2025-07-12T09:00:00", IST)
    assert parsed.utcoffset() == timedelta(hours=5, minutes=30)


@pytest.mark.parametrize("value", ["kal subah", "31 फरवरी 2025", "2025-13-01", "12 मंगल 2025"])
def test_unreadable_dates_say_how_to_write_one(value: str) -> None:
    with pytest.raises(ArticleError):
        parse_date(value, IST)

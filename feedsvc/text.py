"""Hindi text rules: cleaning, normalization, tag keys and slugs, summaries, dates.

Everything here uses the `regex` module: `re` treats Devanagari vowel signs as
non-word characters and cannot iterate grapheme clusters.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, datetime, time, tzinfo

import regex

from .errors import ArticleError

DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")

# Code points XML 1.0 forbids or that only cause trouble in feeds: C0 controls but
# TAB and LF, DEL, C1 controls, surrogates, noncharacters, BOM, zero-width space.
# A plain character class: `re` scans it faster than `regex`, and needs no Unicode
# word rules.
_UNWANTED = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufeff\u200b"
    r"\ufffe\uffff\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff"
    r"\U0004fffe\U0004ffff\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff"
    r"\U0008fffe\U0008ffff\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff"
    r"\U000cfffe\U000cffff\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff"
    r"\U0010fffe\U0010ffff]"
)
# Bidi embedding, override and isolate controls, and the marks: never wanted in a
# title or a tag, where they reorder what readers see.
_BIDI = regex.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = regex.compile(r"\s+")


# What may hold an unwanted character: the same class, but every code point from the
# first astral noncharacter up as one range. Ranges scan ten times as fast as the 32
# astral singletons (0.015 against 0.175 ms for a 4,000-character article), and text
# with none of them, almost all, is not scanned again.
_MAYBE_UNWANTED = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufeff\u200b\ufffe\uffff"
    r"\U0001fffe-\U0010ffff]"
)


def clean(text: str) -> str:
    """NFC, with every character XML 1.0 forbids (and BOM, ZWSP) removed."""
    if _MAYBE_UNWANTED.search(text) is not None:
        text = _UNWANTED.sub("", text)
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def clean_line(text: str) -> str:
    """A one-line value (title, tag, author): cleaned, bidi controls out, spaces folded."""
    return _SPACES.sub(" ", _BIDI.sub("", clean(text))).strip()


# --- tags -------------------------------------------------------------------

_FORMAT_CHARS = regex.compile(r"\p{Cf}")
_SEPARATOR_RUNS = regex.compile(r"[\s\-_]+")
_NON_WORD_RUNS = regex.compile(r"[^\p{L}\p{M}\p{N}]+")
SLUG_MAX = 80


@functools.lru_cache(maxsize=1 << 16)
def tag_key(tag: str) -> str:
    """The identity of a tag: every spelling an editor may type maps to one key.

    Memoized: every build asks for the key of every tag of every article."""
    text = unicodedata.normalize("NFKC", tag)
    text = _FORMAT_CHARS.sub("", text)
    text = _UNWANTED.sub("", text)
    text = text.translate(DEVANAGARI_DIGITS).casefold()
    text = unicodedata.normalize("NFC", text)
    return _SEPARATOR_RUNS.sub(" ", text).strip()


def truncate_graphemes(text: str, limit: int) -> str:
    """At most `limit` characters, never splitting a grapheme cluster."""
    if len(text) <= limit:
        return text
    out = 0
    for cluster in regex.finditer(r"\X", text):
        if cluster.end() > limit:
            break
        out = cluster.end()
    return text[:out]


def tag_slug(key: str) -> str:
    """The URL segment of a tag: Devanagari stays Devanagari, punctuation becomes '-'."""
    slug = _NON_WORD_RUNS.sub("-", key).strip("-")
    return truncate_graphemes(slug, SLUG_MAX).rstrip("-")


def path_key(path: str) -> str:
    """The identity of a section path: each level's key (as a tag's), joined by "/"."""
    return "/".join(tag_key(level) for level in path.split("/"))


def split_tags(value: str) -> list[str]:
    return [part for part in (clean_line(p) for p in value.split(",")) if part]


# --- JSON for consumers ------------------------------------------------------

# Inside JSON these can only be in strings, so replacing them in the encoded text is
# exact. Five scans of the text in C, not a translate table looked up per character
# (an order of magnitude slower on Devanagari; figures in docs/design.md).
_JSON_HTML_SAFE = (
    ("&", "\\u0026"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def html_safe_json(encoded: str) -> str:
    """JSON text whose strings hold no <, > or & (written \\u003c, \\u003e, \\u0026, as
    Go's and Rails' encoders do) nor the line separators JavaScript refuses: a consumer
    that pastes a title into HTML is not open to injection. Devanagari stays UTF-8."""
    for character, escaped in _JSON_HTML_SAFE:
        if character in encoded:
            encoded = encoded.replace(character, escaped)
    return encoded


# --- summaries --------------------------------------------------------------

_SENTENCE_END = regex.compile(r"[।॥.?!](?=\s|$)")
ELLIPSIS = "…"


def _is_dateline(sentence: str) -> bool:
    """`वॉशिंगटन/प्योंगयांग।` and the like: a place name, not a sentence."""
    return len(sentence.split()) <= 2


def summarize(text: str, limit: int) -> str:
    """Cut at the last sentence end that fits, else at a word boundary, never mid-grapheme;
    a cut summary ends with … (within `limit`), so readers know there is more."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, room + 1) if m.end() <= room]
    if ends and not (len(ends) == 1 and _is_dateline(text[: ends[0]])):
        return text[: ends[-1]] + ELLIPSIS
    head = truncate_graphemes(text, room + 1)
    space = head.rfind(" ")
    cut = head[:space] if space > 0 else truncate_graphemes(text, room)
    return cut.rstrip(" ,;:–—-") + ELLIPSIS


# --- dates ------------------------------------------------------------------

_MONTHS = {
    "जनवरी": 1,
    "फरवरी": 2,
    "मार्च": 3,
    "अप्रैल": 4,
    "अप्रेल": 4,
    "मई": 5,
    "जून": 6,
    "जुलाई": 7,
    "अगस्त": 8,
    "सितंबर": 9,
    "सितम्बर": 9,
    "अक्टूबर": 10,
    "अक्तूबर": 10,
    "नवंबर": 11,
    "नवम्बर": 11,
    "दिसंबर": 12,
    "दिसम्बर": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_HINDI_DATE = regex.compile(
    r"(\d{1,2})\s+(\p{L}[\p{L}\p{M}]*),?\s+(\d{4})(?:[,\s]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)


def _month(name: str) -> int | None:
    # Spellings differ in nukta (फ़रवरी / फरवरी): compare without it.
    return _MONTHS.get(unicodedata.normalize("NFC", name).replace("\u093c", "").casefold())


def parse_date(value: object, tz: tzinfo) -> datetime:
    """An aware datetime from front matter; naive values are in the site's time zone."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        parsed = _parse_date_text(value)
    else:
        raise ArticleError(f"date must be text or a date, not {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def _parse_date_text(value: str) -> datetime:
    text = clean_line(value).translate(DEVANAGARI_DIGITS)
    try:
        return datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        pass
    match = _HINDI_DATE.fullmatch(text)
    if match and (month := _month(match[2])):
        day, year = int(match[1]), int(match[3])
        hour, minute, second = (int(g) if g else 0 for g in match.groups()[3:])
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise ArticleError(f"date {value!r} is not a real date: {exc}") from None
    raise ArticleError(
        f"cannot read date {value!r}: use ISO 8601 (2025-07-12T09:30:00+05:30) "
        "or a Hindi date (12 सितम्बर 2025)"
    )

"""What readers are told in Hindi beside an article: its corrections, at the top of
its content in feeds and on its page, and the dates they carry."""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from .articles import Correction


def hindi_date(moment: datetime, tz: ZoneInfo) -> str:
    """`27 नवंबर 2026, 3:04 pm` (or just the date at midnight), in the site's zone,
    whatever the process locale. Babel is asked once per distinct day and minute of
    the day: a full build dates tens of thousands of list items and pages."""
    local = moment.astimezone(tz)
    day = _hindi_day(local.date())
    if local.time() == datetime.min.time():
        return day
    return f"{day}, {_hindi_clock(local.hour, local.minute)}"


@functools.lru_cache(maxsize=8192)
def _hindi_day(day: date) -> str:
    return format_date(day, "d MMMM y", locale="hi")


@functools.lru_cache(maxsize=24 * 60)
def _hindi_clock(hour: int, minute: int) -> str:
    return format_time(time(hour, minute), "h:mm a", locale="hi")


def correction_notice(corrections: Sequence[Correction], tz: ZoneInfo) -> str:
    """The corrections, newest first, as HTML set apart from the body; "" for none.
    Their text is the editor's words as plain text, escaped."""
    if not corrections:
        return ""
    notes = "".join(
        f"<p><strong>सुधार ({hindi_date(c.date, tz)}):</strong> {html.escape(c.text, quote=False)}</p>"
        for c in corrections
    )
    return f'<div class="corrections">{notes}</div>\n'

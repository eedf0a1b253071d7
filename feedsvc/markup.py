"""Article bodies to safe HTML: CommonMark via markdown-it-py, then nh3's allow-list."""

from __future__ import annotations

import html

import nh3
import regex
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
    "code": {"class"},
}
_SCHEMES = {"http", "https", "mailto"}


def sanitize(fragment: str) -> str:
    """No script, style, iframe, event handler, or javascript:/data: URL survives."""
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def markdown_to_html(source: str) -> str:
    return sanitize(_md.render(source)).strip()


def paragraphs_to_html(paragraphs: list[str]) -> str:
    """Plain text is never interpreted as HTML: each paragraph escaped into <p>."""
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


_BLOCK_END = regex.compile(r"</(?:p|h[1-6]|li|blockquote|pre|td|th|tr|figcaption)>|<br\s*/?>")


def html_to_text(fragment: str) -> str:
    """The readable text of sanitized HTML, for summaries."""
    spaced = _BLOCK_END.sub(" ", fragment)
    return html.unescape(nh3.clean(spaced, tags=set()))

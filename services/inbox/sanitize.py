"""Mail HTML made safe to show in the browser, and mail HTML as plain text.

Sanitising is nh3's (html5ever parses the way browsers do); this module only decides
the policy. Remote and `cid:` images are dropped unless the user asks for remote images,
because a remote image is how senders learn that, when and where a mail was opened;
`data:` images cannot phone home and stay. Styles are not allowed at all, so CSS
`url()` beacons and overlays cannot get in either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

_TAGS = frozenset({
    "p", "br", "div", "span", "b", "strong", "i", "em", "u", "a", "ul", "ol", "li", "blockquote",
    "pre", "code", "table", "thead", "tbody", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "img",
})
_CELL = {"colspan", "rowspan", "width", "height"}
_ATTRIBUTES = {"*": {"title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
               "td": _CELL, "th": _CELL, "table": {"width"}}
# Dropped with everything inside them, instead of leaving their text behind.
_CONTENT_DROPPED = frozenset({"script", "style", "title", "noscript", "template", "iframe", "object",
                              "svg", "math"})
# nh3 checks the scheme first; href and src then pass a stricter, per-attribute test below.
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "data", "cid"})
_SAFE_HREF = re.compile(r"(?:https?:|mailto:|tel:|#)", re.IGNORECASE)
_REMOTE_SRC = re.compile(r"(?:https?:)?//", re.IGNORECASE)
_INLINE_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]", re.IGNORECASE)
# nh3's output is serialised by html5ever: attribute values always in double quotes.
_IMG_TAG = re.compile(r'<img((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*/?>')
_SRC_ATTRIBUTE = re.compile(r'\ssrc="')


@dataclass(frozen=True)
class CleanHtml:
    html: str
    blocked_images: int  # images left out: remote (unless allowed), cid: and other sources


def clean_html(html: str, *, allow_remote_images: bool = False) -> CleanHtml:
    """`html` with only formatting left; links open in a new tab without a referrer."""
    blocked = 0

    def keep_attribute(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if tag == "a" and attribute == "href":
            return value if _SAFE_HREF.match(value) else None
        if tag == "img" and attribute == "src":
            if _INLINE_IMAGE.match(value) or (allow_remote_images and _REMOTE_SRC.match(value)):
                return value
            blocked += 1 if value.strip() else 0
            return None
        return value

    cleaned = nh3.clean(
        html, tags=set(_TAGS), attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        clean_content_tags=set(_CONTENT_DROPPED), url_schemes=set(_URL_SCHEMES),
        attribute_filter=keep_attribute, link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}}, strip_comments=True,
    )
    cleaned = _IMG_TAG.sub(lambda tag: tag[0] if _SRC_ATTRIBUTE.search(tag[1]) else "", cleaned)
    return CleanHtml(html=cleaned, blocked_images=blocked)


def html_to_text(html: str) -> str:
    """The readable text of `html` for previews and prompts: blocks become lines, paragraphs
    are separated by a blank line, quoted blocks get "> " and list items "- "."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.text()


_SKIPPED = frozenset({"script", "style", "title", "noscript", "template"})
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul",
                         "ol", "hr"})
_LINES = frozenset({"div", "li", "tr", "section", "article", "header", "footer", "dd", "dt"})
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextParser(HTMLParser):
    """Collects text; a break asked for by a tag is written only before the next text, so
    nested blocks and trailing <br>s do not pile up blank lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._pending = 0  # newlines owed before the next text, at most 2
        self._skip = 0
        self._pre = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag == "br":
            self._pending = min(self._pending + 1, 2)
        else:
            self._block(tag)
            self._quote += tag == "blockquote"
            self._pre += tag == "pre"
            if tag == "li":
                self._write("- ")
            elif tag in _CELLS and not self._pending and not self._at_line_start():
                self._write(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(self._skip - 1, 0)
            return
        self._block(tag)
        if tag == "blockquote":
            self._quote = max(self._quote - 1, 0)
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            for number, line in enumerate(data.split("\n")):
                if number:
                    self._pending = 1
                    self._write("")
                self._write(line)
            return
        text = _SPACES.sub(" ", data)
        if self._pending or self._at_line_start() or self._out[-1].endswith(" "):
            text = text.lstrip()
        if text:
            self._write(text)

    def text(self) -> str:
        text = "\n".join(line.rstrip() for line in "".join(self._out).split("\n"))
        return _BLANK_LINES.sub("\n\n", text).strip()

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPHS:
            self._pending = 2
        elif tag in _LINES:
            self._pending = max(self._pending, 1)

    def _at_line_start(self) -> bool:
        return not self._out or self._out[-1].endswith("\n")

    def _write(self, text: str) -> None:
        if self._pending and self._out:
            self._out.append("\n" * self._pending)
        self._pending = 0
        if self._quote and self._at_line_start():
            self._out.append("> " * self._quote)
        self._out.append(text)

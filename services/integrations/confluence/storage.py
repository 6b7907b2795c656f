"""Confluence storage format (XHTML with `ac:`/`ri:` macros) to a `ParsedDocument`.

Headings start sections named by their heading path ("Install > Linux"); everything else becomes
plain text blocks a reader (and the chunker) can follow: list items one per line with "- " or
"1. " and two spaces per nesting level, table rows one per line with cells joined by " | ",
code macros fenced with their language and kept verbatim. Whitespace is collapsed everywhere
else. Uses the stdlib-backed "html.parser": lxml is not installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bs4 import BeautifulSoup, CData, NavigableString, PageElement, Tag

from services.search.documents import ParsedDocument, Section

HEADINGS = {f"h{level}": level for level in range(1, 7)}
CONTAINERS = {"p", "div", "blockquote", "section", "article", "ac:rich-text-body", "ac:layout",
              "ac:layout-section", "ac:layout-cell", "ac:task-body"}
BLOCKS = {*HEADINGS, *CONTAINERS, "ul", "ol", "table", "pre", "hr", "ac:task-list"}
DROPPED = {"ac:parameter", "ac:placeholder", "ac:emoticon", "ri:user", "ri:attachment", "ri:page", "ri:url",
           "script", "style"}
CODE_MACROS = {"code", "noformat"}
NEWLINES = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


Block = _Heading | str


def storage_to_document(title: str, storage: str, *, metadata: dict[str, str] | None = None) -> ParsedDocument:
    """A page's storage body as sections; a page without text gives no sections (the caller decides)."""
    soup = BeautifulSoup(storage, "html.parser")
    return ParsedDocument(title=title, sections=_sections(_blocks(soup)), media_type="text/html",
                          metadata=dict(metadata or {}))


def _sections(blocks: Iterable[Block]) -> list[Section]:
    """Group text blocks under the path of headings above them; empty sections are left out."""
    sections: list[Section] = []
    path: list[_Heading] = []
    texts: list[str] = []

    def close() -> None:
        if texts:
            sections.append(Section(heading=" > ".join(h.text for h in path), text="\n\n".join(texts)))
            texts.clear()

    for block in blocks:
        if isinstance(block, str):
            texts.append(block)
            continue
        close()
        while path and path[-1].level >= block.level:
            path.pop()
        path.append(block)
    close()
    return sections


def _blocks(node: Tag) -> Iterator[Block]:
    """The blocks of a container; runs of inline content between blocks become paragraphs."""
    run: list[str] = []
    for child in node.children:
        if isinstance(child, Tag) and _is_block(child):
            if paragraph := _collapse("".join(run)):
                yield paragraph
            run.clear()
            yield from _block(child)
        else:
            run.extend(_inline(child))
    if paragraph := _collapse("".join(run)):
        yield paragraph


def _is_block(tag: Tag) -> bool:
    if tag.name == "ac:structured-macro":
        return _macro_name(tag) in CODE_MACROS or tag.find("ac:rich-text-body", recursive=False) is not None
    return tag.name in BLOCKS


def _block(tag: Tag) -> Iterator[Block]:
    name = tag.name
    if name in HEADINGS:
        if text := _one_line(_collapse("".join(_inline_children(tag)))):
            yield _Heading(HEADINGS[name], text)
    elif name in ("ul", "ol"):
        yield from _joined(_list_lines(tag))
    elif name == "ac:task-list":
        yield from _joined(_task_lines(tag))
    elif name == "table":
        yield from _joined(_table_rows(tag))
    elif name == "pre":
        yield from _fenced("", tag.get_text())
    elif name == "ac:structured-macro":
        yield from _macro_blocks(tag)
    elif name in CONTAINERS:
        yield from _blocks(tag)


def _macro_blocks(macro: Tag) -> Iterator[Block]:
    """Code keeps its text; info/note/warning/panel/expand and the like keep their title and body."""
    if _macro_name(macro) in CODE_MACROS:
        yield from _fenced(_parameter(macro, "language"), _plain_body(macro))
        return
    if title := _collapse(_parameter(macro, "title")):
        yield title
    body = macro.find("ac:rich-text-body", recursive=False)
    if body is not None:
        yield from _blocks(body)


def _fenced(language: str, code: str) -> Iterator[str]:
    code = code.strip("\n")
    if code.strip():
        yield f"```{language.strip()}\n{code}\n```"


def _list_lines(listing: Tag) -> list[str]:
    ordered = listing.name == "ol"
    items = listing.find_all("li", recursive=False)
    return _item_lines((f"{n}. " if ordered else "- ", item) for n, item in enumerate(items, 1))


def _task_lines(tasks: Tag) -> list[str]:
    marked = []
    for task in tasks.find_all("ac:task", recursive=False):
        status = task.find("ac:task-status", recursive=False)
        done = status is not None and status.get_text(strip=True) == "complete"
        body = task.find("ac:task-body", recursive=False)
        if body is not None:
            marked.append(("- [x] " if done else "- [ ] ", body))
    return _item_lines(marked)


def _item_lines(marked: Iterable[tuple[str, Tag]]) -> list[str]:
    """One line per item; an item's further lines (nested lists, code) are indented two spaces."""
    lines: list[str] = []
    for marker, item in marked:
        body = "\n".join(_plain(block) for block in _blocks(item)).split("\n")
        if not body[0].strip():
            continue
        lines.append(marker + body[0])
        lines.extend("  " + line if line else line for line in body[1:])
    return lines


def _table_rows(table: Tag) -> list[str]:
    rows = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # a row of a table nested in a cell: part of that cell's text
        cells = [_one_line(_collapse("".join(_inline_children(cell))))
                 for cell in row.find_all(["th", "td"], recursive=False)]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _inline(node: PageElement) -> Iterator[str]:
    """The text one node contributes to a line: links keep their text, images their alt text,
    emoticons, user mentions, macro parameters and comments nothing."""
    if isinstance(node, NavigableString):
        if type(node) in (NavigableString, CData):
            yield NEWLINES.sub(" ", str(node))  # line breaks in the source are layout; only <br> breaks a line
        return
    if not isinstance(node, Tag) or node.name in DROPPED:
        return
    name = node.name
    if name == "br":
        yield "\n"
    elif name == "ac:link":
        yield _link_text(node)
    elif name == "ac:image":
        yield f" {node.get('ac:alt', '')} "
    elif name == "time":
        yield str(node.get("datetime", ""))
    elif name == "ac:structured-macro":
        yield from _macro_inline(node)
    elif name in BLOCKS or name in ("li", "tr", "td", "th"):
        yield " "
        yield from _inline_children(node)
        yield " "
    else:
        yield from _inline_children(node)


def _inline_children(node: Tag) -> Iterator[str]:
    for child in node.children:
        yield from _inline(child)


def _macro_inline(macro: Tag) -> Iterator[str]:
    """A macro inside a line (status lozenge, code in a table cell ...): its title, body or code."""
    if _macro_name(macro) in CODE_MACROS:
        yield f" {_plain_body(macro)} "
        return
    yield f" {_parameter(macro, 'title')} "
    body = macro.find("ac:rich-text-body", recursive=False)
    if body is not None:
        yield from _inline_children(body)


def _link_text(link: Tag) -> str:
    """A link's own text, else the title or file name it points to; a bare user mention gives ""."""
    body = link.find(["ac:link-body", "ac:plain-text-link-body"], recursive=False)
    if body is not None:
        return "".join(_inline_children(body))
    target = link.find(["ri:page", "ri:blog-post"], recursive=False)
    if target is not None:
        return str(target.get("ri:content-title", ""))
    attachment = link.find("ri:attachment", recursive=False)
    return str(attachment.get("ri:filename", "")) if attachment is not None else ""


def _macro_name(macro: Tag) -> str:
    return str(macro.get("ac:name", "")).lower()


def _parameter(macro: Tag, name: str) -> str:
    parameter = macro.find("ac:parameter", attrs={"ac:name": name}, recursive=False)
    return parameter.get_text() if parameter is not None else ""


def _plain_body(macro: Tag) -> str:
    """A plain-text body verbatim: CDATA sections are joined, so a `]]>` Confluence split across
    two of them comes back whole."""
    body = macro.find("ac:plain-text-body", recursive=False)
    if body is None:
        return ""
    return "".join(str(s) for s in body.children if type(s) in (NavigableString, CData))


def _collapse(text: str) -> str:
    """Runs of whitespace to one space inside each line; line breaks from <br> survive, empty lines do not."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _one_line(text: str) -> str:
    return text.replace("\n", " ")


def _plain(block: Block) -> str:
    return block.text if isinstance(block, _Heading) else block


def _joined(lines: list[str]) -> Iterator[str]:
    if lines:
        yield "\n".join(lines)


"""Turn an uploaded, fetched or found file into a `ParsedDocument`.

The type comes from the content, never from the name or a Content-Type header: people
rename files, servers mislabel them, and a PNG called "spec.pdf" should be refused with a
sentence a user understands rather than a parser's traceback. The name only decides
between Markdown and plain text when the content could be either.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path, PurePath

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pypdf import PdfReader

from services.search.documents import DocumentError, ParsedDocument, Section

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
SUPPORTED_SUFFIXES = frozenset({".pdf", ".html", ".htm", ".md", ".markdown", ".txt", ".rst"})

PDF, HTML, MARKDOWN, PLAIN = "application/pdf", "text/html", "text/markdown", "text/plain"
_MB = 1024 * 1024

# Leading bytes of common non-documents, so the refusal can say what the file is.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file"),
)
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Text has almost no control characters; random bytes decoded as cp1252 have about 11 %.
_MAX_CONTROL_RATIO = 0.05
_TEXT_SAMPLE = 65536
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1b")

_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_HTML_BLOCK_TAG = re.compile(r"<(?:p|div|h[1-6]|ul|ol|li|table|tr|td|section|article|br)[\s/>]", re.IGNORECASE)
# A "~~~" fence needs a language: a bare run of tildes is a reST underline.
_MD_STRONG = re.compile(r"^(?:#{1,6}[ \t]+\S|```|~~~+[ \t]*[A-Za-z])", re.MULTILINE)
_MD_WEAK = (
    re.compile(r"^[ \t]{0,3}(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE),  # list items
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),  # links
    re.compile(r"^\S.*\n(?:=+|-+)[ \t]*$", re.MULTILINE),  # setext headings
    re.compile(r"^>[ \t]", re.MULTILINE),  # block quotes
    re.compile(r"`[^`\n]+`|\*\*[^*\n]+\*\*"),  # inline code, bold
)
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_PLAIN_SUFFIXES = frozenset({".txt", ".rst", ".text"})


def _named(filename: str) -> str:
    return filename or "This file"


def _magic(data: bytes) -> tuple[bytes, str] | None:
    return next(((magic, kind) for magic, kind in _MAGIC if data.startswith(magic)), None)


def _refuse_binary(data: bytes, filename: str) -> DocumentError:
    kind = (_magic(data) or (b"", "a binary file"))[1]
    return DocumentError(f"{_named(filename)} looks like {kind}, not a document.")


def _looks_like_text(text: str) -> bool:
    sample = text[:_TEXT_SAMPLE]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS)
    return controls <= _MAX_CONTROL_RATIO * max(len(sample), 1)


def decode_text(data: bytes) -> str | None:
    """The text in `data`, or None when it is not text: UTF-8/16/32 with a BOM, UTF-8,
    then cp1252 (latin-1 for its five undefined bytes) for old Windows files."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                return None
            return text.lstrip("\ufeff") if _looks_like_text(text) else None
    if b"\x00" in data[:_TEXT_SAMPLE]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return text if _looks_like_text(text) else None


def _is_html(text: str) -> bool:
    head = text.lstrip()[:4096]
    if not head.startswith("<"):
        return False
    if _HTML_START.search(head[:1024]):
        return True
    return len(_HTML_BLOCK_TAG.findall(head)) >= 2 and not _MD_STRONG.search(text)


def _is_markdown(text: str, filename: str) -> bool:
    """ATX headings or fences decide; lists, links and underlines are shared with reST and
    plain notes, so for them the name breaks the tie."""
    suffix = PurePath(filename).suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES or _MD_STRONG.search(text):
        return True
    return suffix not in _PLAIN_SUFFIXES and sum(1 for pattern in _MD_WEAK if pattern.search(text)) >= 2


def _is_pdf(data: bytes) -> bool:
    """PDF readers accept a header anywhere in the first KB; a text that merely mentions
    "%PDF-" near its start stays text."""
    head = data[:1024]
    return head.lstrip().startswith(b"%PDF-") or (b"%PDF-" in head and decode_text(data) is None)


def _sniff_decoded(data: bytes, filename: str) -> tuple[str, str | None]:
    """(media type, decoded text or None for PDFs); raises for binary content."""
    if _is_pdf(data):
        return PDF, None
    text = decode_text(data)
    magic = _magic(data)
    # "MZ" and "GIF89a" are letters too: such a magic only counts when the rest is not text.
    if text is None or (magic is not None and not magic[0].isalnum()):
        raise _refuse_binary(data, filename)
    if _is_html(text):
        return HTML, text
    return (MARKDOWN if _is_markdown(text, filename) else PLAIN), text


def sniff(data: bytes, filename: str = "") -> str:
    """The media type of `data` judged by its content; DocumentError for binary files."""
    return _sniff_decoded(data, filename)[0]


def _size_text(size: int) -> str:
    return f"{size / _MB:.1f} MB"


def _check_size(size: int, filename: str) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise DocumentError(f"{_named(filename)} is {_size_text(size)}; the limit is {MAX_UPLOAD_BYTES // _MB} MB")


def parse_bytes(data: bytes, filename: str) -> ParsedDocument:
    """Parse an upload; every failure is a DocumentError with a sentence for the user."""
    _check_size(len(data), filename)
    if not data.strip():
        raise DocumentError(f"{_named(filename)} is empty")
    media_type, text = _sniff_decoded(data, filename)
    if text is None:
        document = _parse_pdf(data, filename)
    else:
        document = _TEXT_PARSERS[media_type](text, filename)
    if not document.text_length:
        raise DocumentError(f"{_named(filename)} has no readable text")
    return document


def parse_path(path: Path) -> ParsedDocument:
    """Parse a file on disk, refusing an oversized one before reading it."""
    try:
        _check_size(path.stat().st_size, path.name)
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path.name} could not be read: {exc.strerror or exc}") from exc
    return parse_bytes(data, path.name)


def _stem(filename: str) -> str:
    return PurePath(filename).stem or filename or "Untitled"


def _tidy(text: str) -> str:
    """Trailing spaces and runs of blank lines carry no meaning but cost chunk space."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


class _SectionBuilder:
    """Collects blocks of text under a stack of headings, one Section per heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._headings: list[tuple[int, str]] = []
        self._blocks: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.flush()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, " ".join(text.split())))

    def block(self, text: str) -> None:
        if text.strip():
            self._blocks.append(text)

    def flush(self) -> None:
        text = _tidy("\n\n".join(self._blocks))
        self._blocks = []
        if text.strip():
            path = " > ".join(title for _, title in self._headings if title)
            self.sections.append(Section(heading=path, text=text))


# --- PDF ---------------------------------------------------------------------------------

def _parse_pdf(data: bytes, filename: str) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{_named(filename)} could not be read as a PDF: it is protected by a password")
        texts = [_tidy(page.extract_text() or "") for page in reader.pages]
        title = _pdf_title(reader)
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many kinds (and plain ones) for broken files
        raise DocumentError(f"{_named(filename)} could not be read as a PDF: {_short_reason(exc)}") from exc
    if not any(text.strip() for text in texts):
        raise DocumentError(f"{_named(filename)} has no text layer (it may be a scan); OCR is not supported")
    headings = _outline_headings(reader, len(texts))
    sections = [Section(heading=headings[number], text=text, page=number + 1)
                for number, text in enumerate(texts) if text.strip()]
    return ParsedDocument(title=title or _stem(filename), sections=sections, media_type=PDF,
                          metadata={"filename": filename, "pages": str(len(texts))})


def _short_reason(exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return reason[:160]


def _pdf_title(reader: PdfReader) -> str:
    metadata = reader.metadata
    title = metadata.title if metadata else None
    return " ".join(title.split()) if isinstance(title, str) else ""


def _outline_headings(reader: PdfReader, page_count: int) -> list[str]:
    """Each page's heading: the bookmark path that starts on or before it."""
    starts: list[tuple[int, str]] = []

    def visit(items: list, path: tuple[str, ...]) -> None:
        last: tuple[str, ...] = path
        for item in items:
            if isinstance(item, list):
                visit(item, last)
                continue
            last = (*path, " ".join(str(item.title).split()))
            page = reader.get_destination_page_number(item)
            if page is not None and page >= 0:
                starts.append((page, " > ".join(last)))

    try:
        visit(reader.outline, ())
    except Exception:  # noqa: BLE001 (a broken outline only costs the headings, never the text)
        return [""] * page_count
    headings, current = [], ""
    ordered = sorted(starts, key=lambda start: start[0])
    for number in range(page_count):
        while ordered and ordered[0][0] <= number:
            current = ordered.pop(0)[1]
        headings.append(current)
    return headings


# --- HTML --------------------------------------------------------------------------------

_DROPPED_TAGS = ("script", "style", "nav", "header", "footer", "noscript", "svg", "template", "iframe", "head")
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "aside", "blockquote", "figure", "figcaption", "dl", "dt", "dd",
    "form", "fieldset", "details", "summary", "address", "hr", "body", "html",
})
_SKIPPED_STRINGS = (Comment, Doctype, Declaration, ProcessingInstruction)


def _inline_text(node: Tag) -> str:
    return " ".join(node.get_text(" ").split())


def _parse_html(text: str, filename: str) -> ParsedDocument:
    """Page chrome (scripts, navigation, header, footer) is dropped, and when the page marks
    its <main> content only that is read; headings h1-h6 split the sections."""
    soup = BeautifulSoup(text, "html.parser")
    title = _inline_text(soup.title) if soup.title else ""
    first_h1 = soup.find("h1")
    title = title or (_inline_text(first_h1) if isinstance(first_h1, Tag) else "")
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    builder = _HtmlBuilder()
    _walk_html(soup.find("main") or soup.body or soup, builder)
    builder.flush()
    return ParsedDocument(title=title or _stem(filename), sections=builder.sections, media_type=HTML,
                          metadata={"filename": filename})


class _HtmlBuilder(_SectionBuilder):
    """Adds a paragraph buffer: inline text accumulates until a block element ends it."""

    def __init__(self) -> None:
        super().__init__()
        self._inline: list[str] = []

    def inline(self, text: str) -> None:
        """Source line breaks are spaces in HTML; only <br> (a bare "\n") breaks a line."""
        self._inline.append(text if text == "\n" else re.sub(r"\s+", " ", text))

    def end_paragraph(self) -> None:
        lines = ("".join(self._inline)).split("\n")
        self._inline = []
        self.block("\n".join(" ".join(line.split()) for line in lines).strip())

    def heading(self, level: int, text: str) -> None:
        self.end_paragraph()
        super().heading(level, text)

    def block(self, text: str) -> None:
        if self._inline:
            self.end_paragraph()
        super().block(text)

    def flush(self) -> None:
        self.end_paragraph()
        super().flush()


def _walk_html(node: Tag, builder: _HtmlBuilder) -> None:
    for child in node.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, _SKIPPED_STRINGS):
                builder.inline(str(child))
        elif isinstance(child, Tag):
            _html_element(child, builder)


def _html_element(tag: Tag, builder: _HtmlBuilder) -> None:
    name = tag.name
    if name in _HEADING_TAGS:
        builder.heading(int(name[1]), _inline_text(tag))
    elif name == "pre":
        builder.block(tag.get_text().strip("\n"))
    elif name in ("ul", "ol"):
        builder.block(_html_list(tag, 0))
    elif name == "table":
        builder.block(_html_table(tag))
    elif name == "br":
        builder.inline("\n")
    elif name in _BLOCK_TAGS:
        builder.end_paragraph()
        _walk_html(tag, builder)
        builder.end_paragraph()
    else:
        _walk_html(tag, builder)


def _html_list(tag: Tag, depth: int) -> str:
    lines = []
    for number, item in enumerate(tag.find_all("li", recursive=False), start=1):
        nested = item.find_all(("ul", "ol"), recursive=False)
        for sublist in nested:
            sublist.extract()
        marker = f"{number}." if tag.name == "ol" else "-"
        lines.append(f"{'  ' * depth}{marker} {_inline_text(item)}")
        lines += [_html_list(sublist, depth + 1) for sublist in nested]
    return "\n".join(line for line in lines if line.strip())


def _html_table(tag: Tag) -> str:
    rows = (" | ".join(_inline_text(cell) for cell in row.find_all(("th", "td"))) for row in tag.find_all("tr"))
    return "\n".join(row for row in rows if row.strip(" |"))


# --- Markdown ----------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_markdown = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _parse_markdown(text: str, filename: str) -> ParsedDocument:
    """Headings come from markdown-it's tokens (so a "#" inside a fence is not one); the text
    between them is kept as written, fences with their language included."""
    source = _FRONT_MATTER.sub("", text.replace("\r\n", "\n").replace("\r", "\n"), count=1)
    lines = source.split("\n")
    builder, title, body_start = _SectionBuilder(), "", 0
    tokens = _markdown.parse(source)
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.level != 0 or token.map is None:
            continue
        builder.block("\n".join(lines[body_start:token.map[0]]))
        heading = _inline_markdown(tokens[index + 1])
        level = int(token.tag[1])
        title = title or (heading if level == 1 else "")
        builder.heading(level, heading)
        body_start = token.map[1]
    builder.block("\n".join(lines[body_start:]))
    builder.flush()
    return ParsedDocument(title=title or _stem(filename), sections=builder.sections, media_type=MARKDOWN,
                          metadata={"filename": filename})


def _inline_markdown(token: Token) -> str:
    children = token.children or []
    return "".join(" " if child.type in ("softbreak", "hardbreak") else child.content for child in children
                   if child.type in ("text", "code_inline", "softbreak", "hardbreak"))


# --- Plain text --------------------------------------------------------------------------

_UNDERLINE = re.compile(r"^([=\-~^*#+])\1{2,}[ \t]*$")
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?[ \t]+([A-Z][^\n]{0,78})$")


def _parse_plain(text: str, filename: str) -> ParsedDocument:
    """Split only at unmistakable headings: underlined (setext/reST style; the order in which
    underline characters appear gives the level) or numbered ("2.1 Setup") alone on a
    paragraph, with no numbered paragraph next to it (that would be a list)."""
    builder, underline_levels = _SectionBuilder(), {}
    paragraphs = [paragraph.strip("\n") for paragraph in re.split(r"\n[ \t]*\n", _tidy(text))]
    for index, paragraph in enumerate(paragraphs):
        neighbours = paragraphs[max(index - 1, 0):index] + paragraphs[index + 1:index + 2]
        heading = _underlined_heading(paragraph, underline_levels) or _numbered_heading(paragraph, neighbours)
        if heading:
            builder.heading(*heading)
        else:
            builder.block(paragraph)
    builder.flush()
    return ParsedDocument(title=_stem(filename), sections=builder.sections, media_type=PLAIN,
                          metadata={"filename": filename})


def _underlined_heading(paragraph: str, underline_levels: dict[str, int]) -> tuple[int, str] | None:
    lines = paragraph.split("\n")
    if len(lines) == 3 and _UNDERLINE.match(lines[0]) and lines[0] == lines[2]:
        lines = lines[1:]  # reST overline + title + underline
    if len(lines) != 2 or not _UNDERLINE.match(lines[1]) or not lines[0].strip():
        return None
    title, underline = lines[0].strip(), lines[1].strip()
    if len(underline) < len(title) // 2:
        return None
    return underline_levels.setdefault(underline[0], len(underline_levels) + 1), title


def _numbered_heading(paragraph: str, neighbours: list[str]) -> tuple[int, str] | None:
    match = _NUMBERED.match(paragraph)
    if not match or paragraph.endswith((".", ":", ",", ";")) or any(_NUMBERED.match(n) for n in neighbours):
        return None
    return match.group(1).count(".") + 1, paragraph


_TEXT_PARSERS: dict[str, Callable[[str, str], ParsedDocument]] = {
    HTML: _parse_html,
    MARKDOWN: _parse_markdown,
    PLAIN: _parse_plain,
}

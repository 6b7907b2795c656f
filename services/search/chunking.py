"""Cut a parsed document into overlapping chunks for embedding and keyword search.

A chunk never crosses a section: its heading and page stay exact, so an answer can cite
"Install > Linux, page 4". Tiny sections are not merged with their neighbours for the same
reason; `embedding_text` gives every chunk its title and heading path as context instead.
Inside a section the cut prefers, in order, a paragraph break, a sentence end, a line end
and a space, each looked for in the second half of the window so chunks stay near full
size; inside a fenced code block sentence ends are ignored so code is cut between lines.
A chunk's text is exactly `section.text[start:end]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.search.documents import ParsedDocument

_PARAGRAPH = re.compile(r"()\n[ \t]*\n")
_SENTENCE = re.compile(r"[.!?][\"')\]]*()\s")
_LINE = re.compile(r"()\n")
_SPACE = re.compile(r"()\s")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)", re.MULTILINE)
_WORD_START = re.compile(r"(?<=\s)\S")
_SENTENCE_START = re.compile(r"(?<=[.!?])[\"')\]]*\s+(\S)")
_LINE_START = re.compile(r"(?<=\n)[ \t]*(\S)")


@dataclass(frozen=True)
class Chunk:
    """`start`/`end` are offsets into the text of section number `section`."""

    ordinal: int
    heading: str
    text: str
    page: int | None
    start: int
    end: int
    section: int


def chunk_document(doc: ParsedDocument, *, max_chars: int = 1000, overlap: int = 150) -> list[Chunk]:
    """Chunks of at most `max_chars`, consecutive ones in a section sharing about `overlap`."""
    if max_chars < 20 or not 0 <= overlap < max_chars // 2:
        raise ValueError("need max_chars >= 20 and 0 <= overlap < max_chars / 2, or chunking cannot advance")
    chunks: list[Chunk] = []
    for number, section in enumerate(doc.sections):
        for start, end in _spans(section.text, max_chars, overlap):
            chunks.append(Chunk(ordinal=len(chunks), heading=section.heading, text=section.text[start:end],
                                page=section.page, start=start, end=end, section=number))
    return chunks


def embedding_text(title: str, chunk: Chunk) -> str:
    """What gets embedded and keyword-indexed: the chunk under its title and heading path,
    so "Linux" in a chunk of "Install > Linux" of "LLMCoder Guide" is findable as such."""
    heading = chunk.heading
    if heading == title or heading.startswith(f"{title} > "):
        context = heading  # the first h1 is usually the title: say it once
    else:
        context = " — ".join(part for part in (title, heading) if part)
    return f"{context}\n{chunk.text}" if context else chunk.text


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _spans(text: str, max_chars: int, overlap: int) -> list[tuple[int, int]]:
    fences = _fence_ranges(text)
    limit = _trim_end(text, 0, len(text))
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    while start < limit:
        if limit - start <= max_chars:
            spans.append((start, limit))
            break
        end = _trim_end(text, start, _cut(text, start, start + max_chars, fences))
        spans.append((start, end))
        start = _skip_space(text, _next_start(text, start, end, overlap, fences))
    return spans


def _cut(text: str, start: int, window_end: int, fences: list[tuple[int, int]]) -> int:
    """Where to end the chunk that starts at `start`; a hard cut only inside a huge token."""
    half = start + (window_end - start) // 2
    preferences = (_PARAGRAPH, _LINE) if _in_code(window_end, fences) else (_PARAGRAPH, _SENTENCE, _LINE)
    for pattern in preferences:
        cut = _last_cut(pattern, text, half, window_end)
        if cut is not None:
            return cut
    cut = _last_cut(_SPACE, text, start + 1, window_end)
    return window_end if cut is None else cut


def _last_cut(pattern: re.Pattern[str], text: str, low: int, high: int) -> int | None:
    cuts = [match.start(1) for match in pattern.finditer(text, low, min(len(text), high + 2))]
    fitting = [cut for cut in cuts if low <= cut <= high]
    return fitting[-1] if fitting else None


def _next_start(text: str, start: int, end: int, overlap: int, fences: list[tuple[int, int]]) -> int:
    """Start the next chunk about `overlap` back: at a sentence start (a line start in code)
    if one is in the first two thirds of that stretch, else at a word start; no overlap
    after a hard cut through a huge token."""
    if overlap == 0:
        return end
    low = max(end - overlap, start + 1)
    boundary = _LINE_START if _in_code(low, fences) else _SENTENCE_START
    found = boundary.search(text, low - 1, end - overlap // 3)
    if found:
        return found.start(1)
    word = _WORD_START.search(text, low, end)
    return word.start() if word else end


def _in_code(position: int, fences: list[tuple[int, int]]) -> bool:
    return any(low <= position < high for low, high in fences)


def _fence_ranges(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block, an unclosed fence running to the end."""
    markers = [match.start() for match in _FENCE.finditer(text)]
    markers.append(len(text))
    return list(zip(markers[0::2], markers[1::2]))

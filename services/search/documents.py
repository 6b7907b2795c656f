"""The plain shapes every document source turns its content into, before chunking.

Parsers (uploads, URLs, folders), the Confluence storage-format reader and the code-library
indexer all produce a `ParsedDocument`; the chunker and the index only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class DocumentError(ValueError):
    """A document that cannot be indexed; the message is shown to the user as is."""


@dataclass(frozen=True)
class Section:
    """A run of text under one heading. `heading` is the path of headings above it
    ("Install > Linux"), "" before the first heading; `page` is the 1-based PDF page."""

    heading: str
    text: str
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    sections: list[Section]
    media_type: str  # "application/pdf", "text/html", "text/markdown", "text/plain", "text/x-python"
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def text_length(self) -> int:
        return sum(len(section.text) for section in self.sections)

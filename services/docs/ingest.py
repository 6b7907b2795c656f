"""Adding content by hand: file uploads, web pages by URL (with a summary), package archives.

Each is parsed at once, so a corrupt, empty or unsupported file is refused with a clear
message before anything is stored; the slow part (chunking and embedding) is left to the
source's indexing job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import DocDocument
from services.db.models.base import utcnow
from services.docs import indexing, sources, store
from services.llm import gateway, prompts
from services.llm.messages import UntrustedText
from services.llm.types import LLMRequest, LLMResult
from services.search import fetch, parsers, symbols
from services.search.documents import DocumentError, ParsedDocument

SUMMARY_INPUT_CHARS = 12_000

prompts.register_default(
    "docs", "summarize",
    system="You summarise a document for a busy engineer: first one sentence on what it is, then up to six bullet "
           "points with the facts, steps or decisions that matter. Use only the document.",
    user="Summarise the document below.",
    variables=(),
    description="Doc Q&A: the summary shown when a web page or file is added.",
)


def _filename(name: str) -> str:
    """The bare file name, whatever path a browser or client sent."""
    bare = PureWindowsPath(PurePosixPath(name or "").name).name.strip()
    return bare[:200] or "upload"


def _files_source(user: AuthedUser, source_id: int) -> None:
    row = sources.manageable(user, source_id)
    if row.kind != "files":
        raise ValidationError("Files and web pages go into a files source.")


def _keep(source_id: int, external_id: str, parsed: ParsedDocument, data: bytes, url: str = "") -> int:
    with session_scope() as session:
        document = session.exec(select(DocDocument).where(DocDocument.source_id == source_id,
                                                          DocDocument.external_id == external_id)).first()
        if document is None:
            document = DocDocument(source_id=source_id, external_id=external_id, title=parsed.title[:500])
        document.title, document.url, document.media_type = parsed.title[:500], url[:2000], parsed.media_type
        document.content, document.content_hash, document.size = data, store.content_hash(data), len(data)
        document.updated_at = utcnow()
        session.add(document)
        session.flush()
        assert document.id is not None
        return document.id


def add_upload(user: AuthedUser, source_id: int, filename: str, data: bytes) -> int:
    """Stores a checked upload in a files source (a file of the same name is replaced);
    returns the document id. Index the source afterwards."""
    _files_source(user, source_id)
    name = _filename(filename)
    parsed = parsers.parse_bytes(data, name)
    return _keep(source_id, name, parsed, data)


def add_url(user: AuthedUser, source_id: int, url: str) -> int:
    """Fetches a web page (or a PDF/text file by URL) into a files source; returns its document id."""
    _files_source(user, source_id)
    url = sources.check_url(url, "page")
    final_url, data, name = fetch.fetch_url(url)
    parsed = parsers.parse_bytes(data, name)
    return _keep(source_id, url, parsed, data, url=final_url)


def add_package_archive(user: AuthedUser, filename: str, data: bytes, *, name: str = "", shared: bool = True) -> int:
    """A package source from an uploaded sdist/wheel/zip; returns the source id."""
    name_of_file = _filename(filename)
    if not any(True for _ in symbols.walk_archive(data, name_of_file)):
        raise DocumentError(f"{name_of_file} holds no Python package.")
    source_id = sources.create_package(user, archive_name=name_of_file, name=name, shared=shared)
    path = sources.archive_path(source_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return source_id


@dataclass(frozen=True)
class Summary:
    document_id: int
    title: str
    text: str
    call_id: str
    source: str  # provider | cache | fallback | dry_run | template
    notice: str


def _document(user: AuthedUser, document_id: int) -> tuple[str, str, bytes]:
    """(title, file name, content) of a stored upload or page the user may change."""
    with session_scope() as session:
        document = session.get(DocDocument, document_id)
        if document is None or not document.content:
            raise ValidationError("That document no longer exists or has no stored content.")
        source_id, title, content = document.source_id, document.title, document.content
        name = fetch.name_from_url(document.external_id) if document.url else document.external_id
    sources.manageable(user, source_id)
    return title, name, content


def _first_sentences(parsed: ParsedDocument, limit: int = 600) -> str:
    text = " ".join(section.text for section in parsed.sections)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


async def summarize(user: AuthedUser, document_id: int) -> AsyncIterator[str | Summary]:
    """Streams a summary of a stored upload or page; without a model, its opening lines, labelled."""
    title, name, content = _document(user, document_id)
    parsed = parsers.parse_bytes(content, name)
    text = "\n\n".join(f"{s.heading}\n{s.text}" if s.heading else s.text for s in parsed.sections)
    opening = _first_sentences(parsed)
    request = LLMRequest(feature="docs", task="summarize", user_id=user.id, max_tokens=500, temperature=0,
                         untrusted=(UntrustedText("document", text[:SUMMARY_INPUT_CHARS], title),),
                         fallback=lambda: f"**No AI summary** (no model was reachable). The document begins: {opening}")
    result: LLMResult | None = None
    async for piece in gateway.astream(request):
        if isinstance(piece, LLMResult):
            result = piece
        else:
            yield piece
    assert result is not None
    yield Summary(document_id, title, result.text, result.call_id, result.source, result.notice)


@dataclass(frozen=True)
class Added:
    """What became of files or a page added to a files source."""

    source_id: int | None  # None: a new collection received nothing and was not kept
    results: list[tuple[str, str]]  # (file name or URL, "" when stored, else why not)
    document_ids: list[int]
    job_id: str  # its indexing job; "" when nothing was stored or indexing could not start
    index_error: str = ""

    @property
    def stored(self) -> int:
        return len(self.document_ids)


def _into_collection(user: AuthedUser, collection_id: int | None, items: list[tuple[str, Callable[[int], int]]], *,
                     name: str, shared: bool) -> Added:
    """Runs each `add(source_id)` into the collection (a new one when None), then starts its
    indexing; a new collection that received nothing is deleted again."""
    created = collection_id is None
    source_id = sources.create_files(user, name=name, shared=shared) if created else collection_id
    assert source_id is not None
    results, stored = [], []
    for label, add in items:
        try:
            stored.append(add(source_id))
            results.append((label, ""))
        except (DocumentError, ValidationError) as exc:
            results.append((label, str(exc)))
    if not stored:
        if created:
            sources.delete(user, source_id)
        return Added(None if created else source_id, results, [], "")
    try:
        return Added(source_id, results, stored, indexing.start(user, source_id))
    except ValidationError as exc:  # e.g. already being indexed: the running sync may miss them
        return Added(source_id, results, stored, "", index_error=str(exc))


def add_files(user: AuthedUser, collection_id: int | None, files: Sequence[tuple[str, bytes]], *,
              name: str = "", shared: bool = False) -> Added:
    """Uploads into a files source (or a new one named `name`), each checked on its own, then indexed."""
    if not files:
        raise ValidationError("Choose one or more files first.")
    return _into_collection(user, collection_id, [
        (filename, lambda source_id, f=filename, d=data: add_upload(user, source_id, f, d)) for filename, data in files],
        name=name, shared=shared)


def add_page(user: AuthedUser, collection_id: int | None, url: str, *, name: str = "", shared: bool = False) -> Added:
    """A web page into a files source (or a new one), then indexed; summarise it with `summarize`."""
    return _into_collection(user, collection_id, [(url, lambda source_id: add_url(user, source_id, url))],
                            name=name, shared=shared)

"""Writing a source's documents: chunks, embeddings and symbols replaced in one transaction.

A document is replaced whole (its old chunks deleted, the new ones inserted) in the same
transaction that bumps its source's `revision`, so a reader sees either the old or the new
version, never half, and an indexing job killed at any point leaves no duplicates: the
document it was writing is either committed or not there, and the next run redoes it.
The embeddings are computed before the transaction opens, so it stays short (`Writer`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Self

from sqlalchemy import delete, func, insert, update
from sqlmodel import select

from services.db import session_scope
from services.db.models import DocChunk, DocDocument, DocSource, DocSymbol
from services.db.models.base import utcnow
from services.search import dense, embedder
from services.search.chunking import Chunk, chunk_document, embedding_text
from services.search.documents import DocumentError, ParsedDocument
from services.search.symbols import Symbol

log = logging.getLogger(__name__)


def _bump(session, source_id: int) -> None:
    session.exec(update(DocSource).where(DocSource.id == source_id)  # type: ignore[call-overload]
                 .values(revision=DocSource.revision + 1, updated_at=utcnow()))


def versions(source_id: int) -> dict[str, str]:
    """external id -> stored version of every document of the source."""
    with session_scope() as session:
        rows = session.exec(select(DocDocument.external_id, DocDocument.version)
                            .where(DocDocument.source_id == source_id)).all()
    return dict(rows)


@dataclass
class NewDocument:
    """A loaded document waiting for its chunks to be embedded and written."""

    external_id: str
    parsed: ParsedDocument
    version: str
    url: str = ""
    location: str = ""
    labels: Sequence[str] = ()
    size: int = 0
    content: bytes | None = None
    symbols: Sequence[Symbol] = ()
    chunks: list[Chunk] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chunks = chunk_document(self.parsed)
        if not self.chunks:
            raise DocumentError(f"{self.parsed.title or self.external_id} has no text to index.")

    @property
    def title(self) -> str:
        return self.parsed.title[:500]


class Writer:
    """Writes batches of documents, each in one transaction, for one source.

    A batch is embedded in the calling thread, then committed on a thread of the writer's
    own while the caller loads and embeds the next: embedding keeps both cores busy, and the
    commit mostly waits on the database (10,000 short chunks on SQLite: 163-166 chunks/s one
    after the other; bench/results/docs_retrieval.json has the figure with this overlap).
    At most one commit is in flight, so batches commit in order; leaving the `with` block
    waits for the last one, and a failed commit is raised by the next `write` or the exit.
    """

    def __init__(self, source_id: int) -> None:
        self.source_id = source_id
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def __enter__(self) -> Self:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"docs-writer-{self.source_id}")
        return self

    def __exit__(self, exc_type, exc, _tb) -> None:
        assert self._pool is not None
        try:
            if exc is None:
                self._wait()
            elif self._pending is not None and self._pending.exception() is not None:
                log.warning("A batch of source %s was not written either: %s", self.source_id,
                            self._pending.exception())
        finally:
            self._pool.shutdown(wait=True)

    def write(self, documents: Sequence[NewDocument]) -> int:
        """Embeds the documents' chunks (together: one document rarely fills a batch) and
        queues their commit; returns the number of chunks."""
        assert self._pool is not None, "use Writer in a with block"
        texts = [embedding_text(doc.title, chunk) for doc in documents for chunk in doc.chunks]
        vectors = embedder.embed(texts)
        self._wait()
        self._pending = self._pool.submit(self._commit, list(documents), vectors)
        return len(texts)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _commit(self, documents: list[NewDocument], vectors: list[list[float]]) -> None:
        remaining = iter(vectors)
        with session_scope() as session:
            for doc in documents:
                _write(session, self.source_id, doc, [next(remaining) for _ in doc.chunks])
            _bump(session, self.source_id)


def _write(session, source_id: int, doc: NewDocument, vectors: list[list[float]]) -> None:
    document = session.exec(select(DocDocument).where(DocDocument.source_id == source_id,
                                                      DocDocument.external_id == doc.external_id)).first()
    if document is None:
        document = DocDocument(source_id=source_id, external_id=doc.external_id[:500], title=doc.title)
    document.title, document.url, document.location = doc.title, doc.url[:2000], doc.location[:500]
    document.version, document.labels = doc.version[:100], json.dumps(list(doc.labels))
    document.media_type, document.size, document.updated_at = doc.parsed.media_type, doc.size, utcnow()
    if doc.content is not None:
        document.content, document.content_hash = doc.content, content_hash(doc.content)
    session.add(document)
    session.flush()
    old = list(session.exec(select(DocChunk.id).where(DocChunk.document_id == document.id)).all())
    session.exec(delete(DocChunk).where(DocChunk.document_id == document.id))  # type: ignore[call-overload]
    session.exec(delete(DocSymbol).where(DocSymbol.document_id == document.id))  # type: ignore[call-overload]
    rows = [{"source_id": source_id, "document_id": document.id, "ordinal": chunk.ordinal, "title": doc.title,
             "heading": chunk.heading[:1000], "text": chunk.text, "page": chunk.page, "start": chunk.start,
             "end": chunk.end, "embedding": dense.to_bytes(vector)} for chunk, vector in zip(doc.chunks, vectors, strict=True)]
    ids = session.execute(insert(DocChunk).returning(DocChunk.id, sort_by_parameter_order=True), rows).scalars().all()
    if doc.symbols:
        session.execute(insert(DocSymbol), [
            {"source_id": source_id, "document_id": document.id, "qualname": s.qualname[:500], "name": s.name[:200],
             "kind": s.kind, "signature": s.signature, "docstring": s.docstring, "file": s.file[:500],
             "line": s.line} for s in doc.symbols])
    # A Qdrant server is written before the commit: if the commit then fails, its extra
    # points name chunks that do not exist, and searches drop such hits.
    dense.removed(source_id, old)
    dense.stored(source_id, list(zip(ids, vectors, strict=True)))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def stored_documents(source_id: int) -> list[tuple[int, str, str, str]]:
    """(id, external id, title, content hash) of the uploads and fetched pages kept in the database."""
    with session_scope() as session:
        rows = session.exec(select(DocDocument.id, DocDocument.external_id, DocDocument.title, DocDocument.content_hash)
                            .where(DocDocument.source_id == source_id, DocDocument.content_hash != "")).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def stored_content(document_id: int) -> bytes:
    with session_scope() as session:
        document = session.get(DocDocument, document_id)
        return document.content or b"" if document else b""


def remove_documents(source_id: int, external_ids: Sequence[str]) -> int:
    """Deletes these documents with their chunks and symbols; returns how many went."""
    if not external_ids:
        return 0
    removed = 0
    for start in range(0, len(external_ids), 500):
        batch = list(external_ids[start:start + 500])
        with session_scope() as session:
            chunk_ids = list(session.exec(select(DocChunk.id).join(DocDocument, DocDocument.id == DocChunk.document_id)
                                          .where(DocDocument.source_id == source_id,
                                                 DocDocument.external_id.in_(batch))).all())  # type: ignore[attr-defined]
            removed += session.exec(delete(DocDocument).where(DocDocument.source_id == source_id,  # type: ignore[call-overload]
                                                              DocDocument.external_id.in_(batch))).rowcount  # type: ignore[attr-defined]
            _bump(session, source_id)
            dense.removed(source_id, chunk_ids)
    return removed


def refresh_counts(source_id: int) -> tuple[int, int, int]:
    """Stores and returns the source's (documents, chunks, symbols)."""
    with session_scope() as session:
        counts = tuple(session.exec(select(func.count()).select_from(model).where(model.source_id == source_id)).one()
                       for model in (DocDocument, DocChunk, DocSymbol))
        session.exec(update(DocSource).where(DocSource.id == source_id)  # type: ignore[call-overload]
                     .values(documents=counts[0], chunks=counts[1], symbols=counts[2]))
    return counts  # type: ignore[return-value]

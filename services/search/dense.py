"""Dense (embedding) search over document chunks, per source.

Two backends behind one function:

- **Matrix** (default, no server): each process keeps, per source, a float32 matrix of its
  chunks' embeddings, loaded from SQL and kept in step by a diff of chunk ids whenever the
  source's `revision` moved. A query is one matrix-vector product per visible source: exact,
  and 9 ms (p95 12 ms) at 100,000 chunks, where Qdrant's embedded local mode took 112 ms
  (p95 140 ms) for the same points (bench/results/docs_retrieval.json) and warns above 20,000. The embedded
  on-disk mode also locks its folder to one process, and the app, the workers and the CLI
  all read the same chunks.
- **Qdrant server** (QDRANT_URL set): one collection per source (`doc_src_<id>`), written
  by the indexing job as it stores chunks, shared by every process.

Either way the SQL rows are the truth: a hit whose chunk no longer exists is dropped by
the caller when it joins the chunk rows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from services.db import session_scope
from services.db.models import DocChunk, DocSource
from services.search import store
from services.search.embedder import DIM
from services.settings import get_settings


def to_bytes(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def uses_server() -> bool:
    return bool(get_settings().qdrant_url)


def collection_name(source_id: int) -> str:
    return f"doc_src_{source_id}"


@dataclass
class _Matrix:
    revision: int
    ids: np.ndarray  # int64 chunk ids, row order of `vectors`
    vectors: np.ndarray  # (n, DIM) float32


_lock = threading.Lock()
_matrices: dict[int, _Matrix] = {}


_IN_BATCH = 5000  # ids per IN list: PostgreSQL takes at most 65,535 parameters a statement


def _load_rows(source_id: int, chunk_ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of the source's chunks, or of the given ones."""
    base = select(DocChunk.id, DocChunk.embedding).where(DocChunk.source_id == source_id)
    if chunk_ids is None:
        queries = [base]
    else:
        queries = [base.where(DocChunk.id.in_(list(chunk_ids[start:start + _IN_BATCH])))  # type: ignore[union-attr]
                   for start in range(0, len(chunk_ids), _IN_BATCH)]
    rows = []
    with session_scope() as session:
        for query in queries:
            rows += session.execute(query.order_by(DocChunk.id)).all()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), DIM)
    return ids, vectors


def _refreshed(source_id: int, revision: int) -> _Matrix:
    """The source's matrix at `revision`: unchanged rows kept, only new chunks read."""
    current = _matrices.get(source_id)
    if current is not None and current.revision == revision:
        return current
    live = None
    if current is not None:
        with session_scope() as session:
            live = np.array(session.execute(select(DocChunk.id).where(DocChunk.source_id == source_id)).scalars().all(),
                            dtype=np.int64)
    if current is None or live is None or live.size > 2 * current.ids.size:
        ids, vectors = _load_rows(source_id)  # first load, or mostly new: read it all at once
    else:
        keep = np.isin(current.ids, live)
        added = np.setdiff1d(live, current.ids)
        new_ids, new_vectors = _load_rows(source_id, added.tolist()) if added.size else \
            (np.empty(0, np.int64), np.empty((0, DIM), np.float32))
        ids = np.concatenate([current.ids[keep], new_ids])
        vectors = np.concatenate([current.vectors[keep], new_vectors])
    matrix = _Matrix(revision, ids, np.ascontiguousarray(vectors))
    _matrices[source_id] = matrix
    return matrix


def _revisions(source_ids: Sequence[int]) -> dict[int, int]:
    with session_scope() as session:
        rows = session.execute(select(DocSource.id, DocSource.revision).where(DocSource.id.in_(list(source_ids)))).all()  # type: ignore[union-attr]
    return {source_id: revision for source_id, revision in rows}


def search(source_ids: Sequence[int], vector: Sequence[float], *, limit: int) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the nearest chunks over the given sources, best first."""
    if not source_ids or limit <= 0:
        return []
    if uses_server():
        hits = [(hit.id, hit.score) for source_id in source_ids
                for hit in _server_index(source_id).search(vector, limit=limit)]
        return sorted(hits, key=lambda hit: -hit[1])[:limit]
    query = np.asarray(vector, dtype=np.float32)
    revisions = _revisions(source_ids)
    best_ids, best_scores = [], []
    with _lock:
        matrices = [_refreshed(source_id, revision) for source_id, revision in revisions.items()]
    for matrix in matrices:
        if not matrix.ids.size:
            continue
        scores = matrix.vectors @ query
        top = np.argpartition(-scores, limit - 1)[:limit] if scores.size > limit else np.arange(scores.size)
        best_ids.append(matrix.ids[top])
        best_scores.append(scores[top])
    if not best_ids:
        return []
    ids, scores = np.concatenate(best_ids), np.concatenate(best_scores)
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(int(ids[i]), float(scores[i])) for i in order]


def _server_index(source_id: int) -> store.VectorIndex:
    index = store.VectorIndex(collection_name(source_id))
    index.ensure()
    return index


def stored(source_id: int, chunks: Sequence[tuple[int, Sequence[float]]]) -> None:
    """Chunks just written to SQL: a Qdrant server gets them now; the matrix reads SQL later."""
    if uses_server() and chunks:
        _server_index(source_id).upsert([(chunk_id, vector, {}) for chunk_id, vector in chunks])


def removed(source_id: int, chunk_ids: Sequence[int]) -> None:
    if uses_server() and chunk_ids:
        _server_index(source_id).delete(list(chunk_ids))


def dropped(source_id: int) -> None:
    """The whole source is gone."""
    with _lock:
        _matrices.pop(source_id, None)
    if uses_server():
        store.VectorIndex(collection_name(source_id)).drop()


def reset_dense() -> None:
    """Forget every cached matrix (tests switch databases)."""
    with _lock:
        _matrices.clear()

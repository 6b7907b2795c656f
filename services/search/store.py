"""Vector indexes: a thin wrapper so no other module imports qdrant_client.

Why each process keeps its own in-memory index: Qdrant's embedded on-disk mode
(`QdrantClient(path=...)`) takes an exclusive file lock on its folder, so the web app and
the RQ worker processes could not open it together. The SQL database therefore stays the
source of truth, and each process keeps an in-memory index (`QdrantClient(":memory:")`)
that its caller hydrates from SQL and keeps in sync; this module only gives the primitives.
With a Qdrant server (QDRANT_URL or LLMCODER_QDRANT_URL) all processes share its collections.

One client per process. After a fork a server client is rebuilt (its HTTP connections
belong to the parent), but the in-memory client is kept: the child also inherits its
caller's record of what was synced, and an empty index behind that record would silently
find nothing. Local mode has no locks of its own, so calls to it are serialised here.

Collections use the dot product on vectors this module scales to unit length, which ranks
and scores exactly as cosine: local mode's cosine re-normalises all stored vectors on every
search (two thirds of a 10,000-point search's time, bench/results/learned_templates.json).

Payload indexes are not created: local mode ignores them, and on a server the few
exact-match keys filter correctly without them. Add them here if a server collection
grows large enough for filtered search to need them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from qdrant_client import QdrantClient, models

from services.search.embedder import DIM
from services.settings import get_settings

# Points per upsert call: bounds the request size and how long local mode holds the lock.
_UPSERT_BATCH = 256

_lock = threading.Lock()
_client: QdrantClient | None = None
_client_pid = 0
_remote = False


def _renew_lock_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever in the child.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_lock_in_child)


def _process_client() -> QdrantClient:
    global _client, _client_pid, _remote
    with _lock:
        if _client is not None and _client_pid != os.getpid():
            if _remote:
                _client = None  # not closed: the connections are the parent's
            _client_pid = os.getpid()
        if _client is None:
            url = get_settings().qdrant_url
            _client = QdrantClient(url=url) if url else QdrantClient(":memory:")
            _client_pid, _remote = os.getpid(), bool(url)
        return _client


@contextmanager
def _use() -> Iterator[QdrantClient]:
    client = _process_client()
    if _remote:
        yield client
        return
    with _lock:
        yield client


def reset_clients() -> None:
    """Forget the process client and with it every in-memory collection (tests)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def _unit(vector: Sequence[float]) -> list[float]:
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    if norm == 0.0:
        raise ValueError("A zero vector has no direction to compare")
    return (array / norm).tolist()


@dataclass(frozen=True)
class Hit:
    id: int
    score: float
    payload: dict


class VectorIndex:
    """One collection of vectors compared by cosine, with int ids and a flat payload."""

    def __init__(self, collection: str, dim: int = DIM) -> None:
        self.collection = collection
        self.dim = dim

    def _create_if_missing(self, client: QdrantClient) -> None:
        if not client.collection_exists(self.collection):
            try:
                client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.DOT))
            except Exception:
                if not client.collection_exists(self.collection):
                    raise
                # else another process created it between the two calls (server mode)
        size = client.get_collection(self.collection).config.params.vectors.size
        if size != self.dim:
            raise ValueError(f"Collection {self.collection} holds {size}-dimensional vectors, not {self.dim}")

    def ensure(self) -> None:
        """Create the collection if it is missing; idempotent."""
        with _use() as client:
            self._create_if_missing(client)

    def upsert(self, points: Sequence[tuple[int, Sequence[float], dict]]) -> None:
        """Insert or replace (id, vector, payload) points, in batches."""
        for start in range(0, len(points), _UPSERT_BATCH):
            batch = [models.PointStruct(id=point_id, vector=_unit(vector), payload=payload)
                     for point_id, vector, payload in points[start:start + _UPSERT_BATCH]]
            with _use() as client:
                client.upsert(self.collection, points=batch, wait=True)

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with _use() as client:
            client.delete(self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def search(self, vector: Sequence[float], *, limit: int = 5, min_score: float = 0.0,
               must: dict[str, str | int | bool] | None = None) -> list[Hit]:
        """The nearest points by cosine similarity, best first, scoring at least min_score
        and matching every `must` payload key exactly."""
        query_filter = None
        if must:
            query_filter = models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))
                                               for key, value in must.items()])
        with _use() as client:
            response = client.query_points(self.collection, query=_unit(vector), query_filter=query_filter,
                                           limit=limit, score_threshold=min_score, with_payload=True)
        return [Hit(id=int(point.id), score=point.score, payload=point.payload or {}) for point in response.points]

    def count(self) -> int:
        with _use() as client:
            return client.count(self.collection, exact=True).count

    def drop(self) -> None:
        """Delete the collection and its points; idempotent."""
        with _use() as client:
            if client.collection_exists(self.collection):
                client.delete_collection(self.collection)

    def clear(self) -> None:
        """Drop every point: delete the collection and create it again."""
        with _use() as client:
            client.delete_collection(self.collection)
            self._create_if_missing(client)

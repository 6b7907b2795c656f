"""The in-memory vector index with real embeddings: nearest paraphrase, payload filters,
thresholds, deletes, and what a forked child and other threads see."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.search import embedder, store
from services.search.store import Hit, VectorIndex
from services.settings import reset_settings_cache
from tests.fork_support import in_forked_child

# The server test's client checks the server version in a thread and warns a moment later.
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")

BIG_ID = 2**53 + 7  # ids are ints end to end, not floats or strings
SENTENCES = {
    11: ("reset my password", {"project": "alpha", "kind": "faq", "public": True}),
    12: ("the invoice for March is overdue", {"project": "alpha", "kind": "mail", "public": False}),
    13: ("book a meeting room for Tuesday", {"project": "beta", "kind": "faq", "public": True}),
    14: ("bananas are yellow", {"project": "beta", "kind": "note", "public": True}),
    BIG_ID: ("how to deploy the app to production", {"project": "beta", "kind": "faq", "public": False}),
}


@pytest.fixture
def index(data_dir, monkeypatch) -> VectorIndex:
    """A filled in-memory index (no Qdrant server configured)."""
    for name in ("QDRANT_URL", "LLMCODER_QDRANT_URL"):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    store.reset_clients()
    index = VectorIndex("test_sentences")
    index.ensure()
    texts = [text for text, _ in SENTENCES.values()]
    index.upsert([(point_id, vector, payload) for (point_id, (_, payload)), vector
                  in zip(SENTENCES.items(), embedder.embed(texts), strict=True)])
    yield index
    store.reset_clients()


def ids(hits: list[Hit]) -> list[int]:
    return [hit.id for hit in hits]


def test_the_nearest_point_of_a_paraphrase_is_the_right_one(index):
    hits = index.search(embedder.embed_one("I forgot my password and need a new one"), limit=3)
    assert hits[0] == Hit(id=11, score=hits[0].score, payload=SENTENCES[11][1])
    assert hits[0].score > 0.6 and len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    deploy = index.search(embedder.embed_one("ship the application to prod"), limit=1)
    assert ids(deploy) == [BIG_ID] and type(deploy[0].id) is int


def test_filters_match_every_key_exactly(index):
    query = embedder.embed_one("reset my password")

    def matching(**must) -> set[int]:
        return set(ids(index.search(query, limit=10, min_score=-1.0, must=must)))

    assert matching(project="beta", kind="faq") == {13, BIG_ID}
    assert matching(project="beta", kind="faq", public=True) == {13}
    assert matching(project="alpha", kind="note") == set()
    assert matching(public=False) == {12, BIG_ID}
    assert matching() == set(SENTENCES)


def test_integer_payload_values_filter_too(index):
    index.upsert([(21, embedder.embed_one("reset my password"), {"owner_id": 7}),
                  (22, embedder.embed_one("reset my password"), {"owner_id": 8})])
    assert ids(index.search(embedder.embed_one("password"), limit=10, must={"owner_id": 8})) == [22]


def test_min_score_drops_weak_matches(index):
    query = embedder.embed_one("change my password please")
    everything = index.search(query, limit=10, min_score=-1.0)
    assert len(everything) == len(SENTENCES)
    strong = index.search(query, limit=10, min_score=0.5)
    assert ids(strong) == [11] and strong[0].score >= 0.5
    assert index.search(query, limit=10, min_score=0.99) == []


def test_upsert_replaces_delete_removes_and_count_follows(index):
    assert index.count() == len(SENTENCES)
    index.upsert([(14, embedder.embed_one("bananas are yellow"), {"project": "gamma"})])
    assert index.count() == len(SENTENCES)
    assert index.search(embedder.embed_one("yellow fruit"), limit=1)[0].payload == {"project": "gamma"}
    index.delete([11, BIG_ID])
    index.delete([])
    assert index.count() == len(SENTENCES) - 2
    assert 11 not in ids(index.search(embedder.embed_one("reset my password"), limit=10, min_score=-1.0))


def test_clear_empties_the_collection_and_keeps_it_usable(index):
    index.clear()
    assert index.count() == 0
    assert index.search(embedder.embed_one("reset my password")) == []
    index.ensure()
    index.upsert([(1, embedder.embed_one("reset my password"), {})])
    assert index.count() == 1


def test_collections_are_separate_and_ensure_is_idempotent(index):
    other = VectorIndex("other_sentences")
    other.ensure()
    other.ensure()
    assert other.count() == 0
    assert index.count() == len(SENTENCES)
    assert other.search(embedder.embed_one("reset my password")) == []


def test_a_collection_of_another_dimension_is_refused(index):
    with pytest.raises(ValueError, match="384-dimensional vectors, not 8"):
        VectorIndex("test_sentences", dim=8).ensure()


def test_large_upserts_go_in_batches(index, monkeypatch):
    monkeypatch.setattr(store, "_UPSERT_BATCH", 100)
    rng = random.Random(3)
    bulk = VectorIndex("bulk", dim=4)
    bulk.ensure()
    bulk.upsert([(i, [rng.uniform(-1, 1) for _ in range(4)], {"n": i}) for i in range(1, 351)])
    assert bulk.count() == 350
    assert bulk.search([1, 0, 0, 0], limit=400, min_score=-1.0, must={"n": 350})[0].id == 350


def test_reset_clients_forgets_the_in_memory_collections(index):
    store.reset_clients()
    fresh = VectorIndex("test_sentences")
    fresh.ensure()
    assert fresh.count() == 0


@pytest.mark.parametrize("variable", ["QDRANT_URL", "LLMCODER_QDRANT_URL"])
def test_a_configured_server_is_used_instead_of_memory(index, monkeypatch, variable):
    monkeypatch.setenv(variable, "http://127.0.0.1:1")  # nothing listens on port 1
    reset_settings_cache()
    store.reset_clients()
    with pytest.raises(Exception, match="(?i)connect|refused"):
        VectorIndex("test_sentences").ensure()


def test_threads_can_write_and_search_at_once(index):
    rng = random.Random(5)
    query = embedder.embed_one("reset my password")

    def write(first: int) -> None:
        for start in range(first, first + 200, 20):
            index.upsert([(i, [rng.gauss(0, 1) for _ in range(384)], {"w": first}) for i in range(start, start + 20)])

    def read() -> None:
        for _ in range(30):
            index.search(query, limit=3, must={"public": True})

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(write, 1000 * k) for k in range(1, 5)] + [pool.submit(read) for _ in range(2)]
        for future in futures:
            future.result(timeout=120)  # re-raises what a thread raised
    assert index.count() == len(SENTENCES) + 4 * 200


def test_a_forked_child_keeps_the_in_memory_index(index):
    query = embedder.embed_one("I forgot my password")

    def report() -> str:
        hits = index.search(query, limit=1)
        index.upsert([(99, query, {"child": True})])
        return f"{index.count()} {ids(hits)}"

    assert in_forked_child(report) == f"{len(SENTENCES) + 1} [11]"
    assert index.count() == len(SENTENCES)  # the child's copy is its own

"""Hybrid retrieval: dense and keyword rankings fused by reciprocal rank, then once more
with pseudo-relevance feedback.

Why the keyword ranking's votes weigh half (`KEYWORD_WEIGHT`): when the dense candidates
cover the whole corpus (a team handbook of a few hundred chunks), every keyword hit also
has a dense rank, and equal-weight RRF put any chunk sharing one word with the question
above the dense first hit that shared none. On a 12-page handbook with paraphrased
questions (tests/integration/test_docs_qa.py) equal weights found the right page first
for 5 of 10 and in the top 3 for 8; half weight finds 6 first and all 10 in the top 3
(the answer gets `docs.passages` = 6 of them), and all 12 of a second question set first.

Why feedback: a question and the passage that answers it often share few words, and the
best first-stage passages carry the vocabulary the question lacked. The top
`FEEDBACK_DOCS` fused passages expand the keyword query by their most shared content words
(RM3-style) and move the query vector towards their mean (Rocchio); the two new rankings
are fused again. Cranfield nDCG@10 (chunked as real documents are): dense 0.406, keyword
0.384, plain RRF 0.432, these defaults 0.453 (bench/results/docs_eval_cranfield.json).
The 18 feedback settings tried (3-8 passages, 10-20 words) all beat plain RRF (0.437 to
0.454), and keyword weights 0.2-0.5 gave 0.444-0.455; the defaults sit inside those
ranges, not at the best point of one small set. A score fusion (cosine + 0.1 x relative
BM25) did as well on Cranfield (0.455) and found 9 of 10 first on the first handbook but
11 of 12 on the second; the issue asks for RRF, and RRF needs no score calibration.

Why large indexes skip the second keyword search: from `keyword.PRUNE_FROM` chunks on it was
most of a hybrid query's time (100,000 chunks on SQLite: p95 108 ms with it, 73 ms
without). There the first keyword ranking is fused with the feedback's dense ranking
instead; on Cranfield that scores the same (nDCG@10 0.453) but on the small handbook
above it ranks one answering page 5th instead of in the top 3, so small indexes, where the
second search is cheap, keep it. Also tried, on Cranfield: fewer expansion words (0.449
with 8, 0.452 with 5), the second search limited to the first stage's candidates (0.451),
matches required to share two words (0.447).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import select

from services.db import session_scope
from services.db.models import DocChunk
from services.search import dense, keyword
from services.search.embedder import embed_one

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
CANDIDATES = 100  # per ranking, before fusion
RRF_K = 60
KEYWORD_WEIGHT = 0.5  # a keyword rank's vote, against 1.0 for a dense rank
FEEDBACK_DOCS = 5
FEEDBACK_WEIGHT = 0.7
FEEDBACK_TERMS = 15
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def _executor() -> ThreadPoolExecutor:
    """This process's pool: a forked child (an RQ work horse) must not reuse its parent's,
    whose threads did not survive the fork."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=4, thread_name_prefix="keyword-search"), os.getpid()
    return _pool


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float  # fused (hybrid) or the ranking's own score
    similarity: float  # cosine between the question and the chunk: the confidence signal


def _rows(chunk_ids: Sequence[int]) -> dict[int, tuple[str, np.ndarray]]:
    """(text, embedding) of the given chunks."""
    if not chunk_ids:
        return {}
    with session_scope() as session:
        rows = session.execute(select(DocChunk.id, DocChunk.text, DocChunk.embedding)
                               .where(DocChunk.id.in_(list(chunk_ids)))).all()  # type: ignore[union-attr]
    return {row[0]: (row[1], dense.from_bytes(row[2])) for row in rows}


def _expansion(question: str, texts: Sequence[str]) -> str:
    """The question plus the content words most of the feedback passages share."""
    asked = set(keyword.terms(question))
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(keyword.terms(text)) - asked)
    extra = [word for word, count in counts.most_common() if count >= 2][:FEEDBACK_TERMS]
    return " ".join([question, *extra])


def _ids(ranking: Sequence[tuple[int, float]]) -> list[int]:
    return [item for item, _ in ranking]


def retrieve(source_ids: Sequence[int], question: str, *, limit: int = 8, mode: Mode = "hybrid",
             vector: Sequence[float] | None = None) -> list[Hit]:
    """The best chunks of the given sources for the question, best first.

    `vector` is the question's embedding when the caller has it (evaluation batches them)."""
    if not source_ids or not question.strip():
        return []
    query = np.asarray(vector if vector is not None else embed_one(question), dtype=np.float32)
    if mode == "keyword":
        ranked = keyword.search(source_ids, question, limit=limit)
    elif mode == "dense":
        ranked = dense.search(source_ids, query, limit=limit)
    else:
        ranked = _hybrid(source_ids, question, query, limit)
    rows = _rows(_ids(ranked))
    return [Hit(chunk_id, score, float(rows[chunk_id][1] @ query)) for chunk_id, score in ranked if chunk_id in rows]


def rrf(rankings: Sequence[tuple[float, Sequence[int]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion: each (weight, ranking) gives weight/(k + rank)."""
    scores: dict[int, float] = {}
    for weight, ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def _fused(source_ids: Sequence[int], question: str,
           query: np.ndarray) -> tuple[list[int], list[tuple[int, float]]]:
    """The keyword ranking, and its fusion with the dense one.
    The two searches run side by side: SQLite/PostgreSQL and numpy both release the GIL,
    so on two cores a hybrid query costs about its slower half, not the sum."""
    matches = _executor().submit(keyword.search, source_ids, question, limit=CANDIDATES)
    nearest = dense.search(source_ids, query, limit=CANDIDATES)
    by_words = _ids(matches.result())
    return by_words, rrf([(KEYWORD_WEIGHT, by_words), (1.0, _ids(nearest))])


def _hybrid(source_ids: Sequence[int], question: str, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
    by_words, first = _fused(source_ids, question, query)
    feedback = _rows(_ids(first[:FEEDBACK_DOCS]))
    if not feedback:
        return first[:limit]
    moved = query + FEEDBACK_WEIGHT * np.mean([vector for _, vector in feedback.values()], axis=0)
    moved /= np.linalg.norm(moved)
    if keyword.is_large():
        return rrf([(KEYWORD_WEIGHT, by_words), (1.0, _ids(dense.search(source_ids, moved, limit=CANDIDATES)))])[:limit]
    expanded = _expansion(question, [text for text, _ in feedback.values()])
    return _fused(source_ids, expanded, moved)[1][:limit]

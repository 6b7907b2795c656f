"""Keyword search over document chunks with the database's own full-text index.

SQLite: FTS5 with porter stemming, ranked by BM25 with the title and heading weighted
above the text, filtered by source inside the index. PostgreSQL: the generated tsvector column (English stemming, title and
heading weighted), ranked by ts_rank normalised by length. Both are created by migration
0006. A question is turned into an OR of its content words, so a chunk that has some of
them still ranks (an AND would find nothing for most natural-language questions).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from py_rust_stemmers import SnowballStemmer
from sqlalchemy import bindparam, text

from services.db import session_scope

# Column weights of bm25(): title, heading, text.
_BM25_WEIGHTS = (2.0, 1.5, 1.0)
_MAX_TERMS = 32
_stemmer = SnowballStemmer("english")
_WORD = re.compile(r"[^\W_]+(?:[_'][^\W_]+)*", re.UNICODE)
# Words that carry no topic in a question; FTS5 has no stop list of its own, and OR-ing
# "what" or "the" would make every chunk a candidate.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
yours yourself tell explain show give find get use using used please know want need does anyone someone
""".split())


def terms(question: str) -> list[str]:
    """The question's content words, lower-cased, each once, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if len(word) > 1 and word not in STOPWORDS:
            seen.setdefault(word.replace("'", ""), None)
    return list(seen)[:_MAX_TERMS]


def stems(words: Sequence[str]) -> set[str]:
    """English Snowball stems: "rolling back" and "rollback" share "roll"."""
    return {_stemmer.stem_word(word) for word in words}


def _fts5_query(words: Sequence[str]) -> str:
    # Each term quoted: FTS5 would read AND/OR/NEAR or a stray "-" as syntax.
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


def _tsquery(words: Sequence[str]) -> str:
    # Word characters only (any script): none of them is tsquery syntax, and the parser
    # splits "max_wal_senders" into the same lexemes as the indexed text.
    return " | ".join(re.sub(r"\W", "", word) or "x" for word in words)


# bm25 weights: title, heading, text, and 0 for source_id (indexed only to filter by it).
_SQLITE = text(f"""
    SELECT rowid, -bm25(doc_chunk_fts, {', '.join(map(str, _BM25_WEIGHTS))}, 0) AS score
    FROM doc_chunk_fts WHERE doc_chunk_fts MATCH :query
    ORDER BY score DESC LIMIT :limit
""")

_POSTGRES = text("""
    SELECT id, ts_rank(search_vector, query, 1) AS score
    FROM doc_chunk, to_tsquery('english', :query) AS query
    WHERE search_vector @@ query AND source_id IN :sources
    ORDER BY score DESC LIMIT :limit
""").bindparams(bindparam("sources", expanding=True))


_COUNT_SQLITE = text("SELECT count(*) FROM doc_chunk_fts WHERE doc_chunk_fts MATCH :query")
_COUNT_POSTGRES = text("SELECT count(*) FROM doc_chunk WHERE search_vector @@ to_tsquery('english', :query)")
_TOTAL = text("SELECT count(*) FROM doc_chunk")
# ANALYZE keeps the commonest lexemes of the tsvector column (1,000 at the default statistics
# target) with the share of rows holding each: a word's share without counting its matches,
# which cost up to 30 ms a word at 100,000 chunks.
_PLANNER_COMMON = text("SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                       "WHERE tablename = 'doc_chunk' AND attname = 'search_vector'")
_LEXEMES = text("SELECT word, tsvector_to_array(to_tsvector('english', word)) "
                "FROM unnest(CAST(:words AS text[])) AS word")
# Above PRUNE_FROM chunks, words found in more than COMMON_SHARE of them are left out of the
# query: their weight in the ranking is near zero, while scoring their tens of thousands of
# matches was most of a query's time at 100,000 chunks. Smaller indexes keep every word.
# PostgreSQL prunes harder: ts_rank has no inverse document frequency, so a common word
# weighs as much as a rare one there, and each match costs it about five times what it
# costs FTS5 (keyword p95 at 100,000 chunks: 73 ms at 10%, 33 ms at 2%).
PRUNE_FROM = 20_000
COMMON_SHARE = 0.1
COMMON_SHARE_POSTGRES = 0.02
_FREQUENCY_TTL = 600.0
_frequencies: dict[tuple[str, str], tuple[float, Any]] = {}


def _remembered(key: tuple[str, str], compute: Callable[[], Any]) -> Any:
    """compute(), remembered for ten minutes."""
    cached = _frequencies.get(key)
    if cached is None or time.monotonic() - cached[0] >= _FREQUENCY_TTL:
        cached = (time.monotonic(), compute())
        _frequencies[key] = cached
    return cached[1]


def _count(session, postgres: bool, word: str) -> int:
    """How many chunks hold the word."""
    statement, query = (_COUNT_POSTGRES, _tsquery([word])) if postgres else (_COUNT_SQLITE, _fts5_query([word]))
    return int(session.execute(statement, {"query": query}).scalar() or 0)


def _total(session, postgres: bool) -> int:
    return _remembered(("total", _dialect(postgres)), lambda: int(session.execute(_TOTAL).scalar() or 0))


def _dialect(postgres: bool) -> str:
    return "postgresql" if postgres else "sqlite"


def _planner_common(session) -> dict[str, float] | None:
    """lexeme -> share of chunks, from PostgreSQL's statistics; None before the first ANALYZE."""
    row = session.execute(_PLANNER_COMMON).first()
    if row is None or not row[0]:
        return None
    return dict(zip(row[0], row[1][:len(row[0])], strict=True))


def _shares(session, postgres: bool, words: list[str]) -> dict[str, float]:
    """Each word's share of the chunks holding it. Counted, the words no chunk holds are left
    out; from the planner's statistics every word is there (a rare one and a missing one
    both have no entry, share 0)."""
    common = _remembered(("planner", "postgresql"), lambda: _planner_common(session)) if postgres else None
    if common is not None:
        return {word: max((common.get(lexeme, 0.0) for lexeme in lexemes or ()), default=0.0)
                for word, lexemes in session.execute(_LEXEMES, {"words": words}).all()}
    total = max(_total(session, postgres), 1)
    counts = {word: _remembered((_dialect(postgres), word), lambda word=word: _count(session, postgres, word))
              for word in words}
    return {word: count / total for word, count in counts.items() if count}  # words no chunk holds left out


def is_large() -> bool:
    """Whether the index is large enough that each keyword search costs tens of milliseconds."""
    with session_scope() as session:
        return _total(session, session.get_bind().dialect.name == "postgresql") >= PRUNE_FROM


def _without_common(session, postgres: bool, words: list[str]) -> list[str]:
    if _total(session, postgres) < PRUNE_FROM:
        return words
    shares = _shares(session, postgres, words)
    present = [word for word in words if word in shares]
    if not present:
        return words  # no chunk holds any of them: nothing to prune
    limit = COMMON_SHARE_POSTGRES if postgres else COMMON_SHARE
    kept = [word for word in present if shares[word] <= limit]
    return kept or sorted(present, key=shares.__getitem__)[:2]  # all common: the two rarest


def search(source_ids: Sequence[int], question: str, *, limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best keyword matches over the given sources, best first."""
    words = terms(question)
    if not words or not source_ids or limit <= 0:
        return []
    with session_scope() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        words = _without_common(session, postgres, words)
        if postgres:
            rows = session.execute(_POSTGRES, {"query": _tsquery(words), "sources": list(source_ids),
                                               "limit": limit}).all()
        else:
            sources = " OR ".join(str(int(source_id)) for source_id in source_ids)
            rows = session.execute(_SQLITE, {"query": f"({_fts5_query(words)}) AND source_id:({sources})",
                                             "limit": limit}).all()
    return [(int(row[0]), float(row[1])) for row in rows]


def reset_frequencies() -> None:
    """Forget remembered word counts (tests switch databases)."""
    _frequencies.clear()

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
from collections.abc import Sequence

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
# Above PRUNE_FROM chunks, words found in more than COMMON_SHARE of them are left out of the
# query: their weight in the ranking is near zero, while scoring their tens of thousands of
# matches was most of a query's time at 100,000 chunks. Smaller indexes keep every word.
PRUNE_FROM = 20_000
COMMON_SHARE = 0.1
_FREQUENCY_TTL = 600.0
_frequencies: dict[tuple[str, str], tuple[float, int]] = {}


def _frequency(session, postgres: bool, word: str) -> int:
    """How many chunks hold the word, remembered for ten minutes."""
    key = ("postgresql" if postgres else "sqlite", word)
    cached = _frequencies.get(key)
    if cached is not None and time.monotonic() - cached[0] < _FREQUENCY_TTL:
        return cached[1]
    statement, query = (_COUNT_POSTGRES, _tsquery([word])) if postgres else (_COUNT_SQLITE, _fts5_query([word]))
    count = int(session.execute(statement, {"query": query}).scalar() or 0)
    _frequencies[key] = (time.monotonic(), count)
    return count


def _without_common(session, postgres: bool, words: list[str]) -> list[str]:
    cached = _frequencies.get(("total", "postgresql" if postgres else "sqlite"))
    if cached is None or time.monotonic() - cached[0] >= _FREQUENCY_TTL:
        cached = (time.monotonic(), int(session.execute(_TOTAL).scalar() or 0))
        _frequencies[("total", "postgresql" if postgres else "sqlite")] = cached
    total = cached[1]
    if total < PRUNE_FROM:
        return words
    counted = {word: _frequency(session, postgres, word) for word in words}
    present = [word for word in words if counted[word]] or words
    kept = [word for word in present if counted[word] <= COMMON_SHARE * total]
    return kept or sorted(present, key=counted.__getitem__)[:2]  # all common: the two rarest


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

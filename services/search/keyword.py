"""Keyword search over document chunks with the database's own full-text index.

SQLite: FTS5 with porter stemming, ranked by BM25 with the title and heading weighted
above the text. PostgreSQL: the generated tsvector column (English stemming, title and
heading weighted), ranked by ts_rank normalised by length. Both are created by migration
0006. A question is turned into an OR of its content words, so a chunk that has some of
them still ranks (an AND would find nothing for most natural-language questions).
"""

from __future__ import annotations

import re
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


_SQLITE = text(f"""
    SELECT f.rowid, -bm25(doc_chunk_fts, {', '.join(map(str, _BM25_WEIGHTS))}) AS score
    FROM doc_chunk_fts AS f JOIN doc_chunk AS c ON c.id = f.rowid
    WHERE doc_chunk_fts MATCH :query AND c.source_id IN :sources
    ORDER BY score DESC LIMIT :limit
""").bindparams(bindparam("sources", expanding=True))

_POSTGRES = text("""
    SELECT id, ts_rank(search_vector, query, 1) AS score
    FROM doc_chunk, to_tsquery('english', :query) AS query
    WHERE search_vector @@ query AND source_id IN :sources
    ORDER BY score DESC LIMIT :limit
""").bindparams(bindparam("sources", expanding=True))


def search(source_ids: Sequence[int], question: str, *, limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best keyword matches over the given sources, best first."""
    words = terms(question)
    if not words or not source_ids or limit <= 0:
        return []
    with session_scope() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        statement, query = (_POSTGRES, _tsquery(words)) if postgres else (_SQLITE, _fts5_query(words))
        rows = session.execute(statement, {"query": query, "sources": list(source_ids), "limit": limit}).all()
    return [(int(row[0]), float(row[1])) for row in rows]

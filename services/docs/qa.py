"""Answering a question from the user's documentation, with numbered citations.

The flow: the sources this user may see; a symbol-table lookup when the question names a
Python symbol and asks for its signature (answered from the table, no model needed);
otherwise hybrid retrieval, and below the confidence threshold the honest "cannot find".
Above it the passages go to the gateway as delimited data with the instruction to cite
them; when no model may answer (offline, budget reached, every provider failing) the
gateway's fallback is an extractive answer: the best passages, labelled as such.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import or_
from sqlmodel import select

from services import runtime_settings
from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import DocChunk, DocDocument, DocQuestion, DocSource, DocSymbol
from services.docs import sources
from services.llm import gateway, outcomes, prompts
from services.llm.messages import UntrustedText
from services.llm.types import LLMRequest, LLMResult
from services.search import keyword, retrieval
from services.search.embedder import EmbeddingUnavailable
from services.search.symbols import find_symbol_mentions

FEATURE = "docs"
NOT_FOUND = "I cannot find the answer in the documentation."
NO_SOURCES = "There is no documentation to search yet: add a source on the Sources page first."
SEARCH_UNAVAILABLE = "The documentation cannot be searched right now: the embedding model is unavailable"
MAX_QUESTION = 2000
STRONG_SIMILARITY = 0.35  # above this the best passage's cosine alone is confidence enough
HISTORY_TURNS = 6
_SIGNATURE_WORDS = re.compile(r"\b(arguments?|args|kwargs|parameters?|params|signature|takes?|accepts?|returns?)\b",
                              re.IGNORECASE)
_CITED = re.compile(r"\[(\d{1,2})\]")

prompts.register_default(
    FEATURE, "answer",
    system="You answer questions from the user's documentation, using only the numbered passages given with the "
           "question. Cite the passage numbers for every statement in square brackets, like [1] or [2][3]. "
           f"If the passages do not contain the answer, reply exactly: {NOT_FOUND} Do not use outside knowledge. "
           "Be concise; use Markdown lists and code blocks where they help.",
    user="Question: {question}\n\nThe documentation passages follow; each block's index is its citation number.",
    variables=("question",),
    description="Doc Q&A: an answer from retrieved passages, with numbered citations.",
)


@dataclass(frozen=True)
class Citation:
    number: int
    chunk_id: int
    document_id: int
    source_id: int
    source_name: str
    source_kind: str
    title: str
    heading: str
    page: int | None
    url: str
    location: str
    path: str  # the file's path inside its folder or collection, the module, or the page id
    passage: str
    similarity: float
    symbol: str = ""  # the qualified name, for a symbol-table answer

    @property
    def where(self) -> str:
        """The place inside the document: page and section, or the symbol."""
        parts = [f"page {self.page}" if self.page else "", self.heading]
        return " · ".join(part for part in parts if part)


@dataclass(frozen=True)
class DocAnswer:
    question_id: int
    question: str
    text: str
    mode: str  # llm | extractive | not_found | symbol
    citations: list[Citation]
    call_id: str
    notice: str
    confidence: float
    cost_nanos: int = 0

    def to_dict(self) -> dict:
        return {"question_id": self.question_id, "question": self.question, "answer": self.text, "mode": self.mode,
                "confidence": round(self.confidence, 4), "call_id": self.call_id, "notice": self.notice,
                "cost_nanos": self.cost_nanos,
                "citations": [{**asdict(c), "where": c.where} for c in self.citations]}


def _confident(question: str, citations: Sequence[Citation], best: float) -> bool:
    """Whether the passages can answer: a close embedding match, or a weaker one that also
    shares a content word with the question. Cosine alone separates poorly: paraphrased
    questions whose answer was retrieved scored 0.21-0.58 on the handbook of the tests,
    unrelated ones up to 0.17; the shared word is what unrelated questions lack."""
    if best >= STRONG_SIMILARITY:
        return True
    if best < min_similarity():
        return False
    asked = keyword.stems(keyword.terms(question))
    return any(asked & keyword.stems(keyword.terms(c.passage)) for c in citations[:3])


def min_similarity() -> float:
    return float(runtime_settings.get("docs.min_similarity"))


def passages_per_answer() -> int:
    return int(runtime_settings.get("docs.passages"))


def _check(question: str) -> str:
    question = " ".join((question or "").split())
    if not question:
        raise ValidationError("Type a question first.")
    if len(question) > MAX_QUESTION:
        raise ValidationError(f"Ask in at most {MAX_QUESTION:,} characters.")
    return question


def _citations(hits: Sequence[retrieval.Hit]) -> list[Citation]:
    if not hits:
        return []
    with session_scope() as session:
        rows = session.exec(
            select(DocChunk, DocDocument.url, DocDocument.location, DocDocument.external_id, DocSource.name,
                   DocSource.kind)
            .join(DocDocument, DocDocument.id == DocChunk.document_id)
            .join(DocSource, DocSource.id == DocChunk.source_id)
            .where(DocChunk.id.in_([hit.chunk_id for hit in hits]))).all()  # type: ignore[union-attr]
    by_id = {row[0].id: row for row in rows}
    found = []
    for hit in hits:
        if hit.chunk_id not in by_id:
            continue
        chunk, url, location, path, name, kind = by_id[hit.chunk_id]
        found.append(Citation(number=len(found) + 1, chunk_id=hit.chunk_id, document_id=chunk.document_id,
                              source_id=chunk.source_id, source_name=name, source_kind=kind, title=chunk.title,
                              heading=chunk.heading, page=chunk.page, url=url, location=location, path=path,
                              passage=chunk.text, similarity=hit.similarity))
    return found


def retrieve(user: AuthedUser, question: str, *, limit: int | None = None,
             mode: retrieval.Mode = "hybrid") -> list[Citation]:
    """The passages this user's question retrieves, numbered from 1."""
    return _citations(retrieval.retrieve(sources.visible_ids(user), _check(question),
                                         limit=limit or passages_per_answer(), mode=mode))


def _symbol(source_ids: Sequence[int], question: str) -> DocSymbol | None:
    """The symbol a signature question names, when the symbol table knows exactly one best match."""
    if not _SIGNATURE_WORDS.search(question):
        return None
    for mention in find_symbol_mentions(question):
        with session_scope() as session:
            found = session.exec(select(DocSymbol).where(
                DocSymbol.source_id.in_(list(source_ids)),  # type: ignore[attr-defined]
                or_(DocSymbol.qualname == mention, DocSymbol.qualname.endswith("." + mention, autoescape=True),  # type: ignore[attr-defined]
                    DocSymbol.name == mention))
                .order_by(DocSymbol.qualname).limit(5)).all()
        exact = [symbol for symbol in found if symbol.qualname == mention]
        if exact or len(found) == 1:
            return (exact or found)[0]
    return None


def _symbol_answer(symbol: DocSymbol) -> tuple[str, Citation]:
    with session_scope() as session:
        document = session.get(DocDocument, symbol.document_id)
        source = session.get(DocSource, symbol.source_id)
    summary = symbol.docstring.strip().split("\n\n")[0].strip()
    text = (f"`{symbol.qualname}{symbol.signature}` ({symbol.kind}, {symbol.file}:{symbol.line}) [1]"
            + (f"\n\n{summary}" if summary else "\n\nIt has no docstring."))
    citation = Citation(number=1, chunk_id=0, document_id=symbol.document_id, source_id=symbol.source_id,
                        source_name=source.name if source else "", source_kind="package",
                        title=document.title if document else symbol.file, heading=symbol.qualname, page=None,
                        url="", location=f"{symbol.file}:{symbol.line}", path=symbol.file,
                        passage=f"{symbol.qualname}{symbol.signature}\n\n{symbol.docstring}".strip(),
                        similarity=1.0, symbol=symbol.qualname)
    return text, citation


def _best_sentences(question: str, passage: str, limit: int = 320) -> str:
    """The passage's sentences that share the most words with the question, in their order."""
    wanted = set(keyword.terms(question))
    sentences = re.split(r"(?<=[.!?])\s+|\n+", passage)
    ranked = sorted(range(len(sentences)), key=lambda i: -len(wanted & set(keyword.terms(sentences[i]))))
    chosen, size = [], 0
    for index in ranked:
        if size and size + len(sentences[index]) > limit:
            continue
        chosen.append(index)
        size += len(sentences[index])
    excerpt = " ".join(sentences[i].strip() for i in sorted(chosen)).strip()
    return excerpt if len(excerpt) <= limit + 80 else excerpt[:limit].rsplit(" ", 1)[0] + " …"


def extractive_answer(question: str, citations: Sequence[Citation], reason: str = "") -> str:
    """The best passages as the answer, when no model may write one; clearly labelled."""
    lead = ("**Extractive answer** (no AI model was used" + (f": {reason}" if reason else "")
            + "). The most relevant passages of the documentation:")
    floor = min_similarity()
    lines = [f"- {_best_sentences(question, c.passage)} [{c.number}]" for c in citations[:3]
             if c.similarity >= floor or c.number == 1]
    return "\n".join([lead, "", *lines])


def _history(items: Sequence[dict]) -> tuple[dict, ...]:
    turns = [{"role": item["role"], "content": str(item.get("content", ""))} for item in items
             if isinstance(item, dict) and item.get("role") in ("user", "assistant")]
    return tuple(turns[-HISTORY_TURNS:])


def _search_text(question: str, history: Sequence[dict]) -> str:
    """A follow-up ("and its timeout?") is searched together with the question before it."""
    earlier = [turn["content"] for turn in history if turn["role"] == "user"]
    return f"{earlier[-1]} {question}" if earlier and len(keyword.terms(question)) < 6 else question


def _store(user: AuthedUser, question: str, text: str, mode: str, citations: Sequence[Citation],
           call_id: str) -> int:
    row = DocQuestion(user_id=user.id, question=question, answer=text, mode=mode, call_id=call_id or None,
                      citations_json=json.dumps([{**asdict(c), "where": c.where} for c in citations]))
    with session_scope() as session:
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def _answer(user: AuthedUser, question: str, text: str, mode: str, citations: list[Citation], *, call_id: str = "",
            notice: str = "", confidence: float = 0.0, cost_nanos: int = 0) -> DocAnswer:
    question_id = _store(user, question, text, mode, citations, call_id)
    return DocAnswer(question_id, question, text, mode, citations, call_id, notice, confidence, cost_nanos)


def _cited(text: str, citations: list[Citation]) -> list[Citation]:
    """The citations the answer refers to, in their original numbering."""
    numbers = {int(n) for n in _CITED.findall(text)}
    return [c for c in citations if c.number in numbers]


async def ask(user: AuthedUser, question: str, *, history: Sequence[dict] = ()) -> AsyncIterator[str | DocAnswer]:
    """Text pieces of a streamed answer as they come, then the DocAnswer (always last).
    Raises ValidationError for a bad question."""
    question = _check(question)
    turns = _history(history)
    source_ids = sources.visible_ids(user)
    if not source_ids:
        yield _answer(user, question, NO_SOURCES, "not_found", [])
        return
    symbol = _symbol(source_ids, question)
    if symbol is not None:
        text, citation = _symbol_answer(symbol)
        yield _answer(user, question, text, "symbol", [citation], confidence=1.0)
        return
    try:
        hits = retrieval.retrieve(source_ids, _search_text(question, turns), limit=passages_per_answer())
    except EmbeddingUnavailable as exc:  # the model did not load: say so instead of failing the page
        yield _answer(user, question, f"{SEARCH_UNAVAILABLE}: {exc}.", "not_found", [])
        return
    citations = _citations(hits)
    confidence = max((c.similarity for c in citations), default=0.0)
    if not _confident(question, citations, confidence):
        yield _answer(user, question, NOT_FOUND, "not_found", [], confidence=confidence)
        return
    request = LLMRequest(
        feature=FEATURE, task="answer", variables={"question": question}, user_id=user.id, history=turns,
        untrusted=tuple(UntrustedText("document", c.passage, f"{c.title} — {c.where}" if c.where else c.title)
                        for c in citations),
        fallback=lambda: extractive_answer(question, citations), max_tokens=800, temperature=0)
    result: LLMResult | None = None
    async for piece in gateway.astream(request):
        if isinstance(piece, LLMResult):
            result = piece
        else:
            yield piece
    assert result is not None
    yield _finish(user, question, result, citations, confidence)


def _first_clause(notice: str) -> str:
    """The gateway's notice up to its first clause break, as the reason in the extractive
    answer's label: "Monthly LLM budget reached ($0.50)". The dots inside "$0.50" or
    "services.cli" are no break, so the label keeps its brackets and backticks closed."""
    return re.split(r"[.;:](?:\s|$)", notice.strip(), maxsplit=1)[0]


def _finish(user: AuthedUser, question: str, result: LLMResult, citations: list[Citation],
            confidence: float) -> DocAnswer:
    if result.source == "fallback":
        text = extractive_answer(question, citations, _first_clause(result.notice))
        shown = [c for c in citations[:3] if f"[{c.number}]" in text]
        return _answer(user, question, text, "extractive", shown, call_id=result.call_id,
                       notice=result.notice, confidence=confidence)
    cited = _cited(result.text, citations)
    if NOT_FOUND.rstrip(".").lower() in result.text.lower() and not cited:
        return _answer(user, question, NOT_FOUND, "not_found", [], call_id=result.call_id, confidence=confidence,
                       cost_nanos=result.cost_nanos)
    answer = _answer(user, question, result.text, "llm", cited or citations, call_id=result.call_id,
                     notice=result.notice, confidence=confidence, cost_nanos=result.cost_nanos)
    if result.source == "provider":
        outcomes.record(result.call_id, "answered_question", user=user)
    return answer


def rate(user: AuthedUser, question_id: int, up: bool) -> None:
    """Thumbs up or down on an answer; a model's answer also rates its logged call."""
    with session_scope() as session:
        row = session.get(DocQuestion, question_id)
        if row is None or row.user_id != user.id:
            raise AccessDenied("That answer does not exist or is not yours.", signed_in=True)
        rating = 5 if up else 1
        changed, row.rating = row.rating != rating, rating
        session.add(row)
        call_id = row.call_id
    if call_id and changed:  # a second click on the same thumb is not a second rating
        outcomes.feedback(call_id, user=user, rating=rating)


def history(user: AuthedUser, *, limit: int = 50) -> list[dict]:
    """The user's recent questions and answers, oldest first."""
    with session_scope() as session:
        rows = session.exec(select(DocQuestion).where(DocQuestion.user_id == user.id)
                            .order_by(DocQuestion.created_at.desc(), DocQuestion.id.desc()).limit(limit)).all()  # type: ignore[attr-defined]
    return [{"question_id": row.id, "question": row.question, "answer": row.answer, "mode": row.mode,
             "rating": row.rating, "citations": json.loads(row.citations_json or "[]"),
             "created_at": row.created_at} for row in reversed(rows)]

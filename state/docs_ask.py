"""Doc Q&A's Ask page: a conversation whose answers stream in, with citations and ratings."""

from __future__ import annotations

import logging
from typing import Any, TypedDict

import reflex as rx

from services.auth.errors import ValidationError
from services.docs import qa, sources
from services.llm.types import LLMError
from services.search.documents import DocumentError
from state.session import SessionState
from state.streaming import batched

log = logging.getLogger(__name__)
MODE_LABELS = {"llm": "From the documentation", "extractive": "Extractive answer — no AI model used",
               "not_found": "Not found", "symbol": "From the symbol table"}


class CitationRow(TypedDict):
    number: int
    title: str
    where: str
    source_name: str
    url: str
    passage: str


class AskTurn(TypedDict):
    """One question with its answer, as the page shows it."""

    id: str
    question: str
    answer: str
    mode: str  # "" while the answer streams
    mode_label: str
    notice: str
    citations: list[CitationRow]
    question_id: int  # 0 until the answer is stored
    rating: int  # 5 up, 1 down, 0 none
    streaming: bool
    error: str


def _citation(item: dict[str, Any]) -> CitationRow:
    return {"number": int(item.get("number", 0)), "title": str(item.get("title", "")),
            "where": str(item.get("where", "")), "source_name": str(item.get("source_name", "")),
            "url": str(item.get("url", "")), "passage": str(item.get("passage", ""))}


def _turn(turn_id: str, question: str, *, answer: str = "", mode: str = "", notice: str = "",
          citations: list[CitationRow] | None = None, question_id: int = 0, rating: int = 0,
          streaming: bool = False) -> AskTurn:
    return {"id": turn_id, "question": question, "answer": answer, "mode": mode,
            "mode_label": MODE_LABELS.get(mode, ""), "notice": notice, "citations": citations or [],
            "question_id": question_id, "rating": rating, "streaming": streaming, "error": ""}


def _from_history(item: dict[str, Any]) -> AskTurn:
    return _turn(f"h{item['question_id']}", item["question"], answer=item["answer"], mode=item["mode"],
                 citations=[_citation(c) for c in item["citations"]], question_id=item["question_id"],
                 rating=item["rating"] or 0)


def _answered(turn: AskTurn, answer: qa.DocAnswer) -> AskTurn:
    return _turn(turn["id"], turn["question"], answer=answer.text, mode=answer.mode, notice=answer.notice,
                 citations=[_citation(c) for c in answer.to_dict()["citations"]], question_id=answer.question_id)


class DocsAskState(SessionState):
    turns: list[AskTurn] = rx.field(default_factory=list)
    has_sources: bool = True
    busy: bool = False
    error: str = ""
    _counter: int = 0
    _queued: str = ""  # the turn `ask` made and `answer` has not started
    _fresh: bool = False  # "New conversation" was chosen: the page stops showing the stored history

    @rx.event
    def load(self):
        """The recent questions and answers (unless a new conversation was started in this tab)."""
        user = self._require()
        self.has_sources, self.error = bool(sources.visible_ids(user)), ""
        if not self._fresh and not self.busy:
            self.turns = [_from_history(item) for item in qa.history(user)]

    @rx.event
    def new_conversation(self):
        """Also the way out if a restart cut an answer off and left the composer busy."""
        self._require()
        self.turns, self.busy, self._fresh, self._queued, self.error = [], False, True, "", ""

    @rx.event
    def ask(self, form: dict):
        self._require()
        question = str(form.get("question", "")).strip()
        if not question:
            return None
        if self.busy:  # the question stays in the box
            self.error = "Wait for the current answer to finish."
            return None
        self.error = ""
        self._counter += 1
        turn = _turn(f"q{self._counter}", question, streaming=True)
        self.turns.append(turn)
        self.busy, self._queued = True, turn["id"]
        return [rx.set_value("docs-question", ""), DocsAskState.answer(turn["id"])]

    def _index(self, turn_id: str) -> int | None:
        return next((i for i, t in enumerate(self.turns) if t["id"] == turn_id), None)

    def _history(self, before: int) -> list[dict]:
        """The on-screen turns before this one that got an answer, as the model's conversation."""
        history: list[dict] = []
        for turn in self.turns[:before]:
            if turn["question_id"] and not turn["error"]:
                history += [{"role": "user", "content": turn["question"]},
                            {"role": "assistant", "content": turn["answer"]}]
        return history

    def _change(self, turn_id: str, **fields: Any) -> None:
        index = self._index(turn_id)
        if index is not None:  # else the conversation was cleared meanwhile
            self.turns[index] = {**self.turns[index], **fields}  # type: ignore[typeddict-item]

    @rx.event(background=True)
    async def answer(self, turn_id: str):
        """Streams the answer of the turn `ask` queued (once: a replayed event does nothing)."""
        async with self:
            user = self._require()
            index = self._index(turn_id)
            if index is None or self._queued != turn_id:
                return
            self._queued = ""
            stream = qa.ask(user, self.turns[index]["question"], history=self._history(index))
        try:
            async for text, final in batched(stream):
                async with self:
                    index = self._index(turn_id)
                    if index is None:
                        continue
                    turn = self.turns[index]
                    if isinstance(final, qa.DocAnswer):
                        self.turns[index] = _answered(turn, final)
                    else:
                        self.turns[index] = {**turn, "answer": turn["answer"] + text}
        except (ValidationError, DocumentError, LLMError) as exc:
            async with self:
                self._change(turn_id, streaming=False, error=str(exc))
        except Exception as exc:  # a bug must not leave the conversation stuck; it is logged in full
            log.exception("Doc answer %s failed", turn_id)
            async with self:
                self._change(turn_id, streaming=False,
                             error=f"Answering failed unexpectedly ({type(exc).__name__}); the error was logged.")
        finally:
            async with self:
                self._change(turn_id, streaming=False)
                self.busy = False

    @rx.event
    def rate(self, turn_id: str, up: bool):
        user = self._require()
        index = self._index(turn_id)
        if index is None or not self.turns[index]["question_id"]:
            return
        qa.rate(user, self.turns[index]["question_id"], up)
        self._change(turn_id, rating=5 if up else 1)

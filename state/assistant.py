"""Code assistant page: a conversation whose answers stream in, with their checks and actions."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator

import reflex as rx

from services import assistant
from services.auth.errors import AuthError
from services.llm.costs import format_usd
from services.llm.types import LLMError
from state.session import SessionState
from state.streaming import batched

log = logging.getLogger(__name__)
SOURCE_LABELS = {"cache": "From the response cache", "dry_run": "Dry run: no provider was called",
                 "fallback": "Fallback answer"}


@dataclasses.dataclass
class Turn:
    id: str
    role: str  # "user" | "assistant"
    text: str = ""
    mode: str = "chat"
    stack: str = ""
    question: str = ""  # for an answer: what it answers (regenerate asks it again)
    fresh: bool = False  # a regeneration: no cache, no learned template
    streaming: bool = False
    stage: str = ""  # e.g. "A second provider is reviewing ..."
    error: str = ""
    call_id: str = ""
    source: str = ""
    label: str = ""  # "Learned template — saved $0.0012"
    notice: str = ""
    meta: str = ""  # cost · provider · model
    has_quality: bool = False
    quality: int = 0
    quality_color: str = "gray"
    findings: list[str] = dataclasses.field(default_factory=list)
    has_review: bool = False
    review_verdict: str = ""
    review_severity: str = ""
    review_summary: str = ""
    review_issues: list[str] = dataclasses.field(default_factory=list)
    review_note: str = ""
    blocked: bool = False
    block_reason: str = ""
    code: str = ""
    filename: str = ""
    accepted: bool = False
    rating: int = 0
    note: str = ""  # what accepting or rating did
    note_failed: bool = False


def _quality_color(score: int) -> str:
    return "green" if score >= 90 else "amber" if score >= 70 else "orange" if score >= 50 else "red"


def _answered(turn: Turn, answer: assistant.Answer) -> Turn:
    """The finished turn: every figure the page shows, as plain strings."""
    checked, review = answer.validation, answer.review
    if answer.source == "template":
        label = f"Learned template — saved {format_usd(answer.saved_nanos)}"
    else:
        label = SOURCE_LABELS.get(answer.source, "")
    who = " · ".join(part for part in (answer.provider, answer.model) if part)
    return dataclasses.replace(
        turn, text=answer.text, streaming=False, stage="", call_id=answer.call_id, source=answer.source, label=label,
        notice=answer.notice, meta=f"Cost {format_usd(answer.cost_nanos)}" + (f" · {who}" if who else ""),
        has_quality=checked is not None, quality=checked["score"] if checked else 0,
        quality_color=_quality_color(checked["score"]) if checked else "gray",
        findings=[f"{f['severity']}: {f['message']}" for f in checked["findings"]] if checked else [],
        has_review=review is not None, review_verdict=review["verdict"] if review else "",
        review_severity=review["severity"] if review else "", review_summary=review["summary"] if review else "",
        review_issues=list(review["issues"]) if review else [], review_note=answer.review_note,
        blocked=answer.blocked, block_reason=answer.block_reason, code=answer.code, filename=answer.filename)


def _advanced(turn: Turn, more_text: str, item: assistant.Stage | assistant.Answer | None) -> Turn:
    if isinstance(item, assistant.Answer):
        return _answered(turn, item)
    if isinstance(item, assistant.Stage):
        return dataclasses.replace(turn, text=turn.text + more_text, stage=item.message)
    return dataclasses.replace(turn, text=turn.text + more_text)


class AssistantState(SessionState):
    turns: list[Turn] = []
    mode: str = "chat"
    stack: str = "Python"
    busy: bool = False
    error: str = ""
    _counter: int = 0
    _queued: str = ""  # the answer turn that send/regenerate made and `answer` has not started

    @rx.event
    def load(self):
        self._require()
        self.error = ""

    @rx.event
    def set_mode(self, value: str | list[str]):
        self._require()
        chosen = value[0] if isinstance(value, list) and value else value
        self.mode = chosen if chosen in assistant.MODES else "chat"

    @rx.event
    def set_stack(self, value: str):
        self._require()
        self.stack = value[:assistant.MAX_STACK]

    @rx.event
    def clear(self):
        """Also the way out if a restart cut an answer off and left the composer busy."""
        self._require()
        self.turns, self.error, self.busy = [], "", False

    # ------------------------------------------------------------ asking

    @rx.event
    def send(self, form: dict):
        self._require()
        text = str(form.get("message", "")).strip()
        if not text:
            return None
        if self.busy:  # the text stays in the box
            self.error = "Wait for the current answer to finish."
            return None
        self.error = ""
        stack = self.stack if self.mode == "generate" else ""
        self.turns.append(Turn(id=self._new_id(), role="user", text=text, mode=self.mode, stack=stack))
        return [rx.set_value("assistant-input", ""), self._start_answer(text, self.mode, stack, fresh=False)]

    @rx.event
    def regenerate(self, turn_id: str):
        self._require()
        index = self._index(turn_id)
        if index is None or not self.turns[index].question:
            return None
        if self.busy:
            self.error = "Wait for the current answer to finish."
            return None
        asked = self.turns[index]
        return self._start_answer(asked.question, asked.mode, asked.stack, fresh=True)

    def _new_id(self) -> str:
        self._counter += 1
        return f"t{self._counter}"

    def _start_answer(self, question: str, mode: str, stack: str, *, fresh: bool) -> rx.event.EventSpec:
        turn = Turn(id=self._new_id(), role="assistant", mode=mode, stack=stack, question=question, fresh=fresh,
                    streaming=True)
        self.turns.append(turn)
        self.busy, self._queued = True, turn.id
        return AssistantState.answer(turn.id)

    @rx.event(background=True)
    async def answer(self, turn_id: str):
        """Streams the answer to a turn that send/regenerate queued (once: a replayed event does nothing)."""
        async with self:
            user = self._require()
            index = self._index(turn_id)
            if index is None or self._queued != turn_id:
                return
            self._queued = ""
            turn = self.turns[index]
            ask = assistant.regenerate if turn.fresh else assistant.ask
            try:
                stream = ask(user, mode=turn.mode, text=turn.question, stack=turn.stack,  # type: ignore[arg-type]
                             history=self._history(self._question_index(index)))
            except AuthError as exc:
                self._change(turn_id, streaming=False, error=str(exc))
                self.busy = False
                return
        await self._follow(turn_id, stream)

    def _index(self, turn_id: str) -> int | None:
        return next((i for i, t in enumerate(self.turns) if t.id == turn_id), None)

    def _question_index(self, answer_index: int) -> int:
        """Where the question of an answer sits (regenerated answers follow earlier answers)."""
        return next((i for i in range(answer_index, -1, -1) if self.turns[i].role == "user"), answer_index)

    def _history(self, before: int) -> list[dict]:
        """Each question before `before` with its first answer; questions that got none are left out."""
        history: list[dict] = []
        question: Turn | None = None
        for turn in self.turns[:before]:
            if turn.role == "user":
                question = turn
            elif question is not None and turn.call_id and not turn.error:
                history += [{"role": "user", "content": question.text}, {"role": "assistant", "content": turn.text}]
                question = None
        return history

    def _change(self, turn_id: str, **fields) -> None:
        index = self._index(turn_id)
        if index is not None:
            self.turns[index] = dataclasses.replace(self.turns[index], **fields)

    async def _follow(self, turn_id: str, stream: AsyncIterator) -> None:
        """Moves the stream into the turn in short locked steps, so other events still run."""
        try:
            async for text, item in batched(stream):
                async with self:
                    index = self._index(turn_id)
                    if index is not None:  # else the conversation was cleared meanwhile
                        self.turns[index] = _advanced(self.turns[index], text, item)
        except (AuthError, LLMError) as exc:
            await self._fail(turn_id, str(exc))
        except Exception as exc:  # a bug must not leave the conversation stuck; it is logged in full
            log.exception("Assistant answer %s failed", turn_id)
            await self._fail(turn_id, f"The assistant failed unexpectedly ({type(exc).__name__}); the error was "
                                      "logged. Try again.")
        finally:
            async with self:
                self.busy = False

    async def _fail(self, turn_id: str, message: str) -> None:
        async with self:
            self._change(turn_id, streaming=False, stage="", error=message)

    # ------------------------------------------------------------ acting on an answer

    def _with_call(self, turn_id: str) -> Turn | None:
        index = self._index(turn_id)
        return self.turns[index] if index is not None and self.turns[index].call_id else None

    @rx.event
    def accept(self, turn_id: str):
        user = self._require()
        turn = self._with_call(turn_id)
        if turn is None:
            return
        try:
            decision = assistant.accept(user, turn.call_id)
        except AuthError as exc:
            self._change(turn_id, note=str(exc), note_failed=True)
            return
        note = "Kept." + (f" {decision.reason}" if decision.reason else "")
        self._change(turn_id, accepted=True, note=note, note_failed=False)

    @rx.event
    def rate(self, turn_id: str, up: bool):
        user = self._require()
        turn = self._with_call(turn_id)
        if turn is None:
            return
        rating = 5 if up else 1
        try:
            decision = assistant.feedback(user, turn.call_id, rating)
        except AuthError as exc:
            self._change(turn_id, note=str(exc), note_failed=True)
            return
        note = "Thanks for the feedback." + (f" {decision.reason}" if decision.reason else "")
        self._change(turn_id, rating=rating, note=note, note_failed=False)

    @rx.event
    def download(self, turn_id: str):
        self._require()
        turn = self._with_call(turn_id)
        if turn is None or not turn.code:
            return
        return rx.download(data=turn.code, filename=turn.filename)

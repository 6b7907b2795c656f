"""The code assistant: chat answers and generated code, checked before the user keeps them.

Generated code is scored by `services.llm.validation`; code for security-sensitive tasks is
reviewed by a second provider, and a rejection (or a high-severity finding, or a review that
could not be done) blocks acceptance. The block is read back from the call log when the user
accepts, never from what the browser sends. Standalone requests carry their task text, so the
gateway may answer them from a learned template and an accepted answer can become one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.llm import config, gateway, outcomes, prompts, validation
from services.llm.types import LLMError, LLMRequest, LLMResult
from services.llm.validation import Review

FEATURE = "assistant"
OUTCOME = "generated_file"
Mode = Literal["chat", "generate"]
MODES: tuple[str, ...] = ("chat", "generate")
HISTORY_TURNS = 12  # earlier chat messages sent along: enough for a follow-up, bounded in cost
MAX_TEXT = 20_000
MAX_STACK = 200  # the call log's context column
MAX_TOKENS = 2048  # whole files need more room than the gateway's default

prompts.register_default(
    FEATURE, "chat",
    system="You are the coding assistant built into LLMCoder. Answer programming questions and explain code "
           "clearly and concisely. Put any code in fenced code blocks tagged with the language. Say so when you "
           "are not sure.",
    user="{message}",
    variables=("message",),
    description="Assistant chat: questions and explanations.",
)
prompts.register_default(
    FEATURE, "generate",
    system="You write complete, runnable code for the user's task in the given tech stack. Reply with exactly one "
           "fenced code block tagged with its language (for example ```python), then a short explanation of how "
           "it works and how to run it. Use type hints and docstrings (or the stack's equivalents), validate "
           "input, handle errors, and never hard-code secrets: read them from the environment.",
    user="Task:\n{task}\n\nTech stack: {stack}",
    variables=("task", "stack"),
    description="Assistant code generation from a task description and a tech stack.",
)
prompts.register_default(
    FEATURE, "review", system=validation.REVIEW_SYSTEM, user=validation.REVIEW_USER, variables=("task", "code"),
    description="Security review of generated code by a second provider (JSON verdict).",
)

_FILENAMES = {
    "python": "main.py", "javascript": "index.js", "typescript": "index.ts", "sh": "script.sh", "go": "main.go",
    "rust": "main.rs", "java": "Main.java", "kotlin": "Main.kt", "c": "main.c", "cpp": "main.cpp",
    "csharp": "Program.cs", "cs": "Program.cs", "ruby": "main.rb", "php": "index.php", "sql": "query.sql",
    "html": "index.html", "css": "styles.css", "json": "data.json", "yaml": "config.yaml", "yml": "config.yaml",
    "toml": "config.toml", "dockerfile": "Dockerfile", "swift": "main.swift", "mixed": "snippets.txt",
}
_PENDING = Review("fix", "high", ("The security review has not finished.",), parsed=False)


@dataclass(frozen=True)
class Stage:
    """Work after the text is complete (the security review), for the page to show meanwhile."""

    message: str


@dataclass(frozen=True)
class Answer:
    text: str
    call_id: str
    source: str  # provider | template | cache | fallback | dry_run
    provider: str
    model: str
    cost_nanos: int  # the answer's and its review's
    saved_nanos: int
    notice: str  # the gateway's (e.g. "Answered from the learned template ...")
    template_id: int | None
    validation: dict | None  # Validation.to_dict(): score, findings, ...
    review: dict | None  # Review.to_dict(): verdict, severity, issues, summary, parsed
    review_note: str  # who reviewed, and whether it was the same provider
    blocked: bool
    block_reason: str
    code_blocks: list[tuple[str, str]] = field(default_factory=list)  # (language, code)
    filename: str = ""

    @property
    def code(self) -> str:
        """Every block, for copy and download."""
        return "\n\n".join(code for _, code in self.code_blocks)


def suggested_filename(language: str) -> str:
    return _FILENAMES.get(language, f"snippet.{language}" if language.isalnum() else "snippet.txt")


def block_reason(review: Review) -> str:
    """Why a review stops acceptance, or "" when it does not."""
    if not review.blocks_accept:
        return ""
    detail = review.summary or (review.issues[0] if review.issues else "")
    if not review.parsed:
        return detail or "The security review could not be read."
    what = "rejected this code" if review.verdict == "reject" else f"found {review.severity}-severity issues"
    return f"The security review {what}" + (f": {detail}" if detail else ".")


def _history(items: Sequence[dict]) -> tuple[dict, ...]:
    turns = [{"role": item["role"], "content": str(item.get("content", ""))} for item in items
             if isinstance(item, dict) and item.get("role") in ("user", "assistant")]
    return tuple(turns[-HISTORY_TURNS:])


def _request(user: AuthedUser, mode: str, text: str, stack: str, history: Sequence[dict], *,
             fresh: bool) -> LLMRequest:
    text, stack = text.strip(), " ".join(stack.split())
    if not text:
        raise ValidationError("Type a question or describe the code you want first.")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"That is {len(text):,} characters; the assistant takes at most {MAX_TEXT:,}.")
    if len(stack) > MAX_STACK:
        raise ValidationError(f"Describe the tech stack in at most {MAX_STACK} characters.")
    if mode not in MODES:
        raise ValidationError(f"Unknown mode {mode!r}: choose chat or generate.")
    if mode == "generate":  # a task and a stack say it all: no history, so the answer stands alone
        variables: dict[str, object] = {"task": text, "stack": stack or "any suitable one (say which you chose)"}
        context, turns = stack.lower(), ()
    else:
        variables, context, turns = {"message": text}, "", _history(history)
    # A follow-up depends on turns a template cannot know: it is neither matched against nor
    # learned into templates. A regeneration wants a provider's fresh answer, which may be learned.
    task_text = "" if turns else text
    return LLMRequest(feature=FEATURE, task=mode, variables=variables, user_id=user.id, task_text=task_text,
                      context=context, history=turns, max_tokens=MAX_TOKENS, use_cache=not fresh,
                      use_templates=not fresh)


def ask(user: AuthedUser, *, mode: Mode, text: str, stack: str = "",
        history: Sequence[dict] = ()) -> AsyncIterator[str | Stage | Answer]:
    """Text pieces as they arrive, maybe a Stage, then the Answer. Raises ValidationError for
    bad input (at once) and LLMError when no provider could answer."""
    return _respond(user, _request(user, mode, text, stack, history, fresh=False), text.strip())


def regenerate(user: AuthedUser, *, mode: Mode, text: str, stack: str = "",
               history: Sequence[dict] = ()) -> AsyncIterator[str | Stage | Answer]:
    """As `ask`, but a provider answers afresh: no cache, no learned template."""
    return _respond(user, _request(user, mode, text, stack, history, fresh=True), text.strip())


async def _respond(user: AuthedUser, request: LLMRequest, task: str) -> AsyncIterator[str | Stage | Answer]:
    result: LLMResult | None = None
    async for item in gateway.astream(request):
        if isinstance(item, LLMResult):
            result = item
        else:
            yield item
    assert result is not None  # astream always ends with the result or raises
    blocks = [(block.language, block.code) for block in validation.extract_code(result.text)]
    checked = validation.validate_answer(result.text)
    review: Review | None = None
    review_note, review_cost = "", 0
    code = "\n\n".join(code for _, code in blocks)
    if checked is not None and config.current.get().cross_validation and validation.is_security_sensitive(task, code):
        # Stored first, so the answer stays blocked if this process dies during the review.
        _store(result.call_id, checked, _PENDING)
        yield Stage("A second provider is reviewing the code for security issues…")
        review, review_note, review_cost = await _review(user, result, task, code)
    if checked is not None:
        _store(result.call_id, checked, review)
    # An untagged fence holding clear Python was checked as Python: name its file so too.
    language = (blocks[0][0] or checked.language) if blocks and checked else ""
    yield Answer(
        text=result.text, call_id=result.call_id, source=result.source, provider=result.provider,
        model=result.model, cost_nanos=result.cost_nanos + review_cost, saved_nanos=result.saved_nanos,
        notice=result.notice, template_id=result.template_id,
        validation=checked.to_dict() if checked else None, review=review.to_dict() if review else None,
        review_note=review_note,
        blocked=bool(review and review.blocks_accept), block_reason=block_reason(review) if review else "",
        code_blocks=blocks, filename=suggested_filename(language) if blocks else "")


async def _review(user: AuthedUser, result: LLMResult, task: str, code: str) -> tuple[Review, str, int]:
    """(review, who reviewed, its cost). A review that cannot run blocks: fail closed."""
    request = LLMRequest(feature=FEATURE, task="review", variables={"task": task, "code": code}, user_id=user.id,
                         avoid_providers=(result.provider,), use_cache=False, temperature=0)
    try:
        reviewed = await gateway.acomplete(request)
    except LLMError as exc:
        return Review("fix", "high", (f"The security review could not be done: {exc}",), parsed=False), "", 0
    if reviewed.provider == result.provider:
        note = f"Reviewed by the same provider ({reviewed.provider}): no second provider is available."
    else:
        note = f"Reviewed by {reviewed.provider or reviewed.source} ({reviewed.model})."
    return validation.parse_review(reviewed.text), note, reviewed.cost_nanos


def _store(call_id: str, checked: validation.Validation, review: Review | None) -> None:
    payload = {**checked.to_dict(), "review": review.to_dict() if review else None}
    outcomes.set_validation(call_id, quality=checked.score, validation_json=json.dumps(payload))


def _stored_review(user: AuthedUser, call_id: str) -> Review | None:
    """The review kept with the user's own assistant answer (the browser's word is not taken)."""
    with session_scope() as session:
        call = outcomes.owned_call(session, call_id, user)
        if call.feature != FEATURE or call.task not in MODES:
            raise ValidationError("That is not an assistant answer.")
        stored = call.validation
    data = json.loads(stored) if stored else {}
    return Review.from_dict(data["review"]) if data.get("review") else None


def accept(user: AuthedUser, call_id: str, final_text: str | None = None) -> outcomes.Decision:
    """The user keeps the code: recorded as a generated file, and maybe learned from."""
    review = _stored_review(user, call_id)
    if review is not None and review.blocks_accept:
        raise ValidationError(f"{block_reason(review)} Regenerate the code or fix it before keeping it.")
    return outcomes.record(call_id, OUTCOME, user=user, final_text=final_text)


def feedback(user: AuthedUser, call_id: str, rating: int) -> outcomes.Decision:
    """1-5 (the page sends 5 for thumbs up, 1 for thumbs down). A good rating teaches like an
    acceptance, so it is refused for code the security review blocks."""
    review = _stored_review(user, call_id)
    if rating >= 4 and review is not None and review.blocks_accept:
        raise ValidationError(f"{block_reason(review)} It cannot be rated up; regenerate it instead.")
    return outcomes.feedback(call_id, user=user, rating=rating)

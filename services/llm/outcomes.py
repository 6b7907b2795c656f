"""What became of an output: the feature that showed it records when the user accepted it
(sent the draft, posted the comment, kept the code) or rated it. Cost per outcome reads
these rows; acceptance of a good answer teaches a template, rejection of a template's
answer demotes it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import LLMCall, LLMOutcome
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.llm import calls, config, learned
from services.llm.validation import Review

log = logging.getLogger(__name__)

# kind -> how the cost page names one of them
KINDS: dict[str, str] = {
    "accepted_draft": "accepted draft",
    "posted_comment": "posted comment",
    "answered_question": "answered question",
    "generated_file": "generated file",
}
LEARN_JOB = "llm_learn_template"


@dataclass(frozen=True)
class Decision:
    """What the acceptance or rating set in motion, for the user to see."""

    learning_job_id: str = ""
    demoted: bool = False
    disabled: bool = False
    reason: str = ""


def owned_call(session, call_id: str, user: AuthedUser) -> LLMCall:
    """The call, when this user may act on it (its owner or an admin)."""
    call = session.get(LLMCall, call_id)
    if call is None:
        raise ValidationError("That answer is no longer in the call log.")
    if call.user_id != user.id and not user.is_admin:
        raise AccessDenied("That answer belongs to another user.")
    return call


def set_validation(call_id: str, *, quality: int, validation_json: str) -> None:
    """The feature's own check of an output (code validation), kept with the call."""
    with session_scope() as session:
        call = session.get(LLMCall, call_id)
        if call is not None:
            call.quality, call.validation = quality, validation_json
            session.add(call)


def record(call_id: str, kind: str, *, user: AuthedUser, final_text: str | None = None) -> Decision:
    """Idempotent per (call, kind): a double click or a retried job records one outcome."""
    if kind not in KINDS:
        raise ValidationError(f"Unknown outcome {kind!r}.")
    with session_scope() as session:
        call = owned_call(session, call_id, user)
        ratio = learned.edit_ratio(call.response, final_text) if final_text is not None else 0.0
        feature = call.feature
    try:
        with session_scope() as session:
            session.add(LLMOutcome(call_id=call_id, feature=feature, kind=kind, user_id=user.id, edit_ratio=ratio))
    except IntegrityError:
        return Decision(reason="Already recorded.")
    return _accepted(call_id, user, ratio=ratio, final_text=final_text)


def feedback(call_id: str, *, user: AuthedUser, rating: int, comment: str = "") -> Decision:
    with session_scope() as session:
        owned_call(session, call_id, user)
    calls.add_feedback(call_id, user_id=user.id, rating=rating, comment=comment)
    if rating <= 2:
        return _rejected(call_id)
    if rating >= 4:
        return _accepted(call_id, user, rating=rating)
    return Decision()


def _rejected(call_id: str) -> Decision:
    with session_scope() as session:
        call = session.get(LLMCall, call_id)
        template_id = call.template_id if call else None
    if template_id is None:
        return Decision()
    disabled = learned.demote(template_id, floor=config.current.get().template_floor)
    return Decision(demoted=True, disabled=disabled, reason="The template that answered was demoted.")


def _accepted(call_id: str, user: AuthedUser, *, ratio: float = 0.0, rating: int | None = None,
              final_text: str | None = None) -> Decision:
    cfg = config.current.get()
    with session_scope() as session:
        call = session.get(LLMCall, call_id)
        assert call is not None
        if call.template_id is not None:
            template_id = call.template_id
            status = ""
        else:
            template_id = None
            status, feature, task_text, quality = call.status, call.feature, call.task_text, call.quality
            checks = json.loads(call.validation) if call.validation else {}
    if template_id is not None:
        if ratio > learned.HEAVY_EDIT:
            disabled = learned.demote(template_id, floor=cfg.template_floor)
            return Decision(demoted=True, disabled=disabled, reason="Most of the template's text was changed.")
        return Decision()
    if status != "ok" or not task_text or not cfg.templates_allowed(feature):
        return Decision(reason="This kind of answer is not learned.")
    if checks.get("review") and Review.from_dict(checks["review"]).blocks_accept:
        return Decision(reason="Not learned: its security review did not approve it.")
    # The feature's validation when it has one; else how much of the answer the user kept,
    # or their rating (5 stars = 100).
    score = quality if quality is not None else (rating * 20 if rating is not None else round(100 * (1 - ratio)))
    if score < cfg.min_quality:
        return Decision(reason=f"Quality {score} is below the minimum of {cfg.min_quality}.")
    params: dict[str, Any] = {"call_id": call_id, "quality": score}
    if final_text is not None:
        params["output"] = final_text
    return Decision(learning_job_id=jobs.submit(user, LEARN_JOB, params), reason="Learning a template from it.")


@job_type(LEARN_JOB, title="Learn a template from an accepted answer")
def learn_template_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    progress.update(10, "Embedding the task")
    result = learned.learn(str(params["call_id"]), quality=int(params["quality"]), output=params.get("output"))
    progress.update(100, "Learned" if result.created else "Already known")
    return {"template_id": result.template_id, "created": result.created}

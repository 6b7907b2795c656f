"""The code assistant end to end against the fake providers: validation stored with the call,
the second-provider security review and its gate on acceptance, and the template learning
loop (accept -> learning job -> a paraphrased request answered for free)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from services import assistant, runtime_settings
from services.auth.errors import AccessDenied, ValidationError
from services.db import session_scope
from services.db.models import LearnedTemplate, LLMCall, LLMOutcome
from services.llm import config, learned
from services.llm.types import AllProvidersFailed
from tests.fakes.llm_providers import error, ok
from tests.llm_support import (
    DOWNLOAD_PARAPHRASE,
    DOWNLOAD_TASK,
    DOWNLOADER_ANSWER,
    FENCE,
    add_provider,
    run_async,
)
from tests.unit.jobs_helpers import wait_for, wait_job

PRICED = {"input_price": "1", "output_price": "2"}

GOOD_ANSWER = DOWNLOADER_ANSWER
TASK = DOWNLOAD_TASK
PARAPHRASE = DOWNLOAD_PARAPHRASE

DANGEROUS_ANSWER = f'''{FENCE}python
def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression."""
    return eval(expression)
{FENCE}
'''
CLEAN_CALC = f'''{FENCE}python
def calculate(left: float, right: float) -> float:
    """Add two numbers."""
    return left + right
{FENCE}
'''
LOGIN_TASK = "Write a login handler that checks the password"
LOGIN_ANSWER = f'''{FENCE}python
def check_login(stored: str, given: str) -> bool:
    """Compare the stored password with the one the user typed."""
    return stored == given
{FENCE}
'''
REJECT = json.dumps({"verdict": "reject", "severity": "high", "issues": ["Passwords are compared in plain text."],
                     "summary": "Plain-text password comparison."})
APPROVE = json.dumps({"verdict": "approve", "severity": "none", "issues": [], "summary": "Looks fine."})


@pytest.fixture
def two(fake_llm):
    """The fake with a primary (m1) and a secondary (m2) provider."""
    add_provider(fake_llm, "primary", "openai", "m1", **PRICED)
    add_provider(fake_llm, "secondary", "openai", "m2", **PRICED)
    return fake_llm


def collect(stream) -> tuple[list[str], list[assistant.Stage], assistant.Answer]:
    async def run():
        pieces, stages, answers = [], [], []
        async for item in stream:
            if isinstance(item, assistant.Answer):
                answers.append(item)
            elif isinstance(item, assistant.Stage):
                stages.append(item)
            else:
                pieces.append(item)
        return pieces, stages, answers

    pieces, stages, answers = run_async(run())
    assert len(answers) == 1, answers
    return pieces, stages, answers[0]


def generate(user, text: str, stack: str = "Python") -> assistant.Answer:
    return collect(assistant.ask(user, mode="generate", text=text, stack=stack))[2]


def stored_call(call_id: str) -> LLMCall:
    with session_scope() as session:
        call = session.get(LLMCall, call_id)
        assert call is not None
        return call


def calls_of_task(task: str) -> list[LLMCall]:
    with session_scope() as session:
        return list(session.exec(select(LLMCall).where(LLMCall.task == task)).all())


def review_requests(fake) -> list:
    return [r for r in fake.requests if "security reviewer" in json.dumps(r.body)]


def test_generate_streams_then_stores_validation_and_quality(two, make_user):
    user = make_user()
    two.default("m1", ok(GOOD_ANSWER))
    pieces, stages, answer = collect(assistant.ask(user, mode="generate", text=TASK, stack=" Python "))
    assert len(pieces) > 5 and "".join(pieces) == answer.text == GOOD_ANSWER
    assert stages == [] and answer.review is None and not answer.blocked
    assert answer.source == "provider" and answer.provider == "primary" and answer.cost_nanos > 0
    assert answer.validation is not None and answer.validation["score"] == 100
    assert answer.code_blocks[0][0] == "python" and "def download" in answer.code and answer.filename == "main.py"
    call = stored_call(answer.call_id)
    assert call.quality == 100 and call.context == "python" and call.task_text == TASK
    assert json.loads(call.validation)["score"] == 100 and json.loads(call.validation)["review"] is None
    sent = two.requests[0].body["messages"]
    assert "Tech stack: Python" in sent[-1]["content"] and TASK in sent[-1]["content"]


def test_dangerous_code_scores_lower_and_lists_the_finding(two, make_user):
    user = make_user()
    two.script("m1", ok(CLEAN_CALC), ok(DANGEROUS_ANSWER))
    clean = generate(user, "Write a calculator function")
    dangerous = generate(user, "Write a calculator function that takes an expression")
    assert dangerous.validation["score"] < clean.validation["score"]
    messages = [finding["message"] for finding in dangerous.validation["findings"]]
    assert any("eval() runs arbitrary code" in message for message in messages)
    assert stored_call(dangerous.call_id).quality == dangerous.validation["score"]


def test_chat_answer_without_code_has_no_validation_and_sends_history(two, make_user):
    user = make_user()
    two.default("m1", ok("A list keeps order; a set does not."))
    history = [{"role": "user", "content": "What is a list?"}, {"role": "assistant", "content": "An ordered sequence."}]
    answer = collect(assistant.ask(user, mode="chat", text="And a set?", history=history))[2]
    assert answer.validation is None and answer.code_blocks == [] and answer.filename == ""
    sent = two.requests[0].body["messages"]
    assert [m["content"] for m in sent[1:]] == ["What is a list?", "An ordered sequence.", "And a set?"]
    # A follow-up depends on earlier turns, so it is neither matched against nor learned into templates.
    assert stored_call(answer.call_id).task_text == ""


def test_security_sensitive_code_is_reviewed_by_the_other_provider_and_a_reject_blocks(two, make_user):
    user = make_user()
    two.default("m1", ok(LOGIN_ANSWER))
    two.default("m2", ok(REJECT))
    _, stages, answer = collect(assistant.ask(user, mode="generate", text=LOGIN_TASK, stack="python"))
    assert stages and "review" in stages[0].message
    assert two.count("m1") == 1 and two.count("m2") == 1
    reviewed = review_requests(two)
    assert [r.model for r in reviewed] == ["m2"] and "stored == given" in json.dumps(reviewed[0].body)
    assert answer.review["verdict"] == "reject" and answer.blocked
    assert "rejected" in answer.block_reason and "secondary" in answer.review_note
    review_rows = calls_of_task("review")
    assert [row.provider for row in review_rows] == ["secondary"]
    assert answer.cost_nanos == stored_call(answer.call_id).cost_nanos + review_rows[0].cost_nanos
    with pytest.raises(ValidationError, match="rejected"):
        assistant.accept(user, answer.call_id)
    with pytest.raises(ValidationError, match="rated up"):
        assistant.feedback(user, answer.call_id, 5)
    with session_scope() as session:
        assert session.exec(select(LLMOutcome)).all() == []


def test_an_approving_review_allows_accept(two, make_user):
    user = make_user()
    two.default("m1", ok(LOGIN_ANSWER))
    two.default("m2", ok(APPROVE))
    answer = generate(user, LOGIN_TASK)
    assert answer.review["verdict"] == "approve" and not answer.blocked and answer.block_reason == ""
    decision = assistant.accept(user, answer.call_id)
    with session_scope() as session:
        kinds = [o.kind for o in session.exec(select(LLMOutcome)).all()]
    assert kinds == ["generated_file"]
    # Quality 100 with an approving review: accepted code is learned from.
    assert decision.learning_job_id
    wait_job(decision.learning_job_id)


def test_a_review_that_is_not_json_blocks(two, make_user):
    user = make_user()
    two.default("m1", ok(LOGIN_ANSWER))
    two.default("m2", ok("Looks good to me!"))
    answer = generate(user, LOGIN_TASK)
    assert answer.blocked and answer.review["parsed"] is False and "could not be read" in answer.block_reason
    with pytest.raises(ValidationError, match="could not be read"):
        assistant.accept(user, answer.call_id)


def test_a_review_that_fails_blocks_but_the_answer_is_shown(two, make_user):
    user = make_user()
    two.default("m1", ok(LOGIN_ANSWER))
    two.default("m2", error(401))
    answer = generate(user, LOGIN_TASK)
    assert answer.text == LOGIN_ANSWER and answer.blocked
    assert "could not be done" in answer.block_reason and "provider failed" in answer.block_reason
    with pytest.raises(ValidationError, match="could not be done"):
        assistant.accept(user, answer.call_id)


def test_with_one_provider_the_same_one_reviews_and_says_so(fake_llm, make_user):
    user = make_user()
    add_provider(fake_llm, "only", "openai", "m1", **PRICED)
    fake_llm.script("m1", ok(LOGIN_ANSWER), ok(APPROVE))
    answer = generate(user, LOGIN_TASK)
    assert fake_llm.count("m1") == 2 and "same provider" in answer.review_note and not answer.blocked


def test_cross_validation_off_skips_the_review(two, make_user):
    user = make_user()
    runtime_settings.set_value("llm.cross_validation", "false")
    two.default("m1", ok(LOGIN_ANSWER))
    answer = generate(user, LOGIN_TASK)
    assert answer.review is None and not answer.blocked and two.count("m2") == 0


def test_learning_loop_accept_learn_then_a_paraphrase_is_answered_by_the_template(two, make_user):
    user = make_user()
    two.default("m1", ok(GOOD_ANSWER))
    first = generate(user, TASK)
    assert first.validation["score"] == 100 and first.review is None
    decision = assistant.accept(user, first.call_id)
    assert decision.learning_job_id, decision
    assert wait_job(decision.learning_job_id).status == "succeeded"
    cfg = config.current.get()
    wait_for(lambda: learned.lookup("assistant", "python", PARAPHRASE, threshold=cfg.template_similarity),
             timeout=10, what="the learned template to be searchable")

    calls_before = two.count()
    answer = generate(user, PARAPHRASE)
    assert two.count() == calls_before  # no provider was called
    assert answer.source == "template" and answer.template_id is not None
    assert answer.cost_nanos == 0 and answer.saved_nanos == stored_call(first.call_id).cost_nanos > 0
    assert "learned template" in answer.notice
    assert "https://b.example/y" in answer.text and "retries: int = 5" in answer.text
    assert "https://a.example/x" not in answer.text and answer.validation["score"] == 100

    # A different stack is another context: a provider answers.
    generate(user, PARAPHRASE, stack="Python 3.12")
    assert two.count() == calls_before + 1

    # Regenerate asks a provider afresh even though the template would answer.
    regenerated = collect(assistant.regenerate(user, mode="generate", text=PARAPHRASE, stack="Python"))[2]
    assert regenerated.source == "provider" and two.count() == calls_before + 2

    # Thumbs down on the template's answer demotes the template.
    with session_scope() as session:
        quality_before = session.get(LearnedTemplate, answer.template_id).quality
    verdict = assistant.feedback(user, answer.call_id, 1)
    assert verdict.demoted
    with session_scope() as session:
        assert session.get(LearnedTemplate, answer.template_id).quality < quality_before


def test_a_member_cannot_accept_or_rate_another_users_answer(two, make_user):
    owner, other = make_user("owner@example.com"), make_user("other@example.com")
    two.default("m1", ok(GOOD_ANSWER))
    answer = generate(owner, TASK)
    with pytest.raises(AccessDenied):
        assistant.accept(other, answer.call_id)
    with pytest.raises(AccessDenied):
        assistant.feedback(other, answer.call_id, 5)
    with pytest.raises(ValidationError, match="no longer"):
        assistant.accept(owner, "not-a-call-id")


def test_bad_input_is_refused_before_any_call(two, make_user):
    user = make_user()
    with pytest.raises(ValidationError, match="Type a question"):
        assistant.ask(user, mode="generate", text="   ", stack="python")
    with pytest.raises(ValidationError, match="Unknown mode"):
        assistant.ask(user, mode="poem", text="hello")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at most"):
        assistant.ask(user, mode="chat", text="x" * (assistant.MAX_TEXT + 1))
    with pytest.raises(ValidationError, match="tech stack"):
        assistant.ask(user, mode="generate", text="hello", stack="x" * (assistant.MAX_STACK + 1))
    assert two.count() == 0


def test_every_provider_failing_reaches_the_caller_as_a_clear_error(two, make_user):
    user = make_user()
    two.default("m1", error(500))
    two.default("m2", error(500))
    with pytest.raises(AllProvidersFailed, match="Every AI provider failed"):
        generate(user, TASK)

"""Learned templates through the real gateway, fake providers over HTTP and the real
embedding model: an accepted good answer is learned and answers a paraphrase at no cost;
bad ratings and heavy edits demote it; provider pinning for re-runs and second opinions."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from services import runtime_settings
from services.auth.errors import AccessDenied, ValidationError
from services.db import session_scope
from services.db.models import LearnedTemplate, LLMBudgetMonth, LLMCall, LLMOutcome
from services.llm import budget, gateway, learned, outcomes
from services.llm.types import CallStatus, LLMRequest, LLMUnavailable
from services.search import embedder
from tests.fakes.llm_providers import ok
from tests.llm_support import add_provider
from tests.unit.jobs_helpers import FINISHED, job_row, wait_for

pytestmark = pytest.mark.skipif(not embedder.available(), reason="needs the offline embedding model")

TASK = "Write a Python function that downloads https://a.example/x with 3 retries"
PARAPHRASE = "Create a python function which downloads https://b.example/y, retrying 5 times"
CODE = ('```python\ndef download(url: str = "https://a.example/x", retries: int = 3) -> bytes:\n'
        '    """Fetch with retries."""\n    ...\n```')


def request(task: str, **fields) -> LLMRequest:
    fields.setdefault("context", "python")
    return LLMRequest(feature="assistant", template="general/complete", variables={"text": task}, task_text=task,
                      **fields)


def answered(fake, user, task: str = TASK):
    fake.script("m1", ok(CODE))
    return gateway.complete(request(task, user_id=user.id))


def learn_from(result, user, quality: int = 95) -> LearnedTemplate:
    outcomes.set_validation(result.call_id, quality=quality, validation_json="{}")
    decision = outcomes.record(result.call_id, "generated_file", user=user)
    assert decision.learning_job_id, decision.reason
    job = wait_for(lambda: job_row(decision.learning_job_id).status in FINISHED and job_row(decision.learning_job_id),
                   timeout=60, what="the learning job")
    assert job.status == "succeeded", job.error
    with session_scope() as session:
        return session.exec(select(LearnedTemplate)).one()


@pytest.fixture
def one_provider(fake_llm):
    add_provider(fake_llm, "primary", "openai", "m1", input_price="1", output_price="2")
    runtime_settings.set_value("llm.cache_enabled", "false")  # every ask reaches the provider or a template
    return fake_llm


def test_accepted_answer_is_learned_and_answers_a_paraphrase_for_free(one_provider, make_user):
    user = make_user()
    first = answered(one_provider, user)
    assert first.status == CallStatus.ok and first.cost_nanos > 0
    template = learn_from(first, user)
    assert template.feature == "assistant" and template.context == "python"
    assert "{{url_1}}" in template.output and "{{number_1}}" in template.output
    assert template.source_provider == "primary" and template.source_cost_nanos == first.cost_nanos
    calls_before = one_provider.count()

    second = gateway.complete(request(PARAPHRASE, user_id=user.id))

    assert second.status == CallStatus.template and second.source == "template"
    assert one_provider.count() == calls_before  # no provider call at all
    assert second.cost_nanos == 0 and second.saved_nanos == first.cost_nanos
    assert "https://b.example/y" in second.text and "retries: int = 5" in second.text
    assert "a.example" not in second.text
    assert "learned template" in second.notice
    with session_scope() as session:
        row = session.get(LearnedTemplate, template.id)
        assert row.uses == 1 and row.saved_nanos == first.cost_nanos and row.last_used_at is not None
        logged = session.get(LLMCall, second.call_id)
        assert logged.status == "template" and logged.template_id == template.id and logged.cost_nanos == 0
        assert session.get(LLMBudgetMonth, budget.month_key(logged.created_at)).saved_nanos == first.cost_nanos


def test_templates_answer_even_with_no_provider(one_provider, make_user):
    user = make_user()
    learn_from(answered(one_provider, user), user)
    from services.llm import providers

    providers.remove("primary")
    assert gateway.complete(request(PARAPHRASE)).status == CallStatus.template


@pytest.mark.parametrize(("change", "fields"), [
    ("another context", {"context": "go"}),
    ("another feature", {"feature": "docs"}),
    ("an unrelated task", {"task": "Explain the difference between a list and a tuple"}),
    ("values that do not fit", {"task": "Create a python function which downloads https://b.example/y"}),
])
def test_no_template_answer_when_the_request_differs(one_provider, make_user, change, fields):
    user = make_user()
    learn_from(answered(one_provider, user), user)
    task = fields.pop("task", PARAPHRASE)
    feature = fields.pop("feature", "assistant")
    one_provider.script("m1", ok("fresh answer"))
    result = gateway.complete(LLMRequest(feature=feature, template="general/complete", variables={"text": task},
                                         task_text=task, context=fields.get("context", "python")))
    assert result.status == CallStatus.ok, change
    assert result.text == "fresh answer"


@pytest.mark.parametrize(("key", "value"), [("llm.templates_enabled", "false"),
                                            ("llm.template_features", "inbox"),
                                            ("llm.template_similarity", "0.999")])
def test_settings_turn_template_answers_off(one_provider, make_user, key, value):
    user = make_user()
    learn_from(answered(one_provider, user), user)
    runtime_settings.set_value(key, value)
    one_provider.script("m1", ok("fresh answer"))
    assert gateway.complete(request(PARAPHRASE)).status == CallStatus.ok


def test_outcomes_are_idempotent_and_learning_needs_quality(one_provider, make_user):
    user = make_user()
    first = answered(one_provider, user)
    outcomes.set_validation(first.call_id, quality=70, validation_json="{}")
    decision = outcomes.record(first.call_id, "generated_file", user=user)
    assert not decision.learning_job_id and "below the minimum of 90" in decision.reason
    assert outcomes.record(first.call_id, "generated_file", user=user).reason == "Already recorded."
    with session_scope() as session:
        assert len(session.exec(select(LLMOutcome)).all()) == 1
        assert session.exec(select(LearnedTemplate)).all() == []
    with pytest.raises(ValidationError, match="Unknown outcome"):
        outcomes.record(first.call_id, "shipped", user=user)


def test_an_unvalidated_answer_is_learned_when_kept_nearly_unchanged(one_provider, make_user):
    user = make_user()
    first = answered(one_provider, user)
    heavily_edited = outcomes.record(first.call_id, "generated_file", user=user, final_text="something else entirely")
    assert not heavily_edited.learning_job_id and "below the minimum" in heavily_edited.reason
    second = answered(one_provider, user)
    assert outcomes.record(second.call_id, "accepted_draft", user=user, final_text=CODE + " ").learning_job_id


def test_only_the_owner_or_an_admin_records_outcomes(one_provider, make_user):
    owner, other = make_user("owner@example.com"), make_user("other@example.com")
    admin = make_user("admin@example.com", role="admin")
    first = answered(one_provider, owner)
    with pytest.raises(AccessDenied):
        outcomes.record(first.call_id, "generated_file", user=other)
    with pytest.raises(AccessDenied):
        outcomes.feedback(first.call_id, user=other, rating=5)
    outcomes.record(first.call_id, "generated_file", user=admin)


def test_bad_ratings_demote_a_template_until_it_stops_answering(one_provider, make_user):
    user = make_user()
    template = learn_from(answered(one_provider, user), user, quality=95)
    runtime_settings.set_value("llm.template_floor", "60")
    qualities = []
    for _ in range(2):
        served = gateway.complete(request(PARAPHRASE, user_id=user.id))
        assert served.status == CallStatus.template
        outcomes.feedback(served.call_id, user=user, rating=1)
        with session_scope() as session:
            qualities.append(session.get(LearnedTemplate, template.id).quality)
    assert qualities == [75, 55]
    with session_scope() as session:
        assert session.get(LearnedTemplate, template.id).enabled is False
    learned._index.sync(force=True)
    one_provider.script("m1", ok("fresh answer"))
    assert gateway.complete(request(PARAPHRASE)).status == CallStatus.ok


def test_heavy_edits_of_a_template_answer_demote_it(one_provider, make_user):
    user = make_user()
    template = learn_from(answered(one_provider, user), user)
    served = gateway.complete(request(PARAPHRASE, user_id=user.id))
    decision = outcomes.record(served.call_id, "generated_file", user=user, final_text="rewritten from scratch")
    assert decision.demoted
    with session_scope() as session:
        assert session.get(LearnedTemplate, template.id).quality == 95 - learned.DEMOTION


def test_a_good_rating_counts_as_acceptance(one_provider, make_user):
    user = make_user()
    first = answered(one_provider, user)
    assert not outcomes.feedback(first.call_id, user=user, rating=4).learning_job_id  # 80 < 90
    assert outcomes.feedback(first.call_id, user=user, rating=5).learning_job_id


def test_requests_can_pin_or_avoid_a_provider(fake_llm):
    add_provider(fake_llm, "primary", "openai", "m1")
    add_provider(fake_llm, "secondary", "openai", "m2")
    fake_llm.default("m1", ok("from one"))
    fake_llm.default("m2", ok("from two"))
    ask = dict(feature="test", template="general/complete", variables={"text": "hi"}, use_cache=False)
    assert gateway.complete(LLMRequest(**ask, provider="secondary")).provider == "secondary"
    assert gateway.complete(LLMRequest(**ask, avoid_providers=("primary",))).provider == "secondary"
    # With nothing else usable, a second opinion comes from the same provider rather than none.
    assert gateway.complete(LLMRequest(**ask, avoid_providers=("primary", "secondary"))).provider == "primary"
    with pytest.raises(LLMUnavailable, match="'nowhere' is not in the chain"):
        gateway.complete(LLMRequest(**ask, provider="nowhere"))


def test_logged_prompts_can_be_sent_as_they_are(fake_llm):
    add_provider(fake_llm, "primary", "openai", "m1")
    gateway.complete(LLMRequest(feature="test", prompts=("You are terse.", "Exactly this {not a variable}"),
                                use_cache=False))
    sent = fake_llm.requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "You are terse."}
    assert sent[-1]["content"].endswith("Exactly this {not a variable}")


def test_a_model_that_would_need_a_download_never_delays_a_request(db, monkeypatch):
    from services.settings import reset_settings_cache

    monkeypatch.setenv("LLMCODER_EMBEDDING_MODEL_PATH", "/nonexistent/model")
    reset_settings_cache()
    embedder.reset_embedder()
    try:
        assert learned.lookup("assistant", "python", TASK, threshold=0.8) is None
        wait_for(lambda: embedder.unavailable_reason(), timeout=10, what="the warm-up to give up")
        assert "/nonexistent/model" in embedder.unavailable_reason()
    finally:
        monkeypatch.delenv("LLMCODER_EMBEDDING_MODEL_PATH")
        reset_settings_cache()
        embedder.reset_embedder()


def test_a_task_value_that_also_occurs_by_chance_in_code_is_not_learned(db):
    with pytest.raises(ValidationError, match="value 1 also occurs in the output"):
        learned.save(feature="assistant", context="python", task_text="retry https://a.example/x 1 time",
                     output="for attempt in range(1, retries + 1):\n    get('https://a.example/x')", quality=95)


def test_code_its_security_review_blocked_is_never_learned(one_provider, make_user):
    user = make_user()
    first = answered(one_provider, user)
    review = {"verdict": "reject", "severity": "high", "issues": ["sql injection"], "summary": "", "parsed": True}
    outcomes.set_validation(first.call_id, quality=100, validation_json=json.dumps({"review": review}))
    decision = outcomes.record(first.call_id, "generated_file", user=user)
    assert not decision.learning_job_id and "security review" in decision.reason


def test_a_regeneration_skips_templates_but_can_be_learned(one_provider, make_user):
    user = make_user()
    learn_from(answered(one_provider, user), user)
    one_provider.script("m1", ok("fresh answer"))
    fresh = gateway.complete(request(PARAPHRASE, user_id=user.id, use_templates=False))
    assert fresh.status == CallStatus.ok and fresh.text == "fresh answer"
    assert outcomes.feedback(fresh.call_id, user=user, rating=5).learning_job_id


def test_same_wording_is_found_without_embedding_and_empty_pairs_embed_nothing(one_provider, make_user, monkeypatch):
    user = make_user()
    template = learn_from(answered(one_provider, user), user)
    learned._index.sync(force=True)

    def no_embedding(_text):
        raise AssertionError("embedded")

    monkeypatch.setattr(embedder, "embed_one", no_embedding)
    same_words = "Write a python function that downloads https://c.example/z with 7 retries"
    match = learned.lookup("assistant", "python", same_words, threshold=0.8)
    assert match is not None and match.template_id == template.id and match.score == 1.0
    assert "https://c.example/z" in match.text and "7" in match.text
    assert learned.lookup("assistant", "rust", same_words, threshold=0.8) is None
    assert learned.lookup("inbox", "python", same_words, threshold=0.8) is None
    with pytest.raises(AssertionError, match="embedded"):
        learned.lookup("assistant", "python", PARAPHRASE, threshold=0.8)


def test_hand_written_placeholders_must_be_fillable(db):
    with pytest.raises(ValidationError, match="customer cannot be filled"):
        learned.save(feature="inbox", context="", task_text="reply to {{customer}}", output="Hi {{customer}}",
                     quality=95, already_parameterised=True)

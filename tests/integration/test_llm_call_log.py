"""The admin's call log: search (filters, pagination, text search) on SQLite and PostgreSQL,
one call's detail after a fail-over, re-runs on another provider through the real gateway
and fake providers over HTTP, and saving an answer as a learned template."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from services.auth.errors import ValidationError
from services.db import engine as db_engine
from services.db import get_engine, migrate, session_scope
from services.db.models import LearnedTemplate, LLMCall
from services.db.models.base import new_id, utcnow
from services.llm import call_log, calls, gateway, outcomes, providers
from services.llm.costs import Usage
from services.llm.types import AllProvidersFailed, CallStatus
from services.search import embedder
from tests.conftest import reset_process_caches
from tests.fakes.llm_providers import error, ok
from tests.llm_support import add_provider, ask, run_async

pytestmark = pytest.mark.integration

NOW = utcnow().replace(microsecond=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, db, monkeypatch) -> str:
    """The search tests run on both databases: LIKE and ILIKE, index use and escaping differ."""
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
        reset_process_caches()
        migrate.upgrade()
    return request.param


def _log(minutes_ago: float, *, feature: str = "docs", provider: str = "p1", status: str = "ok",
         prompt: str = "a prompt", response: str = "a response", user_id: int | None = None, task_text: str = "",
         error_message: str = "", request_id: str | None = None, attempt: int = 1) -> str:
    return calls.log(calls.CallRecord(
        request_id=request_id or new_id(), status=status, feature=feature, provider=provider, model=f"openai/{provider}",
        system_prompt="system words", user_prompt=prompt, response=response, user_id=user_id, task_text=task_text,
        error_message=error_message, usage=Usage(10, 5), cost_nanos=1234, latency_ms=42, attempt=attempt,
        created_at=NOW - timedelta(minutes=minutes_ago)))


def _ids(page: call_log.LogPage) -> list[str]:
    return [row.id for row in page.rows]


# ------------------------------------------------------------------ search

def test_filters_newest_first_and_totals(backend, make_user):
    admin = make_user("admin@example.com", role="admin")
    plan = [("docs", "p1", "ok"), ("docs", "p2", "failed"), ("inbox", "p1", "ok"), ("inbox", "p2", "ok"),
            ("docs", "p1", "failed"), ("inbox", "p1", "failed"), ("docs", "p2", "ok")]
    ids = [_log(i * 10, feature=f, provider=p, status=s, user_id=admin.id if i % 2 else None)
           for i, (f, p, s) in enumerate(plan)]  # ids[0] is the newest

    everything = call_log.search()
    assert _ids(everything) == ids and everything.total == 7 and not everything.has_next
    first = everything.rows[0]
    assert (first.feature, first.provider, first.model, first.status, first.input_tokens, first.output_tokens,
            first.cost_nanos, first.latency_ms, first.user_email) == ("docs", "p1", "openai/p1", "ok", 10, 5, 1234, 42, "")
    assert everything.rows[1].user_email == "admin@example.com"
    assert [r.created_at for r in everything.rows] == sorted((r.created_at for r in everything.rows), reverse=True)

    docs = call_log.search(feature="docs")
    assert _ids(docs) == [ids[i] for i in (0, 1, 4, 6)] and docs.total == 4
    failed_p1 = call_log.search(status="failed", provider="p1")
    assert _ids(failed_p1) == [ids[4], ids[5]] and failed_p1.total == 2
    assert call_log.search(feature="docs", provider="p2", status="ok").total == 1
    assert call_log.search(feature="nothing").rows == [] and call_log.search(feature="nothing").total == 0

    # Time range: since is inclusive, until exclusive.
    window = call_log.search(since=NOW - timedelta(minutes=30), until=NOW - timedelta(minutes=10))
    assert _ids(window) == [ids[2], ids[3]] and window.total == 2
    recent = call_log.search(since=call_log.since_for("1h", now=NOW))
    assert recent.total == 7
    assert call_log.search(since=call_log.since_for("1h", now=NOW + timedelta(minutes=40))).total == 3  # 0, 10, 20


def test_pagination_boundaries_and_ties(backend):
    # Seven rows, four of them logged in the same instant: the id breaks the tie, so pages
    # neither repeat nor skip a row.
    ids = [_log(0) for _ in range(4)] + [_log(5), _log(6), _log(7)]
    expected = sorted(ids[:4], reverse=True) + ids[4:]

    pages = [call_log.search(page=n, page_size=3) for n in (1, 2, 3, 4)]

    assert [_ids(p) for p in pages] == [expected[0:3], expected[3:6], expected[6:7], []]
    assert [p.has_next for p in pages] == [True, True, False, False]
    assert {p.total for p in pages} == {7}
    assert [(p.page, p.page_size) for p in pages[:2]] == [(1, 3), (2, 3)]
    # Exactly a page's worth left: the last full page says there is no next one.
    assert call_log.search(page=1, page_size=7).has_next is False
    assert call_log.search(page=1, page_size=6).has_next is True
    assert call_log.search(page=2, page_size=6).rows[0].id == expected[6]

    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": call_log.MAX_PAGE_SIZE + 1}):
        with pytest.raises(ValidationError):
            call_log.search(**bad)


def test_text_search(backend):
    prompt_hit = _log(1, prompt="Please summarise the ZEBRA report")
    response_hit = _log(2, response="the zebra crossed")
    task_hit = _log(3, task_text="find a Zebra")
    error_hit = _log(4, status="failed", error_message="InternalServerError: zebra overloaded")
    percent = _log(5, prompt="we are 100% sure")
    thousand = _log(6, prompt="we are 1000 sure")
    underscore = _log(7, prompt="call snake_case here")
    _log(8, prompt="call snakeXcase here")
    _log(9, prompt="nothing to see", response="nothing at all")

    found = call_log.search(text="zebra")
    assert _ids(found) == [prompt_hit, response_hit, task_hit, error_hit]
    assert found.total is None and found.has_next is False  # a text search is never counted
    assert _ids(call_log.search(text="  ZeBrA ")) == _ids(found)  # case and outer spaces do not matter
    assert _ids(call_log.search(text="zebra", status="failed")) == [error_hit]
    paged = call_log.search(text="zebra", page_size=3)
    assert len(paged.rows) == 3 and paged.has_next is True
    assert _ids(call_log.search(text="zebra", page=2, page_size=3)) == [error_hit]

    # The user's % and _ are literal characters, not wildcards.
    assert _ids(call_log.search(text="100%")) == [percent]
    assert _ids(call_log.search(text="%")) == [percent]
    assert _ids(call_log.search(text="snake_case")) == [underscore]
    assert thousand not in _ids(call_log.search(text="100%"))
    assert call_log.search(text="no such word anywhere").rows == []


# The same calls on SQLite and PostgreSQL (key -> what _log writes), the newest first, and what
# each text search must find there.
CORPUS = {
    "zebra_prompt": {"prompt": "Please summarise the ZEBRA report"},
    "zebra_response": {"response": "the zebra crossed"},
    "zebra_task": {"task_text": "find a Zebra"},
    "zebra_error": {"status": "failed", "error_message": "InternalServerError: zebra overloaded"},
    "rare": {"prompt": "an okapi appears once"},
    "percent": {"prompt": "we are 100% sure"},
    "thousand": {"prompt": "we are 1000 sure"},
    "snake": {"prompt": "call snake_case here"},
    "snake_x": {"prompt": "call snakeXcase here"},
    "backslash": {"response": "saved to C:\\temp\\new"},
    "percent_underscore": {"response": "50%_off today"},
    "plain": {"prompt": "nothing to see", "response": "nothing at all"},
}
FINDS = {
    "zebra": ["zebra_prompt", "zebra_response", "zebra_task", "zebra_error"],
    "ZEBRA": ["zebra_prompt", "zebra_response", "zebra_task", "zebra_error"],
    "okapi": ["rare"],
    "OKAPI Appears": ["rare"],
    "100%": ["percent"],
    "%": ["percent", "percent_underscore"],
    "_": ["snake", "percent_underscore"],
    "snake_case": ["snake"],
    "%_": ["percent_underscore"],
    "C:\\temp": ["backslash"],
    "\\": ["backslash"],
    "nothing at": ["plain"],
    "no such word anywhere": [],
}


def _log_corpus() -> dict[str, str]:
    """call id -> corpus key."""
    return {_log(minutes, **fields): key for minutes, (key, fields) in enumerate(CORPUS.items())}


def _found(keys: dict[str, str]) -> dict[str, list[str]]:
    return {query: [keys[row.id] for row in call_log.search(text=query).rows] for query in FINDS}


def test_text_search_finds_the_same_calls_on_sqlite_and_postgresql(db, pg_url, monkeypatch):
    on_sqlite = _found(_log_corpus())
    monkeypatch.setenv("DATABASE_URL", pg_url)
    reset_process_caches()
    migrate.upgrade()
    keys = _log_corpus()
    on_postgresql = _found(keys)  # few matches: collected through the index, then read by key
    monkeypatch.setattr(call_log, "COMMON_MATCHES", 1)
    as_common_words = _found(keys)  # the newest-first walk

    assert on_sqlite == FINDS
    assert on_postgresql == FINDS
    assert as_common_words == FINDS


def _statements_of(run) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    event.listen(get_engine(), "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(get_engine(), "before_cursor_execute", capture)
    return seen


def _plan(statement: str, parameters: object) -> str:
    """The plan once scans that need no index are off: what the indexes can serve shows."""
    with get_engine().begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


@pytest.fixture
def postgresql(db, pg_url, monkeypatch) -> str:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    reset_process_caches()
    migrate.upgrade()
    return pg_url


def test_postgresql_searches_rare_words_through_the_trigram_index_and_walks_for_common_ones(postgresql,
                                                                                         monkeypatch):
    for minutes in range(5):
        _log(minutes, prompt=f"routine prompt number {minutes}")
    rare = _log(9, prompt="an okapi appears once")

    statements = _statements_of(lambda: call_log.search(text="okapi"))
    matching = [(s, p) for s, p in statements if "ILIKE" in s]
    assert len(matching) == 1  # the look through the index; the page is then read by key
    assert "Bitmap Index Scan on ix_llm_call_text_search" in _plan(*matching[0])
    assert _ids(call_log.search(text="okapi")) == [rare]

    monkeypatch.setattr(call_log, "COMMON_MATCHES", 2)
    statements = _statements_of(lambda: call_log.search(text="routine"))
    listing = next((s, p) for s, p in statements if "ORDER BY" in s)
    assert "coalesce(" in listing[0]
    walk = _plan(*listing)
    assert "ix_llm_call_text_search" not in walk and "Index Scan Backward using ix_llm_call_created_at" in walk
    assert len(call_log.search(text="routine").rows) == 5


def test_sqlite_searches_rare_words_through_the_trigram_index_and_walks_for_common_ones(db, monkeypatch):
    for minutes in range(5):
        _log(minutes, prompt=f"routine prompt number {minutes}")
    rare = _log(9, prompt="an okapi appears once")
    _log(10, prompt="the letters o k a p i, apart")  # every trigram's letters, none of its trigrams

    statements = _statements_of(lambda: call_log.search(text="okapi"))
    looks = [(s, p) for s, p in statements if "FROM llm_call_text" in s]
    assert len(looks) == 1 and '"oka" AND "kap" AND "api"' in looks[0][1]
    with get_engine().connect() as conn:
        plan = " ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + looks[0][0], looks[0][1]))
    assert "VIRTUAL TABLE INDEX 0:M" in plan, plan  # a MATCH: the index answers
    listing = next(s for s, _ in statements if "ORDER BY" in s)
    assert "llm_call.rowid IN" in listing
    assert _ids(call_log.search(text="okapi")) == [rare]

    monkeypatch.setattr(call_log, "COMMON_MATCHES", 2)
    statements = _statements_of(lambda: call_log.search(text="routine"))
    listing = next(s for s, _ in statements if "ORDER BY" in s)
    assert "rowid IN" not in listing  # common: the newest rows are walked
    assert len(call_log.search(text="routine").rows) == 5

    # Too short for a trigram: the scan answers.
    statements = _statements_of(lambda: call_log.search(text="ok"))
    assert not [s for s, _ in statements if "llm_call_text" in s]
    assert rare in _ids(call_log.search(text="ok"))


def test_the_sqlite_text_index_follows_purges_and_deletes(db):
    old = _log(60 * 24 * 40, prompt="an okapi from long ago")
    new = _log(1, response="a fresh okapi")
    assert _ids(call_log.search(text="okapi")) == [new, old]

    assert calls.purge_content(30) == 1
    assert _ids(call_log.search(text="okapi")) == [new]
    with session_scope() as session:
        session.delete(session.get(LLMCall, new))
    assert call_log.search(text="okapi").rows == []
    with get_engine().begin() as conn:
        conn.exec_driver_sql("INSERT INTO llm_call_text(llm_call_text, rank) VALUES ('integrity-check', 1)")


@pytest.fixture
def pg_url_without_extension_rights(pg_server_url) -> Iterator[str]:
    """A database whose app role may create tables but not extensions (no CREATE on the
    database), as a managed PostgreSQL may hand out."""
    suffix = uuid.uuid4().hex[:10]
    name, role = f"llmcoder_test_{suffix}", f"llmcoder_role_{suffix}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    as_admin = make_url(pg_server_url).set(database=name)
    owner = create_engine(as_admin, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'GRANT ALL ON SCHEMA public TO "{role}"'))
        assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).scalar() == 0
    owner.dispose()
    yield as_admin.set(username=role).render_as_string(hide_password=False)
    db_engine.reset_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


def test_without_the_right_to_create_pg_trgm_the_migration_succeeds_and_search_scans(
        db, pg_url_without_extension_rights, monkeypatch, caplog):
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("DATABASE_URL", pg_url_without_extension_rights)
    reset_process_caches()

    migrate.upgrade()

    assert migrate.current_revision() == migrate.head_revision()
    assert [r.message for r in caplog.records if "pg_trgm" in r.message and "CREATE INDEX" in r.message], \
        caplog.text  # says why, and what a superuser runs to add the index later
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT to_regclass('ix_llm_call_text_search')")).scalar() is None
    # The drift check tells the truth: the models' index is missing, nothing else.
    assert [(d[0], d[1].name) for d in migrate.drift()] == [("add_index", "ix_llm_call_text_search")]

    caplog.clear()
    keys = _log_corpus()
    assert _found(keys) == FINDS  # the same answers, by scanning
    warnings = [r for r in caplog.records if "no text search index" in r.message]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # once, not per search


def test_the_list_reads_no_prompt_or_response_text(db):
    _log(1)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", seen)
    try:
        page = call_log.search(feature="docs")
    finally:
        event.remove(get_engine(), "before_cursor_execute", seen)
    assert len(page.rows) == 1
    listing = next(s for s in statements if "ORDER BY" in s)
    for column in ("system_prompt", "user_prompt", "response", "error_message", "task_text", "validation"):
        assert column not in listing


def test_facets(backend):
    _log(1, feature="docs", provider="p1", status="ok")
    _log(2, feature="inbox", provider="p2", status="failed")
    _log(3, feature="docs", provider="", status="refused_budget")
    _log(4, feature="assistant", provider="cache", status="cache")

    assert call_log.facets() == {"features": ["assistant", "docs", "inbox"], "providers": ["cache", "p1", "p2"],
                                 "statuses": ["cache", "failed", "ok", "refused_budget"]}


def test_since_for_presets():
    assert call_log.since_for("24h", now=NOW) == NOW - timedelta(hours=24)
    assert call_log.since_for("all", now=NOW) is None
    with pytest.raises(ValidationError, match="Unknown time range"):
        call_log.since_for("1y")


# ------------------------------------------------------------------ detail

@pytest.fixture
def two_providers(fake_llm):
    add_provider(fake_llm, "p1", "openai", "m1", input_price="1", output_price="2")
    add_provider(fake_llm, "p2", "openai", "m2", input_price="3", output_price="4")
    return fake_llm


def test_detail_shows_the_failover_chain_and_everything_about_the_call(two_providers, make_user):
    admin = make_user("admin@example.com", role="admin")
    two_providers.default("m1", error(500))
    two_providers.script("m2", ok("Final answer from the second provider", prompt_tokens=20, completion_tokens=6))

    result = gateway.complete(ask("Summarise the quarterly report", feature="docs", user_id=admin.id))
    assert result.provider == "p2"
    outcomes.set_validation(result.call_id, quality=88, validation_json=json.dumps({
        "score": 88, "syntax_ok": True, "findings": [
            {"kind": "danger", "severity": "high", "message": "uses eval", "line": 3}]}))
    calls.add_feedback(result.call_id, user_id=admin.id, rating=4, comment="good")
    outcomes.record(result.call_id, "answered_question", user=admin)

    d = call_log.detail(result.call_id)

    assert [(a.provider, a.attempt, a.status) for a in d.attempts] == [
        ("p1", 1, "failed"), ("p1", 2, "failed"), ("p1", 3, "failed"), ("p2", 1, "ok")]
    assert all(a.error_class == "InternalServerError" and a.error_message for a in d.attempts[:3])
    assert d.attempts[3].call_id == result.call_id and d.attempts[3].cost_nanos == result.cost_nanos
    assert (d.provider, d.model, d.status, d.feature, d.user_email) == ("p2", "openai/m2", "ok", "docs",
                                                                        "admin@example.com")
    assert "Summarise the quarterly report" in d.user_prompt and d.system_prompt
    assert d.response == "Final answer from the second provider"
    assert (d.input_tokens, d.output_tokens) == (20, 6)
    assert d.cost_nanos == 20 * 3000 + 6 * 4000 == result.cost_nanos
    assert d.quality == 88
    assert d.validation == ["score: 88", "syntax_ok: yes", "findings: [high] danger (line 3): uses eval"]
    assert [(f.rating, f.comment) for f in d.feedback] == [(4, "good")]
    assert [(o.kind, o.label) for o in d.outcomes] == [("answered_question", "answered question")]
    assert d.template_id is None and d.content_purged is False

    # A failed attempt's own detail shows the same chain.
    assert [a.call_id for a in call_log.detail(d.attempts[0].call_id).attempts] == [a.call_id for a in d.attempts]
    with pytest.raises(ValidationError, match="not in the log"):
        call_log.detail("no-such-call")


def test_unreadable_validation_is_shown_as_it_is():
    assert call_log.readable_validation("") == []
    assert call_log.readable_validation("not json {") == ["not json {"]
    assert call_log.readable_validation('{"review": {"verdict": "fix", "issues": []}}') == [
        "review.verdict: fix", "review.issues: none"]


# ------------------------------------------------------------------ re-run

def _messages(fake, model: str) -> list:
    return [r.body["messages"] for r in fake.requests if r.model == model]


def test_rerun_sends_the_same_prompts_to_the_other_provider(two_providers, make_user):
    admin = make_user("admin@example.com", role="admin")
    original = gateway.complete(ask("Explain the retry policy", feature="docs", user_id=None))
    assert original.provider == "p1"

    rerun = call_log.rerun(original.call_id, "p2", user_id=admin.id)

    assert rerun.status == CallStatus.ok and rerun.provider == "p2" and rerun.text == "Answer from m2"
    assert rerun.cost_nanos > 0 and rerun.cost_nanos == rerun.input_tokens * 3000 + rerun.output_tokens * 4000
    assert _messages(two_providers, "m2") == _messages(two_providers, "m1")
    assert two_providers.count("m1") == 1  # the original provider was not asked again
    assert rerun.request_id != original.request_id
    new = call_log.detail(rerun.call_id)
    assert (new.feature, new.provider, new.user_email) == ("docs", "p2", "admin@example.com")
    # Not from the cache, and not stored in it: a second re-run (the page's async one) asks again.
    again = run_async(call_log.arerun(original.call_id, "p2", user_id=admin.id))
    assert again.status == CallStatus.ok and again.provider == "p2" and two_providers.count("m2") == 2


def test_rerun_on_a_failing_provider_reports_the_failure(two_providers, make_user):
    admin = make_user("admin@example.com", role="admin")
    original = gateway.complete(ask("Explain the retry policy", feature="docs"))
    two_providers.default("m2", error(500))

    with pytest.raises(AllProvidersFailed) as failed:
        call_log.rerun(original.call_id, "p2", user_id=admin.id)

    assert failed.value.report_id and "Every AI provider failed (3 attempt(s))" in str(failed.value)
    assert two_providers.count("m2") == 3 and two_providers.count("m1") == 1  # never fell back to p1
    assert [(a.provider, a.status) for a in call_log.detail(call_log.search(provider="p2").rows[0].id).attempts] == [
        ("p2", "failed")] * 3


def test_rerun_is_refused_for_unknown_or_disabled_providers(two_providers, make_user):
    admin = make_user("admin@example.com", role="admin")
    original = gateway.complete(ask("Explain the retry policy", feature="docs"))
    providers.set_enabled("p2", False)
    with session_scope() as session:
        rows_before = len(session.exec(select(LLMCall)).all())

    with pytest.raises(ValidationError, match="There is no provider named 'nope'"):
        call_log.rerun(original.call_id, "nope", user_id=admin.id)
    with pytest.raises(ValidationError, match="'p2' is disabled or has no API key"):
        call_log.rerun(original.call_id, "p2", user_id=admin.id)
    with pytest.raises(ValidationError, match="not in the log"):
        call_log.rerun("no-such-call", "p1", user_id=admin.id)

    assert two_providers.count("m2") == 0 and two_providers.count("m1") == 1
    with session_scope() as session:
        assert len(session.exec(select(LLMCall)).all()) == rows_before  # refusals log nothing
    assert call_log.rerun_providers() == ["p1"]


def test_purged_calls_cannot_be_rerun_or_learned(two_providers, make_user):
    admin = make_user("admin@example.com", role="admin")
    original = gateway.complete(ask("Explain the retry policy", feature="docs"))
    assert calls.purge_content(0, now=utcnow() + timedelta(seconds=1)) >= 1

    with pytest.raises(ValidationError, match="deleted by log retention"):
        call_log.rerun(original.call_id, "p2", user_id=admin.id)
    with pytest.raises(ValidationError, match="no response text left"):
        call_log.save_as_template(original.call_id, user_id=admin.id)
    assert two_providers.count("m2") == 0
    d = call_log.detail(original.call_id)
    assert d.content_purged and d.user_prompt == "" and d.cost_nanos == original.cost_nanos


# ------------------------------------------------------------------ save as template

@pytest.mark.skipif(not embedder.available(), reason="needs the offline embedding model")
def test_save_as_template_creates_a_learned_template(two_providers, make_user):
    admin = make_user("admin@example.com", role="admin")
    two_providers.script("m1", ok("def add(a: int, b: int) -> int:\n    return a + b"))
    result = gateway.complete(ask("Write an add function for 2 numbers", feature="assistant",
                                  task_text="Write an add function for 2 numbers", context="python"))

    saved = call_log.save_as_template(result.call_id, user_id=admin.id, name="Adder")

    assert saved.created
    with session_scope() as session:
        t = session.get(LearnedTemplate, saved.template_id)
    assert t is not None
    assert (t.name, t.feature, t.context, t.quality, t.source_call_id, t.source_provider, t.created_by) == (
        "Adder", "assistant", "python", 100, result.call_id, "p1", admin.id)
    assert t.task_text == "Write an add function for {{number_1}} numbers"
    assert t.output == "def add(a: int, b: int) -> int:\n    return a + b"
    assert t.source_cost_nanos == result.cost_nanos
    again = call_log.save_as_template(result.call_id, user_id=admin.id)
    assert (again.template_id, again.created) == (saved.template_id, False)

    # The call's own validation score is the template's quality when it has one.
    two_providers.script("m1", ok("def sub(a: int, b: int) -> int:\n    return a - b"))
    scored = gateway.complete(ask("Write a subtract function", feature="assistant",
                                  task_text="Write a subtract function", context="python"))
    outcomes.set_validation(scored.call_id, quality=93, validation_json="{}")
    with session_scope() as session:
        assert session.get(LearnedTemplate, call_log.save_as_template(scored.call_id, user_id=admin.id)
                           .template_id).quality == 93


def test_save_as_template_without_the_embedding_model_says_why(two_providers, make_user, monkeypatch):
    admin = make_user("admin@example.com", role="admin")
    result = gateway.complete(ask("Explain the retry policy", feature="docs"))
    monkeypatch.setattr(embedder, "available", lambda: False)
    monkeypatch.setattr(embedder, "unavailable_reason", lambda: "no model folder")

    with pytest.raises(ValidationError, match="Templates need the embedding model: no model folder"):
        call_log.save_as_template(result.call_id, user_id=admin.id)
    with pytest.raises(ValidationError, match="not in the log"):
        call_log.save_as_template("no-such-call", user_id=admin.id)
    with session_scope() as session:
        assert session.exec(select(LearnedTemplate)).all() == []

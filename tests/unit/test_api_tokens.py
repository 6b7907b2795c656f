"""Personal API tokens: shown once, stored as a digest, revocable, tied to an active user."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlmodel import select

from services.auth import api_tokens, sessions, tokens, users
from services.auth.errors import ValidationError
from services.db import get_engine, session_scope
from services.db.models import ApiToken


def rows() -> list[ApiToken]:
    with session_scope() as session:
        return list(session.exec(select(ApiToken)).all())


def test_create_returns_a_prefixed_token_and_stores_only_its_digest(make_user):
    user = make_user("a@example.com")
    token = api_tokens.create(user.id, "  laptop agent  ")
    assert token.startswith("llmc_")
    assert len(token) > 40

    [row] = rows()
    assert row.user_id == user.id
    assert row.name == "laptop agent"
    assert row.token_hash == tokens.digest(token)
    assert row.prefix == token[:12]
    assert token[12:] not in row.prefix
    # No column of the raw row holds the token itself.
    with get_engine().connect() as conn:
        raw = conn.execute(text("SELECT * FROM api_token")).mappings().one()
    assert all(token not in str(value) for value in raw.values())


def test_list_shows_summaries_without_the_token(make_user):
    user = make_user("a@example.com")
    token = api_tokens.create(user.id, "first")
    api_tokens.create(user.id, "second")
    summaries = api_tokens.list_for(user.id)
    assert [s.name for s in summaries] == ["first", "second"]
    assert summaries[0].prefix == token[:12]
    assert all(not s.revoked and s.last_used_at is None for s in summaries)
    assert all(token not in repr(s) for s in summaries)


def test_two_tokens_differ(make_user):
    user = make_user("a@example.com")
    assert api_tokens.create(user.id, "one") != api_tokens.create(user.id, "one")


def test_resolve_returns_the_user_and_records_last_use(make_user):
    user = make_user("a@example.com")
    token = api_tokens.create(user.id, "cli")
    who = api_tokens.resolve(token)
    assert who is not None and who.id == user.id and who.email == "a@example.com"
    first_use = api_tokens.list_for(user.id)[0].last_used_at
    assert first_use is not None
    time.sleep(0.01)
    api_tokens.resolve(token)
    assert api_tokens.list_for(user.id)[0].last_used_at > first_use


@pytest.mark.parametrize("bad", [None, "", "llmc_", "llmc_unknown-token-value", "no-prefix-at-all"])
def test_resolve_refuses_unknown_tokens(db, bad):
    assert api_tokens.resolve(bad) is None


def test_resolve_refuses_a_token_without_the_prefix_even_if_the_rest_matches(make_user):
    user = make_user("a@example.com")
    token = api_tokens.create(user.id, "cli")
    assert api_tokens.resolve(token[len("llmc_"):]) is None


def test_a_session_token_is_not_an_api_token(make_user):
    make_user("a@example.com")
    session_token, _ = sessions.sign_in("a@example.com", "correct horse 1")
    assert api_tokens.resolve(session_token) is None
    assert api_tokens.resolve("llmc_" + session_token) is None


def test_revoked_token_no_longer_resolves(make_user):
    user = make_user("a@example.com")
    token = api_tokens.create(user.id, "cli")
    keep = api_tokens.create(user.id, "agent")
    token_id = next(s.id for s in api_tokens.list_for(user.id) if s.name == "cli")
    api_tokens.revoke(user.id, token_id)
    assert api_tokens.resolve(token) is None
    assert api_tokens.resolve(keep) is not None
    summaries = {s.name: s for s in api_tokens.list_for(user.id)}
    assert summaries["cli"].revoked and not summaries["agent"].revoked
    api_tokens.revoke(user.id, token_id)  # again: harmless, stays revoked
    assert api_tokens.resolve(token) is None


def test_another_users_token_cannot_be_revoked(make_user):
    owner = make_user("owner@example.com")
    intruder = make_user("intruder@example.com")
    token = api_tokens.create(owner.id, "cli")
    token_id = api_tokens.list_for(owner.id)[0].id
    with pytest.raises(ValidationError, match="does not exist"):
        api_tokens.revoke(intruder.id, token_id)
    assert api_tokens.resolve(token).id == owner.id
    assert api_tokens.list_for(owner.id)[0].revoked is False
    assert api_tokens.list_for(intruder.id) == []


def test_revoking_a_missing_token_is_a_validation_error(make_user):
    user = make_user("a@example.com")
    with pytest.raises(ValidationError, match="does not exist"):
        api_tokens.revoke(user.id, 12345)


def test_disabled_users_token_does_not_resolve(make_user):
    make_user("admin@example.com", role="admin")
    user = make_user("a@example.com")
    token = api_tokens.create(user.id, "agent")
    users.set_active(user.id, False)
    assert api_tokens.resolve(token) is None
    users.set_active(user.id, True)
    assert api_tokens.resolve(token).id == user.id


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", "n" * 101])
def test_bad_names_are_refused_and_nothing_is_stored(make_user, bad):
    user = make_user("a@example.com")
    with pytest.raises(ValidationError, match="1 to 100 characters"):
        api_tokens.create(user.id, bad)
    assert rows() == []


def test_name_of_exactly_100_characters_is_accepted(make_user):
    user = make_user("a@example.com")
    api_tokens.create(user.id, "n" * 100)
    assert api_tokens.list_for(user.id)[0].name == "n" * 100


def test_listing_is_per_user(make_user):
    a = make_user("a@example.com")
    b = make_user("b@example.com")
    api_tokens.create(a.id, "a-token")
    api_tokens.create(b.id, "b-token")
    assert [s.name for s in api_tokens.list_for(a.id)] == ["a-token"]
    assert [s.name for s in api_tokens.list_for(b.id)] == ["b-token"]

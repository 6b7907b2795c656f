"""Accounts: password policy, users, sign-in with lockout, sessions and their revocation."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from services import runtime_settings
from services.auth import api_tokens, passwords, sessions, tokens, users
from services.auth.errors import AccessDenied, AccountLocked, InvalidCredentials, ValidationError
from services.db import session_scope
from services.db.models import AuthSession, Role, User
from services.db.models.base import utcnow
from services.settings import reset_settings_cache

PASSWORD = "correct horse 1"


def user_row(user_id: int) -> User:
    with session_scope() as session:
        return session.get(User, user_id)


def update_user(user_id: int, **values) -> None:
    with session_scope() as session:
        row = session.get(User, user_id)
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


def session_rows(user_id: int) -> list[AuthSession]:
    with session_scope() as session:
        return list(session.exec(select(AuthSession).where(AuthSession.user_id == user_id)).all())


def live(token: str) -> bool:
    return sessions.resolve(token) is not None


# --- password policy and hashing ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "short", "123456789", " leading spaces", "trailing spaces "])
def test_password_policy_refuses_weak_passwords(bad):
    with pytest.raises(ValidationError):
        passwords.check_policy(bad)
    with pytest.raises(ValidationError):
        passwords.hash_password(bad)


def test_password_policy_message_names_the_minimum():
    with pytest.raises(ValidationError, match=f"at least {passwords.MIN_LENGTH} characters"):
        passwords.check_policy("abc")


def test_hash_is_argon2id_salted_and_verifies():
    first = passwords.hash_password(PASSWORD)
    second = passwords.hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert PASSWORD not in first
    assert first != second
    assert passwords.verify_password(first, PASSWORD)
    assert not passwords.verify_password(first, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)
    assert not passwords.verify_password(None, "not-a-real-password-0")  # the dummy hash's password
    assert not passwords.verify_password("not a hash", PASSWORD)


# --- users ------------------------------------------------------------------------------------


def test_first_admin_only_while_there_are_no_users(db):
    assert users.needs_first_admin()
    admin = users.create_first_admin(email="Ada@Example.com", password=PASSWORD, display_name=" Ada ")
    assert admin.role == "admin" and admin.is_admin
    assert admin.email == "ada@example.com"
    assert admin.display_name == "Ada"
    assert not users.needs_first_admin()

    with pytest.raises(ValidationError, match="already has an admin"):
        users.create_first_admin(email="mallory@example.com", password=PASSWORD)
    assert [u.email for u in users.list_users()] == ["ada@example.com"]


def test_first_admin_refused_when_only_members_exist(make_user):
    make_user("member@example.com")
    with pytest.raises(ValidationError):
        users.create_first_admin(email="boss@example.com", password=PASSWORD)
    assert users.user_count() == 1


def test_display_name_defaults_to_the_local_part(make_user):
    assert make_user("grace.hopper@example.com").display_name == "grace.hopper"


def test_duplicate_email_is_refused_case_insensitively(make_user):
    make_user("Ada@Example.com")
    with pytest.raises(ValidationError, match="already exists"):
        users.create_user(email="  ada@EXAMPLE.com ", password=PASSWORD)
    assert users.user_count() == 1


@pytest.mark.parametrize("bad", ["", "no-at-sign", "@example.com", "ada@localhost", "ada @example.com",
                                 "a" * 320 + "@example.com"])
def test_invalid_email_is_refused(db, bad):
    with pytest.raises(ValidationError, match="valid email"):
        users.create_user(email=bad, password=PASSWORD)
    assert users.user_count() == 0


def test_unknown_role_and_weak_password_are_refused_before_anything_is_stored(db):
    with pytest.raises(ValidationError, match="Unknown role"):
        users.create_user(email="a@example.com", password=PASSWORD, role="superuser")
    with pytest.raises(ValidationError):
        users.create_user(email="a@example.com", password="short")
    assert users.user_count() == 0


def test_overlong_display_name_is_a_validation_error(db):
    # The column holds 200 characters; PostgreSQL would fail with a raw DataError.
    with pytest.raises(ValidationError, match="200"):
        users.create_user(email="a@example.com", password=PASSWORD, display_name="n" * 201)
    assert users.user_count() == 0


def test_password_is_stored_hashed(make_user):
    user = make_user("a@example.com")
    row = user_row(user.id)
    assert row.password_hash != PASSWORD
    assert passwords.verify_password(row.password_hash, PASSWORD)


def test_list_users_reports_state(make_user):
    admin = make_user("admin@example.com", role="admin")
    member = make_user("member@example.com")
    update_user(member.id, locked_until=utcnow() + timedelta(minutes=5))
    summaries = {u.email: u for u in users.list_users()}
    assert summaries["admin@example.com"].role == "admin"
    assert summaries["admin@example.com"].locked is False
    assert summaries["member@example.com"].locked is True
    assert summaries["member@example.com"].last_login_at is None
    sessions.sign_in("admin@example.com", PASSWORD)
    assert {u.email: u for u in users.list_users()}["admin@example.com"].last_login_at is not None
    assert admin.id != member.id


# --- sign-in ----------------------------------------------------------------------------------


def test_sign_in_returns_a_token_whose_digest_is_stored(make_user):
    user = make_user("a@example.com")
    token, who = sessions.sign_in("  A@Example.COM ", PASSWORD, user_agent="pytest/1 " + "x" * 600)
    assert who.id == user.id and who.email == "a@example.com"
    assert len(token) >= 40
    rows = session_rows(user.id)
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest() == tokens.digest(token)
    assert rows[0].token_hash != token
    assert token not in (rows[0].user_agent + rows[0].token_hash)
    assert len(rows[0].user_agent) == 400
    assert rows[0].expires_at > utcnow() + timedelta(days=13)
    assert user_row(user.id).last_login_at is not None
    assert sessions.require(token).id == user.id


def test_each_sign_in_makes_a_new_session(make_user):
    make_user("a@example.com")
    first, _ = sessions.sign_in("a@example.com", PASSWORD)
    second, _ = sessions.sign_in("a@example.com", PASSWORD)
    assert first != second
    assert live(first) and live(second)


def test_session_lifetime_follows_bootstrap_setting(make_user, monkeypatch):
    user = make_user("a@example.com")
    monkeypatch.setenv("LLMCODER_SESSION_DAYS", "1")
    reset_settings_cache()
    sessions.sign_in("a@example.com", PASSWORD)
    expires = session_rows(user.id)[0].expires_at
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(days=1)


def test_wrong_password_and_unknown_email_give_the_same_error(make_user):
    make_user("a@example.com")
    with pytest.raises(InvalidCredentials) as wrong:
        sessions.sign_in("a@example.com", "wrong password 1")
    with pytest.raises(InvalidCredentials) as unknown:
        sessions.sign_in("nobody@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials) as malformed:
        sessions.sign_in("not an email", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == str(malformed.value) == "Wrong email or password."


def test_failed_sign_ins_create_no_session(make_user):
    user = make_user("a@example.com")
    with pytest.raises(InvalidCredentials):
        sessions.sign_in("a@example.com", "wrong password 1")
    assert session_rows(user.id) == []
    assert user_row(user.id).failed_logins == 1


def test_disabled_user_cannot_sign_in_even_with_the_right_password(make_user):
    make_user("admin@example.com", role="admin")
    member = make_user("a@example.com")
    users.set_active(member.id, False)
    with pytest.raises(InvalidCredentials):
        sessions.sign_in("a@example.com", PASSWORD)
    users.set_active(member.id, True)
    assert sessions.sign_in("a@example.com", PASSWORD)[1].id == member.id


# --- lockout ----------------------------------------------------------------------------------


def fail(email: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            sessions.sign_in(email, "wrong password 1")


def test_lockout_after_max_failed_logins_refuses_even_the_right_password(make_user):
    user = make_user("a@example.com")
    fail("a@example.com", 4)
    with pytest.raises(AccountLocked) as locked:
        sessions.sign_in("a@example.com", "wrong password 1")
    assert locked.value.minutes == 15
    assert "locked for 15" in str(locked.value)
    row = user_row(user.id)
    assert row.locked_until is not None
    assert timedelta(minutes=14) < row.locked_until - utcnow() <= timedelta(minutes=15)

    with pytest.raises(AccountLocked) as again:
        sessions.sign_in("a@example.com", PASSWORD)
    assert 1 <= again.value.minutes <= 15
    assert session_rows(user.id) == []


def test_lock_expires_and_the_right_password_works_again(make_user):
    user = make_user("a@example.com")
    fail("a@example.com", 4)
    with pytest.raises(AccountLocked):
        sessions.sign_in("a@example.com", "wrong password 1")
    update_user(user.id, locked_until=utcnow() - timedelta(seconds=1))

    token, who = sessions.sign_in("a@example.com", PASSWORD)
    assert who.id == user.id and live(token)
    row = user_row(user.id)
    assert row.locked_until is None and row.failed_logins == 0


def test_after_the_lock_expires_the_count_starts_again(make_user):
    user = make_user("a@example.com")
    fail("a@example.com", 4)
    with pytest.raises(AccountLocked):
        sessions.sign_in("a@example.com", "wrong password 1")
    update_user(user.id, locked_until=utcnow() - timedelta(seconds=1))
    fail("a@example.com", 4)  # a fresh allowance, not an immediate re-lock
    with pytest.raises(AccountLocked):
        sessions.sign_in("a@example.com", "wrong password 1")


def test_a_successful_sign_in_resets_the_failure_count(make_user):
    make_user("a@example.com")
    fail("a@example.com", 4)
    sessions.sign_in("a@example.com", PASSWORD)
    fail("a@example.com", 4)  # would have been locked without the reset
    sessions.sign_in("a@example.com", PASSWORD)


def test_admin_password_reset_unlocks_and_revokes(make_user):
    make_user("admin@example.com", role="admin")
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    fail("a@example.com", 4)
    with pytest.raises(AccountLocked):
        sessions.sign_in("a@example.com", "wrong password 1")

    users.reset_password(user.id, "brand new password 2")

    assert not live(token)
    with pytest.raises(InvalidCredentials):
        sessions.sign_in("a@example.com", PASSWORD)
    new_token, _ = sessions.sign_in("a@example.com", "brand new password 2")
    assert live(new_token)


def test_admin_reset_with_a_weak_password_changes_nothing(make_user):
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    before = user_row(user.id).password_hash
    with pytest.raises(ValidationError):
        users.reset_password(user.id, "weak")
    assert user_row(user.id).password_hash == before
    assert live(token)


def test_lockout_threshold_and_duration_follow_runtime_settings(make_user):
    user = make_user("a@example.com")
    runtime_settings.set_value("auth.max_failed_logins", "2")
    runtime_settings.set_value("auth.lockout_minutes", "1")
    fail("a@example.com", 1)
    with pytest.raises(AccountLocked) as locked:
        sessions.sign_in("a@example.com", "wrong password 1")
    assert locked.value.minutes == 1
    assert user_row(user.id).locked_until - utcnow() <= timedelta(minutes=1)

    # Raising the limit again applies at once, without a restart.
    update_user(user.id, locked_until=None)
    runtime_settings.set_value("auth.max_failed_logins", "3")
    fail("a@example.com", 2)
    with pytest.raises(AccountLocked):
        sessions.sign_in("a@example.com", "wrong password 1")


def test_unknown_email_never_locks_or_reveals_anything(db):
    for _ in range(7):
        with pytest.raises(InvalidCredentials):
            sessions.sign_in("ghost@example.com", "wrong password 1")


def test_sign_in_rehashes_old_hashes_even_if_the_password_predates_the_policy(make_user):
    """A password set under an older policy still signs in when its hash is upgraded."""
    user = make_user("a@example.com")
    old_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("old-pw")
    update_user(user.id, password_hash=old_hash)
    assert passwords.needs_rehash(old_hash)

    token, _ = sessions.sign_in("a@example.com", "old-pw")
    assert live(token)
    new_hash = user_row(user.id).password_hash
    assert new_hash != old_hash
    assert not passwords.needs_rehash(new_hash)
    assert passwords.verify_password(new_hash, "old-pw")


# --- sessions and access checks -----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "not-a-session-token"])
def test_require_without_a_valid_token_is_denied(db, token):
    with pytest.raises(AccessDenied) as info:
        sessions.require(token)
    assert info.value.signed_in is False
    assert str(info.value) == "Please sign in."


def test_expired_session_is_denied(make_user):
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    with session_scope() as session:
        row = session.exec(select(AuthSession).where(AuthSession.user_id == user.id)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    with pytest.raises(AccessDenied) as info:
        sessions.require(token)
    assert info.value.signed_in is False


def test_sign_out_revokes_the_session(make_user):
    make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    other, _ = sessions.sign_in("a@example.com", PASSWORD)
    sessions.sign_out(token)
    with pytest.raises(AccessDenied):
        sessions.require(token)
    assert live(other)  # only that browser
    sessions.sign_out(token)  # twice is harmless
    sessions.sign_out(None)
    sessions.sign_out("unknown")


def test_disabled_user_session_is_denied(make_user):
    make_user("admin@example.com", role="admin")
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    users.set_active(user.id, False)
    with pytest.raises(AccessDenied):
        sessions.require(token)
    assert all(r.revoked_at is not None for r in session_rows(user.id))
    # Re-enabling does not bring the revoked session back.
    users.set_active(user.id, True)
    with pytest.raises(AccessDenied):
        sessions.require(token)


def test_member_is_denied_admin_actions_while_signed_in(make_user):
    make_user("admin@example.com", role="admin")
    make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    assert sessions.require(token).email == "a@example.com"
    assert sessions.require(token, Role.member).email == "a@example.com"
    with pytest.raises(AccessDenied) as info:
        sessions.require(token, Role.admin)
    assert info.value.signed_in is True
    assert "admin" in str(info.value).lower()


def test_admin_role_given_as_a_plain_string_is_still_enforced(make_user):
    make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    with pytest.raises(AccessDenied) as info:
        sessions.require(token, "admin")  # type: ignore[arg-type]
    assert info.value.signed_in is True


def test_admin_passes_the_admin_check(make_user):
    make_user("admin@example.com", role="admin")
    token, _ = sessions.sign_in("admin@example.com", PASSWORD)
    assert sessions.require(token, Role.admin).is_admin


def test_promoted_member_becomes_admin_on_the_next_check(make_user):
    make_user("admin@example.com", role="admin")
    member = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    users.set_role(member.id, "admin")
    assert sessions.require(token, Role.admin).id == member.id


def test_api_token_is_not_a_session_token(make_user):
    user = make_user("a@example.com")
    api = api_tokens.create(user.id, "laptop")
    with pytest.raises(AccessDenied):
        sessions.require(api)


# --- password change --------------------------------------------------------------------------


def test_change_password_keeps_the_current_session_and_revokes_the_others(make_user):
    user = make_user("a@example.com")
    current, _ = sessions.sign_in("a@example.com", PASSWORD)
    other, _ = sessions.sign_in("a@example.com", PASSWORD)

    users.change_password(user.id, PASSWORD, "another good one 2", keep_token_hash=tokens.digest(current))

    assert live(current)
    assert not live(other)
    with pytest.raises(InvalidCredentials):
        sessions.sign_in("a@example.com", PASSWORD)
    assert live(sessions.sign_in("a@example.com", "another good one 2")[0])
    assert user_row(user.id).password_changed_at is not None


def test_change_password_needs_the_right_current_password(make_user):
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    other, _ = sessions.sign_in("a@example.com", PASSWORD)
    before = user_row(user.id).password_hash
    with pytest.raises(ValidationError, match="current password is wrong"):
        users.change_password(user.id, "not my password", "another good one 2", tokens.digest(token))
    assert user_row(user.id).password_hash == before
    assert live(token) and live(other)


def test_change_password_refuses_weak_or_unchanged_passwords(make_user):
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    other, _ = sessions.sign_in("a@example.com", PASSWORD)
    before = user_row(user.id).password_hash
    with pytest.raises(ValidationError, match="different"):
        users.change_password(user.id, PASSWORD, PASSWORD, tokens.digest(token))
    with pytest.raises(ValidationError, match="at least"):
        users.change_password(user.id, PASSWORD, "short", tokens.digest(token))
    assert user_row(user.id).password_hash == before
    assert live(other)


def test_change_password_without_a_kept_session_revokes_all(make_user):
    user = make_user("a@example.com")
    token, _ = sessions.sign_in("a@example.com", PASSWORD)
    users.change_password(user.id, PASSWORD, "another good one 2", keep_token_hash=None)
    assert not live(token)


def test_change_password_leaves_other_users_alone(make_user):
    a = make_user("a@example.com")
    make_user("b@example.com")
    b_token, _ = sessions.sign_in("b@example.com", PASSWORD)
    users.change_password(a.id, PASSWORD, "another good one 2", keep_token_hash=None)
    assert live(b_token)


# --- roles and the last admin -----------------------------------------------------------------


def test_last_active_admin_cannot_be_demoted_or_disabled(make_user):
    admin = make_user("admin@example.com", role="admin")
    token, _ = sessions.sign_in("admin@example.com", PASSWORD)
    with pytest.raises(ValidationError, match="at least one active admin"):
        users.set_role(admin.id, "member")
    with pytest.raises(ValidationError, match="at least one active admin"):
        users.set_active(admin.id, False)
    row = user_row(admin.id)
    assert row.role == "admin" and row.is_active
    assert live(token)


def test_an_admin_can_be_demoted_or_disabled_when_another_remains(make_user):
    first = make_user("admin@example.com", role="admin")
    second = make_user("second@example.com", role="admin")
    users.set_role(first.id, "member")
    assert user_row(first.id).role == "member"
    # Now `second` is the last one.
    with pytest.raises(ValidationError):
        users.set_active(second.id, False)
    users.set_role(first.id, "admin")
    users.set_active(second.id, False)
    assert not user_row(second.id).is_active
    with pytest.raises(ValidationError):
        users.set_role(first.id, "member")


def test_disabled_admins_do_not_count_as_the_remaining_admin(make_user):
    active = make_user("admin@example.com", role="admin")
    disabled = make_user("old@example.com", role="admin")
    users.set_active(disabled.id, False)
    with pytest.raises(ValidationError):
        users.set_role(active.id, "member")
    with pytest.raises(ValidationError):
        users.set_active(active.id, False)


def test_a_disabled_admin_can_be_demoted_while_an_active_admin_remains(make_user):
    make_user("admin@example.com", role="admin")
    disabled = make_user("old@example.com", role="admin")
    users.set_active(disabled.id, False)
    users.set_role(disabled.id, "member")  # the one active admin is not affected
    assert user_row(disabled.id).role == "member"


def test_set_role_refuses_unknown_roles_and_missing_users(make_user):
    member = make_user("a@example.com")
    with pytest.raises(ValidationError, match="Unknown role"):
        users.set_role(member.id, "root")
    assert user_row(member.id).role == "member"
    with pytest.raises(ValidationError, match="no longer exists"):
        users.set_role(999_999, "admin")
    with pytest.raises(ValidationError, match="no longer exists"):
        users.set_active(999_999, False)
    with pytest.raises(ValidationError, match="no longer exists"):
        users.reset_password(999_999, "a good password 3")


def test_disabling_a_member_revokes_all_their_sessions_only(make_user):
    make_user("admin@example.com", role="admin")
    a = make_user("a@example.com")
    make_user("b@example.com")
    a1, _ = sessions.sign_in("a@example.com", PASSWORD)
    a2, _ = sessions.sign_in("a@example.com", PASSWORD)
    b1, _ = sessions.sign_in("b@example.com", PASSWORD)
    users.set_active(a.id, False)
    assert not live(a1) and not live(a2)
    assert live(b1)


def test_default_display_name_fits_the_column(db):
    user = users.create_user(email="a" * 250 + "@example.com", password=PASSWORD)
    assert user.display_name == "a" * 200

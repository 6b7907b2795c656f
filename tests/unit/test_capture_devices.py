"""Pairing codes and device tokens: single use, expiring, hashed at rest, one winner of a race,
throttled per address; revocation refused for another user's device and felt at once."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from services.auth import tokens, users
from services.auth.errors import ValidationError
from services.capture import devices
from services.db import session_scope
from services.db.models import CaptureDevice, CapturePairing
from services.db.models.base import utcnow

CODE_RE = re.compile(rf"^[{devices.CODE_ALPHABET}]{{4}}-[{devices.CODE_ALPHABET}]{{4}}$")


@pytest.fixture(autouse=True)
def _fresh_throttle():
    devices.reset_throttle()
    yield
    devices.reset_throttle()


def pairings() -> list[CapturePairing]:
    with session_scope() as session:
        return list(session.exec(select(CapturePairing)).all())


def device_rows() -> list[CaptureDevice]:
    with session_scope() as session:
        return list(session.exec(select(CaptureDevice)).all())


def test_a_code_is_shown_grouped_and_stored_only_as_a_digest(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    assert CODE_RE.match(code), code

    [row] = pairings()
    assert row.user_id == user.id
    assert row.code_hash == tokens.digest(code.replace("-", ""))
    assert code.replace("-", "") not in row.code_hash
    assert timedelta(minutes=9) < row.expires_at - row.created_at <= devices.CODE_LIFETIME
    assert row.used_at is None and row.device_id is None


def test_pairing_creates_a_device_whose_token_authenticates_and_is_stored_as_a_digest(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    device_id, token = devices.pair(code, "  build-box  ", "Linux-6.1-x86_64", client="10.0.0.1")

    assert token.startswith("llmd_") and len(token) > 40
    [row] = device_rows()
    assert (row.id, row.user_id, row.name, row.platform) == (device_id, user.id, "build-box", "Linux-6.1-x86_64")
    assert row.token_hash == tokens.digest(token) and token not in (row.token_hash, row.token_prefix)
    assert token.startswith(row.token_prefix)
    [pairing] = pairings()
    assert pairing.used_at is not None and pairing.device_id == device_id

    found = devices.authenticate(token)
    assert found is not None and (found.id, found.user_id, found.revoked, found.last_seq) == (device_id, user.id,
                                                                                             False, 0)
    [listed] = devices.list_devices(user.id)
    assert (listed.id, listed.name, listed.revoked, listed.paused) == (device_id, "build-box", False, False)


@pytest.mark.parametrize("typed", [str.lower, lambda code: code.replace("-", ""), lambda code: f" {code[:4]} {code[5:]} "])
def test_codes_are_case_insensitive_and_dash_optional(make_user, typed):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    device_id, _ = devices.pair(typed(code), "laptop", "")
    assert [row.id for row in device_rows()] == [device_id]


def test_a_code_works_once(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    devices.pair(code, "first", "")
    with pytest.raises(devices.PairingRefused) as refused:
        devices.pair(code, "second", "")
    assert str(refused.value) == devices.INVALID_CODE
    assert [row.name for row in device_rows()] == ["first"]


def test_an_expired_code_is_refused(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    with session_scope() as session:
        session.exec(update(CapturePairing).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(devices.PairingRefused):
        devices.pair(code, "late", "")
    assert device_rows() == []
    assert pairings()[0].used_at is None


@pytest.mark.parametrize("wrong", ["AAAA-AAAA", "ABCD-EFG", "ABCD-EFGHJ", "OOOO-0000", "", "ABCD-EFG!"])
def test_unknown_or_malformed_codes_are_refused_alike(make_user, wrong):
    devices.create_pairing_code(make_user().id)
    with pytest.raises(devices.PairingRefused) as refused:
        devices.pair(wrong, "guess", "")
    assert str(refused.value) == devices.INVALID_CODE
    assert device_rows() == []


def test_a_nameless_device_is_refused_and_a_long_name_is_cut(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    with pytest.raises(ValidationError):
        devices.pair(code, "   ", "")
    devices.pair(code, "h" * 300, "p" * 300)  # the refusal did not use the code up
    [row] = device_rows()
    assert (len(row.name), len(row.platform)) == (100, 200)


def test_a_deactivated_users_code_does_not_pair(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    users.set_active(user.id, False)
    with pytest.raises(devices.PairingRefused):
        devices.pair(code, "laptop", "")
    assert device_rows() == []


def test_racing_redemptions_of_one_code_have_exactly_one_winner(make_user):
    user = make_user()
    code = devices.create_pairing_code(user.id)
    racers = 8
    start = threading.Barrier(racers)
    won: list[int] = []
    refused: list[Exception] = []

    def redeem(n: int) -> None:
        start.wait()
        try:
            won.append(devices.pair(code, f"racer-{n}", "", client=f"10.0.0.{n}")[0])
        except devices.PairingRefused as exc:
            refused.append(exc)

    threads = [threading.Thread(target=redeem, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1 and len(refused) == racers - 1
    assert [row.id for row in device_rows()] == won
    assert pairings()[0].device_id == won[0]


def test_pair_attempts_are_throttled_per_address(make_user, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(devices.time, "monotonic", lambda: clock[0])
    user = make_user()
    for _ in range(devices.PAIR_ATTEMPTS_PER_MINUTE):
        with pytest.raises(devices.PairingRefused):
            devices.pair("ZZZZ-ZZZZ", "guess", "", client="10.0.0.9")
    code = devices.create_pairing_code(user.id)
    with pytest.raises(devices.TooManyAttempts):
        devices.pair(code, "right code, too late", "", client="10.0.0.9")
    assert device_rows() == []

    devices.pair(code, "other address", "", client="10.0.0.10")  # another address is not held back
    clock[0] += 61
    devices.pair(devices.create_pairing_code(user.id), "a minute later", "", client="10.0.0.9")
    assert sorted(row.name for row in device_rows()) == ["a minute later", "other address"]


@pytest.mark.parametrize("token", [None, "", "llmc_not-a-device-token", "llmd_unknown"])
def test_unknown_tokens_do_not_authenticate(make_user, token):
    user = make_user()
    devices.pair(devices.create_pairing_code(user.id), "laptop", "")
    assert devices.authenticate(token) is None


def test_a_deactivated_owner_cuts_the_device_off(make_user):
    user = make_user()
    device_id, token = devices.pair(devices.create_pairing_code(user.id), "laptop", "")
    users.set_active(user.id, False)
    assert devices.authenticate(token) is None
    assert not devices.is_active(device_id)


def test_revoking_refuses_the_token_and_closes_live_connections(make_user):
    user = make_user()
    device_id, token = devices.pair(devices.create_pairing_code(user.id), "laptop", "")
    closed: list[str] = []
    devices.on_revoke(device_id, lambda: closed.append("live"))
    unregister = devices.on_revoke(device_id, lambda: closed.append("gone"))
    unregister()  # a connection that already ended

    devices.revoke(user.id, device_id)

    assert closed == ["live"]
    assert devices.authenticate(token) is None
    assert not devices.is_active(device_id)
    [listed] = devices.list_devices(user.id)
    assert listed.revoked
    devices.revoke(user.id, device_id)  # again: no error


def test_another_users_device_cannot_be_revoked(make_user):
    owner, other = make_user("owner@example.com"), make_user("other@example.com")
    device_id, token = devices.pair(devices.create_pairing_code(owner.id), "laptop", "")
    closed: list[int] = []
    devices.on_revoke(device_id, lambda: closed.append(device_id))

    with pytest.raises(ValidationError):
        devices.revoke(other.id, device_id)
    with pytest.raises(ValidationError):
        devices.revoke(owner.id, device_id + 1)

    assert closed == []
    assert devices.authenticate(token) is not None
    assert devices.list_devices(other.id) == []

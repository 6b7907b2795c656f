"""Parallel wrong passwords cannot buy more guesses than the lockout limit allows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.auth import sessions, users
from services.auth.errors import AccountLocked, InvalidCredentials
from services.db import migrate
from tests.conftest import reset_process_caches

pytestmark = pytest.mark.integration
ATTEMPTS = 16
LIMIT = 5  # the default auth.max_failed_logins


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, data_dir, monkeypatch):
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
        reset_process_caches()
    migrate.upgrade()
    return request.param


def _attempt(password: str) -> str:
    try:
        sessions.sign_in("target@example.com", password)
    except InvalidCredentials:
        return "wrong"
    except AccountLocked:
        return "locked"
    return "signed-in"


def test_parallel_guesses_are_capped_by_the_limit(database):
    users.create_user(email="target@example.com", password="the right password")
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(_attempt, [f"guess {i:02d} wrong" for i in range(ATTEMPTS)]))
    # Each guess that was actually checked answered "wrong" or, for the last allowed one, "locked".
    assert outcomes.count("wrong") <= LIMIT - 1
    assert outcomes.count("locked") >= ATTEMPTS - (LIMIT - 1)
    assert _attempt("the right password") == "locked"


def test_right_password_inside_a_burst_of_guesses_is_still_refused_once_locked(database):
    users.create_user(email="target@example.com", password="the right password")
    for i in range(LIMIT):
        _attempt(f"wrong guess {i}")
    assert _attempt("the right password") == "locked"

"""The inbox's store and list on SQLite and PostgreSQL: pages applied twice change nothing, a
reset replaces the account's messages, read state and removals, the thread is answered by the
user's reply, and search (PostgreSQL: through the trigram index of migration 0008)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from services.db import get_engine, migrate, session_scope
from services.db.models import InboxAccount, InboxMessage
from services.inbox import listing, store
from services.integrations.base import ChangePage
from services.integrations.base import InboxMessage as Message
from services.settings import reset_settings_cache

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, data_dir, monkeypatch):
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
        reset_settings_cache()
        from services.db import engine

        engine.reset_engine()
    migrate.upgrade()
    return request.param


def message(n: int, **fields) -> Message:
    values = {"external_id": f"m{n}", "thread_id": f"t{n % 3}", "sender_name": f"Sender {n}",
              "sender_address": f"s{n}@example.com", "subject": f"Subject {n}", "snippet": f"Preview {n}.",
              "sent_at": START + timedelta(minutes=n), "unread": True, "from_me": False, "to": ("me@example.com",),
              "mentions_me": True}
    values.update(fields)
    return Message(**values)


def account(make_user) -> tuple:
    user = make_user("me@example.com")
    row = InboxAccount(owner_id=user.id, kind="imap", name="Mine", address="me@example.com")
    with session_scope() as session:
        session.add(row)
        session.flush()
        return user, row.id


def rows(account_id: int) -> dict[str, InboxMessage]:
    with session_scope() as session:
        return {r.external_id: r for r in session.exec(select(InboxMessage)
                                                       .where(InboxMessage.account_id == account_id))}


def test_pages_are_upserts_resets_replace_and_read_state_follows(database, make_user):
    user, account_id = account(make_user)
    page = ChangePage(tuple(message(n) for n in range(5)))
    assert store.apply(account_id, page) == 5
    assert store.apply(account_id, page) == 0  # the same page again: nothing new, nothing doubled
    assert len(rows(account_id)) == 5

    store.apply(account_id, ChangePage((), removed=("m0",), read_state=(("m1", False),), cursor="c1"))
    stored = rows(account_id)
    assert set(stored) == {"m1", "m2", "m3", "m4"} and not stored["m1"].unread and stored["m2"].unread
    with session_scope() as session:
        assert session.get(InboxAccount, account_id).cursor == "c1"

    store.apply(account_id, ChangePage((message(9),), reset=True))
    assert set(rows(account_id)) == {"m9"}


def test_a_reply_from_the_user_answers_the_thread(database, make_user):
    user, account_id = account(make_user)
    store.apply(account_id, ChangePage((message(1, snippet="Could you send the file?"),
                                        message(4, snippet="Can you call me?"))))
    assert {r.external_id for r in rows(account_id).values() if r.needs_reply} == {"m1", "m4"}
    store.apply(account_id, ChangePage((message(2, thread_id="t1", from_me=True, snippet="Sent."),)))
    stored = rows(account_id)
    assert not stored["m1"].needs_reply and stored["m1"].replied
    assert stored["m4"].needs_reply  # another thread
    store.apply(account_id, ChangePage((message(1, snippet="Could you send the file?"),)))  # a resync
    assert not rows(account_id)["m1"].needs_reply


def test_search_pages_and_filters(database, make_user):
    user, account_id = account(make_user)
    store.apply(account_id, ChangePage(tuple(message(n, subject="Quarterly invoice" if n == 7 else f"Note {n}",
                                                     unread=n % 2 == 0) for n in range(30))))
    if database == "postgresql":
        with get_engine().connect() as conn:
            indexes = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'inbox_message'"))
            assert "ix_inbox_message_search" in {row[0] for row in indexes}
    assert [i.subject for i in listing.list_page(user, listing.Filters(search="INVOICE")).items] == [
        "Quarterly invoice"]
    assert listing.list_page(user, listing.Filters(search="s12@example")).total == 1
    assert listing.list_page(user, listing.Filters(search="50%")).total == 0
    assert listing.list_page(user, listing.Filters(unread=True)).total == 15
    page = listing.list_page(user, listing.Filters(), page=2, size=10)
    assert [i.subject for i in page.items][:2] == ["Note 19", "Note 18"] and page.pages == 3
    assert json.loads(rows(account_id)["m3"].recipients) == {"to": ["me@example.com"], "cc": []}

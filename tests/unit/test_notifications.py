"""In-app notifications scoped to their owner, and channel fan-out that survives failures."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy.exc
from sqlmodel import select

from services.db import session_scope
from services.db.models import Notification
from services.notifications import channels
from services.notifications import service as notes


@pytest.fixture(autouse=True)
def _no_leftover_channels():
    before = dict(channels._channels)
    yield
    channels._channels.clear()
    channels._channels.update(before)


class Recorder:
    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.delivered: list[channels.OutgoingNotification] = []

    def deliver(self, notification: channels.OutgoingNotification) -> None:
        self.delivered.append(notification)


class Broken:
    name = "broken-email"

    def __init__(self) -> None:
        self.calls = 0

    def deliver(self, notification: channels.OutgoingNotification) -> None:
        self.calls += 1
        raise ConnectionError("SMTP server said no")


@pytest.fixture
def two_users(make_user):
    return make_user("a@example.com"), make_user("b@example.com")


def read_flags(user_id: int) -> dict[int, bool]:
    return {n.id: n.read for n in notes.recent(user_id, limit=100)}


def test_notify_stores_and_counts_unread(two_users):
    a, b = two_users
    assert notes.unread_count(a.id) == 0
    first = notes.notify(a.id, "Export ready", body="Your export is ready.", kind="success", link="/jobs/1")
    notes.notify(a.id, "Second")
    assert isinstance(first, int)
    assert notes.unread_count(a.id) == 2
    assert notes.unread_count(b.id) == 0
    [oldest] = [n for n in notes.recent(a.id) if n.id == first]
    assert (oldest.title, oldest.body, oldest.kind, oldest.link, oldest.read) == (
        "Export ready", "Your export is ready.", "success", "/jobs/1", False)


def test_recent_is_newest_first_and_limited(two_users):
    a, _ = two_users
    ids = [notes.notify(a.id, f"n{i}") for i in range(5)]
    assert [n.id for n in notes.recent(a.id)] == list(reversed(ids))
    assert [n.title for n in notes.recent(a.id, limit=2)] == ["n4", "n3"]


def test_recent_orders_by_creation_time_not_id(two_users):
    a, _ = two_users
    older = notes.notify(a.id, "older")
    newer = notes.notify(a.id, "newer")
    with session_scope() as session:
        row = session.get(Notification, older)
        row.created_at = row.created_at + timedelta(hours=1)  # now the newest
        session.add(row)
    assert [n.id for n in notes.recent(a.id)] == [older, newer]


def test_recent_only_shows_the_users_own(two_users):
    a, b = two_users
    notes.notify(a.id, "for a")
    notes.notify(b.id, "for b")
    assert [n.title for n in notes.recent(a.id)] == ["for a"]
    assert [n.title for n in notes.recent(b.id)] == ["for b"]


def test_long_titles_are_cut_to_the_column_size(two_users):
    a, _ = two_users
    notes.notify(a.id, "t" * 500)
    assert notes.recent(a.id)[0].title == "t" * 200


def test_mark_read_by_the_owner(two_users):
    a, _ = two_users
    nid = notes.notify(a.id, "hello")
    other = notes.notify(a.id, "other")
    assert notes.mark_read(a.id, nid) is True
    assert read_flags(a.id) == {nid: True, other: False}
    assert notes.unread_count(a.id) == 1
    assert notes.mark_read(a.id, nid) is False  # already read


def test_mark_read_of_another_users_notification_changes_nothing(two_users):
    a, b = two_users
    nid = notes.notify(a.id, "private to a")
    assert notes.mark_read(b.id, nid) is False
    assert read_flags(a.id) == {nid: False}
    assert notes.unread_count(a.id) == 1
    with session_scope() as session:
        assert session.get(Notification, nid).read_at is None


def test_mark_read_of_a_missing_notification_is_false(two_users):
    a, _ = two_users
    assert notes.mark_read(a.id, 987654) is False


def test_mark_all_read_only_touches_the_users_own(two_users):
    a, b = two_users
    for i in range(3):
        notes.notify(a.id, f"a{i}")
    notes.notify(b.id, "b0")
    notes.mark_read(a.id, notes.recent(a.id)[0].id)
    assert notes.mark_all_read(a.id) == 2
    assert notes.unread_count(a.id) == 0
    assert notes.unread_count(b.id) == 1
    assert notes.mark_all_read(a.id) == 0


def test_channels_receive_every_notification(two_users):
    a, _ = two_users
    rec = Recorder()
    channels.register(rec)
    nid = notes.notify(a.id, "Build finished", body="All green", kind="success", link="/jobs/7")
    assert rec.delivered == [channels.OutgoingNotification(nid, a.id, "success", "Build finished", "All green", "/jobs/7")]


def test_a_failing_channel_is_logged_but_not_fatal(two_users, caplog):
    a, _ = two_users
    broken, rec = Broken(), Recorder()
    channels.register(broken)  # first, so it fails before the working one runs
    channels.register(rec)
    with caplog.at_level(logging.ERROR, logger="services.notifications.channels"):
        nid = notes.notify(a.id, "Still delivered")
    assert broken.calls == 1
    assert [n.id for n in rec.delivered] == [nid]
    assert notes.unread_count(a.id) == 1  # the in-app copy is stored
    [record] = [r for r in caplog.records if r.name == "services.notifications.channels"]
    assert record.levelno == logging.ERROR
    assert "broken-email" in record.getMessage() and str(nid) in record.getMessage()
    assert record.exc_info and record.exc_info[0] is ConnectionError
    assert "SMTP server said no" in caplog.text


def test_fan_out_reports_failed_channels(two_users):
    channels.register(Broken())
    channels.register(Recorder())
    out = channels.OutgoingNotification(1, 1, "info", "t", "", "")
    assert channels.fan_out(out) == ["broken-email"]


def test_unregistered_channel_gets_nothing_more(two_users):
    a, _ = two_users
    rec = Recorder()
    channels.register(rec)
    notes.notify(a.id, "one")
    channels.unregister("recorder")
    notes.notify(a.id, "two")
    assert [n.title for n in rec.delivered] == ["one"]
    channels.unregister("recorder")  # unknown name: no error


def test_registering_the_same_name_replaces_the_channel(two_users):
    a, _ = two_users
    old, new = Recorder("slack"), Recorder("slack")
    channels.register(old)
    channels.register(new)
    notes.notify(a.id, "x")
    assert old.delivered == [] and len(new.delivered) == 1


def test_notification_for_a_missing_user_is_not_stored_nor_sent(db):
    rec = Recorder()
    channels.register(rec)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        notes.notify(424242, "nobody home")
    assert rec.delivered == []
    with session_scope() as session:
        assert session.exec(select(Notification)).all() == []


@pytest.mark.parametrize("field", ["kind", "link"])
def test_oversized_kind_or_link_is_refused_and_nothing_stored(make_user, field):
    user = make_user("long@example.com")
    with pytest.raises(ValueError, match="at most"):
        notes.notify(user.id, "Hi", **{field: "x" * 401})
    assert notes.recent(user.id) == []

"""The ingest session against a real SQLite database and data directory: every kind stored
once, duplicates acknowledged without a second row, malformed messages rejected while the
session goes on, frame files never orphaned; the retention purge; the Live page's view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from capture_agent import protocol
from services import runtime_settings
from services.capture import devices, ingest, live, retention
from services.capture.devices import DeviceSummary
from services.db import session_scope
from services.db.models import CaptureAudio, CaptureDevice, CaptureEvent, CaptureFrame, CaptureKeys, JobRun
from services.db.models.base import utcnow
from tests.unit.jobs_helpers import wait_for

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64)
PCM = b"\x01\x00" * 3200  # 200 ms at 16 kHz


def paired(user_id: int, name: str = "laptop") -> DeviceSummary:
    _, token = devices.pair(devices.create_pairing_code(user_id), name, "Linux")
    device = devices.authenticate(token)
    assert device is not None
    return device


def frame(seq: int, *, at: datetime | None = None, data: bytes = JPEG, image: str = "jpeg", app: str = "code",
          title: str = "main.py") -> str:
    return protocol.dump(protocol.FrameEvent(seq=seq, at=at or utcnow(), width=1280, height=800, format=image,
                                             data=data, window=protocol.WindowInfo(app=app, title=title)))


def keys(seq: int, typed: str, *, at: datetime | None = None, app: str = "term") -> str:
    strokes = [protocol.KeyStroke(ms=n, key=char) for n, char in enumerate(typed)]
    return protocol.dump(protocol.KeysEvent(seq=seq, at=at or utcnow(), keys=strokes,
                                            window=protocol.WindowInfo(app=app, title="bash")))


def audio(seq: int, *, at: datetime | None = None) -> str:
    return protocol.dump(protocol.AudioEvent(seq=seq, at=at or utcnow(), data=PCM))


def window(seq: int, app: str, *, at: datetime | None = None) -> str:
    return protocol.dump(protocol.WindowEvent(seq=seq, at=at or utcnow(), window=protocol.WindowInfo(app=app)))


def state(seq: int, paused: bool) -> str:
    return protocol.dump(protocol.StateEvent(seq=seq, at=utcnow(), paused=paused))


def rows(table) -> list:
    with session_scope() as session:
        return list(session.exec(select(table).order_by(table.seq)).all())


def device_row(device_id: int) -> CaptureDevice:
    with session_scope() as session:
        row = session.get(CaptureDevice, device_id)
        assert row is not None
        return row


def frame_files(data_dir: Path) -> list[Path]:
    return sorted(path for path in (data_dir / "capture").rglob("*") if path.is_file())


@pytest.fixture
def user(make_user):
    devices.reset_throttle()
    return make_user("owner@example.com")


@pytest.fixture
def session(user) -> ingest.IngestSession:
    connection = ingest.IngestSession(paired(user.id))
    connection.hello(protocol.dump(protocol.Hello(agent_version="1.2.3", platform="Linux-test")))
    return connection


def test_hello_is_answered_with_the_last_stored_seq_and_records_the_agent(user):
    device = paired(user.id)
    first = ingest.IngestSession(device)
    assert first.hello(protocol.dump(protocol.Hello(agent_version="1.2.3", platform="Linux-test"))) == \
        protocol.Welcome(device_id=device.id, last_seq=0)
    assert first.handle(window(7, "code")) == protocol.Ack(seq=7)

    again = ingest.IngestSession(device)  # a reconnect, with the summary taken before seq 7
    assert again.hello(protocol.dump(protocol.Hello(agent_version="1.2.4"))).last_seq == 7
    row = device_row(device.id)
    assert (row.agent_version, row.platform, row.last_seq) == ("1.2.4", "Linux-test", 7)
    assert row.last_seen_at is not None


@pytest.mark.parametrize("first", [
    window(1, "code"),
    "not json",
    json.dumps({"type": "hello"}),
    json.dumps({"type": "hello", "agent_version": "1", "protocol": protocol.PROTOCOL_VERSION + 1}),
    b'{"type": "hello", "agent_version": "1"}',
])
def test_anything_but_a_hello_of_this_protocol_first_closes_with_the_protocol_code(user, first):
    with pytest.raises(ingest.CloseSession) as closed:
        ingest.IngestSession(paired(user.id)).hello(first)
    assert closed.value.code == protocol.CLOSE_PROTOCOL


def test_each_kind_of_event_is_stored(session, user, data_dir):
    then = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    replies = [session.handle(message) for message in (
        frame(1, at=then), audio(2, at=then), keys(3, "ls -l\n", at=then), window(4, "firefox", at=then),
        state(5, True), frame(6, at=then, data=WEBP, image="webp"))]
    assert replies == [protocol.Ack(seq=seq) for seq in range(1, 7)]

    jpeg, webp = rows(CaptureFrame)
    assert (jpeg.seq, jpeg.user_id, jpeg.width, jpeg.height, jpeg.format, jpeg.bytes, jpeg.app, jpeg.title) == \
        (1, user.id, 1280, 800, "jpeg", len(JPEG), "code", "main.py")
    assert jpeg.captured_at == then
    assert jpeg.path.startswith(f"capture/{user.id}/2026-03-04/") and jpeg.path.endswith(".jpg")
    assert (data_dir / jpeg.path).read_bytes() == JPEG
    assert (data_dir / webp.path).read_bytes() == WEBP and webp.path.endswith(".webp")
    assert frame_files(data_dir) == sorted([data_dir / jpeg.path, data_dir / webp.path])

    [chunk] = rows(CaptureAudio)
    assert (chunk.seq, chunk.pcm, chunk.duration_ms, chunk.transcript, chunk.transcribed_at) == (2, PCM, 200, None,
                                                                                                None)
    [typed] = rows(CaptureKeys)
    assert (typed.seq, typed.text, typed.strokes, typed.app) == (3, "ls -l\n", 6, "term")
    focus, paused = rows(CaptureEvent)
    assert (focus.seq, focus.kind, focus.app, focus.paused) == (4, "window", "firefox", None)
    assert (paused.seq, paused.kind, paused.paused) == (5, "state", True)
    row = device_row(session.device.id)
    assert (row.last_seq, row.paused) == (6, True)


def test_a_clock_ahead_of_the_server_is_stored_as_the_receipt_time(session):
    session.handle(keys(1, "x", at=utcnow() + timedelta(days=3)))
    [row] = rows(CaptureKeys)
    assert row.captured_at <= utcnow()


def test_a_resent_event_is_acknowledged_and_stored_once(session, data_dir):
    assert session.handle(frame(1)) == protocol.Ack(seq=1)
    assert session.handle(frame(1)) == protocol.Ack(seq=1)
    assert session.handle(keys(2, "a")) == protocol.Ack(seq=2)
    assert session.handle(keys(1, "b")) == protocol.Ack(seq=1)  # older than the last stored: a duplicate too
    assert [row.seq for row in rows(CaptureFrame)] == [1]
    assert [row.text for row in rows(CaptureKeys)] == ["a"]
    assert len(frame_files(data_dir)) == 1


def test_two_connections_of_one_device_store_a_seq_once_and_leave_no_stray_file(user, data_dir):
    device = paired(user.id)
    old, new = ingest.IngestSession(device), ingest.IngestSession(device)  # both believe last_seq is 0
    assert old.handle(frame(1)) == protocol.Ack(seq=1)
    assert new.handle(frame(1)) == protocol.Ack(seq=1)  # the database's conditional UPDATE says "stored"
    assert new.last_seq == 1
    [row] = rows(CaptureFrame)
    assert frame_files(data_dir) == [data_dir / row.path]


def test_a_failed_transaction_removes_the_frame_file_and_does_not_advance(session, data_dir):
    with session_scope() as db:  # a row the unique (device_id, seq) belt refuses to duplicate
        db.add(CaptureFrame(device_id=session.device.id, user_id=session.device.user_id, seq=3, captured_at=utcnow(),
                            path="capture/elsewhere.jpg", width=1, height=1, bytes=1, format="jpeg"))
    with pytest.raises(IntegrityError):
        session.handle(frame(3))
    assert frame_files(data_dir) == []
    assert device_row(session.device.id).last_seq == 0
    assert session.last_seq == 0
    assert session.handle(frame(4)) == protocol.Ack(seq=4)


@pytest.mark.parametrize(("message", "seq"), [
    ("garbage", None),
    ("[1, 2]", None),
    (json.dumps({"type": "frame", "seq": 5}), 5),
    (json.dumps({"type": "nope", "seq": 5, "at": "2026-01-01T00:00:00Z"}), 5),
    (json.dumps({"type": "keys", "seq": 1.5, "at": "2026-01-01T00:00:00Z", "keys": [{"ms": 0, "key": "a"}]}), None),
    (json.dumps({"type": "window", "seq": 5, "at": "2026-01-01T00:00:00"}), 5),  # naive time
    (json.dumps({"type": "frame", "seq": 5, "at": "2026-01-01T00:00:00Z", "width": 10, "height": 10,
                 "format": "jpeg", "data": "@@not base64@@"}), 5),
    (json.dumps({"type": "window", "seq": 2**53, "at": "2026-01-01T00:00:00Z", "window": {}}), 2**53),
    (json.dumps({"type": "window", "seq": 2**80, "at": "2026-01-01T00:00:00Z", "window": {}}), 2**80),
    (b'{"type": "window", "seq": 5, "at": "2026-01-01T00:00:00Z", "window": {}}', None),
])
def test_malformed_messages_are_rejected_and_the_session_goes_on(session, message, seq):
    reply = session.handle(message)
    assert isinstance(reply, protocol.Rejected) and reply.seq == seq and reply.reason
    assert session.handle(window(1, "code")) == protocol.Ack(seq=1)
    assert [row.seq for row in rows(CaptureEvent)] == [1]
    assert device_row(session.device.id).last_seq == 1


@pytest.mark.parametrize("bad", [
    frame(1, data=b"<svg onload=alert(1)>"),
    frame(1, data=JPEG, image="webp"),
    protocol.dump(protocol.FrameEvent(seq=1, at=utcnow(), width=1, height=1, format="jpeg",
                                      data=JPEG * (protocol.MAX_MESSAGE_CHARS // len(JPEG)))),
    frame(1).replace('"width":1280', f'"width":{protocol.MAX_FRAME_WIDTH + 1}'),
])
def test_oversize_or_fake_frames_are_rejected_without_a_file(session, data_dir, bad):
    assert isinstance(session.handle(bad), protocol.Rejected)
    assert rows(CaptureFrame) == [] and not (data_dir / "capture").exists()


def test_a_stream_of_garbage_is_closed_and_good_messages_reset_the_count(session):
    for _ in range(ingest.MAX_MALFORMED_IN_A_ROW - 1):
        assert isinstance(session.handle("garbage"), protocol.Rejected)
    assert session.handle(window(1, "code")) == protocol.Ack(seq=1)
    for _ in range(ingest.MAX_MALFORMED_IN_A_ROW - 1):
        session.handle("garbage")
    with pytest.raises(ingest.CloseSession) as closed:
        session.handle("garbage")
    assert closed.value.code == protocol.CLOSE_PROTOCOL


def test_a_revoked_device_stores_nothing_more(session, user, data_dir):
    session.handle(window(1, "code"))
    devices.revoke(user.id, session.device.id)
    with pytest.raises(ingest.CloseSession) as closed:
        session.handle(frame(2))
    assert closed.value.code == protocol.CLOSE_REVOKED
    assert rows(CaptureFrame) == [] and frame_files(data_dir) == []
    assert device_row(session.device.id).last_seq == 1


def test_the_periodic_check_notices_a_revocation_made_elsewhere(session, user, monkeypatch):
    session.check()  # just checked at connection: nothing to do
    devices.revoke(user.id, session.device.id)
    clock = ingest.time.monotonic() + ingest.RECHECK_SECONDS
    monkeypatch.setattr(ingest.time, "monotonic", lambda: clock)
    with pytest.raises(ingest.CloseSession) as closed:
        session.check()
    assert closed.value.code == protocol.CLOSE_REVOKED


# Retention


def test_the_purge_deletes_expired_captures_and_their_files_and_keeps_the_rest(session, data_dir):
    old = utcnow() - timedelta(hours=25)
    for message in (frame(1, at=old), audio(2, at=old), keys(3, "old", at=old), window(4, "old", at=old),
                    frame(5), audio(6), keys(7, "new"), window(8, "new")):
        session.handle(message)
    [old_frame, new_frame] = rows(CaptureFrame)

    assert retention.purge_device(session.device.id) == {"frames": 1, "audio": 1, "keys": 1, "events": 1}

    assert frame_files(data_dir) == [data_dir / new_frame.path]
    assert not (data_dir / old_frame.path).parent.exists()  # the emptied day folder went too
    assert [row.seq for row in rows(CaptureFrame)] == [5]
    assert [row.seq for row in rows(CaptureAudio)] == [6]
    assert [row.text for row in rows(CaptureKeys)] == ["new"]
    assert [row.app for row in rows(CaptureEvent)] == ["new"]
    assert retention.purge_device(session.device.id) == {"frames": 0, "audio": 0, "keys": 0, "events": 0}


def test_the_purge_follows_the_retention_setting(session, data_dir):
    session.handle(frame(1, at=utcnow() - timedelta(hours=25)))
    runtime_settings.set_value(retention.RETENTION_SETTING, "48")
    assert retention.purge_device(session.device.id)["frames"] == 0
    runtime_settings.set_value(retention.RETENTION_SETTING, "2")
    assert retention.purge_device(session.device.id)["frames"] == 1
    assert frame_files(data_dir) == []


def test_the_scheduler_queues_one_purge_per_device_with_expired_captures_at_most_hourly(session, user, data_dir):
    idle = paired(user.id, "idle")  # nothing expired: no job
    session.handle(frame(1, at=utcnow() - timedelta(hours=30)))
    now = utcnow()

    assert retention.submit_due(now) == 1
    assert retention.submit_due(now) == 0  # claimed: several processes ticking queue it once
    [job] = wait_for(lambda: [row for row in _jobs() if row.status == "succeeded"], timeout=30, what="the purge job")
    assert (job.type, job.owner_id, job.queue) == ("capture_purge", user.id, "low")
    assert json.loads(job.params_json) == {"device_id": session.device.id}
    assert json.loads(job.result_json)["frames"] == 1
    assert frame_files(data_dir) == []
    assert device_row(idle.id).purge_claimed_at is None

    session.handle(frame(2, at=utcnow() - timedelta(hours=30)))
    assert retention.submit_due(now + timedelta(minutes=30)) == 0
    assert retention.submit_due(now + timedelta(minutes=61)) == 1


def _jobs() -> list[JobRun]:
    with session_scope() as session:
        return list(session.exec(select(JobRun).where(JobRun.type == retention.JOB_TYPE)).all())


# The Live page's view


def test_the_live_view_shows_only_the_users_own_captures(session, user, make_user):
    other = make_user("other@example.com")
    theirs = ingest.IngestSession(paired(other.id, "their laptop"))
    theirs.handle(frame(1, app="their app"))
    theirs.handle(keys(2, "their secret"))
    session.handle(frame(1, app="my app", title="notes.txt"))
    session.handle(keys(2, "mine"))

    mine = live.view(user.id)
    assert mine.frame is not None and (mine.frame.app, mine.frame.title) == ("my app", "notes.txt")
    assert mine.typed_tail == "mine"
    assert [device.name for device in mine.devices] == ["laptop"]
    [their_frame] = [row for row in rows(CaptureFrame) if row.user_id == other.id]
    with pytest.raises(LookupError):
        live.frame_file(user.id, their_frame.id)
    path, media_type = live.frame_file(other.id, their_frame.id)
    assert path.read_bytes() == JPEG and media_type == "image/jpeg"


def test_the_live_view_reports_window_transcript_typing_and_devices(session, user, make_user):
    now = utcnow()
    session.handle(frame(1, at=now - timedelta(minutes=3), app="code"))
    session.handle(keys(2, "a" * 150, at=now - timedelta(minutes=9, seconds=30)))
    session.handle(keys(3, "b" * 100, at=now - timedelta(seconds=20)))
    session.handle(audio(4, at=now - timedelta(seconds=10)))
    session.handle(audio(5, at=now - timedelta(seconds=5)))
    session.handle(window(6, "firefox", at=now - timedelta(seconds=1)))
    session.handle(state(7, True))
    with session_scope() as db:  # what the transcription the lead adds will write
        chunk = db.exec(select(CaptureAudio).where(CaptureAudio.seq == 4)).one()
        chunk.transcript, chunk.transcribed_at = "hello there", now
        db.add(chunk)
    offline = paired(user.id, "old desktop")
    revoked = paired(user.id, "sold laptop")
    devices.revoke(user.id, revoked.id)

    view = live.view(user.id, now=now)

    assert view.frame is not None and view.frame.app == "code"
    assert (view.app, view.title) == ("firefox", "")
    assert view.transcript == ["hello there"]
    assert view.strokes_per_minute == [150] + [0] * 8 + [100]
    assert view.typed_tail == ("a" * 150 + "b" * 100)[-live.TYPED_TAIL_CHARS:]
    assert [(d.name, d.online, d.paused) for d in view.devices] == [("laptop", True, True),
                                                                     ("old desktop", False, False)]
    assert offline.id in [d.id for d in view.devices]


def test_the_live_view_of_a_user_without_captures_is_empty(make_user):
    view = live.view(make_user("new@example.com").id)
    assert (view.frame, view.app, view.transcript, view.typed_tail, view.devices) == (None, "", [], "", [])
    assert view.strokes_per_minute == [0] * live.ACTIVITY_MINUTES

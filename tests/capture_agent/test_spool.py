"""The on-disk queue: numbering that survives restarts, trimming on acks, and the byte
bound that sacrifices old frames (then audio) but never key, window or state events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from capture_agent import protocol
from capture_agent.spool import Spool, SpoolError, discard

AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


def frame(size: int = 1000, fill: bytes = b"\xff") -> dict:
    return {"type": "frame", "at": AT, "width": 640, "height": 400, "format": "jpeg", "data": fill * size,
            "window": {"app": "code", "title": "main.py"}}


def keys(text: str = "hi") -> dict:
    return {"type": "keys", "at": AT, "keys": [{"ms": i * 10, "key": ch} for i, ch in enumerate(text)]}


def audio(size: int = 3200) -> dict:
    return {"type": "audio", "at": AT, "data": b"\x01\x00" * (size // 2)}


def state(paused: bool) -> dict:
    return {"type": "state", "at": AT, "paused": paused}


@pytest.fixture
def queue_file(tmp_path):
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def spool(queue_file):
    opened = Spool(queue_file, max_bytes=10_000_000)
    yield opened
    opened.close()


def seqs(spool: Spool) -> list[int]:
    return [item.seq for item in spool.pending(10_000)]


def test_events_get_increasing_numbers_and_wire_ready_bodies(spool):
    assert [spool.append(frame()), spool.append(keys("ok")), spool.append(state(True))] == [1, 2, 3]
    queued = spool.pending(10)
    assert [(item.seq, item.kind) for item in queued] == [(1, "frame"), (2, "keys"), (3, "state")]
    parsed = [protocol.parse_event(item.body) for item in queued]  # what the server will parse
    assert [event.seq for event in parsed] == [1, 2, 3]
    assert parsed[0].data == b"\xff" * 1000 and parsed[0].window.title == "main.py"
    assert parsed[1].text() == "ok"


def test_pending_pages_in_seq_order(spool):
    for _ in range(5):
        spool.append(keys())
    assert [item.seq for item in spool.pending(2)] == [1, 2]
    assert [item.seq for item in spool.pending(2, after=2)] == [3, 4]
    assert [item.seq for item in spool.pending(10, after=4)] == [5]


def test_an_invalid_event_is_refused_and_takes_no_number(spool):
    with pytest.raises(ValueError, match="frame"):
        spool.append({**frame(), "width": 0})
    with pytest.raises(ValueError):
        spool.append({"type": "keys", "at": AT, "keys": []})
    with pytest.raises(ValueError):
        spool.append({"type": "frame", "at": "not a time"})
    assert spool.append(keys()) == 1
    assert seqs(spool) == [1]
    assert spool.stats() == (1, len(spool.pending(1)[0].body))


def test_a_refused_events_error_names_the_field_but_never_what_was_typed(spool):
    with pytest.raises(ValueError) as caught:
        spool.append({**keys(), "keys": [{"ms": 0, "key": "hunter2" * 10}]})
    assert "keys.keys.0.key" in str(caught.value) and "hunter2" not in str(caught.value)


def test_an_event_over_the_servers_message_limit_is_refused(spool):
    with pytest.raises(ValueError, match="over the server's limit"):
        spool.append(frame(3_100_000))  # 4.1 million characters once in base64
    assert spool.stats() == (0, 0) and spool.append(keys()) == 1


def test_queue_and_numbering_survive_a_restart(queue_file):
    first = Spool(queue_file, max_bytes=10_000_000)
    for text in ("a", "b", "c"):
        first.append(keys(text))
    first.ack_through(1)
    before = first.pending(10)
    first.close()

    again = Spool(queue_file, max_bytes=10_000_000)
    try:
        assert again.pending(10) == before
        assert again.stats() == (2, sum(len(item.body) for item in before))
        assert again.append(keys("d")) == 4
    finally:
        again.close()


def test_ack_through_forgets_everything_up_to_the_seq_and_drop_forgets_one(spool):
    for _ in range(6):
        spool.append(keys())
    spool.ack_through(3)
    assert seqs(spool) == [4, 5, 6]
    spool.drop(5)
    assert seqs(spool) == [4, 6]
    spool.ack_through(10)
    assert seqs(spool) == [] and spool.stats() == (0, 0)
    assert spool.append(keys()) == 7


def test_bump_next_skips_numbers_the_server_has_seen_and_never_goes_back(spool):
    spool.append(keys())
    spool.bump_next(41)
    assert spool.append(keys()) == 42
    spool.bump_next(5)
    assert spool.append(keys()) == 43


def test_over_the_byte_bound_the_oldest_frames_go_first_and_keys_never(queue_file):
    spool = Spool(queue_file, max_bytes=60_000)
    try:
        kinds = {}
        for i in range(30):
            kinds[spool.append(frame(5_000, fill=bytes([i])))] = "frame"
            kinds[spool.append(keys(f"k{i}"))] = "keys"
        left = spool.pending(1000)
        count, size = spool.stats()
        assert size <= 60_000 and count == len(left)
        assert size == sum(len(item.body) for item in left)
        key_seqs = [item.seq for item in left if item.kind == "keys"]
        assert key_seqs == [seq for seq, kind in kinds.items() if kind == "keys"]  # all 30 kept
        frame_seqs = [item.seq for item in left if item.kind == "frame"]
        assert 0 < len(frame_seqs) < 30
        all_frames = [seq for seq, kind in kinds.items() if kind == "frame"]
        assert frame_seqs == all_frames[-len(frame_seqs):]  # the newest frames survive
        assert protocol.parse_event(left[-2].body).data == bytes([29]) * 5_000
    finally:
        spool.close()


def test_audio_goes_only_when_dropping_every_frame_is_not_enough(queue_file):
    spool = Spool(queue_file, max_bytes=45_000)  # an audio event is ~12.9 KB as JSON, the frame ~5.4 KB
    try:
        first_audio = [spool.append(audio(9_600)) for _ in range(3)]
        a_frame = spool.append(frame(4_000))
        a_state = spool.append(state(True))
        assert set(seqs(spool)) == {*first_audio, a_frame, a_state}  # still under the bound
        spool.append(audio(9_600))
        left = {item.seq: item.kind for item in spool.pending(100)}
        assert a_frame not in left  # the frame went first...
        assert first_audio[0] not in left  # ...and then the oldest audio, because that was not enough
        assert first_audio[1] in left and first_audio[2] in left
        assert left[a_state] == "state"
        assert spool.stats()[1] <= 45_000
    finally:
        spool.close()


def test_key_events_stay_even_when_they_alone_exceed_the_bound(queue_file):
    spool = Spool(queue_file, max_bytes=500)
    try:
        for i in range(20):
            spool.append(keys(f"secret-free text {i}"))
        spool.append(frame(100))
        assert [item.kind for item in spool.pending(100)] == ["keys"] * 20
    finally:
        spool.close()


def test_a_second_agent_on_the_same_queue_is_refused(spool, queue_file):
    spool.append(keys())
    with pytest.raises(SpoolError, match="in use by another llmcoder-capture"):
        Spool(queue_file, max_bytes=1000)
    assert seqs(spool) == [1]


def test_an_unreadable_queue_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "queue.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SpoolError, match="Cannot open the queue"):
        Spool(bad, max_bytes=1000)


def test_watchers_hear_about_each_append(spool):
    heard = []
    spool.watch(lambda: heard.append(spool.next_seq))
    spool.append(keys())
    spool.append(keys())
    spool.watch(None)
    spool.append(keys())
    assert heard == [2, 3]


def test_discard_removes_the_queue_and_its_journal(queue_file):
    spool = Spool(queue_file, max_bytes=1000)
    spool.append(keys())
    spool.close()
    assert discard(queue_file)
    assert list(queue_file.parent.iterdir()) == []
    assert not discard(queue_file)
    fresh = Spool(queue_file, max_bytes=1000)
    try:
        assert fresh.append(keys()) == 1  # a fresh queue starts over
    finally:
        fresh.close()

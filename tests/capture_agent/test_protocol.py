"""The wire messages both sides share: what survives a round trip and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from capture_agent import protocol

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("event", [
    protocol.FrameEvent(seq=1, at=AT, width=1280, height=800, format="jpeg", data=bytes(range(256)),
                        window=protocol.WindowInfo(app="code", title="main.py")),
    protocol.AudioEvent(seq=2, at=AT, data=b"\x01\x00" * 3200),
    protocol.KeysEvent(seq=3, at=AT, keys=[protocol.KeyStroke(ms=0, key="l"), protocol.KeyStroke(ms=90, key="s")]),
    protocol.WindowEvent(seq=4, at=AT, window=protocol.WindowInfo(app="firefox", title="Docs")),
    protocol.StateEvent(seq=5, at=AT, paused=True),
])
def test_every_event_survives_the_wire_unchanged(event):
    assert protocol.parse_event(protocol.dump(event)) == event


def test_bytes_given_to_an_event_are_kept_as_they_are_and_sent_as_base64():
    event = protocol.FrameEvent(seq=1, at=AT, width=1, height=1, format="webp", data=b"RIFF\xff\x00")
    assert event.data == b"RIFF\xff\x00" and json.loads(protocol.dump(event))["data"] == "UklGRv8A"


def valid_window(**changes) -> dict:
    return {"type": "window", "seq": 7, "at": "2026-11-22T09:30:00Z", "window": {"app": "a"}, **changes}


@pytest.mark.parametrize(("message", "seq", "reason"), [
    ("not json", None, "Not JSON"),
    ("[1, 2]", None, "JSON object"),
    (json.dumps({"type": "telepathy", "seq": 7}), 7, "type"),
    (json.dumps(valid_window(seq="7")), None, "seq"),
    (json.dumps(valid_window(seq=True)), None, "seq"),
    (json.dumps(valid_window(seq=7.0)), None, "seq"),
    (json.dumps(valid_window(seq=0)), None, "seq"),
    (json.dumps(valid_window(at=1763803800)), 7, "ISO 8601"),
    (json.dumps(valid_window(at="2026-11-22T09:30:00")), 7, "timezone"),
    (json.dumps(valid_window(extra="field")), 7, "extra"),
    (json.dumps({"type": "audio", "seq": 8, "at": "2026-11-22T09:30:00Z", "data": "AAAA"}), 8, "even number"),
    (json.dumps({"type": "frame", "seq": 9, "at": "2026-11-22T09:30:00Z", "width": 9, "height": 9,
                 "format": "jpeg", "data": "***"}), 9, "base64"),
    (json.dumps({"type": "frame", "seq": 9, "at": "2026-11-22T09:30:00Z", "width": 4000, "height": 9,
                 "format": "jpeg", "data": "AAAA"}), 9, "width"),
    (json.dumps({"type": "keys", "seq": 10, "at": "2026-11-22T09:30:00Z", "keys": []}), 10, "keys"),
    ("x" * (protocol.MAX_MESSAGE_CHARS + 1), None, "too large"),
])
def test_invalid_events_are_refused_with_a_reason_and_the_seq_when_readable(message, seq, reason):
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_event(message)
    assert refused.value.seq == seq and reason in str(refused.value)


def test_the_server_s_answers_parse_and_unknown_ones_are_refused():
    assert protocol.parse_server('{"type": "ack", "seq": 3}') == protocol.Ack(seq=3)
    assert protocol.parse_server(protocol.dump(protocol.Welcome(device_id=2, last_seq=0))).last_seq == 0
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_server('{"type": "ack", "seq": "3"}')


def test_typed_text_reads_as_typed_with_secrets_marked():
    keys = [protocol.KeyStroke(ms=n, key=k) for n, k in enumerate(
        ["g", "i", "t", "<space>", "p", "x", "<backspace>", "u", "<enter>", protocol.REDACTED_KEY, "<shift>"])]
    assert protocol.text_of(keys) == "git pu\n[redacted]"

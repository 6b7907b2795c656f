"""The capture websocket's messages, defined once: the agent sends them and the app's
ingest (services.capture) parses them with the same models.

One connection carries one device's stream, authenticated by the device token in the
handshake's ``Authorization: Bearer`` header (never in the URL, which proxies log).

1. The agent sends ``hello``; the server answers ``welcome`` with the last sequence
   number it has stored for the device.
2. The agent drops everything up to that number from its on-disk queue and sends the
   rest in order, then new events as they come. Every event carries ``seq``, strictly
   increasing per device (gaps are allowed: a full queue drops old frames).
3. The server answers each event with ``ack`` once it is stored (or was already stored:
   a resent duplicate is acknowledged, never stored twice), or with ``rejected`` when it
   cannot be parsed; both mean "delete it from the queue". The session goes on.
4. The server closes with ``CLOSE_UNAUTHORIZED`` for a bad token and ``CLOSE_REVOKED``
   when the device is revoked mid-stream; the agent stops retrying on either.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    field_validator,
)

PROTOCOL_VERSION = 1
WS_PATH = "/api/capture/ws"
PAIR_PATH = "/api/capture/pair"

CLOSE_UNAUTHORIZED = 4401  # bad or unknown token: pair again
CLOSE_REVOKED = 4403  # the device was revoked on the Devices page
CLOSE_PROTOCOL = 4400  # the first message was not a hello

MAX_MESSAGE_CHARS = 4_000_000  # a 1280 px JPEG is ~100-300 KB; base64 adds a third
MAX_FRAME_WIDTH = 1920
AUDIO_RATE = 16_000
MAX_KEY_EVENTS = 2_000
REDACTED_KEY = "<redacted>"
REDACTED_TEXT = "[redacted]"  # how text_of shows a REDACTED_KEY stroke


def _blob(value: object) -> bytes:
    """Bytes stay bytes (the agent builds events from bytes); a string is strict base64
    (what arrives over the wire)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("not valid base64") from None
    raise ValueError("expected base64 text")


Blob = Annotated[
    bytes,
    PlainValidator(_blob),
    PlainSerializer(lambda value: base64.b64encode(value).decode("ascii"), return_type=str, when_used="json"),
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowInfo(_Message):
    """The focused window when the event was captured."""

    app: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=500)


def _timestamp(value: object) -> object:
    """ISO 8601 text (or a datetime, when the agent builds an event); a bare number would be
    read as seconds since 1970, which no agent means."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("expected an ISO 8601 date and time with its UTC offset")


class _Event(_Message):
    seq: int = Field(ge=1, strict=True)  # "5", true and 1.0 are not sequence numbers
    at: Annotated[AwareDatetime, BeforeValidator(_timestamp)]


class FrameEvent(_Event):
    """One screen image, sent only when it differs from the last one sent."""

    type: Literal["frame"] = "frame"
    monitor: int = Field(default=1, ge=0, le=16)
    width: int = Field(gt=0, le=MAX_FRAME_WIDTH)
    height: int = Field(gt=0, le=4000)
    format: Literal["jpeg", "webp"]
    data: Blob = Field(min_length=1)
    window: WindowInfo = WindowInfo()


class AudioEvent(_Event):
    """About 200 ms of 16 kHz mono signed 16-bit little-endian PCM that was not silence."""

    type: Literal["audio"] = "audio"
    rate: Literal[16000] = AUDIO_RATE
    data: Blob = Field(min_length=2, max_length=AUDIO_RATE * 2 * 5)
    window: WindowInfo = WindowInfo()

    @field_validator("data")
    @classmethod
    def _whole_samples(cls, data: bytes) -> bytes:
        if len(data) % 2:
            raise ValueError("16-bit PCM has an even number of bytes")
        return data

    @property
    def duration_ms(self) -> int:
        return len(self.data) // 2 * 1000 // self.rate


class KeyStroke(_Message):
    """A key press: a printable character, or a name in angle brackets ("<enter>")."""

    ms: int = Field(ge=0, description="milliseconds after the batch's `at`")
    key: str = Field(min_length=1, max_length=32)


class KeysEvent(_Event):
    """Key presses batched on the workstation; secret-looking runs are already replaced
    by one REDACTED_KEY stroke there."""

    type: Literal["keys"] = "keys"
    keys: list[KeyStroke] = Field(min_length=1, max_length=MAX_KEY_EVENTS)
    window: WindowInfo = WindowInfo()

    def text(self) -> str:
        return text_of(self.keys)


class WindowEvent(_Event):
    """The focused window changed (only for windows that are not excluded)."""

    type: Literal["window"] = "window"
    window: WindowInfo


class StateEvent(_Event):
    """Capture paused or resumed on the workstation (hotkey or `llmcoder-capture pause`)."""

    type: Literal["state"] = "state"
    paused: bool


AgentEvent = Annotated[
    FrameEvent | AudioEvent | KeysEvent | WindowEvent | StateEvent, Field(discriminator="type")
]


class Hello(_Message):
    type: Literal["hello"] = "hello"
    protocol: int = PROTOCOL_VERSION
    agent_version: str = Field(max_length=40)
    platform: str = Field(default="", max_length=80)


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    device_id: int
    last_seq: int = Field(ge=0)


class Ack(_Message):
    """Everything up to and including ``seq`` is stored."""

    type: Literal["ack"] = "ack"
    seq: int = Field(ge=1, strict=True)


class Rejected(_Message):
    """A message the server could not use; ``seq`` is set when it could be read."""

    type: Literal["rejected"] = "rejected"
    seq: int | None = None
    reason: str = Field(max_length=500)


ServerMessage = Annotated[Welcome | Ack | Rejected, Field(discriminator="type")]

_events: TypeAdapter[AgentEvent] = TypeAdapter(AgentEvent)
_server: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


class ProtocolError(ValueError):
    """A message that is not valid; ``seq`` is its sequence number when that was readable."""

    def __init__(self, reason: str, seq: int | None = None) -> None:
        super().__init__(reason)
        self.seq = seq


def _loads(raw: str | bytes) -> dict:
    if len(raw) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"Message too large ({len(raw)} characters; the limit is {MAX_MESSAGE_CHARS}).")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"Not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("A message must be a JSON object.")
    return data


def _readable_seq(data: dict) -> int | None:
    seq = data.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1 else None


def _reason(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    return f"{where}: {first['msg']}"[:500]


def parse_event(raw: str | bytes) -> FrameEvent | AudioEvent | KeysEvent | WindowEvent | StateEvent:
    data = _loads(raw)
    try:
        return _events.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(_reason(exc), _readable_seq(data)) from None


def parse_hello(raw: str | bytes) -> Hello:
    data = _loads(raw)
    try:
        return Hello.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(_reason(exc)) from None


def parse_server(raw: str | bytes) -> Welcome | Ack | Rejected:
    data = _loads(raw)
    try:
        return _server.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(_reason(exc)) from None


def dump(message: _Message) -> str:
    return message.model_dump_json()


def text_of(keys: list[KeyStroke]) -> str:
    """What the strokes typed, for people to read: characters as typed, <enter> as a new
    line, <tab> as a tab, <backspace> removes one character, other names are dropped."""
    out: list[str] = []
    for stroke in keys:
        key = stroke.key
        if len(key) == 1:
            out.append(key)
        elif key == "<enter>":
            out.append("\n")
        elif key == "<tab>":
            out.append("\t")
        elif key == "<space>":
            out.append(" ")
        elif key == "<backspace>" and out:
            out.pop()
        elif key == REDACTED_KEY:
            out.append(REDACTED_TEXT)
    return "".join(out)


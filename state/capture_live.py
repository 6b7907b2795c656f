"""The Live page: what the user's workstations stream (latest frame, focused window,
transcript, typing), and turbo mode's switch and suggestions, polled every two seconds while
the tab is open."""

from __future__ import annotations

import re
from typing import TypedDict

import reflex as rx

from capture_agent.protocol import REDACTED_TEXT
from llmcoder_app import routes
from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.capture import live, transcription, turbo
from services.capture.live import DeviceStatus
from services.capture.turbo import SuggestionView
from state.capture_devices import status_word
from state.session import SessionState

POLL_MS = 2000


class DeviceChip(TypedDict):
    name: str
    status: str  # online | paused | offline


class ActivityBar(TypedDict):
    label: str
    strokes: int
    height: str  # of the sparkline's box, relative to the busiest minute


class TypedPart(TypedDict):
    text: str
    redacted: bool


class SuggestionRow(TypedDict):
    id: int
    kind: str  # doc | step | idea
    title: str
    body: str
    url: str
    source: str
    created: str  # ISO 8601


def _chip(device: DeviceStatus) -> DeviceChip:
    return {"name": device.name, "status": status_word(online=device.online, paused=device.paused)}


def _bars(per_minute: list[int]) -> list[ActivityBar]:
    peak = max(per_minute, default=0) or 1
    last = len(per_minute) - 1
    return [{"label": "this minute" if i == last else f"{last - i} min ago", "strokes": n,
             "height": f"{max(4, round(100 * n / peak))}%"} for i, n in enumerate(per_minute)]


def _typed_parts(text: str) -> list[TypedPart]:
    """Typed text with each redaction as its own part, so the page can mark it as one."""
    pieces = re.split(f"({re.escape(REDACTED_TEXT)})", text)
    return [{"text": piece, "redacted": piece == REDACTED_TEXT} for piece in pieces if piece]


def _suggestion(view: SuggestionView) -> SuggestionRow:
    return {"id": view.id, "kind": view.kind, "title": view.title, "body": view.body, "url": view.url,
            "source": view.source, "created": view.created_at.isoformat()}


class CaptureLiveState(SessionState):
    has_devices: bool = True  # until the first load says otherwise: no flash of the empty state
    devices: list[DeviceChip] = rx.field(default_factory=list)
    frame_url: str = ""
    frame_time: str = ""  # ISO 8601
    frame_window: str = ""
    app: str = ""
    title: str = ""
    transcript: list[str] = rx.field(default_factory=list)
    transcribing: bool = False  # an admin chose a transcriber: an empty transcript means silence
    activity: list[ActivityBar] = rx.field(default_factory=list)
    strokes: int = 0  # over the sparkline's minutes
    typed: list[TypedPart] = rx.field(default_factory=list)
    turbo_on: bool = False
    turbo_notice: str = ""
    turbo_last_run: str = ""  # ISO 8601
    suggestions: list[SuggestionRow] = rx.field(default_factory=list)
    error: str = ""

    def _reload(self, user: AuthedUser) -> None:
        seen = live.view(user.id)
        self.has_devices = bool(seen.devices)
        self.devices = [_chip(device) for device in seen.devices]
        frame = seen.frame
        self.frame_url = routes.backend_href(f"/api/capture/frames/{frame.id}") if frame else ""
        self.frame_time = frame.captured_at.isoformat() if frame else ""
        self.frame_window = " — ".join(part for part in (frame.app, frame.title) if part) if frame else ""
        self.app, self.title = seen.app, seen.title
        self.transcript = seen.transcript
        self.activity, self.strokes = _bars(seen.strokes_per_minute), sum(seen.strokes_per_minute)
        self.typed = _typed_parts(seen.typed_tail)
        self._reload_turbo(user)

    def _reload_turbo(self, user: AuthedUser) -> None:
        panel = turbo.view(user)
        self.turbo_on, self.turbo_notice = panel.enabled, panel.notice
        self.turbo_last_run = panel.last_run_at.isoformat() if panel.last_run_at else ""
        self.suggestions = [_suggestion(view) for view in panel.suggestions]

    @rx.event
    def load(self):
        user = self._require()
        self.error = ""
        try:
            self.transcribing = not isinstance(transcription.configured(), transcription.NoTranscriber)
        except ValidationError:  # a setting that names no transcriber transcribes nothing
            self.transcribing = False
        self._reload(user)

    @rx.event
    def poll(self, _tick: str = ""):
        self._reload(self._require())

    @rx.event
    def switch_turbo(self, on: bool):
        user = self._require()
        self.error = ""
        turbo.set_enabled(user, bool(on))
        self._reload_turbo(user)

    @rx.event
    def dismiss(self, suggestion_id: int):
        user = self._require()
        self.error = ""
        try:
            turbo.dismiss(user, int(suggestion_id))
        except ValidationError as exc:
            self.error = str(exc)
        self._reload_turbo(user)

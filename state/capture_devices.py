"""The Devices page: one-time pairing codes for the capture agent, and the user's paired
workstations (polled, so one that pairs while the page is open appears without a reload)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import reflex as rx

from llmcoder_app import routes
from services.auth.errors import ValidationError
from services.capture import devices, live
from services.capture.devices import DeviceSummary
from services.db.models.base import utcnow
from state.formatting import when
from state.session import SessionState

POLL_MS = 3000


class DeviceRow(TypedDict):
    id: int
    name: str
    platform: str
    agent_version: str
    paired: str
    last_seen: str  # ISO 8601, for the browser's "x minutes ago"; "" when never seen
    status: str  # online | paused | offline | revoked


def status_word(*, online: bool, paused: bool, revoked: bool = False) -> str:
    """A device's badge (here and on the Live page): revoked, offline, paused or online."""
    if revoked:
        return "revoked"
    if not online:
        return "offline"
    return "paused" if paused else "online"


def _status(device: DeviceSummary) -> str:
    return status_word(online=live.is_online(device.last_seen_at, utcnow()), paused=device.paused,
                       revoked=device.revoked)


def _row(device: DeviceSummary) -> DeviceRow:
    return {"id": device.id, "name": device.name, "platform": device.platform,
            "agent_version": device.agent_version or "-", "paired": when(device.created_at),
            "last_seen": device.last_seen_at.isoformat() if device.last_seen_at else "", "status": _status(device)}


class CaptureDevicesState(SessionState):
    devices: list[DeviceRow] = rx.field(default_factory=list)
    code: str = ""
    code_expires: str = ""  # ISO 8601, counted down in the browser
    server_url: str = ""
    error: str = ""
    notice: str = ""
    _code_made_at: datetime | None = None

    @rx.var
    def commands(self) -> str:
        """What to run on the workstation with the code on screen."""
        return (f"pip install ./capture_agent\n"
                f"llmcoder-capture pair --server {self.server_url} --code {self.code}\n"
                f"llmcoder-capture run")

    def _reload(self, user_id: int) -> None:
        found = devices.list_devices(user_id)
        self.devices = [_row(device) for device in found]
        paired = [d for d in found if self._code_made_at is not None and d.created_at >= self._code_made_at]
        if paired and self.code:
            # A device paired since the code was made, almost surely with it: a used code is dead, so it goes.
            self.code, self.code_expires, self._code_made_at = "", "", None
            self.notice = f"{paired[-1].name} is paired: start capturing with “llmcoder-capture run” on it."

    @rx.event
    def load(self):
        """Keeps a code that is still valid: a click on "Pair" can reach the server before the
        page's load does, and coming back to the page should not lose the code either."""
        user = self._require()
        self.error = self.notice = ""
        if self._code_made_at is None or self._code_made_at + devices.CODE_LIFETIME <= utcnow():
            self.code = self.code_expires = ""
            self._code_made_at = None
        self.server_url = routes.backend_url("")
        self._reload(user.id)

    @rx.event
    def refresh(self, _tick: str = ""):
        self._reload(self._require().id)

    @rx.event
    def create_code(self):
        user = self._require()
        self.error = self.notice = ""
        self._code_made_at = utcnow()
        self.code = devices.create_pairing_code(user.id)
        self.code_expires = (self._code_made_at + devices.CODE_LIFETIME).isoformat()

    @rx.event
    def revoke(self, device_id: int):
        user = self._require()
        self.error = self.notice = ""
        try:
            devices.revoke(user.id, int(device_id))
        except ValidationError as exc:
            self.error = str(exc)
        else:
            self.notice = "Device revoked: its token no longer works and its connection was closed."
        self._reload(user.id)

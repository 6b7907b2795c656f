"""Paired workstations: one-time pairing codes, device tokens, revocation.

A code is created on the Devices page and typed into `llmcoder-capture pair`; redeeming it
creates the device and returns its token, once. Codes and tokens are stored as sha256
digests only. Revoking a device closes its live connections in this process at once
(`on_revoke`); the websocket loop of every other process re-checks `is_active` within
seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import select

from services.auth import tokens
from services.auth.errors import AuthError, ValidationError
from services.db import session_scope
from services.db.models import CaptureDevice, CapturePairing, User
from services.db.models.base import utcnow

TOKEN_PREFIX = "llmd_"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read off a screen, typed by hand
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=10)
PAIR_ATTEMPTS_PER_MINUTE = 10
INVALID_CODE = "This pairing code is not valid or has expired. Create a new one on the Devices page."


class PairingRefused(AuthError):
    """The code is unknown, used or expired (one message for all: it reveals nothing)."""

    def __init__(self) -> None:
        super().__init__(INVALID_CODE)


class TooManyAttempts(AuthError):
    def __init__(self) -> None:
        super().__init__("Too many pairing attempts; wait a minute.")


@dataclass(frozen=True)
class DeviceSummary:
    id: int
    user_id: int
    name: str
    platform: str
    agent_version: str
    token_prefix: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked: bool
    paused: bool
    last_seq: int


def _summary(row: CaptureDevice) -> DeviceSummary:
    assert row.id is not None
    return DeviceSummary(
        id=row.id, user_id=row.user_id, name=row.name, platform=row.platform, agent_version=row.agent_version,
        token_prefix=row.token_prefix, created_at=row.created_at, last_seen_at=row.last_seen_at,
        revoked=row.revoked_at is not None, paused=row.paused, last_seq=row.last_seq,
    )


def normalise_code(code: str) -> str:
    """'abcd-efgh', 'ABCD EFGH' and 'ABCDEFGH' are the same code."""
    return "".join(code.split()).replace("-", "").upper()


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def create_pairing_code(user_id: int) -> str:
    """A fresh single-use code for the user, as shown on the Devices page (XXXX-XXXX)."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = utcnow()
    with session_scope() as session:
        session.add(CapturePairing(user_id=user_id, code_hash=tokens.digest(code), created_at=now,
                                   expires_at=now + CODE_LIFETIME))
    return display_code(code)


class _Throttle:
    """At most `limit` calls per key in any minute, in this process (pairing codes are 40 random
    bits: this turns guessing one into centuries of tries from one address)."""

    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        self.limit = limit
        self.window = window_seconds
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            calls = self._calls[key]
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                return False
            calls.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


_pair_throttle = _Throttle(PAIR_ATTEMPTS_PER_MINUTE)


def reset_throttle() -> None:
    """Forget past attempts (tests start each server with a clean slate)."""
    _pair_throttle.clear()


def pair(code: str, name: str, platform: str, *, client: str = "") -> tuple[int, str]:
    """Redeems a code: creates the device and returns (device id, token). The token is
    never shown again. Two racing redemptions of one code: the conditional UPDATE lets
    exactly one through."""
    if not _pair_throttle.allow(client):
        raise TooManyAttempts()
    name = " ".join(name.split())[:100]
    if not name:
        raise ValidationError("Name the device (its host name, for example).")
    code = normalise_code(code)
    if len(code) != CODE_LENGTH or not set(code) <= set(CODE_ALPHABET):
        raise PairingRefused()
    token = tokens.new_token(TOKEN_PREFIX)
    now = utcnow()
    code_hash = tokens.digest(code)
    with session_scope() as session:
        claimed = session.exec(update(CapturePairing).where(  # type: ignore[call-overload]
            CapturePairing.code_hash == code_hash, CapturePairing.used_at == None,  # noqa: E711
            CapturePairing.expires_at > now).values(used_at=now)).rowcount
        if not claimed:
            raise PairingRefused()
        pairing = session.exec(select(CapturePairing).where(CapturePairing.code_hash == code_hash)).one()
        owner = session.get(User, pairing.user_id)
        if owner is None or not owner.is_active:
            raise PairingRefused()
        device = CaptureDevice(user_id=pairing.user_id, name=name, platform=platform.strip()[:200],
                               token_prefix=token[:12], token_hash=tokens.digest(token), created_at=now)
        session.add(device)
        session.flush()
        pairing.device_id = device.id
        session.add(pairing)
        assert device.id is not None
        return device.id, token


def list_devices(user_id: int) -> list[DeviceSummary]:
    with session_scope() as session:
        rows = session.exec(select(CaptureDevice).where(CaptureDevice.user_id == user_id)
                            .order_by(CaptureDevice.created_at)).all()
        return [_summary(row) for row in rows]


def authenticate(token: str | None) -> DeviceSummary | None:
    """The device a token belongs to; None when unknown, revoked, or its owner is deactivated."""
    with session_scope() as session:
        found = tokens.live_row(session, CaptureDevice, token, TOKEN_PREFIX)
        return _summary(found[0]) if found else None


def is_active(device_id: int) -> bool:
    """Whether the device may still stream: not revoked, and its owner not deactivated."""
    with session_scope() as session:
        row = session.get(CaptureDevice, device_id)
        if row is None or row.revoked_at is not None:
            return False
        owner = session.get(User, row.user_id)
        return owner is not None and owner.is_active


# Live connections in this process: device id -> callbacks that close them.
_live: dict[int, list[Callable[[], None]]] = defaultdict(list)
_live_lock = threading.Lock()


def on_revoke(device_id: int, close: Callable[[], None]) -> Callable[[], None]:
    """Registers a live connection's `close` (called from whichever thread revokes; it must
    be thread-safe); returns the function that unregisters it when the connection ends."""
    with _live_lock:
        _live[device_id].append(close)

    def unregister() -> None:
        with _live_lock:
            callbacks = _live.get(device_id, [])
            if close in callbacks:
                callbacks.remove(close)
            if not callbacks:
                _live.pop(device_id, None)

    return unregister


def revoke(user_id: int, device_id: int) -> None:
    """Revokes one of the user's devices and cuts off its live connections in this process."""
    tokens.revoke_own(CaptureDevice, device_id, user_id, "That device does not exist.")
    with _live_lock:
        callbacks = list(_live.get(device_id, []))
    for close in callbacks:
        close()

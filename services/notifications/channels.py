"""Delivery channels. The in-app channel is the table itself; email or Slack
channels implement the same Protocol and are registered by their features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingNotification:
    id: int
    user_id: int
    kind: str
    title: str
    body: str
    link: str


class NotificationChannel(Protocol):
    name: str

    def deliver(self, notification: OutgoingNotification) -> None:
        """Send it; raise on failure (the in-app copy is already stored)."""


_channels: dict[str, NotificationChannel] = {}


def register(channel: NotificationChannel) -> None:
    _channels[channel.name] = channel


def unregister(name: str) -> None:
    _channels.pop(name, None)


def fan_out(notification: OutgoingNotification) -> list[str]:
    """Deliver to every extra channel; a failing channel is logged, never fatal."""
    failed = []
    for channel in list(_channels.values()):
        try:
            channel.deliver(notification)
        except Exception:
            log.exception("Notification channel %s failed for notification %s", channel.name, notification.id)
            failed.append(channel.name)
    return failed

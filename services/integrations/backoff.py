"""Waiting out a vendor that asks us to slow down (429) or is briefly failing (5xx).

Clients raise `RetryLater` from inside the call they hand to `Backoff.run`; the wait honours
the vendor's Retry-After, else doubles from `start`, and gives up once `max_wait` seconds of
waiting in total would be passed, or after `attempts` tries (a vendor answering "Retry-After: 0"
forever must not hold a job). `sleep` is injectable so tests do not wait for real.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from services.integrations.base import IntegrationError, IntegrationRateLimited

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryLater(Exception):
    """The vendor answered 429 or 5xx; `retry_after` is its hint in seconds, if any."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class Backoff:
    def __init__(self, vendor: str, *, max_wait: float = 60.0, start: float = 1.0, attempts: int = 8,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.vendor = vendor
        self.max_wait = max_wait
        self.start = start
        self.attempts = attempts
        self.sleep = sleep or time.sleep

    def run(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, retried after each RetryLater it raises until the waiting budget is spent."""
        waited, attempt = 0.0, 0
        while True:
            try:
                return call()
            except RetryLater as exc:
                delay = exc.retry_after if exc.retry_after is not None else self.start * 2**attempt
                if waited + delay > self.max_wait or attempt + 1 >= self.attempts:
                    if exc.status == 429:
                        raise IntegrationRateLimited(
                            f"{self.vendor} is rate-limiting requests while {what} (it asks for {delay:g} s "
                            f"more after {waited:g} s of waiting); try again later", retry_after=delay) from exc
                    raise IntegrationError(f"{self.vendor} kept failing (HTTP {exc.status}) while {what}; "
                                           "try again later") from exc
                log.info("%s answered HTTP %s while %s; retrying in %g s", self.vendor, exc.status, what, delay)
                self.sleep(delay)
                waited += delay
                attempt += 1


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_transient(status: int) -> bool:
    """Statuses worth retrying: rate limits and server-side failures."""
    return status == 429 or status >= 500

"""Keeps every known secret out of every log line.

A log-record factory replaces secrets in the formatted message, in formatted
tracebacks and in stack info, so it covers every logger and handler in the
process, including third-party ones, without touching their configuration.
"""

from __future__ import annotations

import logging
import threading

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 6  # shorter values would blank out ordinary words

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register(secret: str | None) -> None:
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    if not text or not _secrets:
        return text
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingLogRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        try:
            return redact(super().getMessage())
        except Exception:
            # A broken call such as log.info("key", secret): logging's handleError
            # then prints msg and args verbatim to stderr, so redact them first.
            try:
                self.args = redact(repr(self.args)) if self.args else self.args
                self.msg = redact(str(self.msg))
            except Exception:
                self.msg, self.args = "<unprintable log message>", None
            raise

    @property
    def exc_text(self) -> str | None:
        return self.__dict__.get("_exc_text")

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self.__dict__["_exc_text"] = redact(value) if value else value

    @property
    def stack_info(self) -> str | None:
        return self.__dict__.get("_stack_info")

    @stack_info.setter
    def stack_info(self, value: str | None) -> None:
        self.__dict__["_stack_info"] = redact(value) if value else value


def install() -> None:
    """Idempotent; call before anything logs."""
    global _installed
    if not _installed:
        logging.setLogRecordFactory(RedactingLogRecord)
        _installed = True

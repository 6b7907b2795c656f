"""Mail servers for the IMAP/SMTP tests: one real dovecot per test module, one SMTP server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail_servers import Dovecot, Smtp, dovecot, smtp_server


@pytest.fixture(scope="module")
def imap() -> Iterator[Dovecot]:
    with dovecot() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with smtp_server() as server:
        yield server

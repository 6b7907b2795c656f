"""Real mail servers for tests: Debian's dovecot (IMAP) in a throwaway directory, and
aiosmtpd (SMTP) in a thread. scripts/test installs dovecot-imapd; the recipe is the one in
../shared/docs/ENVIRONMENT.md."""

from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD = "secret pass 1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


CONFIG = """protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={dir}/mail/%u
}}
"""


@dataclass
class Dovecot:
    directory: Path
    port: int
    users: tuple[str, ...]

    def append(self, user: str, raw: bytes, *, folder: str = "INBOX", seen: bool = False) -> None:
        """Delivers a message as a mail server would (IMAP APPEND as the user)."""
        conn = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            conn.login(user, PASSWORD)
            if folder != "INBOX":
                conn.create(f'"{folder}"')  # "already exists" when it does: fine
            status, data = conn.append(f'"{folder}"', "(\\Seen)" if seen else None, None, raw)
            assert status == "OK", data
        finally:
            conn.logout()

    def reset_mailbox(self, user: str) -> None:
        """Deletes the user's mail; the next APPEND starts a folder with a new UIDVALIDITY."""
        shutil.rmtree(self.directory / "mail" / user, ignore_errors=True)


@contextmanager
def dovecot(users: tuple[str, ...] = ("alice", "bob")) -> Iterator[Dovecot]:
    if shutil.which("dovecot") is None:
        raise RuntimeError("dovecot is not installed: run scripts/test (apt-get install dovecot-imapd)")
    directory = Path(tempfile.mkdtemp(prefix="llmcoder-dovecot-"))
    directory.chmod(0o755)
    port = free_port()
    (directory / "users").write_text("".join(f"{user}:{{PLAIN}}{PASSWORD}\n" for user in users))
    (directory / "mail").mkdir()
    shutil.chown(directory / "mail", "nobody", "nogroup")
    config = directory / "dovecot.conf"
    config.write_text(CONFIG.format(dir=directory, port=port))
    # Output to files, not pipes: the daemon keeps inherited pipes open, and run() would wait.
    with (directory / "start.log").open("wb") as log:
        subprocess.run(["dovecot", "-c", str(config)], check=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port)
        yield Dovecot(directory, port, users)
    finally:
        subprocess.run(["dovecot", "-c", str(config), "stop"], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Smtp:
    port: int
    received: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, server: Smtp) -> None:
        self.server = server

    async def handle_DATA(self, _server, _session, envelope) -> str:
        message = message_from_bytes(envelope.original_content, policy=default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.server.received.append(message)
        return "250 OK"


def _authenticator(server: Smtp):
    def check(_server, _session, _envelope, mechanism, data) -> AuthResult:
        if isinstance(data, LoginPassword) and data.password.decode() == PASSWORD:
            server.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
    return check


@contextmanager
def smtp_server() -> Iterator[Smtp]:
    """An SMTP server that takes AUTH PLAIN/LOGIN without TLS (localhost only) and keeps
    every message it receives."""
    server = Smtp(free_port())
    controller = Controller(_Handler(server), hostname="127.0.0.1", port=server.port,
                            authenticator=_authenticator(server), auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()

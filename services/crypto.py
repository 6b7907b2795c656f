"""Encryption of secrets at rest.

The key comes from ``LLMCODER_SECRET_KEY`` or, when unset, from a key file in
the data directory that is generated once with mode 0600. Any string works as
the environment key: it is stretched with HKDF into a Fernet key.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.settings import get_settings

KEY_FILE_NAME = "secret.key"


class SecretDecryptError(RuntimeError):
    """The stored value was encrypted with another key."""


def _derive(material: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"llmcoder-v1", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(material.encode("utf-8")))


def key_file_path() -> Path:
    return get_settings().data_dir / KEY_FILE_NAME


class SecretKeyError(SecretDecryptError):
    """The key file exists but holds no key."""


def _read_key_file(path: Path) -> str:
    material = path.read_text(encoding="utf-8").strip()
    if not material:
        raise SecretKeyError(
            f"The key file {path} is empty. Restore data/secret.key from a backup or set "
            "LLMCODER_SECRET_KEY; delete the empty file only if no secret was ever stored."
        )
    return material


@lru_cache(maxsize=1)
def _key_material() -> str:
    configured = get_settings().secret_key
    if configured:
        return configured
    path = key_file_path()
    if path.exists():
        return _read_key_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    material = secrets.token_urlsafe(48)
    # Written to a private temporary file and then linked into place: the key
    # file appears complete or not at all, and os.link fails if another
    # process got there first, so two processes cannot end up with two keys.
    tmp = path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(material)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)
        except OSError:
            # A file system without hard links: exclusive create is the fallback.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _read_key_file(path)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(material)
    finally:
        tmp.unlink(missing_ok=True)
    return material


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    return Fernet(_derive(_key_material()))


def reset_key_cache() -> None:
    _key_material.cache_clear()
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SecretDecryptError(
            "A stored secret cannot be decrypted: the secret key changed. "
            "Restore LLMCODER_SECRET_KEY or the data/secret.key file, or set the value again."
        ) from exc


def decrypt_fresh(token: str, max_age_seconds: int) -> str | None:
    """For short-lived sealed values (sign-in tickets): None when forged, foreign or too old."""
    try:
        return _fernet().decrypt(token.encode("ascii"), ttl=max_age_seconds).decode("utf-8")
    except (InvalidToken, UnicodeError):
        return None


def signing_key() -> bytes:
    """Key for HMAC-signed links (downloads); separate from the Fernet key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"llmcoder-v1", info=b"links")
    return hkdf.derive(_key_material().encode("utf-8"))


def mask(secret: str) -> str:
    """What the UI and CLI may show of a secret: its last four characters at most."""
    if not secret:
        return ""
    tail = secret[-4:] if len(secret) >= 12 else ""
    return f"••••{tail}"

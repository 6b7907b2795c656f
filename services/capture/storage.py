"""Frame files under <data_dir>/capture/<user id>/<UTC date>/.

Names are built from ids and a random suffix only, never from anything the agent sends, so
a device cannot write outside its owner's folder or overwrite another frame (two connections
of one device racing on the same seq write two files; the loser's is removed).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from services.settings import get_settings

CAPTURE_DIR = "capture"
_SUFFIXES = {"jpeg": "jpg", "webp": "webp"}
MEDIA_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp"}


def write_frame(user_id: int, device_id: int, seq: int, captured_at: datetime, image_format: str,
                data: bytes) -> str:
    """Writes the image and returns its path relative to the data directory (what the row keeps)."""
    relative = (Path(CAPTURE_DIR) / str(user_id) / captured_at.strftime("%Y-%m-%d")
                / f"{device_id}-{seq}-{secrets.token_hex(4)}.{_SUFFIXES[image_format]}")
    target = get_settings().data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.write_bytes(data)
    except FileNotFoundError:  # the purge removed the emptied folder in between
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return relative.as_posix()


def absolute(relative: str) -> Path:
    """The file of a stored row; refuses anything outside the capture folder."""
    root = (get_settings().data_dir / CAPTURE_DIR).resolve()
    path = (get_settings().data_dir / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"{relative!r} is not a capture file.")
    return path


def remove(relative: str) -> None:
    absolute(relative).unlink(missing_ok=True)


def remove_empty_folders(user_id: int) -> None:
    """Drops the user's date folders the purge emptied (`write_frame` recreates one it needs)."""
    user_dir = get_settings().data_dir / CAPTURE_DIR / str(user_id)
    if not user_dir.is_dir():
        return
    for folder in user_dir.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            try:
                folder.rmdir()
            except OSError:
                continue  # a frame arrived between the check and the removal

"""The agent's settings and the files it keeps: config.json, the queue, status.json (what
`llmcoder-capture status` reads from a running agent) and the pause flag.

config.json holds the device token, so it is written atomically (a crash never leaves half
a file) and readable by its owner only (0600 in a 0700 directory).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from capture_agent.protocol import MAX_FRAME_WIDTH

APP_NAME = "llmcoder-capture"
HOME_ENV = "LLMCODER_CAPTURE_HOME"  # one directory for config and state (tests, portable installs)
MIN_FPS, MAX_FPS = 0.2, 5.0


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    state_dir: Path

    @classmethod
    def default(cls) -> Paths:
        home = os.environ.get(HOME_ENV)
        if home:
            return cls(Path(home), Path(home))
        return cls(Path(platformdirs.user_config_dir(APP_NAME)), Path(platformdirs.user_state_dir(APP_NAME)))

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def queue_file(self) -> Path:
        return self.state_dir / "queue.sqlite3"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def pause_flag(self) -> Path:
        return self.state_dir / "paused"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    server: str = ""
    token: str = Field(default="", repr=False)  # shown once at pairing by the server, never printed here
    device_id: int | None = None
    name: str = ""
    fps: float = 1.0
    monitor: int = Field(default=1, ge=0, le=16)
    max_width: int = Field(default=1280, ge=160, le=MAX_FRAME_WIDTH)
    image_format: Literal["jpeg", "webp"] = "jpeg"
    audio: bool = True
    keys: bool = True
    excluded_apps: list[str] = []
    excluded_titles: list[str] = []
    pause_hotkey: str = "<ctrl>+<alt>+p"
    queue_max_mb: int = Field(default=200, ge=1)

    @field_validator("server")
    @classmethod
    def _server_address(cls, server: str) -> str:
        return normalize_server(server) if server else ""

    @field_validator("fps")
    @classmethod
    def _clamp_fps(cls, fps: float) -> float:
        return min(max(fps, MIN_FPS), MAX_FPS)

    @property
    def paired(self) -> bool:
        return bool(self.server and self.token and self.device_id)


def normalize_server(server: str) -> str:
    """The server's base address without a trailing slash; only http(s), no query."""
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"the server address must look like https://llmcoder.example.com, not {server!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class AgentStatus(BaseModel):
    """What a running agent publishes in status.json every few seconds."""

    pid: int
    running: bool
    updated_at: AwareDatetime
    connected: bool = False
    last_ack_seq: int = 0
    pending_events: int = 0
    pending_bytes: int = 0
    paused: bool = False
    last_error: str = ""
    refused: str = ""
    problems: list[str] = []  # sources that could not start


def read_status(paths: Paths) -> AgentStatus | None:
    """The last status a running agent wrote, or None when there is none worth reading."""
    try:
        return AgentStatus.model_validate_json(paths.status_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # never written, or torn by hand: no status to show
        return None


def ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def load(paths: Paths) -> Config:
    """The saved config, or the defaults when nothing was saved yet."""
    path = paths.config_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    try:
        return Config.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"{path} is not a valid config ({problems}). Fix it, or delete it and pair again.") from None


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def save(config: Config, paths: Paths) -> None:
    ensure_private_dir(paths.config_dir)
    write_private_json(paths.config_file, config.model_dump(mode="json"))


def write_private_json(path: Path, data: dict) -> None:
    """Replace ``path`` in one step with a 0600 file, so readers see the old or the new
    content and never a torn one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

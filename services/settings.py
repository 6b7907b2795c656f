"""Bootstrap settings: what a process needs before it can reach the database.

Everything an admin may change at run time lives in the database instead
(see ``services.runtime_settings``); only where to find the database, Redis,
the data directory, the secret key and the ports are read from the
environment or a ``.env`` file here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class BootstrapSettings(BaseSettings):
    """Process-level settings; changing them needs a restart."""

    model_config = SettingsConfigDict(
        env_prefix="LLMCODER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(default=REPO_ROOT / "data")
    # Plain names (DATABASE_URL, REDIS_URL) are what operators expect; the
    # prefixed forms work too.
    database_url: str = Field(default="", validation_alias=AliasChoices("DATABASE_URL", "LLMCODER_DATABASE_URL"))
    redis_url: str = Field(default="", validation_alias=AliasChoices("REDIS_URL", "LLMCODER_REDIS_URL"))
    secret_key: str = Field(default="", validation_alias="LLMCODER_SECRET_KEY")
    # The address users open, e.g. http://llmcoder.lan:3000 for a team (prod mode, one port).
    public_url: str = ""
    frontend_port: int = 3000
    backend_port: int = 8000
    # How many RQ worker processes the run command starts when Redis is there.
    workers: int = 2
    # Reflex backend processes in prod mode when Redis holds the UI state.
    web_workers: int = 2
    # Threads for the in-process runner used when there is no Redis.
    inprocess_threads: int = 2
    session_days: int = 14
    log_level: str = "INFO"
    # A local all-MiniLM-L6-v2 folder; unset means <data_dir>/models, then ../shared/models,
    # then fastembed's download (services.search.embedder).
    embedding_model_path: str = ""
    # A Qdrant server; unset means an in-memory index per process (services.search.store).
    qdrant_url: str = Field(default="", validation_alias=AliasChoices("QDRANT_URL", "LLMCODER_QDRANT_URL"))
    # Vendor endpoints for the inbox; empty means the vendor's own. Set for a proxy, or to the
    # tests' fake servers.
    gmail_api_url: str = ""
    google_oauth_url: str = ""
    graph_api_url: str = ""
    microsoft_oauth_url: str = ""
    slack_api_url: str = ""

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'llmcoder.db'}"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"


@lru_cache(maxsize=1)
def get_settings() -> BootstrapSettings:
    settings = BootstrapSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def reset_settings_cache() -> None:
    """Tests and the CLI change the environment and need a fresh read."""
    get_settings.cache_clear()

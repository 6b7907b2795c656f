"""Reflex configuration; ports and Redis come from LLMCoder's bootstrap settings."""

import reflex as rx

from services.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="llmcoder_app",
    frontend_port=_settings.frontend_port,
    backend_port=_settings.backend_port,
    # With LLMCODER_PUBLIC_URL the browser reaches the one port by that name; else localhost.
    api_url=_settings.public_url.rstrip("/") or f"http://localhost:{_settings.backend_port}",
    deploy_url=_settings.public_url.rstrip("/") or f"http://localhost:{_settings.frontend_port}",
    # Reflex keeps per-tab state in Redis when there is one, so several
    # backend processes can serve the same users.
    redis_url=_settings.redis_url or None,
    state_manager_mode="redis" if _settings.redis_url else "disk",
    # The database is services.db's (engine, Alembic migrations); Reflex's
    # own db integration stays off so there is one source of truth.
    db_url=None,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)

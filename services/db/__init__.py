"""Database access: engine, session scope, models and migrations."""

from services.db.engine import get_engine, reset_engine, session_scope

__all__ = ["get_engine", "reset_engine", "session_scope"]

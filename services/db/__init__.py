"""Database access: engine, session scope, models and migrations."""

from services.db.engine import connection_scope, get_engine, reset_engine, session_scope

__all__ = ["connection_scope", "get_engine", "reset_engine", "session_scope"]

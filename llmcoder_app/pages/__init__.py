"""One module per page; importing them registers the routes."""

from llmcoder_app.pages import account, admin_settings, admin_status, admin_users, auth, home, jobs, notifications

__all__ = ["account", "admin_settings", "admin_status", "admin_users", "auth", "home", "jobs", "notifications"]

"""Notifications: stored in-app, delivered through pluggable channels."""

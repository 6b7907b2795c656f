"""Accounts: users, password hashing, sessions, roles and personal tokens."""

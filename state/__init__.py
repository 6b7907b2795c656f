"""Reflex states: thin; check the user and role, call a service, assign vars."""

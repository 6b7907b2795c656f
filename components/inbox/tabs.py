"""Tabs across the inbox's pages (Messages, Accounts)."""

from __future__ import annotations

import reflex as rx

from components.common.tabs import route_tabs
from llmcoder_app import routes


def inbox_tabs() -> rx.Component:
    return route_tabs(routes.INBOX_TABS, "inbox")

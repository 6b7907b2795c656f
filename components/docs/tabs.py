"""Tabs across Doc Q&A's pages (Ask, Sources)."""

from __future__ import annotations

import reflex as rx

from components.common.tabs import route_tabs
from llmcoder_app import routes


def docs_tabs() -> rx.Component:
    return route_tabs(routes.DOCS_TABS, "docs")

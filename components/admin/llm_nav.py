"""Tabs across the LLM admin portal's pages."""

from __future__ import annotations

import reflex as rx

from components.common.tabs import route_tabs
from llmcoder_app import routes


def llm_tabs() -> rx.Component:
    return route_tabs(routes.LLM_TABS, "llm")

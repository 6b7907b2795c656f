"""Tabs across the JIRA pages (Board, New ticket, Tracked, Settings), and what they show before
JIRA is connected."""

from __future__ import annotations

import reflex as rx

from components.common.tabs import route_tabs
from llmcoder_app import routes


def jira_tabs() -> rx.Component:
    return route_tabs(routes.JIRA_TABS, "jira")


def not_connected() -> rx.Component:
    return rx.callout(
        rx.text("Connect your JIRA first: ", rx.link("JIRA settings", href=routes.JIRA_SETTINGS), "."),
        icon="plug", id="jira-not-connected", width="100%",
    )

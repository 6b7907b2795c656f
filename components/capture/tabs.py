"""Tabs across the capture pages (Live, Devices), and the relative times they show."""

from __future__ import annotations

import reflex as rx

from components.common.tabs import route_tabs
from llmcoder_app import routes

MUTED = rx.color("gray", 11)


def capture_tabs() -> rx.Component:
    return route_tabs(routes.CAPTURE_TABS, "capture")


def relative_time(iso: rx.Var, **props) -> rx.Component:
    """'2 minutes ago', kept current in the browser; the exact time on hover."""
    return rx.moment(date=iso, from_now=True, interval=10_000, with_title=True, title_format="YYYY-MM-DD HH:mm:ss",
                     **props)

"""The app shell every signed-in page is wrapped in: sidebar, top bar, bell, user menu."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from llmcoder_app import routes
from state.auth import AuthState
from state.shell import ShellState

BELL_POLL_MS = 5000


def _nav_link(item: routes.NavItem) -> rx.Component:
    path = rx.State.router.page.path
    active = (path == item.route) | path.startswith(item.area) if item.area else path == item.route
    link = rx.link(
        rx.hstack(rx.icon(item.icon, size=18), rx.text(item.label, size="3"), spacing="3", align="center"),
        href=item.route,
        id=f"nav-{item.label.lower()}",
        underline="none",
        color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
        background=rx.cond(active, rx.color("accent", 3), "transparent"),
        padding="0.45rem 0.75rem",
        border_radius="var(--radius-2)",
        width="100%",
    )
    return rx.cond(ShellState.is_admin, link, rx.fragment()) if item.admin_only else link


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.icon("bot", size=24, color=rx.color("accent", 10)), rx.heading("LLMCoder", size="5"),
                  align="center", spacing="2", padding_bottom="1rem"),
        *[_nav_link(item) for item in routes.NAV if not item.admin_only],
        rx.text("Admin", size="1", color=rx.color("gray", 10), padding_top="1rem",
                display=rx.cond(ShellState.is_admin, "block", "none")),
        *[_nav_link(item) for item in routes.NAV if item.admin_only],
        width="220px",
        min_width="220px",
        height="100vh",
        padding="1rem",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        position="sticky",
        top="0",
        spacing="1",
        id="sidebar",
    )


def _notification_item(item: dict) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(item["title"], weight=rx.cond(item["read"] == "", "bold", "regular"), size="2"),
            rx.text(item["created"], size="1", color=rx.color("gray", 10)),
            spacing="0",
            align="start",
        ),
        rx.spacer(),
        rx.cond(
            item["read"] == "",
            rx.icon_button(rx.icon("check", size=14), size="1", variant="ghost",
                           on_click=ShellState.mark_read(item["id"]), title="Mark read"),
        ),
        width="100%",
        padding_y="0.35rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def bell() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("bell", size=18),
                rx.cond(ShellState.unread > 0, rx.badge(ShellState.unread, color_scheme="red", id="bell-count")),
                variant="ghost",
                id="bell",
                aria_label="Notifications",
            )
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.text("Notifications", weight="bold"),
                    rx.spacer(),
                    rx.button("Mark all read", size="1", variant="soft", on_click=ShellState.mark_all_read,
                              id="bell-mark-all"),
                    width="100%",
                ),
                rx.cond(
                    ShellState.recent.length() > 0,
                    rx.vstack(rx.foreach(ShellState.recent, _notification_item), width="100%", spacing="0"),
                    rx.text("Nothing new.", size="2", color=rx.color("gray", 10)),
                ),
                rx.link("See all", href=routes.NOTIFICATIONS, size="2"),
                width="320px",
            ),
        ),
        on_open_change=ShellState.open_bell,
    )


def user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(rx.icon("circle-user", size=18), rx.text(ShellState.user_name), variant="soft", id="user-menu")
        ),
        rx.menu.content(
            rx.box(rx.text(ShellState.user_email, size="1", color=rx.color("gray", 10)), padding="0.25rem 0.5rem"),
            rx.menu.item("Account", on_click=rx.redirect(routes.ACCOUNT), id="menu-account"),
            rx.menu.separator(),
            rx.menu.item("Sign out", on_click=AuthState.sign_out, color="red", id="menu-sign-out"),
        ),
    )


def top_bar(title: str) -> rx.Component:
    return rx.hstack(
        rx.heading(title, size="6", id="page-title"),
        rx.spacer(),
        bell(),
        user_menu(),
        align="center",
        width="100%",
        padding="0.75rem 1.5rem",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        # The bell's live count: the browser ticks, the server answers with the count.
        spacing="4",
    )


def app_shell(title: str) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Decorator for a signed-in page's content function."""

    def wrap(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            return rx.hstack(
                sidebar(),
                rx.vstack(
                    top_bar(title),
                    rx.box(content(), padding="1.5rem", width="100%", max_width="1100px"),
                    rx.moment(interval=BELL_POLL_MS, on_change=ShellState.poll, display="none"),
                    width="100%",
                    spacing="0",
                ),
                spacing="0",
                align="start",
                width="100%",
                min_height="100vh",
            )

        page.__name__ = content.__name__
        return page

    return wrap

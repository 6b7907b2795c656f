"""Home: a greeting and what needs attention."""

import reflex as rx

from components.layout import app_shell
from llmcoder_app import routes
from state.home import HomeState
from state.shell import ShellState


def _stat(label: str, value, href: str, element_id: str) -> rx.Component:
    return rx.link(
        rx.card(rx.vstack(rx.text(label, size="2", color=rx.color("gray", 11)),
                          rx.heading(value, size="7", id=element_id))),
        href=href,
        underline="none",
    )


@rx.page(route=routes.HOME, title="LLMCoder", on_load=[ShellState.load_shell, HomeState.load])
@app_shell("Home")
def home_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Hello, ", ShellState.user_name, size="5", id="home-greeting"),
        rx.text("Your self-hosted AI work hub. More sections arrive as they are built: inbox, JIRA board, "
                "doc Q&A and the LLM admin portal."),
        rx.grid(
            _stat("Unread notifications", HomeState.unread, routes.NOTIFICATIONS, "home-unread"),
            _stat("Jobs running", HomeState.active_jobs, routes.JOBS, "home-active-jobs"),
            _stat("Jobs failed", HomeState.failed_jobs, routes.JOBS, "home-failed-jobs"),
            columns="3",
            spacing="4",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )

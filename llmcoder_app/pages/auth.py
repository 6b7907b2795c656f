"""First-run admin creation and sign-in: the only public pages."""

import reflex as rx

from components.common.widgets import error_callout, field
from llmcoder_app import routes
from state.auth import AuthState


def _card(title: str, subtitle: str, *body: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(rx.icon("bot", size=28, color=rx.color("accent", 10)), rx.heading("LLMCoder", size="6"),
                          align="center"),
                rx.heading(title, size="4", id="page-title"),
                rx.text(subtitle, size="2", color=rx.color("gray", 11)),
                *body,
                spacing="4",
                width="100%",
            ),
            width="100%",
            max_width="420px",
            size="4",
        ),
        min_height="100vh",
        padding="1rem",
        background=rx.color("gray", 2),
    )


@rx.page(route=routes.SETUP, title="Set up LLMCoder", on_load=AuthState.load_setup)
def setup_page() -> rx.Component:
    return _card(
        "Create the admin account",
        "This is the first start. The account you create here administers LLMCoder.",
        error_callout(AuthState.error, "setup-error"),
        rx.form(
            rx.vstack(
                field("Name", "name", placeholder="Ada Lovelace", required=False, element_id="setup-name"),
                field("Email", "email", type_="email", placeholder="ada@example.com", element_id="setup-email"),
                field("Password (10+ characters)", "password", type_="password", element_id="setup-password"),
                field("Repeat password", "confirm", type_="password", element_id="setup-confirm"),
                rx.button("Create admin account", type="submit", width="100%", id="setup-submit"),
                spacing="3",
            ),
            on_submit=AuthState.create_first_admin,
            reset_on_submit=False,
        ),
    )


@rx.page(route=routes.LOGIN, title="Sign in · LLMCoder", on_load=AuthState.load_login)
def login_page() -> rx.Component:
    return _card(
        "Sign in",
        "Use the account your LLMCoder admin gave you.",
        error_callout(AuthState.error, "login-error"),
        rx.form(
            rx.vstack(
                field("Email", "email", type_="email", element_id="login-email"),
                field("Password", "password", type_="password", element_id="login-password"),
                rx.button("Sign in", type="submit", width="100%", id="login-submit"),
                spacing="3",
            ),
            on_submit=AuthState.sign_in,
            reset_on_submit=False,
        ),
    )

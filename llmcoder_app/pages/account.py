"""Account: password change and personal API/device tokens."""

import reflex as rx

from components.common.widgets import data_table, error_callout, field, success_callout
from components.layout import app_shell
from llmcoder_app import routes
from state.account import AccountState
from state.shell import ShellState


def _token_row(token: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(token["name"]),
        rx.table.cell(rx.code(token["prefix"], "…")),
        rx.table.cell(token["created"]),
        rx.table.cell(token["last_used"]),
        rx.table.cell(
            rx.cond(token["revoked"] != "", rx.badge("revoked", color_scheme="gray"),
                    rx.button("Revoke", size="1", color_scheme="red", variant="soft",
                              on_click=AccountState.revoke_token(token["id"])))
        ),
    )


@rx.page(route=routes.ACCOUNT, title="Account · LLMCoder", on_load=[ShellState.load_shell, AccountState.load])
@app_shell("Account")
def account_page() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.vstack(
                rx.heading("Change password", size="4"),
                error_callout(AccountState.password_error, "password-error"),
                success_callout(AccountState.password_done, "password-done"),
                rx.form(
                    rx.vstack(
                        field("Current password", "current", type_="password", element_id="pw-current"),
                        field("New password (10+ characters)", "new_password", type_="password", element_id="pw-new"),
                        field("Repeat new password", "confirm", type_="password", element_id="pw-confirm"),
                        rx.button("Change password", type="submit", id="pw-submit"),
                        spacing="3",
                        max_width="400px",
                    ),
                    on_submit=AccountState.change_password,
                ),
                spacing="3",
            ),
            width="100%",
        ),
        rx.card(
            rx.vstack(
                rx.heading("API and device tokens", size="4"),
                rx.text("For the CLI and the capture agent. A token is shown once; store it safely.", size="2"),
                error_callout(AccountState.token_error, "token-error"),
                rx.cond(
                    AccountState.new_token != "",
                    rx.callout(rx.text("New token (copy it now): ", rx.code(AccountState.new_token, id="new-token")),
                               icon="key", color_scheme="green", width="100%"),
                ),
                rx.form(
                    rx.hstack(rx.input(name="name", placeholder="e.g. laptop capture agent", id="token-name",
                                       required=True),
                              rx.button("Create token", type="submit", id="token-submit")),
                    on_submit=AccountState.create_token,
                ),
                data_table(
                    ("Name", "Token", "Created", "Last used", ""),
                    AccountState.token_rows, _token_row,
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )

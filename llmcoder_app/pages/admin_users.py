"""Admin: users (create, disable, reset password, change role)."""

import reflex as rx

from components.common.widgets import data_table, error_callout, field, success_callout
from components.layout import app_shell
from llmcoder_app import routes
from state.shell import ShellState
from state.users import UsersState


def _row(user: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(user["email"], weight="medium"), rx.text(user["name"], size="1"), spacing="0")),
        rx.table.cell(
            rx.select(["admin", "member"], value=user["role"], size="1",
                      on_change=lambda role: UsersState.set_role(user["id"], role))
        ),
        rx.table.cell(
            rx.hstack(
                rx.cond(user["active"] != "", rx.badge("active", color_scheme="green"),
                        rx.badge("disabled", color_scheme="gray")),
                rx.cond(user["locked"] != "", rx.badge("locked", color_scheme="red")),
            )
        ),
        rx.table.cell(rx.text(user["last_login"], size="1")),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    user["active"] != "",
                    rx.button("Disable", size="1", variant="soft", color_scheme="orange",
                              on_click=UsersState.set_active(user["id"], False)),
                    rx.button("Enable", size="1", variant="soft", on_click=UsersState.set_active(user["id"], True)),
                ),
                rx.button("Reset password", size="1", variant="soft",
                          on_click=UsersState.open_reset(user["id"], user["email"])),
            )
        ),
        class_name="user-row",
    )


def _reset_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Reset password for ", UsersState.reset_user_email),
            rx.dialog.description("They will be signed out everywhere and any lockout is lifted."),
            rx.form(
                rx.vstack(
                    field("New password (10+ characters)", "password", type_="password", element_id="reset-password"),
                    rx.hstack(rx.button("Cancel", variant="soft", type="button", on_click=UsersState.close_reset),
                              rx.button("Reset", type="submit", id="reset-submit")),
                    spacing="3",
                ),
                on_submit=UsersState.reset_password,
            ),
        ),
        open=UsersState.reset_user_id != "",
    )


@rx.page(route=routes.ADMIN_USERS, title="Users · LLMCoder", on_load=[ShellState.load_shell, UsersState.load])
@app_shell("Users")
def users_page() -> rx.Component:
    return rx.vstack(
        error_callout(UsersState.error, "users-error"),
        success_callout(UsersState.notice, "users-notice"),
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("New user", size="3"),
                    rx.hstack(
                        field("Email", "email", type_="email", element_id="new-user-email"),
                        field("Name", "name", required=False, element_id="new-user-name"),
                        field("Password", "password", type_="password", element_id="new-user-password"),
                        rx.vstack(rx.text("Role", size="2", weight="medium"),
                                  rx.select(["member", "admin"], default_value="member", name="role",
                                            id="new-user-role")),
                        align="end",
                        width="100%",
                    ),
                    rx.button("Create user", type="submit", id="new-user-submit"),
                ),
                on_submit=UsersState.create,
                reset_on_submit=True,
            ),
            width="100%",
        ),
        data_table(
            ("User", "Role", "State", "Last sign-in", ""),
            UsersState.rows, _row,
            width="100%",
            id="users-table",
        ),
        _reset_dialog(),
        spacing="4",
        width="100%",
    )

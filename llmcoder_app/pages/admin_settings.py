"""Admin: runtime settings (secrets masked) and .env import."""

import reflex as rx

from components.common.widgets import data_table, error_callout, success_callout
from components.layout import app_shell
from llmcoder_app import routes
from state.settings import SettingsState
from state.shell import ShellState


def _row(setting: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(setting["label"], weight="medium"),
                                rx.code(setting["key"], size="1"),
                                rx.text(setting["help"], size="1", color=rx.color("gray", 10)),
                                spacing="1")),
        rx.table.cell(rx.text(setting["group"], size="2")),
        rx.table.cell(
            rx.cond(setting["problem"] != "", rx.text(setting["problem"], size="1", color="red"),
            rx.cond(setting["is_set"] != "",
                    rx.code(setting["display"], class_name="setting-value"),
                    rx.text(rx.cond(setting["display"] != "", setting["display"] + " (default)", "not set"),
                            size="2", color=rx.color("gray", 10)))),
            id="value-" + setting["key"],
        ),
        rx.table.cell(
            rx.form(
                rx.hstack(
                    rx.el.input(type="hidden", name="key", value=setting["key"]),
                    rx.input(name="value", type=rx.cond(setting["secret"] != "", "password", "text"),
                             placeholder=rx.cond(setting["secret"] != "", "new secret", "new value"),
                             id="input-" + setting["key"], size="1"),
                    rx.button("Save", type="submit", size="1", id="save-" + setting["key"]),
                    rx.cond(setting["is_set"] != "",
                            rx.button("Clear", type="button", size="1", variant="soft", color_scheme="gray",
                                      on_click=SettingsState.clear(setting["key"]))),
                ),
                on_submit=SettingsState.save,
                reset_on_submit=True,
            )
        ),
    )


@rx.page(route=routes.ADMIN_SETTINGS, title="Settings · LLMCoder",
         on_load=[ShellState.load_shell, SettingsState.load])
@app_shell("Settings")
def settings_page() -> rx.Component:
    return rx.vstack(
        rx.text("Changes apply at once, without a restart. Secrets are encrypted at rest and only their last "
                "characters are ever shown.", size="2", color=rx.color("gray", 11)),
        error_callout(SettingsState.error, "settings-error"),
        success_callout(SettingsState.notice, "settings-notice"),
        rx.card(
            rx.vstack(
                rx.heading("Import a .env file", size="3"),
                rx.text("Copies its values into these settings. The file is not changed or deleted. Bootstrap "
                        "values (DATABASE_URL, REDIS_URL, ...) stay in the environment.", size="2"),
                rx.hstack(rx.input(value=SettingsState.env_path, on_change=SettingsState.set_env_path,
                                   id="env-path", width="420px"),
                          rx.button("Import", on_click=SettingsState.import_env, id="env-import")),
                spacing="2",
            ),
            width="100%",
        ),
        rx.card(
            rx.form(
                rx.hstack(rx.input(name="key", placeholder="custom.setting_name", id="custom-key", required=True),
                          rx.input(name="value", placeholder="value", id="custom-value", required=True),
                          rx.button("Add setting", type="submit", id="custom-submit")),
                on_submit=SettingsState.save,
                reset_on_submit=True,
            ),
            width="100%",
        ),
        data_table(
            ("Setting", "Group", "Current", "Change"),
            SettingsState.rows, _row,
            width="100%",
            id="settings-table",
        ),
        spacing="4",
        width="100%",
    )

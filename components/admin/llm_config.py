"""The LLM config page's parts: provider chain, add/edit forms, settings form, connection tests."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table, error_callout, success_callout
from state.llm_config import CheckRow, LLMConfigState, ProviderRow, SettingField

_PRICE_HELP = "USD per 1M tokens; leave both empty to use litellm's cost map."


def _labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", weight="medium"), control, spacing="1", width="100%")


def _price_inputs(row: ProviderRow) -> rx.Component:
    def price(label: str, name: str, value) -> rx.Component:
        return _labelled(label, rx.input(name=name, default_value=value, placeholder="e.g. 2.5", width="100%",
                                         id=f"provider-form-{name}"))

    return rx.hstack(
        price("Input price", "input_price", row.input_price),
        price("Output price", "output_price", row.output_price),
        price("Cached input price", "cached_input_price", row.cached_input_price),
        width="100%",
    )


def _edit_dialog(row: ProviderRow) -> rx.Component:
    """Controlled by `editing`, so a successful save closes it and a refusal keeps it open."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit ", row.name),
            rx.form(
                rx.vstack(
                    error_callout(LLMConfigState.chain_error, "provider-edit-error"),
                    _labelled("Model (litellm id)", rx.input(name="model", default_value=row.model, required=True,
                                                             width="100%", id="provider-form-model")),
                    _labelled("API base", rx.input(name="api_base", default_value=row.api_base, width="100%",
                                                   placeholder="https://... (empty: the vendor's default)",
                                                   id="provider-form-api_base")),
                    _labelled("New API key", rx.input(name="api_key", type="password", width="100%",
                                                      placeholder="empty keeps the current key (" + row.key + ")",
                                                      id="provider-form-api_key")),
                    _price_inputs(row),
                    rx.text(_PRICE_HELP, size="1", color=rx.color("gray", 10)),
                    rx.hstack(
                        rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                                  on_click=LLMConfigState.cancel_edit, id="provider-edit-cancel"),
                        rx.button("Save", type="submit", id="provider-edit-save"),
                        justify="end", width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=LLMConfigState.save_provider,
            ),
        ),
        open=LLMConfigState.editing == row.name,
        on_open_change=LLMConfigState.cancel_edit,  # only closing (Escape, outside click): no trigger
    )


def _remove_dialog(row: ProviderRow) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Remove", size="1", variant="soft", color_scheme="red",
                                          id="provider-remove-" + row.name)),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Remove ", row.name, "?"),
            rx.alert_dialog.description("Calls stop using it at once. Its own API key is deleted with it."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Remove", color_scheme="red",
                                                 on_click=LLMConfigState.remove_provider(row.name),
                                                 id="provider-remove-confirm-" + row.name)),
                justify="end", width="100%",
            ),
        ),
    )


def _provider_row(row: ProviderRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.position, class_name="provider-position")),
        rx.table.cell(rx.vstack(rx.text(row.name, weight="medium", class_name="provider-name"),
                                rx.code(row.model, size="1"), spacing="1")),
        rx.table.cell(rx.text(rx.cond(row.api_base != "", row.api_base, "vendor default"), size="1")),
        rx.table.cell(rx.vstack(rx.code(row.key, class_name="provider-key"),
                                rx.cond(row.key_setting != "", rx.text(row.key_setting, size="1",
                                                                       color=rx.color("gray", 10))),
                                spacing="1")),
        rx.table.cell(rx.text(row.prices, size="1")),
        rx.table.cell(rx.switch(checked=row.enabled, on_change=LLMConfigState.set_provider_enabled(row.name),
                                id="provider-enabled-" + row.name)),
        rx.table.cell(rx.text(row.status, size="1", class_name="provider-status")),
        rx.table.cell(rx.hstack(
            rx.icon_button(rx.icon("arrow-up", size=14), size="1", variant="soft", disabled=row.position <= 1,
                           on_click=LLMConfigState.move(row.name, row.position - 1), id="provider-up-" + row.name,
                           aria_label="Move up"),
            rx.icon_button(rx.icon("arrow-down", size=14), size="1", variant="soft", disabled=row.last,
                           on_click=LLMConfigState.move(row.name, row.position + 1), id="provider-down-" + row.name,
                           aria_label="Move down"),
            rx.button("Edit", size="1", variant="soft", on_click=LLMConfigState.start_edit(row.name),
                      id="provider-edit-" + row.name),
            _edit_dialog(row),
            _remove_dialog(row),
            spacing="1",
        )),
        id="provider-row-" + row.name,
        class_name="provider-row",
    )


def provider_chain() -> rx.Component:
    headers = ("#", "Name / model", "API base", "Key", "Prices", "Enabled", "Status", "")
    return rx.vstack(
        rx.heading("Provider chain", size="4"),
        rx.text("Calls try the providers from the top; a change applies to the next call.", size="2",
                color=rx.color("gray", 11)),
        error_callout(LLMConfigState.chain_error, "chain-error"),
        success_callout(LLMConfigState.chain_notice, "chain-notice"),
        data_table(
            headers,
            LLMConfigState.chain, _provider_row,
            width="100%",
            id="provider-table",
        ),
        spacing="3",
        width="100%",
    )


def add_provider_form() -> rx.Component:
    def text(label: str, name: str, placeholder: str, **props) -> rx.Component:
        return _labelled(label, rx.input(name=name, placeholder=placeholder, id=f"provider-add-{name}",
                                         **{"width": "100%", **props}))

    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Add a provider", size="3"),
                rx.hstack(
                    text("Name", "name", "e.g. openai-mini", required=True),
                    text("Model (litellm id)", "model", "e.g. gpt-4o-mini", required=True),
                    text("Position", "position", "last", width="90px"),
                    width="100%",
                ),
                rx.hstack(
                    text("API base", "api_base", "empty: the vendor's default"),
                    text("API key", "api_key", "stored encrypted", type="password"),
                    width="100%",
                ),
                rx.hstack(
                    text("Input price", "input_price", "e.g. 2.5"),
                    text("Output price", "output_price", "e.g. 10"),
                    text("Cached input price", "cached_input_price", "optional"),
                    width="100%",
                ),
                rx.text(_PRICE_HELP, size="1", color=rx.color("gray", 10)),
                rx.button("Add provider", type="submit", id="provider-add-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=LLMConfigState.add_provider,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _setting(field: SettingField) -> rx.Component:
    return rx.vstack(
        rx.text(field.label, size="2", weight="medium", as_="label", html_for=field.slug),
        rx.cond(
            field.kind == "bool",
            rx.switch(checked=field.value == "true", on_change=LLMConfigState.set_flag(field.key), id=field.slug),
            rx.input(value=field.value, on_change=LLMConfigState.set_field(field.key), id=field.slug, width="100%",
                     color_scheme=rx.cond(field.error != "", "red", "gray")),
        ),
        rx.cond(field.help != "", rx.text(field.help, size="1", color=rx.color("gray", 10))),
        rx.cond(field.error != "", rx.text(field.error, size="1", color="red", id=field.slug + "-error",
                                           class_name="field-error")),
        spacing="1",
        width="100%",
        padding_bottom="0.5rem",
    )


def settings_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Budget, retries, learning and cache", size="4"),
            rx.text("Save checks every field first and stores nothing while one is wrong; saved values apply to "
                    "the next call.", size="2", color=rx.color("gray", 11)),
            error_callout(LLMConfigState.settings_error, "settings-form-error"),
            success_callout(LLMConfigState.settings_notice, "settings-form-notice"),
            rx.grid(rx.foreach(LLMConfigState.fields, _setting), columns="2", spacing="4", width="100%"),
            rx.button("Save settings", on_click=LLMConfigState.save_settings, id="cfg-save"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _check_row(check: CheckRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(check.name, weight="medium")),
        rx.table.cell(rx.code(check.model, size="1")),
        rx.table.cell(rx.badge(rx.cond(check.ok, "ok", "failed"), color_scheme=rx.cond(check.ok, "green", "red"),
                               class_name="check-result")),
        rx.table.cell(rx.text(check.latency_ms, " ms", class_name="check-latency")),
        rx.table.cell(rx.text(check.error, size="1", color="red")),
        id="check-" + check.name,
    )


def connection_tests() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Connections", size="4"),
            rx.button(rx.icon("plug-zap", size=15), "Test connections", on_click=LLMConfigState.test_connections,
                      loading=LLMConfigState.testing, id="test-connections"),
            align="center",
            spacing="4",
        ),
        rx.text("One tiny call to every enabled provider (logged and charged like any call).", size="2",
                color=rx.color("gray", 11)),
        error_callout(LLMConfigState.checks_error, "checks-error"),
        rx.cond(
            LLMConfigState.checks.length() > 0,
            data_table(
                ("Provider", "Model", "Result", "Latency", "Error"),
                LLMConfigState.checks, _check_row,
                width="100%",
                id="check-table",
            ),
        ),
        spacing="3",
        width="100%",
    )

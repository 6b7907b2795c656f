"""The "Your style" card: what was learned from the user's sent messages, and their overrides."""

from __future__ import annotations

import reflex as rx

from components.inbox.accounts_table import messages
from state.inbox_accounts import Figure, InboxAccountsState

MUTED = rx.color("gray", 11)
FORMALITY = (("", "As learned"), ("formal", "Formal"), ("neutral", "Neutral"), ("casual", "Casual"))
LENGTH = (("", "As learned"), ("short", "Short"), ("medium", "Medium"), ("long", "Long"))


def _figure(figure: Figure) -> rx.Component:
    return rx.table.row(rx.table.cell(figure["label"], color=MUTED), rx.table.cell(figure["value"]))


def _override(label: str, name: str, placeholder: str) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium", as_="label", html_for=f"inbox-style-{name}"),
                     rx.input(name=name, id=f"inbox-style-{name}", placeholder=placeholder,
                              default_value=InboxAccountsState.overrides[name], key=InboxAccountsState.style_described,
                              width="100%"),
                     spacing="1", width="100%")


def _choice(label: str, name: str, options: tuple[tuple[str, str], ...]) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"),
                     rx.el.select(*[rx.el.option(text, value=value) for value, text in options], name=name,
                                  id=f"inbox-style-{name}", default_value=InboxAccountsState.overrides[name],
                                  key=InboxAccountsState.style_described),
                     spacing="1")


def style_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Your style", size="3"),
                rx.spacer(),
                rx.select.root(rx.select.trigger(placeholder="Account", id="inbox-style-account"),
                               rx.select.content(rx.foreach(InboxAccountsState.accounts, lambda a: rx.select.item(
                                   a["name"], value=a["id"].to_string()))),
                               value=InboxAccountsState.style_account, on_change=InboxAccountsState.choose_style),
                rx.cond(InboxAccountsState.style_scopes.length() > 1,
                        rx.select.root(rx.select.trigger(placeholder="Channel"),
                                       rx.select.content(rx.foreach(InboxAccountsState.style_scopes,
                                                                    lambda s: rx.select.item(s, value=s))),
                                       on_change=InboxAccountsState.choose_scope)),
                width="100%", align="center",
            ),
            messages("style"),
            rx.cond(
                InboxAccountsState.style_figures.length() > 0,
                rx.table.root(rx.table.body(rx.foreach(InboxAccountsState.style_figures, _figure)),
                              size="1", id="inbox-style-figures"),
                rx.text("Connect an account: the style is learned from the messages you sent.", color=MUTED),
            ),
            rx.form(
                rx.vstack(
                    rx.text("Your overrides (empty: as learned)", size="2", weight="bold"),
                    rx.grid(_override("Greeting", "greeting", "Hi {name},"),
                            _override("Sign-off", "sign_off", "Thanks,\nAnna"),
                            _choice("Formality", "formality", FORMALITY), _choice("Length", "length", LENGTH),
                            columns="2", spacing="3", width="100%"),
                    _override("Notes for every draft", "notes", "e.g. never promise dates; sign with my first name"),
                    rx.button("Save style", type="submit", size="1", id="inbox-style-save"),
                    spacing="2", width="100%",
                ),
                on_submit=InboxAccountsState.save_style, width="100%",
            ),
            rx.cond(InboxAccountsState.style_described != "",
                    rx.box(rx.text("What drafts are told:", size="1", color=MUTED),
                           rx.text(InboxAccountsState.style_described, size="1", white_space="pre-wrap",
                                   id="inbox-style-described"))),
            spacing="3", width="100%",
        ),
        width="100%", id="inbox-style-card",
    )

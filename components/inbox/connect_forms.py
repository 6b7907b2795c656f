"""Connecting accounts: Gmail and Outlook by their consent pages, Slack by its consent page or
a pasted token, any other mailbox by IMAP + SMTP with an app password."""

from __future__ import annotations

import reflex as rx

from components.inbox.accounts_table import messages
from state.inbox_accounts import InboxAccountsState

MUTED = rx.color("gray", 11)
SECURITY = (("tls", "TLS"), ("starttls", "STARTTLS"), ("none", "None (local only)"))


def _input(label: str, name: str, *, type_: str = "text", placeholder: str = "", default: str = "",
           required: bool = True) -> rx.Component:
    element_id = f"inbox-imap-{name.replace('_', '-')}"
    return rx.vstack(rx.text(label, size="2", weight="medium", as_="label", html_for=element_id),
                     rx.input(name=name, id=element_id, type=type_, placeholder=placeholder, default_value=default,
                              required=required, width="100%"),
                     spacing="1", width="100%")


def _security(which: str, value) -> rx.Component:
    return rx.vstack(rx.text("Security", size="2", weight="medium"),
                     rx.select.root(rx.select.trigger(id=f"inbox-{which}-security"),
                                    rx.select.content(*[rx.select.item(label, value=v) for v, label in SECURITY]),
                                    value=value, on_change=lambda v: InboxAccountsState.set_security(which, v)),
                     spacing="1")


def imap_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("IMAP + SMTP", size="3"),
            rx.text("Any mailbox: Fastmail, iCloud, Yahoo, your company's server. Use an app password where the "
                    "provider offers one.", size="2", color=MUTED),
            messages("imap"),
            rx.grid(_input("E-mail address", "address", type_="email", placeholder="you@example.com"),
                    _input("Password or app password", "password", type_="password"),
                    _input("User name (if not the address)", "username", required=False),
                    _input("Name shown in LLMCoder", "name", required=False),
                    columns="2", spacing="3", width="100%"),
            rx.grid(_input("IMAP server", "imap_host", placeholder="imap.example.com"),
                    _input("IMAP port", "imap_port", type_="number", default="993"),
                    _security("imap", InboxAccountsState.imap_security),
                    _input("SMTP server", "smtp_host", placeholder="smtp.example.com"),
                    _input("SMTP port", "smtp_port", type_="number", default="587"),
                    _security("smtp", InboxAccountsState.smtp_security),
                    columns="3", spacing="3", width="100%"),
            _input("Sent folder (empty if none)", "sent_folder", default="Sent", required=False),
            rx.button("Connect", type="submit", id="inbox-imap-connect"),
            spacing="3", width="100%",
        ),
        on_submit=InboxAccountsState.connect_imap, id="inbox-imap-form", width="100%",
    )


def oauth_buttons() -> rx.Component:
    def button(provider: str, label: str, icon: str) -> rx.Component:
        return rx.button(rx.icon(icon, size=15), label, on_click=InboxAccountsState.begin_oauth(provider),
                         variant="soft", id=f"inbox-connect-{provider}")

    return rx.vstack(
        rx.heading("Gmail, Outlook, Slack", size="3"),
        rx.hstack(button("gmail", "Connect Gmail", "mail"), button("outlook", "Connect Outlook", "mail-open"),
                  button("slack", "Add to Slack", "hash"), spacing="2", wrap="wrap"),
        rx.text("Each opens the provider's consent page. Admins register these redirect URIs with the providers "
                "and enter the client IDs and secrets on the Settings page:", size="1", color=MUTED),
        rx.vstack(rx.foreach(InboxAccountsState.redirect_uris,
                             lambda item: rx.text(item[0], ": ", rx.code(item[1]), size="1")),
                  rx.text("Slack Events API request URL: ", rx.code(InboxAccountsState.webhook_url), size="1"),
                  spacing="1", id="inbox-redirect-uris"),
        rx.form(
            rx.hstack(rx.input(name="token", id="inbox-slack-token", type="password",
                               placeholder="or paste a Slack token (xoxp-… or xoxb-…)", width="22rem"),
                      rx.button("Connect Slack", type="submit", variant="soft", id="inbox-slack-connect"),
                      spacing="2"),
            on_submit=InboxAccountsState.connect_slack,
        ),
        messages("slack"),
        spacing="2", width="100%",
    )


def connect_forms() -> rx.Component:
    return rx.vstack(rx.card(oauth_buttons(), width="100%"), rx.card(imap_form(), width="100%"),
                     spacing="4", width="100%")

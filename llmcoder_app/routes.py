"""Routes as data: pages, the sidebar, redirects and tests all read them from here."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import reflex as rx

SETUP = "/setup"
LOGIN = "/login"
HOME = "/"
JOBS = "/jobs"
NOTIFICATIONS = "/notifications"
ACCOUNT = "/account"
ADMIN_USERS = "/admin/users"
ADMIN_SETTINGS = "/admin/settings"
ADMIN_STATUS = "/admin/status"
ASSISTANT = "/assistant"
DOCS_ASK = "/docs"
DOCS_SOURCES = "/docs/sources"
INBOX = "/inbox"
INBOX_ACCOUNTS = "/inbox/accounts"
JIRA = "/jira"
JIRA_NEW = "/jira/new"
JIRA_TRACKED = "/jira/tracked"
JIRA_SETTINGS = "/jira/settings"
CAPTURE_LIVE = "/capture"
CAPTURE_DEVICES = "/capture/devices"
ADMIN_LLM_COSTS = "/admin/llm/costs"
ADMIN_LLM_CONFIG = "/admin/llm/config"
ADMIN_LLM_PROMPTS = "/admin/llm/prompts"
ADMIN_LLM_LOGS = "/admin/llm/logs"
ADMIN_LLM_LEARNED = "/admin/llm/learned"


@dataclass(frozen=True)
class NavItem:
    label: str
    route: str
    icon: str
    admin_only: bool = False
    area: str = ""  # the path prefix of the section's pages, which keep its link highlighted


# The sidebar lists the sections that exist; later features add theirs.
NAV: tuple[NavItem, ...] = (
    NavItem("Home", HOME, "house"),
    NavItem("Inbox", INBOX, "inbox", area="/inbox/"),
    NavItem("JIRA", JIRA, "kanban", area="/jira/"),
    NavItem("Capture", CAPTURE_LIVE, "monitor-dot", area="/capture/"),
    NavItem("Assistant", ASSISTANT, "message-square-code"),
    NavItem("Docs", DOCS_ASK, "book-open", area="/docs/"),
    NavItem("Jobs", JOBS, "list-checks"),
    NavItem("Notifications", NOTIFICATIONS, "bell"),
    NavItem("Account", ACCOUNT, "user-cog"),
    NavItem("Users", ADMIN_USERS, "users", admin_only=True),
    NavItem("Settings", ADMIN_SETTINGS, "settings", admin_only=True),
    NavItem("Status", ADMIN_STATUS, "activity", admin_only=True),
    NavItem("LLM", ADMIN_LLM_COSTS, "brain-circuit", admin_only=True, area="/admin/llm/"),
)
# The LLM admin portal's own tabs (the sidebar links to the first).
LLM_TABS: tuple[NavItem, ...] = (
    NavItem("Costs", ADMIN_LLM_COSTS, "chart-line", admin_only=True),
    NavItem("Config", ADMIN_LLM_CONFIG, "sliders-horizontal", admin_only=True),
    NavItem("Prompts", ADMIN_LLM_PROMPTS, "file-pen-line", admin_only=True),
    NavItem("Logs", ADMIN_LLM_LOGS, "scroll-text", admin_only=True),
    NavItem("Learned", ADMIN_LLM_LEARNED, "graduation-cap", admin_only=True),
)
# Doc Q&A's tabs (the sidebar links to the first).
DOCS_TABS: tuple[NavItem, ...] = (
    NavItem("Ask", DOCS_ASK, "message-circle-question"),
    NavItem("Sources", DOCS_SOURCES, "library"),
)

# The inbox's tabs (the sidebar links to the first).
INBOX_TABS: tuple[NavItem, ...] = (
    NavItem("Messages", INBOX, "inbox"),
    NavItem("Accounts", INBOX_ACCOUNTS, "at-sign"),
)

# The JIRA pages' tabs (the sidebar links to the first).
JIRA_TABS: tuple[NavItem, ...] = (
    NavItem("Board", JIRA, "kanban"),
    NavItem("New ticket", JIRA_NEW, "square-plus"),
    NavItem("Tracked", JIRA_TRACKED, "bell-ring"),
    NavItem("Settings", JIRA_SETTINGS, "settings-2"),
)

# Workstation capture's tabs (the sidebar links to the first).
CAPTURE_TABS: tuple[NavItem, ...] = (
    NavItem("Live", CAPTURE_LIVE, "radio"),
    NavItem("Devices", CAPTURE_DEVICES, "laptop"),
)

ALL_ROUTES = (SETUP, LOGIN, *(item.route for item in NAV), *(item.route for item in LLM_TABS[1:]),
              *(item.route for item in DOCS_TABS[1:]), *(item.route for item in INBOX_TABS[1:]),
              *(item.route for item in JIRA_TABS[1:]), *(item.route for item in CAPTURE_TABS[1:]))


def _one_origin() -> bool:
    config = rx.config.get_config()
    return urlsplit(config.api_url)[:2] == urlsplit(config.deploy_url or "")[:2]


def backend_href(path: str) -> str:
    """A backend route as the browser should load it: relative when one port serves everything
    (so any host name the users type works), absolute when dev mode splits the ports."""
    return path if _one_origin() else f"{rx.config.get_config().api_url}{path}"


def backend_url(path: str) -> str:
    """A backend route as an absolute URL, for addresses given to others (OAuth redirect URIs)."""
    return f"{rx.config.get_config().api_url.rstrip('/')}{path}"


def frontend_href(path: str) -> str:
    return path if _one_origin() else f"{rx.config.get_config().deploy_url}{path}"

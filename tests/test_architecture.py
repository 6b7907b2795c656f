"""The fences of docs/ARCHITECTURE.md, checked on the source: who may import what,
and one page per route."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from llmcoder_app import routes

ROOT = Path(__file__).resolve().parent.parent

# Vendor SDK (top-level import name) -> the only places allowed to import it.
# Paths are relative to the repo; a trailing '/' allows a whole package.
VENDOR_HOMES: dict[str, tuple[str, ...]] = {
    "litellm": ("services/llm/gateway.py",),
    "googleapiclient": ("services/integrations/gmail/client.py", "services/integrations/gcal/client.py"),
    "google_auth_oauthlib": ("services/integrations/google/client.py",),
    "msal": ("services/integrations/outlook/client.py",),
    "google": ("services/integrations/gmail/client.py",),  # google.oauth2, google.auth
    "httplib2": ("services/integrations/gmail/client.py",),
    "authlib": ("services/integrations/oauth/client.py",),
    "nh3": ("services/inbox/sanitize.py",),
    "slack_sdk": ("services/integrations/slack/client.py",),
    "jira": ("services/integrations/jira/client.py",),
    "atlassian": ("services/integrations/confluence/client.py",),
    "imaplib": ("services/integrations/imap/client.py",),
    "smtplib": ("services/integrations/imap/client.py",),
    "plaid": ("services/integrations/plaid/client.py",),
    "qdrant_client": ("services/search/store.py",),
    "fastembed": ("services/search/embedder.py",),
    "rq": ("services/jobs/",),
    "mss": ("capture_agent/capture_agent/screen.py",),
    "sounddevice": ("capture_agent/capture_agent/audio.py",),
    "pynput": ("capture_agent/capture_agent/keys.py",),
}
# Layer -> packages it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "services/": ("reflex", "llmcoder_app", "components", "state"),
    "capture_agent/": ("reflex", "llmcoder_app", "components", "state", "services"),
    "components/": ("services",),
    "llmcoder_app/pages/": ("services",),
    "state/": ("components", "llmcoder_app.pages"),
}
SOURCE_DIRS = ("services", "state", "components", "llmcoder_app", "capture_agent")


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _matches(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(rel_path: str, source: str) -> list[str]:
    found = []
    for module in imported_modules(source):
        for layer, banned in FORBIDDEN.items():
            if rel_path.startswith(layer):
                found += [f"{rel_path} imports {module} (layer {layer} must not import {b})"
                          for b in banned if _matches(module, b)]
        for vendor, homes in VENDOR_HOMES.items():
            if _matches(module, vendor) and not any(rel_path == h or (h.endswith("/") and rel_path.startswith(h))
                                                    for h in homes):
                found.append(f"{rel_path} imports {module}; only {', '.join(homes)} may")
    return found


def python_sources():
    """The project's own files: not what `pip install ./capture_agent` leaves in build/."""
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "build" not in path.relative_to(ROOT).parts:
                yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def test_import_fences_hold():
    problems = [v for rel, source in python_sources() for v in violations(rel, source)]
    assert problems == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("services/auth/users.py", "import reflex as rx"),
        ("services/jobs/export.py", "from state.jobs import JobsState"),
        ("components/layout.py", "from services.db import session_scope"),
        ("llmcoder_app/pages/jobs.py", "import services.jobs.service"),
        ("services/inbox.py", "from litellm import completion"),
        ("services/integrations/jira/adapter.py", "import jira"),
        ("state/jobs.py", "from rq import Queue"),
        ("capture_agent/capture_agent/client.py", "from services.settings import get_settings"),
    ],
)
def test_the_fence_check_catches_a_breach(path, source):
    assert violations(path, source), f"{source!r} in {path} should be refused"


def test_allowed_imports_pass_the_fence_check():
    assert violations("services/llm/gateway.py", "import litellm") == []
    assert violations("services/jobs/runners.py", "from rq import Worker") == []
    assert violations("state/jobs.py", "from services.jobs import service") == []


def page_routes() -> list[str]:
    """Every route passed to @rx.page in the page modules, resolved through routes.py."""
    found = []
    for path in sorted((ROOT / "llmcoder_app" / "pages").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "rx.page"):
                continue
            route = next((kw.value for kw in node.keywords if kw.arg == "route"), None)
            assert isinstance(route, ast.Attribute) and ast.unparse(route.value) == "routes", (
                f"{path.name}: use a constant from llmcoder_app/routes.py as the route"
            )
            found.append(getattr(routes, route.attr))
    return found


def test_every_route_has_exactly_one_page():
    registered = page_routes()
    duplicates = [route for route, count in Counter(registered).items() if count > 1]
    assert duplicates == []
    assert sorted(registered) == sorted(routes.ALL_ROUTES)
    assert len(set(routes.ALL_ROUTES)) == len(routes.ALL_ROUTES)


def test_every_page_module_is_imported_by_the_app():
    """Reflex compiles only imported pages."""
    init = (ROOT / "llmcoder_app" / "pages" / "__init__.py").read_text(encoding="utf-8")
    modules = {p.stem for p in (ROOT / "llmcoder_app" / "pages").glob("*.py") if p.stem != "__init__"}
    imported = {alias.name for node in ast.walk(ast.parse(init)) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert modules <= imported

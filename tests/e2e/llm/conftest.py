"""One running app for every LLM portal test (costs, config, prompts, logs, learned,
assistant): package-scoped, so it starts once and stops before other e2e modules start
theirs (all apps build into the same .web directory).

The app talks to fake providers served from this test process; admin and member accounts
and the provider chain are set up with the real CLI against the app's data directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import AppWithFakeLLM, _serve, sign_in
from tests.fakes.llm_providers import FakeLLMServer

ADMIN = ("portal-admin@example.com", "portal admin pw 1")
MEMBER = ("portal-member@example.com", "portal member pw 1")
# Two deployments on the fake, each with admin prices so every call has a known cost.
PRIMARY, SECONDARY = "fake-primary", "fake-secondary"


class Portal(AppWithFakeLLM):
    def sign_in_admin(self, page: Page) -> None:
        sign_in(page, self.url, *ADMIN)
        page.wait_for_url(f"{self.url}/")

    def sign_in_member(self, page: Page) -> None:
        sign_in(page, self.url, *MEMBER)
        page.wait_for_url(f"{self.url}/")


@pytest.fixture(scope="package")
def portal(tmp_path_factory) -> Iterator[Portal]:
    with FakeLLMServer() as fake:
        for app in _serve(tmp_path_factory, label="llm-portal"):
            portal = Portal(app, fake)
            portal.cli("user", "create", ADMIN[0], "--admin", "--password-stdin", stdin=ADMIN[1] + "\n")
            portal.cli("user", "create", MEMBER[0], "--password-stdin", stdin=MEMBER[1] + "\n")
            for name in ("gemini", "openai", "anthropic", "ollama"):
                portal.cli("llm", "provider", "remove", name)
            for position, (name, model) in enumerate(((PRIMARY, "m1"), (SECONDARY, "m2")), start=1):
                portal.cli("llm", "provider", "add", name, "--model", f"openai/{model}",
                           "--api-base", fake.api_base("openai"), "--api-key", f"sk-test-{name}-0000",
                           "--input-price", "1", "--output-price", "2", "--position", str(position))
            yield portal


@pytest.fixture
def fake(portal: Portal) -> Iterator[FakeLLMServer]:
    """The fake providers with scripts and recorded requests cleared for one test."""
    portal.fake.reset()
    yield portal.fake
    portal.fake.reset()

"""Start the real app (the README's run path, prod mode) and drive Debian's Chromium with Playwright.

Set E2E_BASE_URL to reuse an app that is already running (for local iteration);
by default the suite starts `python -m services.cli serve` on free ports with a
private data directory, and stops it afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from services.launcher import free_port
from services.settings import REPO_ROOT
from tests.fakes.llm_providers import FakeLLMServer

# Two busy CI cores can delay a page's first websocket event past Playwright's 5 s default.
expect.set_options(timeout=15_000)

ARTIFACTS = REPO_ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
START_TIMEOUT_S = 600  # the first run installs the frontend packages from npm
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin password 1"
MEMBER_EMAIL = "member@example.com"
MEMBER_PASSWORD = "member password 1"


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_until_up(base_url: str, proc: subprocess.Popen | None, log_path: Path | None) -> float:
    started = time.monotonic()
    deadline = started + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-4000:] if log_path else ""
            raise RuntimeError(f"The app exited with {proc.returncode} before it answered:\n{tail}")
        try:
            status, _ = _get(f"{base_url}/api/health", timeout=2)
            page_status, _ = _get(f"{base_url}/login", timeout=5)
            if status in (200, 503) and page_status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"The app did not answer at {base_url} within {START_TIMEOUT_S} s")


@dataclass(frozen=True)
class RunningApp:
    url: str
    data_dir: Path

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """The real CLI against the app's own data directory."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env["LLMCODER_DATA_DIR"] = str(self.data_dir)
        return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=REPO_ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=60)


@dataclass(frozen=True)
class AppWithFakeLLM:
    """A running app whose LLM providers point at the fake provider server."""

    app: RunningApp
    fake: FakeLLMServer

    @property
    def url(self) -> str:
        return self.app.url

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        done = self.app.cli(*args, stdin=stdin)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done


def _serve(tmp_path_factory, *extra_args: str, label: str = "") -> Iterator[RunningApp]:
    """The README's run path on a free port with a private data dir; stopped afterwards.

    Module-scoped users of this run one app at a time: every app builds into the same
    .web directory, so two at once would overwrite each other's frontend."""
    reused = os.environ.get("E2E_BASE_URL")
    if reused:
        yield RunningApp(reused.rstrip("/"), Path(os.environ["E2E_DATA_DIR"]))
        return
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LLMCODER_SECRET_KEY")}
    env.update(LLMCODER_DATA_DIR=str(data_dir), LLMCODER_FRONTEND_PORT=str(port), LLMCODER_BACKEND_PORT=str(port),
               REFLEX_USE_NPM="1")
    ARTIFACTS.mkdir(exist_ok=True)
    label = label or "-".join(arg.strip("-") for arg in extra_args) or "default"
    log_path = ARTIFACTS / f"e2e-app-{label}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "--env", "prod", *extra_args],
                                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://localhost:{port}"
    try:
        seconds = _wait_until_up(base_url, proc, log_path)
        (ARTIFACTS / f"e2e-startup-{label}.json").write_text(json.dumps({"seconds_to_first_page": round(seconds, 1)}))
        yield RunningApp(base_url, data_dir)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[RunningApp]:
    """The default start: a private redis-server and an RQ worker pool."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def inprocess_app(tmp_path_factory) -> Iterator[RunningApp]:
    """A machine without Redis: jobs run on threads inside the app."""
    yield from _serve(tmp_path_factory, "--no-redis")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run ./scripts/test, which installs it.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture
def page(browser: Browser, request) -> Iterator[Page]:
    """A fresh browser context per test; on failure its screenshot and console go to artifacts/."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        (ARTIFACTS / "failures").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "failures" / f"{name}.png"), full_page=True)
        (ARTIFACTS / "failures" / f"{name}.console.txt").write_text("\n".join(console))
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()

"""The real app in Chromium, in the order a new installation lives through.

The tests share one running app and build on each other (first-run admin,
then users created by that admin), so they run in file order.
"""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
import zipfile

import pytest
from playwright.sync_api import Page, expect

from llmcoder_app import routes
from services.auth.sessions import SESSION_COOKIE
from services.db import migrate
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MEMBER_EMAIL,
    MEMBER_PASSWORD,
    RunningApp,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e
LOCKED_EMAIL = "locked@example.com"
LOCKED_PASSWORD = "locked password 1"


def _home(page: Page, app: RunningApp) -> None:
    page.wait_for_url(f"{app.url}/")
    expect(page.locator("#page-title")).to_have_text("Home")


def test_first_visit_asks_for_an_admin_account(app: RunningApp, page: Page):
    page.goto(app.url + "/")
    page.wait_for_url(re.compile(r".*/setup/?$"))
    screenshot(page, "setup")
    page.locator("#setup-name").fill("Ada Admin")
    page.locator("#setup-email").fill(ADMIN_EMAIL)
    page.locator("#setup-password").fill(ADMIN_PASSWORD)
    page.locator("#setup-confirm").fill("something else 1")
    page.locator("#setup-submit").click()
    expect(page.locator("#setup-error")).to_contain_text("differ")
    page.locator("#setup-confirm").fill(ADMIN_PASSWORD)
    page.locator("#setup-submit").click()
    _home(page, app)
    expect(page.locator("#home-greeting")).to_contain_text("Ada Admin")
    session_cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    expect(page.locator("#sidebar")).to_contain_text("Users")
    expect(page.locator("#bell")).to_be_visible()
    expect(page.locator("#user-menu")).to_contain_text("Ada Admin")
    screenshot(page, "home-admin")


def test_setup_is_closed_once_an_admin_exists(app: RunningApp, page: Page):
    page.goto(app.url + routes.SETUP)
    page.wait_for_url(re.compile(r".*/login/?$"))


def test_wrong_password_is_refused_and_right_one_signs_in(app: RunningApp, page: Page):
    sign_in(page, app.url, ADMIN_EMAIL, "not the password")
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    screenshot(page, "login-error")
    page.locator("#login-password").fill(ADMIN_PASSWORD)
    page.locator("#login-submit").click()
    _home(page, app)


def test_admin_creates_a_member_in_the_users_page(app: RunningApp, page: Page):
    sign_in(page, app.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    _home(page, app)
    page.locator("#nav-users").click()
    expect(page.locator("#page-title")).to_have_text("Users")
    for email, password in ((MEMBER_EMAIL, MEMBER_PASSWORD), (LOCKED_EMAIL, LOCKED_PASSWORD)):
        page.locator("#new-user-email").fill(email)
        page.locator("#new-user-password").fill(password)
        page.locator("#new-user-submit").click()
        expect(page.locator("#users-notice")).to_contain_text(f"Created {email}")
    expect(page.locator("#users-table")).to_contain_text(MEMBER_EMAIL)
    screenshot(page, "admin-users")


def test_member_is_refused_admin_pages(app: RunningApp, page: Page):
    sign_in(page, app.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    _home(page, app)
    expect(page.locator("#sidebar")).not_to_contain_text("Users")
    for route in (routes.ADMIN_USERS, routes.ADMIN_SETTINGS, routes.ADMIN_STATUS):
        page.goto(app.url + route)
        expect(page.get_by_text("Only admins can do that.").first).to_be_visible()
        page.wait_for_url(f"{app.url}/")
        expect(page.locator("body")).not_to_contain_text(ADMIN_EMAIL)


def test_signed_out_visitor_is_sent_to_sign_in(app: RunningApp, page: Page):
    for route in (routes.JOBS, routes.ADMIN_USERS, routes.ACCOUNT):
        page.goto(app.url + route)
        page.wait_for_url(re.compile(r".*/login/?$"))


def test_repeated_failures_lock_the_account_until_an_admin_resets_it(app: RunningApp, page: Page):
    for attempt in range(5):
        sign_in(page, app.url, LOCKED_EMAIL, f"wrong password {attempt}")
        expected = "locked" if attempt == 4 else "Wrong email or password."
        expect(page.locator("#login-error")).to_contain_text(expected)
    sign_in(page, app.url, LOCKED_EMAIL, LOCKED_PASSWORD)
    expect(page.locator("#login-error")).to_contain_text("locked")
    screenshot(page, "login-locked")

    admin = page.context.browser.new_context().new_page()
    sign_in(admin, app.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin.wait_for_url(f"{app.url}/")
    admin.goto(app.url + routes.ADMIN_USERS)
    row = admin.locator(".user-row", has_text=LOCKED_EMAIL)
    expect(row).to_contain_text("locked")
    row.get_by_role("button", name="Reset password").click()
    admin.locator("#reset-password").fill("fresh password 22")
    admin.locator("#reset-submit").click()
    expect(admin.locator("#users-notice")).to_contain_text(f"Password reset for {LOCKED_EMAIL}")
    admin.context.close()

    sign_in(page, app.url, LOCKED_EMAIL, "fresh password 22")
    _home(page, app)


def test_admin_disables_enables_and_changes_roles(app: RunningApp, page: Page):
    sign_in(page, app.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    _home(page, app)
    page.goto(app.url + routes.ADMIN_USERS)
    row = page.locator(".user-row", has_text=LOCKED_EMAIL)
    row.get_by_role("button", name="Disable").click()
    expect(page.locator("#users-notice")).to_contain_text("Account disabled.")
    expect(row).to_contain_text("disabled")

    other = page.context.browser.new_context().new_page()
    sign_in(other, app.url, LOCKED_EMAIL, "fresh password 22")
    expect(other.locator("#login-error")).to_have_text("Wrong email or password.")

    row.get_by_role("button", name="Enable").click()
    expect(page.locator("#users-notice")).to_contain_text("Account enabled.")
    row.get_by_role("combobox").click()
    page.get_by_role("option", name="admin").click()
    expect(page.locator("#users-notice")).to_contain_text("Role changed to admin.")

    sign_in(other, app.url, LOCKED_EMAIL, "fresh password 22")
    other.wait_for_url(f"{app.url}/")
    expect(other.locator("#sidebar")).to_contain_text("Users")
    other.context.close()

    row.get_by_role("combobox").click()
    page.get_by_role("option", name="member").click()
    expect(page.locator("#users-notice")).to_contain_text("Role changed to member.")


def test_export_job_shows_live_progress_and_downloads(app: RunningApp, page: Page):
    sign_in(page, app.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    _home(page, app)
    page.locator("#nav-jobs").click()
    expect(page.locator("#page-title")).to_have_text("Jobs")
    page.locator("#start-export").click()
    row = page.locator(".job-row").first
    # No reload: the page polls while a job is active.
    expect(row.locator(".job-status")).to_have_text("succeeded", timeout=60_000)
    expect(row.locator(".job-progress")).to_have_text("100%")
    expect(page.locator("#bell-count")).to_have_text("1", timeout=15_000)
    screenshot(page, "jobs-with-export")
    with page.expect_download() as download_info:
        row.locator(".job-download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("llmcoder-export-")
    archive = zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read()))
    assert {"manifest.json", "profile.json", "jobs.json"} <= set(archive.namelist())
    assert json.loads(archive.read("profile.json"))[0]["email"] == MEMBER_EMAIL
    assert b"password_hash" not in b"".join(archive.read(n) for n in archive.namelist())

    page.locator("#bell").click()
    expect(page.get_by_text("Your data export is ready").first).to_be_visible()
    page.locator("#bell-mark-all").click()
    expect(page.locator("#bell-count")).to_have_count(0)


def test_admin_secret_setting_is_masked(app: RunningApp, page: Page):
    secret = "sk-test-e2e-0123456789abcdef"
    sign_in(page, app.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    _home(page, app)
    page.goto(app.url + routes.ADMIN_SETTINGS)
    page.locator("#input-openai\\.api_key").fill(secret)
    page.locator("#save-openai\\.api_key").click()
    expect(page.locator("#settings-notice")).to_contain_text("Saved OpenAI API key")
    expect(page.locator("#value-openai\\.api_key")).to_contain_text("cdef")
    assert secret not in page.content()
    page.reload()
    expect(page.locator("#value-openai\\.api_key")).to_contain_text("••••cdef")
    assert secret not in page.content()
    got = app.cli("settings", "get", "openai.api_key")
    assert got.returncode == 0 and "cdef" in got.stdout and secret not in got.stdout


# Something each page shows only once its loader has fetched real data.
PAGE_PROOF = {
    routes.HOME: ("#home-unread", "0"),
    routes.JOBS: ("#jobs-empty", "No jobs yet."),
    routes.NOTIFICATIONS: ("#notifications-empty", "No notifications yet"),
    routes.ACCOUNT: ("#token-submit", "Create token"),
    routes.ADMIN_USERS: ("#users-table", MEMBER_EMAIL),
    routes.ADMIN_SETTINGS: ("#settings-table", "••••cdef"),
    routes.ADMIN_STATUS: ("#status-database", migrate.head_revision()),
    routes.ASSISTANT: ("#assistant-empty", "Generate code"),
    routes.DOCS_ASK: ("#docs-no-sources", "There is no documentation to search yet"),
    routes.INBOX: ("#inbox-no-accounts", "No accounts yet"),
    routes.JIRA: ("#jira-not-connected", "Connect your JIRA first"),
    routes.CAPTURE_LIVE: ("#capture-no-devices", "No workstation is paired yet"),
    routes.ADMIN_LLM_COSTS: ("#costs-budget", "$1,000"),
}
# Pages whose title is longer than their sidebar label.
TITLES = {routes.ADMIN_LLM_COSTS: "LLM costs", routes.JIRA: "JIRA board", routes.CAPTURE_LIVE: "Live capture"}


def test_every_page_renders(app: RunningApp, page: Page):
    sign_in(page, app.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    _home(page, app)
    assert set(PAGE_PROOF) == {item.route for item in routes.NAV}
    for item in routes.NAV:
        page.goto(app.url + item.route)
        expect(page.locator("#page-title")).to_have_text(TITLES.get(item.route, item.label))
        # on_load has run once the shell knows who is signed in.
        expect(page.locator("#user-menu")).to_contain_text("Ada Admin")
        selector, text = PAGE_PROOF[item.route]
        expect(page.locator(selector)).to_contain_text(text)
        expect(page.get_by_text("Something went wrong on the server")).to_have_count(0)
        screenshot(page, item.route.strip("/").replace("/", "-") or "home")
    page.goto(app.url + routes.ADMIN_STATUS)
    expect(page.locator("#status-overall")).to_have_text("ok")
    expect(page.locator("#status-workers")).to_contain_text("default")
    page.locator("#status-worker-check").click()
    expect(page.locator("#status-check-message")).to_contain_text("Worker check queued")
    page.goto(app.url + routes.JOBS)
    check = page.locator(".job-row", has_text="Worker check").first
    expect(check.locator(".job-status")).to_have_text("succeeded", timeout=30_000)


def test_cli_created_admin_can_sign_in_in_the_browser(app: RunningApp, page: Page):
    made = app.cli("user", "create", "ops@example.com", "--admin", "--password-stdin", stdin="ops password 123\n")
    assert made.returncode == 0, made.stderr
    sign_in(page, app.url, "ops@example.com", "ops password 123")
    _home(page, app)
    expect(page.locator("#sidebar")).to_contain_text("Settings")


def test_sign_out_ends_the_session(app: RunningApp, page: Page):
    sign_in(page, app.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    _home(page, app)
    page.locator("#user-menu").click()
    page.locator("#menu-sign-out").click()
    page.wait_for_url(re.compile(r".*/login/?$"))
    page.goto(app.url + routes.JOBS)
    page.wait_for_url(re.compile(r".*/login/?$"))


def test_api_tokens_and_password_change_on_the_account_page(app: RunningApp, page: Page):
    sign_in(page, app.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    _home(page, app)
    page.locator("#nav-account").click()
    page.locator("#token-name").fill("laptop capture agent")
    page.locator("#token-submit").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("llmc_")
    me = urllib.request.Request(f"{app.url}/api/me", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(me, timeout=10) as response:
        assert json.load(response)["email"] == MEMBER_EMAIL
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked")).to_be_visible()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(me, timeout=10)
    assert refused.value.code == 401
    screenshot(page, "account-tokens")

    page.locator("#pw-current").fill("not my password")
    page.locator("#pw-new").fill("member password 2")
    page.locator("#pw-confirm").fill("member password 2")
    page.locator("#pw-submit").click()
    expect(page.locator("#password-error")).to_contain_text("current password is wrong")
    page.locator("#pw-current").fill(MEMBER_PASSWORD)
    page.locator("#pw-new").fill("member password 2")
    page.locator("#pw-confirm").fill("member password 2")
    page.locator("#pw-submit").click()
    expect(page.locator("#password-done")).to_contain_text("Password changed")
    # Still signed in here; the new password works elsewhere, the old one does not.
    page.reload()
    expect(page.locator("#page-title")).to_have_text("Account")
    other = page.context.browser.new_context().new_page()
    sign_in(other, app.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    expect(other.locator("#login-error")).to_have_text("Wrong email or password.")
    sign_in(other, app.url, MEMBER_EMAIL, "member password 2")
    other.wait_for_url(f"{app.url}/")
    other.context.close()

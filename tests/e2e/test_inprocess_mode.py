"""The app as a machine without Redis runs it: jobs on threads inside the app process."""

from __future__ import annotations

import io
import os
import json
import re
import urllib.request
import zipfile

import pytest
from playwright.sync_api import Page, expect

from llmcoder_app import routes
from tests.e2e.conftest import ARTIFACTS, RunningApp, screenshot, sign_in

pytestmark = pytest.mark.e2e
EMAIL, PASSWORD = "solo@example.com", "solo password 12"


def test_health_says_jobs_run_in_process(inprocess_app: RunningApp):
    with urllib.request.urlopen(f"{inprocess_app.url}/api/health", timeout=10) as response:
        report = json.load(response)
    assert report["status"] == "ok"
    assert report["jobs"]["mode"] == "in-process"
    if not os.environ.get("E2E_BASE_URL"):
        log = (ARTIFACTS / "e2e-app-no-redis.log").read_text(errors="replace")
        assert "Background jobs run in-process" in log and "no Redis is configured" in log


def test_export_runs_in_process_and_downloads(inprocess_app: RunningApp, page: Page):
    made = inprocess_app.cli("user", "create", EMAIL, "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    sign_in(page, inprocess_app.url, EMAIL, PASSWORD)
    page.wait_for_url(f"{inprocess_app.url}/")
    page.goto(inprocess_app.url + routes.ADMIN_STATUS)
    expect(page.locator("#status-jobs")).to_contain_text("in-process")
    screenshot(page, "admin-status-inprocess")
    page.goto(inprocess_app.url + routes.JOBS)
    page.locator("#start-export").click()
    row = page.locator(".job-row").first
    expect(row.locator(".job-status")).to_have_text("succeeded", timeout=60_000)
    expect(row.locator(".job-progress")).to_have_text("100%")
    with page.expect_download() as download_info:
        row.locator(".job-download").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download_info.value.path(), "rb").read()))
    assert json.loads(archive.read("profile.json"))[0]["email"] == EMAIL
    page.locator("#user-menu").click()
    page.locator("#menu-sign-out").click()
    page.wait_for_url(re.compile(r".*/login/?$"))

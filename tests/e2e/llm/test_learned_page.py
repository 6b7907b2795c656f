"""/admin/llm/learned in Chromium: import (file and pasted), duplicates, export, search and
filters, view/edit with validation, disable/enable/delete, and a member refused.

The portal is shared with the other LLM page tests, which may make templates of their own,
so counts are taken relative to an export made at the start. The tests build on each other
(the first imports the templates the others use) and run in file order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from llmcoder_app import routes
from tests.e2e.conftest import screenshot
from tests.e2e.llm.conftest import Portal

pytestmark = pytest.mark.e2e

FEATURE, MAIL_FEATURE = "e2e-learned", "e2e-learned-mail"
TEMPLATES = [
    {"name": "Zephyr retry helper", "feature": FEATURE, "context": "python",
     "task_text": "write a zephyr function that retries {{number_1}} times",
     "output": "for attempt in range({{number_1}}):\n    call()\n", "placeholders": ["number_1"], "quality": 95,
     "source_provider": "fake-primary", "source_model": "openai/m1", "source_cost_nanos": 2000, "uses": 4,
     "enabled": True},
    {"name": "Zephyr reminder mail", "feature": FEATURE, "context": "python",
     "task_text": "send a zephyr reminder to {{email_1}}", "output": "send_reminder(to='{{email_1}}')\n",
     "placeholders": ["email_1"], "quality": 91, "source_provider": "fake-secondary", "source_model": "openai/m2",
     "source_cost_nanos": 1000, "uses": 0, "enabled": True},
    {"name": "Invoice paid reply", "feature": MAIL_FEATURE, "context": "",
     "task_text": "reply to {{email_1}} that invoice {{id_1}} is paid",
     "output": "Hello,\n\ninvoice {{id_1}} is paid. Thank you!\n", "placeholders": ["email_1", "id_1"],
     "quality": 90, "source_provider": "fake-primary", "source_model": "openai/m1", "source_cost_nanos": 500,
     "uses": 1, "enabled": True},
]
DOCUMENT = {"format": "llmcoder-learned-templates", "version": 1, "exported_at": "2026-11-01T00:00:00+00:00",
            "templates": TEMPLATES}
_baseline: dict[str, int] = {}


def open_page(portal: Portal, page: Page) -> None:
    portal.sign_in_admin(page)
    page.goto(portal.url + routes.ADMIN_LLM_LEARNED)
    expect(page.locator("#page-title")).to_have_text("Learned templates")


def export(page: Page) -> tuple[str, dict]:
    with page.expect_download() as download:
        page.locator("#learned-export").click()
    return download.value.suggested_filename, json.loads(Path(download.value.path()).read_text())


def mine(document: dict) -> list[dict]:
    return [t for t in document["templates"] if t["feature"] in (FEATURE, MAIL_FEATURE)]


def total(page: Page) -> int:
    return int(page.locator("#learned-total-templates").inner_text())


def upload(page: Page, path: Path) -> None:
    """As a user does: click the drop zone, pick the file in the dialog."""
    with page.expect_file_chooser() as chooser:
        page.locator("#learned-import-zone .rx-Upload").click()
    chooser.value.set_files(str(path))


def row(page: Page, name: str):
    return page.locator(".learned-row", has_text=name)


def pick(page: Page, select_id: str, option: str) -> None:
    page.locator(f"#{select_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_member_is_refused(portal: Portal, page: Page):
    portal.sign_in_member(page)
    page.goto(portal.url + routes.ADMIN_LLM_LEARNED)
    expect(page.get_by_text("Only admins can do that.").first).to_be_visible()
    page.wait_for_url(f"{portal.url}/")
    expect(page.locator("#learned-table")).to_have_count(0)


def test_import_a_file_then_the_same_file_again(portal: Portal, page: Page, tmp_path: Path):
    open_page(portal, page)
    _, before = export(page)
    assert mine(before) == [], "another test imported these templates already"
    _baseline["templates"] = len(before["templates"])
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(DOCUMENT))

    upload(page, path)
    expect(page.locator("#learned-import-counts")).to_have_text("3 created · 0 duplicates skipped")
    expect(page.locator("#learned-total-templates")).to_have_text(str(_baseline["templates"] + 3))
    for template in TEMPLATES:
        expect(row(page, template["name"])).to_contain_text(template["source_provider"])
    expect(row(page, "Zephyr retry helper")).to_contain_text("python")
    screenshot(page, "llm-learned")

    upload(page, path)
    expect(page.locator("#learned-import-counts")).to_have_text("0 created · 3 duplicates skipped")
    expect(page.locator("#learned-total-templates")).to_have_text(str(_baseline["templates"] + 3))
    expect(page.locator("#learned-import-errors")).to_have_count(0)


def test_export_downloads_what_was_imported(portal: Portal, page: Page):
    open_page(portal, page)
    filename, document = export(page)
    assert re.fullmatch(r"learned-templates-\d{8}\.json", filename)
    assert (document["format"], document["version"]) == ("llmcoder-learned-templates", 1)
    assert sorted(mine(document), key=lambda t: t["name"]) == sorted(TEMPLATES, key=lambda t: t["name"])


def test_an_invalid_document_imports_nothing_and_says_why(portal: Portal, page: Page):
    open_page(portal, page)
    broken = {**DOCUMENT, "templates": [
        {**TEMPLATES[0], "name": "Fresh one", "output": "retry({{number_1}}, {{url_1}})"},
        {**TEMPLATES[1], "name": "Fresh two", "quality": 250},
    ]}
    page.locator("#learned-paste-toggle").click()
    page.locator("#learned-import-text").fill(json.dumps(broken))
    page.locator("#learned-import-paste").click()
    errors = page.locator("#learned-import-errors li")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("Template 1 “Fresh one”: the output uses placeholders the task does not "
                                          "define: {{url_1}}")
    expect(errors.nth(1)).to_contain_text("Template 2 “Fresh two”: quality must be from 0 to 100")
    expect(page.locator("#learned-import-counts")).to_have_text("0 created · 0 duplicates skipped")
    expect(page.locator("#learned-total-templates")).to_have_text(str(_baseline["templates"] + 3))

    page.locator("#learned-import-text").fill("{not json")
    page.locator("#learned-import-paste").click()
    expect(page.locator("#learned-import-errors")).to_contain_text("Not a JSON document")


def test_search_and_filters_narrow_the_table(portal: Portal, page: Page):
    open_page(portal, page)
    page.locator("#learned-search").fill("ZEPHYR")
    page.locator("#learned-search").press("Enter")
    expect(page.locator(".learned-row")).to_have_count(2)
    expect(page.locator("#learned-table")).not_to_contain_text("Invoice paid reply")
    expect(page.locator("#learned-pager")).to_contain_text("2 matching")

    page.locator("#learned-search").fill("")
    page.locator("#learned-search").press("Enter")
    pick(page, "learned-feature", MAIL_FEATURE)
    expect(page.locator(".learned-row")).to_have_count(1)
    expect(row(page, "Invoice paid reply")).to_be_visible()

    page.locator("#learned-search").fill("no template says this")
    page.locator("#learned-search").press("Enter")
    expect(page.locator("#learned-empty")).to_have_text("No templates match these filters.")


def test_view_then_edit_with_validation(portal: Portal, page: Page):
    open_page(portal, page)
    row(page, "Zephyr retry helper").get_by_role("button", name="View").click()
    dialog = page.locator("#learned-view-dialog")
    expect(dialog.locator("#learned-view-task")).to_have_text("write a zephyr function that retries {{number_1}} times")
    expect(dialog.locator("#learned-view-placeholders")).to_contain_text("{{number_1}}")
    expect(dialog).to_contain_text("fake-primary / openai/m1")
    expect(dialog).to_contain_text("imported or manual")
    screenshot(page, "llm-learned-view")
    page.locator("#learned-view-close").click()
    expect(dialog).to_have_count(0)

    row(page, "Zephyr retry helper").get_by_role("button", name="Edit").click()
    expect(page.locator("#learned-edit-name")).to_have_value("Zephyr retry helper")
    page.locator("#learned-edit-output").fill("retry(times={{number_1}}, url={{url_1}})")
    page.locator("#learned-edit-save").click()
    expect(page.locator("#learned-edit-error")).to_contain_text("does not define: {{url_1}}")
    screenshot(page, "llm-learned-edit")
    page.locator("#learned-edit-output").fill("retry(times={{number_1}})")
    page.locator("#learned-edit-quality").fill("150")
    page.locator("#learned-edit-save").click()
    expect(page.locator("#learned-edit-error")).to_contain_text("from 0 to 100")
    page.locator("#learned-edit-quality").fill("97")
    page.locator("#learned-edit-name").fill("Zephyr retry loop")
    page.locator("#learned-edit-save").click()
    expect(page.locator("#learned-notice")).to_contain_text("Saved “Zephyr retry loop”")
    expect(page.locator("#learned-edit-dialog")).to_have_count(0)
    expect(row(page, "Zephyr retry loop")).to_contain_text("97")

    row(page, "Zephyr retry loop").get_by_role("button", name="View").click()
    expect(page.locator("#learned-view-output")).to_have_text("retry(times={{number_1}})")


def test_disable_enable_and_delete(portal: Portal, page: Page):
    open_page(portal, page)
    mail = row(page, "Zephyr reminder mail")
    mail.get_by_role("button", name="Disable").click()
    expect(page.locator("#learned-notice")).to_contain_text("no longer answers")
    expect(mail.locator(".learned-state")).to_have_text("disabled")
    pick(page, "learned-state", "Disabled")
    expect(row(page, "Zephyr reminder mail")).to_be_visible()
    expect(row(page, "Invoice paid reply")).to_have_count(0)
    mail.get_by_role("button", name="Enable").click()
    expect(page.locator("#learned-notice")).to_contain_text("answers again")
    expect(mail).to_have_count(0)  # no longer disabled: filtered out
    pick(page, "learned-state", "Enabled and disabled")
    expect(mail.locator(".learned-state")).to_have_text("enabled")

    mail.get_by_role("button", name="Delete").click()
    expect(page.locator("#learned-delete-dialog")).to_contain_text("Delete “Zephyr reminder mail”?")
    page.locator("#learned-delete-confirm").click()
    expect(page.locator("#learned-notice")).to_contain_text("Deleted “Zephyr reminder mail”")
    expect(mail).to_have_count(0)
    expect(page.locator("#learned-total-templates")).to_have_text(str(_baseline["templates"] + 2))
    _, document = export(page)
    assert sorted(t["name"] for t in mine(document)) == ["Invoice paid reply", "Zephyr retry loop"]

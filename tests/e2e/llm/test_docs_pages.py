"""Doc Q&A in the browser: a member uploads files (a corrupt one is refused with its reason),
watches them index, asks and gets a streamed, cited answer whose passage expands, and rates it;
an unanswerable question is "not found"; an admin's private folder stays invisible to the
member; a web page is added by URL with a streamed summary, then the source is scheduled,
shared, re-synced and deleted; a Confluence space is listed, chosen and indexed; an uploaded
package archive answers a signature question from its symbol table."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.doc_samples import pdf_bytes, targz_bytes
from tests.e2e.conftest import screenshot
from tests.e2e.llm.conftest import Portal
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.llm_providers import hang, ok

pytestmark = pytest.mark.e2e

INDEXED_S = 180  # the first sync of a worker loads the embedding model
RUNBOOK = """# Release runbook

## Rolling back a release

To roll back a release, run `deploy rollback --to previous` on the release host.
The command restores the previous build and restarts the service within two minutes.
"""
ROLLBACK_REPLY = "Run `deploy rollback --to previous` on the release host [1]."
NOT_FOUND = "I cannot find the answer in the documentation."


# ------------------------------------------------------------------ helpers

def open_sources(portal: Portal, page: Page, *, admin: bool = False) -> None:
    (portal.sign_in_admin if admin else portal.sign_in_member)(page)
    page.goto(f"{portal.url}/docs/sources")
    expect(page.locator("#docs-sources-table, #docs-sources-empty")).to_be_visible()


def source_row(page: Page, name: str) -> Locator:
    name_cell = page.locator(".docs-source-name", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(".docs-source-row", has=name_cell)


def source_id(row: Locator) -> int:
    return int((row.get_attribute("id") or "").rsplit("-", 1)[1])


def indexed(row: Locator) -> Locator:
    expect(row).to_have_attribute("data-status", "ready", timeout=INDEXED_S * 1000)
    expect(row.locator(".docs-source-chunks")).not_to_have_text("0")
    return row


def choose_new_collection(page: Page, name: str) -> None:
    page.locator("#docs-collection").click()
    page.get_by_role("option", name="A new collection…").click()
    page.locator("#docs-collection-name").fill(name)


def ask(page: Page, question: str) -> Locator:
    """Types and presses Enter; returns the new answer once it is complete."""
    before = page.locator(".docs-answer").count()
    page.locator("#docs-question").fill(question)
    page.locator("#docs-question").press("Enter")
    expect(page.locator(".docs-answer")).to_have_count(before + 1)
    expect(page.locator("#docs-question")).to_have_value("")
    return page.locator(".docs-answer").nth(before)


def finished(answer: Locator) -> Locator:
    expect(answer).to_have_attribute("data-streaming", "no", timeout=60_000)
    return answer


def open_ask(portal: Portal, page: Page, *, fresh: bool = False) -> None:
    """The Ask page once its history has loaded; `fresh` starts a new conversation (a short
    question is searched together with the one before it)."""
    page.goto(f"{portal.url}/docs")
    expect(page.locator("#docs-conversation, #docs-empty")).to_be_visible()
    if fresh:
        page.locator("#docs-new-conversation").click()
        expect(page.locator(".docs-answer")).to_have_count(0)
        expect(page.locator("#docs-empty")).to_be_visible()


@pytest.fixture
def web_page(tmp_path: Path) -> Iterator[str]:
    """An HTML page served from this process (the app fetches it like any web page)."""
    (tmp_path / "cache.html").write_text(
        "<html><head><title>Cache runbook</title></head><body><h1>Cache runbook</h1>"
        "<p>When the cache serves stale entries, run <code>cache flush --all</code> on every web node.</p>"
        "</body></html>", encoding="utf-8")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cache.html"
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------ tests

def test_uploaded_files_are_indexed_and_answer_a_question_with_a_cited_passage(portal, fake, page: Page,
                                                                               tmp_path: Path):
    runbook, guide, broken = tmp_path / "rollback.md", tmp_path / "guide.pdf", tmp_path / "broken.pdf"
    runbook.write_text(RUNBOOK, encoding="utf-8")
    guide.write_bytes(pdf_bytes(["Deployment guide", "The app listens on port 3000 behind the proxy."],
                                title="Deployment guide"))
    broken.write_bytes(b"%PDF-1.4\nthis is not really a PDF")
    open_sources(portal, page)

    page.locator("#docs-upload input[type=file]").set_input_files([runbook, guide, broken])
    expect(page.locator(".docs-upload-chosen")).to_have_count(3)
    page.locator("#docs-upload-submit").click()
    results = page.locator(".docs-upload-result")
    expect(results).to_have_count(3)
    expect(results.filter(has_text="rollback.md")).to_have_attribute("data-ok", "yes")
    expect(results.filter(has_text="guide.pdf")).to_have_attribute("data-ok", "yes")
    refused = results.filter(has_text="broken.pdf")
    expect(refused).to_have_attribute("data-ok", "no")
    expect(refused).to_contain_text("broken.pdf could not be read as a PDF")
    expect(page.locator("#docs-files-note")).to_contain_text("2 file(s) added. Indexing started")

    row = indexed(source_row(page, "Uploaded files"))
    expect(row.locator(".docs-source-documents")).to_have_text("2")  # nothing kept of the broken PDF
    expect(row.locator(".docs-source-kind")).to_have_text("Files")
    expect(row.locator(".docs-source-access")).to_have_text("Private")
    screenshot(page, "docs-sources-uploaded")

    fake.script("m1", hang(1.0, ok(ROLLBACK_REPLY)))
    open_ask(portal, page)
    answer = ask(page, "How do I roll back a release?")
    expect(answer).to_have_attribute("data-streaming", "yes")
    finished(answer)
    expect(answer.locator(".docs-answer-text")).to_contain_text("deploy rollback --to previous")
    expect(answer.locator(".docs-mode")).to_have_text("From the documentation")
    assert "restores the previous build" in json.dumps(fake.requests[-1].body)  # the passage went to the model

    citation = answer.locator(".docs-citation").first
    expect(citation.locator(".docs-citation-summary")).to_contain_text("[1]")
    expect(citation.locator(".docs-citation-summary")).to_contain_text("Uploaded files")
    expect(citation.locator(".docs-citation-passage")).to_be_hidden()
    citation.locator(".docs-citation-summary").click()
    expect(citation.locator(".docs-citation-passage")).to_contain_text("restores the previous build")
    expect(citation.locator(".docs-citation-open")).to_have_count(0)  # an upload has no page to open

    answer.locator(".docs-rate-up").click()
    expect(answer.locator(".docs-rate-up")).to_have_attribute("data-chosen", "yes")
    screenshot(page, "docs-answer-cited")
    page.reload()  # the history comes back with its rating
    expect(page.locator("#docs-conversation")).to_be_visible()
    again = page.locator(".docs-answer").last
    expect(again.locator(".docs-answer-text")).to_contain_text("deploy rollback --to previous")
    expect(again.locator(".docs-rate-up")).to_have_attribute("data-chosen", "yes")
    expect(again.locator(".docs-rate-down")).to_have_attribute("data-chosen", "no")


def test_a_question_the_documentation_does_not_answer_is_not_found(portal, fake, page: Page):
    portal.sign_in_member(page)
    open_ask(portal, page, fresh=True)
    answer = finished(ask(page, "What is the capital of France?"))
    expect(answer.locator(".docs-mode")).to_have_text("Not found")
    expect(answer.locator(".docs-answer-text")).to_contain_text(
        re.compile("cannot find the answer|no documentation to search yet"))
    expect(answer.locator(".docs-citation")).to_have_count(0)
    assert fake.count() == 0  # nothing relevant was retrieved, so no model was asked
    screenshot(page, "docs-not-found")


def test_an_admins_private_folder_is_neither_listed_nor_answered_for_a_member(portal, fake, page: Page,
                                                                             tmp_path: Path):
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "vault.md").write_text("# Basement vault\n\nThe combination of the basement archive vault is "
                                     "Orange-Seven-Lantern. Change it every quarter.\n", encoding="utf-8")
    portal.cli("docs", "add-folder", str(folder), "--name", "Admin vault notes", "--wait")
    question = "What is the combination of the basement archive vault?"

    open_sources(portal, page)
    expect(source_row(page, "Admin vault notes")).to_have_count(0)
    expect(page.locator("#docs-add-folder")).to_have_count(0)  # folders are for admins
    open_ask(portal, page, fresh=True)
    answer = finished(ask(page, question))
    expect(answer.locator(".docs-mode")).to_have_text("Not found")
    expect(answer).not_to_contain_text("Orange-Seven-Lantern")
    assert fake.count() == 0

    admin = page.context.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        open_sources(portal, admin, admin=True)
        row = indexed(source_row(admin, "Admin vault notes"))
        expect(row.locator(".docs-source-access")).to_have_text("Private")
        expect(admin.locator("#docs-add-folder")).to_be_visible()
        screenshot(admin, "docs-admin-private")
        fake.script("m1", ok("The combination is Orange-Seven-Lantern [1]."))
        open_ask(portal, admin, fresh=True)
        answered = finished(ask(admin, question))
        expect(answered.locator(".docs-mode")).to_have_text("From the documentation")
        answered.locator(".docs-citation-summary").first.click()
        expect(answered.locator(".docs-citation-passage").first).to_contain_text("Orange-Seven-Lantern")
    finally:
        admin.context.close()


def test_a_web_page_is_summarised_then_its_source_is_scheduled_shared_resynced_and_deleted(portal, fake,
                                                                                          page: Page, web_page):
    fake.script("m1", ok("**Cache runbook**: run `cache flush --all` on every web node when entries are stale."))
    open_sources(portal, page)
    choose_new_collection(page, "Team web pages")
    page.locator("#docs-url").fill(web_page)
    page.locator("#docs-url-submit").click()
    summary = page.locator("#docs-summary")
    expect(summary).to_have_attribute("data-streaming", "no", timeout=60_000)
    expect(summary).to_contain_text("cache flush --all")
    expect(summary).to_contain_text("Cache runbook")
    expect(page.locator("#docs-url-note")).to_contain_text("Page added. Indexing started")
    row = indexed(source_row(page, "Team web pages"))
    number = source_id(row)
    screenshot(page, "docs-url-summary")

    page.locator(f"#docs-schedule-{number}").click()
    expect(page.locator("#docs-schedule-dialog")).to_be_visible()
    page.locator("#docs-schedule-interval").fill("3")
    page.locator("#docs-schedule-save").click()
    expect(page.locator("#docs-schedule-error")).to_contain_text("at most every 5 minutes")
    page.locator("#docs-schedule-interval").fill("60")
    page.locator("#docs-schedule-start").fill("22")
    page.locator("#docs-schedule-end").fill("6")
    page.locator("#docs-schedule-save").click()
    expect(page.locator("#docs-schedule-dialog")).to_have_count(0)
    expect(row).to_contain_text("Every 60 min · 22:00–06:00")
    expect(page.locator("#docs-sources-note")).to_have_text("Schedule saved.")

    page.locator(f"#docs-share-{number}").click()
    expect(row.locator(".docs-source-access")).to_have_text("Shared")

    page.locator(f"#docs-resync-{number}").click()
    expect(page.locator("#docs-sources-note")).to_contain_text("Indexing started")
    indexed(row)

    page.locator(f"#docs-delete-{number}").click()
    page.locator(f"#docs-delete-confirm-{number}").click()
    expect(source_row(page, "Team web pages")).to_have_count(0)


def test_a_confluence_space_is_listed_chosen_indexed_and_cited_with_a_link(portal, fake, page: Page):
    with FakeConfluence() as wiki:
        wiki.add_space("OPS", "Operations")
        wiki.add_space("DEV", "Development")
        wiki.add_page("OPS", "On-call rota", "<p>The on-call engineer hands over every Monday at 09:00.</p>")
        open_sources(portal, page)
        page.locator("#docs-add-confluence").click()
        page.locator("#docs-confluence-url").fill(wiki.url)
        page.locator("#docs-confluence-token").fill("not-the-token")
        page.locator("#docs-confluence-list").click()
        expect(page.locator("#docs-confluence-error")).to_be_visible()

        page.locator("#docs-confluence-token").fill(wiki.token)
        page.locator("#docs-confluence-list").click()
        expect(page.locator("#docs-confluence-note")).to_contain_text("sees 2 space(s)")
        page.locator("#docs-confluence-space-OPS").click()
        page.locator("#docs-confluence-name").fill("Ops wiki")
        page.locator("#docs-confluence-save").click()
        expect(page.locator("#docs-confluence-note")).to_contain_text("Confluence source saved. Indexing started")
        expect(page.locator("#docs-confluence-token")).to_have_value("")
        assert wiki.token not in page.content()
        row = indexed(source_row(page, "Ops wiki"))
        expect(row.locator(".docs-source-documents")).to_have_text("1")
        expect(row.locator(".docs-source-detail")).to_contain_text("spaces OPS")
        screenshot(page, "docs-confluence")

        fake.script("m1", ok("The on-call engineer hands over every Monday at 09:00 [1]."))
        open_ask(portal, page, fresh=True)
        answer = finished(ask(page, "When does the on-call engineer hand over?"))
        citation = answer.locator(".docs-citation").first
        expect(citation.locator(".docs-citation-summary")).to_contain_text("On-call rota")
        citation.locator(".docs-citation-summary").click()
        expect(citation.locator(".docs-citation-open")).to_have_attribute("href", re.compile(re.escape(wiki.origin)))
        expect(citation.locator(".docs-citation-open")).to_have_attribute("target", "_blank")


def test_an_uploaded_package_archive_answers_a_signature_question_from_its_symbol_table(portal, fake, page: Page,
                                                                                       tmp_path: Path):
    archive = tmp_path / "greeter-1.0.tar.gz"
    archive.write_bytes(targz_bytes({
        "greeter-1.0/greeter/__init__.py": 'def greet(name: str, loud: bool = False) -> str:\n'
                                           '    """Say hello to someone by name."""\n    return name\n',
        "greeter-1.0/README.md": "# Greeter\n\nA tiny greeting library.\n"}))
    open_sources(portal, page)
    page.locator("#docs-add-package").click()
    page.locator("#docs-package-name").fill("not a package!")
    page.locator("#docs-package-submit").click()
    expect(page.locator("#docs-package-error")).to_contain_text("is not a Python package name")

    page.locator("#docs-package-upload input[type=file]").set_input_files(archive)
    page.locator("#docs-package-upload-submit").click()
    expect(page.locator("#docs-package-note")).to_contain_text("greeter-1.0.tar.gz added. Indexing started")
    row = indexed(source_row(page, "greeter-1.0.tar.gz"))
    expect(row.locator(".docs-source-kind")).to_have_text("Python package")
    expect(row.locator(".docs-source-symbols")).to_have_text("2")
    expect(row.locator(".docs-source-access")).to_have_text("Shared")  # packages are shared by default

    open_ask(portal, page, fresh=True)
    answer = finished(ask(page, "What arguments does greeter.greet take?"))
    expect(answer.locator(".docs-mode")).to_have_text("From the symbol table")
    expect(answer.locator(".docs-answer-text")).to_contain_text("greeter.greet(name: str, loud: bool = False) -> str")
    assert fake.count() == 0  # the symbol table answers without a model

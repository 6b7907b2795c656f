"""Doc Q&A indexing end to end: Confluence (the real atlassian client over HTTP to the fake),
folders, uploads, web pages, Python packages and archives; incremental re-syncs, a sync
killed midway and resumed, deleting a source, and scheduling with hours windows.

Embeddings are real (all-MiniLM-L6-v2 from ../shared/models); texts are kept short so the
suite stays fast. Each test has its own data directory and database (the `db` fixture).
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, func, text, update
from sqlmodel import select

from services import crypto
from services.auth.errors import AccessDenied, ValidationError
from services.db import engine as db_engine
from services.db import migrate, session_scope
from services.db.models import DocChunk, DocDocument, DocSource, DocSymbol, JobRun
from services.docs import indexing, ingest, sources, store
from services.integrations.base import IntegrationAuthError, IntegrationError
from services.jobs import execute
from services.jobs.progress import ProgressReporter
from services.llm import providers
from services.search import dense, embedder, keyword
from services.search.documents import DocumentError, ParsedDocument, Section
from services.search.embedder import embed_one
from services.search.parsers import MAX_UPLOAD_BYTES
from tests.conftest import reset_process_caches
from tests.doc_samples import html_doc, pdf_bytes, png_bytes, targz_bytes, zip_bytes
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.llm_providers import ok, refused_url
from tests.llm_support import add_provider, run_async
from tests.unit.jobs_helpers import wait_for, wait_job

pytestmark = pytest.mark.integration

_BODY = re.compile(r".*/rest/api/content/\d+")


class SlowConfluence(FakeConfluence):
    """The fake, with an optional pause before each page body (to kill a sync midway) and a
    record of the page bodies asked for, taken as each request arrives."""

    body_delay = 0.0

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._arrived: list[str] = []

    def _serve(self, handler) -> None:
        path = urlsplit(handler.path).path
        if _BODY.fullmatch(path):
            with self._lock:
                self._arrived.append(path.rsplit("/", 1)[1])
            time.sleep(self.body_delay)
        super()._serve(handler)

    def bodies(self) -> list[str]:
        """The page ids whose body was requested, in order."""
        with self._lock:
            return list(self._arrived)

    def clear_requests(self) -> None:
        super().clear_requests()
        with self._lock:
            self._arrived.clear()


@pytest.fixture(autouse=True)
def _fresh_dense() -> Iterator[None]:
    """Source ids repeat across the tests' databases: no cached matrix may outlive its test."""
    dense.reset_dense()
    yield
    dense.reset_dense()


@pytest.fixture
def fake() -> Iterator[SlowConfluence]:
    with SlowConfluence() as server:
        server.add_space("ENG", "Engineering")
        server.add_space("OPS", "Operations")
        yield server


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com", role="admin")


@pytest.fixture
def member(make_user):
    return make_user("member@example.com")


def sync(source_id: int, **options) -> dict:
    """One indexing run in this process, with a real JobRun row and ProgressReporter."""
    row = JobRun(type=indexing.JOB_TYPE, status="running", params_json=json.dumps({"source_id": source_id}))
    with session_scope() as session:
        session.add(row)
    return indexing.run_sync(source_id, ProgressReporter(row.id), **options)


def source_row(source_id: int) -> DocSource:
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        assert row is not None
        return row


def documents(source_id: int) -> dict[str, DocDocument]:
    with session_scope() as session:
        rows = session.exec(select(DocDocument).where(DocDocument.source_id == source_id)).all()
    return {row.external_id: row for row in rows}


def chunks_of(source_id: int) -> list[DocChunk]:
    with session_scope() as session:
        return list(session.exec(select(DocChunk).where(DocChunk.source_id == source_id)
                                 .order_by(DocChunk.document_id, DocChunk.ordinal)).all())


def chunk_texts(source_id: int, external_id: str) -> str:
    with session_scope() as session:
        rows = session.exec(select(DocChunk.text).join(DocDocument, DocDocument.id == DocChunk.document_id)
                            .where(DocDocument.source_id == source_id, DocDocument.external_id == external_id)
                            .order_by(DocChunk.ordinal)).all()
    return "\n".join(rows)


def keyword_paths(source_id: int, query: str) -> list[str]:
    hits = keyword.search([source_id], query, limit=20)
    with session_scope() as session:
        owner = dict(session.exec(select(DocChunk.id, DocDocument.external_id)
                                  .join(DocDocument, DocDocument.id == DocChunk.document_id)).all())
    return list(dict.fromkeys(owner[chunk_id] for chunk_id, _ in hits))


def dense_ids(source_id: int, query: str) -> set[int]:
    return {chunk_id for chunk_id, _ in dense.search([source_id], embed_one(query), limit=100)}


def fts_rowids(query: str) -> list[int]:
    """What SQLite's FTS5 index itself holds for a word (ghost rows included)."""
    with session_scope() as session:
        return [row[0] for row in session.execute(
            text("SELECT rowid FROM doc_chunk_fts WHERE doc_chunk_fts MATCH :q"), {"q": query}).all()]


def fts_consistent() -> None:
    with session_scope() as session:
        session.execute(text("INSERT INTO doc_chunk_fts(doc_chunk_fts) VALUES ('integrity-check')"))


def assert_no_duplicates(source_id: int) -> None:
    pairs = [(c.document_id, c.ordinal) for c in chunks_of(source_id)]
    assert len(pairs) == len(set(pairs)), "a chunk was written twice"
    with session_scope() as session:
        ids = session.exec(select(DocDocument.external_id).where(DocDocument.source_id == source_id)).all()
    assert len(ids) == len(set(ids))


# --- Confluence ------------------------------------------------------------------------------

CODE_PAGE = """<h1>Rolling back</h1><p>When a release breaks checkout, roll it back.</p>
<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>
<ac:plain-text-body><![CDATA[deployctl rollback --to previous
kubectl -n shop rollout status deploy/checkout]]></ac:plain-text-body></ac:structured-macro>
<p>Then tell the #releases channel.</p>"""


def confluence_pages(fake: FakeConfluence) -> dict[str, str]:
    """Title -> id of a small ENG tree (and one OPS page, in a space not indexed)."""
    guides = fake.add_page("ENG", "Guides", "<p>Engineering guides for the shop team.</p>", labels=("index",))
    ids = {
        "Guides": guides,
        "Rollback runbook": fake.add_page("ENG", "Rollback runbook", CODE_PAGE, parent_id=guides,
                                          labels=("runbook", "deploy")),
        "VPN access": fake.add_page("ENG", "VPN access", "<p>Import the WireGuard profile to reach staging.</p>",
                                    parent_id=guides),
        "Pager duty": fake.add_page("ENG", "Pager duty", "<p>The pager escalates after fifteen minutes.</p>"),
        "Empty page": fake.add_page("ENG", "Empty page", ""),
    }
    fake.add_page("OPS", "Ops only", "<p>Not in a chosen space.</p>")
    return ids


def test_a_confluence_source_is_indexed_end_to_end(db, member, fake):
    pages = confluence_pages(fake)
    source_id = sources.create_confluence(member, url=fake.url + "/", token=fake.token, spaces=["ENG", " "])

    result = sync(source_id)

    assert result | {"chunks_written": 0} == {
        "listed": 5, "indexed": 5, "unchanged": 0, "removed": 0, "chunks_written": 0, "documents": 5,
        "chunks": result["chunks"], "symbols": 0, "errors": [], "complete": True}
    assert result["chunks"] == result["chunks_written"] >= 5
    row = source_row(source_id)
    assert (row.status, row.error, row.documents, row.chunks) == ("ready", "", 5, result["chunks"])
    assert row.last_sync_at is not None and json.loads(row.checkpoint_json)["complete"] is True
    stored = documents(source_id)
    assert set(stored) == set(pages.values())
    runbook = stored[pages["Rollback runbook"]]
    assert (runbook.title, runbook.version, runbook.location) == ("Rollback runbook", "1", "ENG")
    assert runbook.url == f"{fake.url}/pages/viewpage.action?pageId={pages['Rollback runbook']}"
    assert json.loads(runbook.labels) == ["runbook", "deploy"]
    assert runbook.content is None  # Confluence pages are re-read, not kept
    code = chunk_texts(source_id, pages["Rollback runbook"])
    assert "deployctl rollback --to previous\nkubectl -n shop rollout status deploy/checkout" in code
    assert "```bash" in code and "#releases" in code
    assert chunk_texts(source_id, pages["Empty page"]) == "Empty page"  # findable by its title
    assert keyword_paths(source_id, "kubectl rollout")[:1] == [pages["Rollback runbook"]]
    assert {r.auth for r in fake.requests} == {"bearer"}
    view = sources.get(member, source_id)
    assert view.detail == f"{fake.url} · spaces ENG" and view.documents == 5 and view.mine


def test_a_resync_fetches_only_edited_pages_and_drops_deleted_ones(db, member, fake):
    pages = confluence_pages(fake)
    source_id = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    sync(source_id)
    gone_chunks = {c.id for c in chunks_of(source_id)
                   if c.document_id == documents(source_id)[pages["Pager duty"]].id}
    assert gone_chunks and gone_chunks <= dense_ids(source_id, "pager escalation")
    fake.edit_page(pages["VPN access"], body="<p>Import the WireGuard profile; OpenVPN is retired.</p>",
                   labels=("network",))
    fake.delete_page(pages["Pager duty"])
    fake.clear_requests()

    result = sync(source_id)

    assert fake.bodies() == [pages["VPN access"]]
    assert (result["listed"], result["indexed"], result["unchanged"], result["removed"]) == (4, 1, 3, 1)
    stored = documents(source_id)
    assert set(stored) == set(pages.values()) - {pages["Pager duty"]}
    assert (stored[pages["VPN access"]].version, json.loads(stored[pages["VPN access"]].labels)) == ("2", ["network"])
    assert "OpenVPN is retired" in chunk_texts(source_id, pages["VPN access"])
    assert keyword_paths(source_id, "pager escalates fifteen") == []
    assert not gone_chunks & dense_ids(source_id, "pager escalation")
    assert source_row(source_id).documents == 4
    assert_no_duplicates(source_id)
    fts_consistent()


def test_a_wrong_token_saves_nothing_and_is_not_shown(db, member, fake):
    wrong = "wrong-pat-value-7f3a"
    with pytest.raises(IntegrationAuthError, match="Confluence refused the token") as raised:
        sources.create_confluence(member, url=fake.url, token=wrong, spaces=["ENG"])
    assert wrong not in str(raised.value)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(DocSource)).one() == 0
    for bad in ({"token": "", "spaces": ["ENG"]}, {"token": fake.token, "spaces": [" "]},
                {"token": fake.token, "spaces": ["ENG"], "url": "ftp://wiki"}):
        with pytest.raises(ValidationError):
            sources.create_confluence(member, **{"url": fake.url, **bad})
    with pytest.raises(IntegrationError, match="Could not reach Confluence"):
        sources.create_confluence(member, url=refused_url(), token=fake.token, spaces=["ENG"])


def test_the_token_is_stored_encrypted(db, member, fake):
    source_id = sources.create_confluence(member, url=fake.url, token=f"  {fake.token} ", spaces=["ENG"])
    with session_scope() as session:
        secret, config = session.execute(text("SELECT secret, config_json FROM doc_source WHERE id = :id"),
                                         {"id": source_id}).one()
    assert secret and fake.token not in secret and fake.token not in config
    assert crypto.decrypt(secret) == fake.token == sources.confluence_secret(source_id)
    assert fake.token not in repr(sources.get(member, source_id))


def test_a_token_refused_during_a_sync_marks_the_source_in_error(db, member, fake):
    confluence_pages(fake)
    source_id = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    sync(source_id)
    fake.token = "rotated-on-the-server"  # the stored token no longer works

    job_id = indexing.start(member, source_id)
    job = wait_job(job_id, timeout=60)

    assert job.status == "failed" and "Confluence refused the token (HTTP 401)" in job.error
    row = source_row(source_id)
    assert row.status == "error"
    assert row.error.startswith("Confluence refused the token (HTTP 401) while reading space ENG")
    assert "server-pat-secret" not in row.error + job.error + job.traceback
    assert row.documents == 5  # what was indexed stays askable


def test_a_server_failing_during_a_sync_keeps_what_was_indexed(db, member, fake):
    pages = confluence_pages(fake)
    source_id = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    sync(source_id)
    fake.edit_page(pages["VPN access"], body="<p>Changed.</p>")
    fake.fail(500, times=None, path_contains=f"/content/{pages['VPN access']}")

    with pytest.raises(IntegrationError, match="HTTP 500"):
        sync(source_id)

    row = source_row(source_id)
    assert row.status == "error" and "failed (HTTP 500)" in row.error
    assert set(documents(source_id)) == set(pages.values())  # an incomplete sync removes nothing
    assert documents(source_id)[pages["VPN access"]].version == "1"
    fake.stop()
    with pytest.raises(IntegrationError, match="Could not reach Confluence"):
        sync(source_id)
    assert source_row(source_id).status == "error" and len(documents(source_id)) == 5


def test_a_429_with_retry_after_is_waited_out(db, member, fake):
    pages = confluence_pages(fake)
    source_id = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    # kinds.py builds its client with the default sleep, so the shortest real wait is 1 s.
    fake.fail(429, times=1, retry_after=1, path_contains=f"/content/{pages['VPN access']}/child/page")
    started = time.monotonic()

    result = sync(source_id)

    assert time.monotonic() - started >= 1.0
    assert result["indexed"] == 5 and result["errors"] == [] and source_row(source_id).status == "ready"
    assert len(fake.requests_to(f"/content/{pages['VPN access']}/child/page")) == 2  # the refused one, retried


# --- a sync killed midway ------------------------------------------------------------------

def test_a_killed_sync_resumes_without_duplicates_or_refetching(db, member, fake):
    pages = [fake.add_page("ENG", f"Runbook {n}", f"<p>Service {n}: restart it with systemctl restart svc{n}; "
                                                  f"its dashboard is panel {n * 7}.</p>") for n in range(30)]
    source_id = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    job = JobRun(type=indexing.JOB_TYPE, owner_id=member.id, status="running", runner="in-process",
                 params_json=json.dumps({"source_id": source_id}))
    with session_scope() as session:
        session.add(job)
    assert sources.claim_for_sync(source_id)  # as indexing.start does
    sources.mark_queued(source_id, job.id)
    fake.body_delay = 0.1
    db_engine.reset_engine()  # no pooled connection may cross the fork
    embedder.embed(["loaded before the fork, as a worker that preloads it would be"])

    pid = os.fork()
    if pid == 0:  # the worker: killed before it finishes
        try:
            indexing.run_sync(source_id, ProgressReporter(job.id))
        finally:
            os._exit(0)
    try:
        first = wait_for(lambda: store.versions(source_id), timeout=60, what="the first written batch")
        wait_for(lambda: len(fake.bodies()) >= len(first) + 3, timeout=30, what="more page bodies")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    fake.body_delay = 0.0
    time.sleep(0.3)  # requests the child sent before it died are still being answered
    written = store.versions(source_id)
    fetched_before = fake.bodies()
    assert 0 < len(written) < len(pages) and len(fetched_before) > len(written)
    assert source_row(source_id).status == "indexing"

    with pytest.raises(ValidationError, match="already being indexed"):
        indexing.start(member, source_id)  # its job still looks alive
    assert execute.fail_lost_job(job.id, "killed")
    fake.clear_requests()
    job_id = indexing.start(member, source_id)
    finished = wait_job(job_id, timeout=90)

    assert finished.status == "succeeded", finished.error
    outcome = json.loads(finished.result_json)
    assert (outcome["indexed"], outcome["unchanged"], outcome["documents"]) == (30 - len(written), len(written), 30)
    assert not set(fake.bodies()) & set(written)  # what was written before the kill was not fetched again
    assert sorted(fake.bodies()) == sorted(set(pages) - set(written))
    assert set(documents(source_id)) == set(pages)
    assert_no_duplicates(source_id)
    assert source_row(source_id).status == "ready"
    fresh = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    sync(fresh)
    assert len(chunks_of(fresh)) == len(chunks_of(source_id)) == source_row(source_id).chunks
    assert {page: chunk_texts(source_id, page) for page in pages} == {page: chunk_texts(fresh, page) for page in pages}
    fts_consistent()


def test_a_finished_job_releases_a_source_left_queued(db, member, fake, monkeypatch):
    """A fast worker may finish the sync before `start` records the job id: the source must
    end in the job's own state, not stay "queued" (which also stops scheduled syncs)."""
    confluence_pages(fake)
    source_id = sources.create_confluence(member, url=fake.url, token=fake.token, spaces=["ENG"])
    submit = indexing.jobs.submit

    def fast_worker(*args, **kwargs):
        job_id = submit(*args, **kwargs)
        wait_job(job_id, timeout=60)
        return job_id

    monkeypatch.setattr(indexing.jobs, "submit", fast_worker)
    indexing.start(member, source_id)
    assert (source_row(source_id).status, source_row(source_id).error) == ("ready", "")
    fake.stop()
    job_id = indexing.start(member, source_id)
    row = source_row(source_id)
    assert (row.status, row.last_job_id) == ("error", job_id)
    assert "Could not reach Confluence" in row.error


# --- a folder on the server ------------------------------------------------------------------

def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_a_folder_is_resynced_incrementally(db, admin, tmp_path):
    folder = tmp_path / "handbook"
    write(folder / "deploy.md", "# Deploying\n\nRun deployctl ship after the CI is green.\n")
    write(folder / "notes.txt", "Parking: the garage under building B has forty spaces.\n")
    write(folder / "vpn.html", html_doc())
    write(folder / "leave.pdf", pdf_bytes(["Annual leave is 27 days a year."], title="Leave"))
    write(folder / "team" / "oncall.md", "# On call\n\nThe pager rotates weekly.\n")
    write(folder / "broken.pdf", b"%PDF-1.4\nthis is not really a PDF at all\n%%EOF")
    write(folder / ".git" / "HEAD.md", "# hidden\n")
    write(folder / "slides.pptx", b"PK\x03\x04 not indexed")
    source_id = sources.create_folder(admin, path=str(folder))

    first = sync(source_id)

    assert set(documents(source_id)) == {"deploy.md", "notes.txt", "vpn.html", "leave.pdf", "team/oncall.md"}
    assert (first["listed"], first["indexed"], first["documents"]) == (6, 5, 5)
    assert len(first["errors"]) == 1 and first["errors"][0].startswith("broken.pdf: broken.pdf could not be read as a PDF")
    row = source_row(source_id)
    assert row.status == "ready" and row.error.startswith("1 document(s) could not be indexed: broken.pdf")
    before = documents(source_id)
    assert before["leave.pdf"].title == "Leave" and before["vpn.html"].title == "Deploy Guide"
    time.sleep(0.01)
    write(folder / "deploy.md", "# Deploying\n\nRun deployctl ship --canary first, then everywhere.\n")
    (folder / "notes.txt").unlink()
    write(folder / "expenses.md", "# Expenses\n\nReceipts go into the finance tool within 30 days.\n")

    job = wait_job(indexing.start(admin, source_id), timeout=60)  # this time as the job
    second = json.loads(job.result_json)

    assert job.status == "succeeded"
    assert (second["indexed"], second["unchanged"], second["removed"]) == (2, 3, 1)
    assert [e.split(":")[0] for e in second["errors"]] == ["broken.pdf"]  # tried again, reported again
    after = documents(source_id)
    assert set(after) == {"deploy.md", "vpn.html", "leave.pdf", "team/oncall.md", "expenses.md"}
    for same in ("vpn.html", "leave.pdf", "team/oncall.md"):
        assert (after[same].version, after[same].updated_at) == (before[same].version, before[same].updated_at)
    assert after["deploy.md"].version != before["deploy.md"].version
    assert after["deploy.md"].updated_at > before["deploy.md"].updated_at
    assert "--canary" in chunk_texts(source_id, "deploy.md")
    assert keyword_paths(source_id, "garage building") == []
    assert keyword_paths(source_id, "receipts finance") == ["expenses.md"]
    assert_no_duplicates(source_id)
    fts_consistent()


def test_folder_sources_are_for_admins_and_existing_folders(db, admin, member, tmp_path):
    with pytest.raises(AccessDenied):
        sources.create_folder(member, path=str(tmp_path))
    with pytest.raises(ValidationError, match="is not a folder"):
        sources.create_folder(admin, path=str(tmp_path / "missing"))
    folder = tmp_path / "docs"
    write(folder / "a.md", "# A\n\nAlpha text.\n")
    source_id = sources.create_folder(admin, path=str(folder))
    sync(source_id)
    write(folder / "a.md", "# A\n\nAlpha text, changed.\n")
    (folder / "a.md").rename(tmp_path / "moved.md")
    folder.rmdir()
    with pytest.raises(DocumentError, match="is gone or unreadable"):
        sync(source_id)
    row = source_row(source_id)
    assert row.status == "error" and "is gone or unreadable" in row.error and row.documents == 1


# --- uploads and web pages -------------------------------------------------------------------

MARKDOWN = "# Release checklist\n\nFreeze the branch on Thursday; ship on Tuesday.\n"
TEXT = "Coffee machine\n\nDescale the coffee machine every second Friday.\n"
PDF = pdf_bytes(["Security badge rules", "Lost badges are blocked within one hour."], title="Badges")


def test_uploads_are_stored_checked_and_indexed(db, member):
    source_id = sources.create_files(member, name="Uploads")
    ids = {name: ingest.add_upload(member, source_id, name, data) for name, data in (
        ("checklist.md", MARKDOWN.encode()), ("guide.html", html_doc().encode()), ("badges.pdf", PDF),
        ("C:\\Users\\ann\\coffee.txt", TEXT.encode()))}
    stored = documents(source_id)
    assert set(stored) == {"checklist.md", "guide.html", "badges.pdf", "coffee.txt"}
    assert stored["badges.pdf"].content == PDF and stored["badges.pdf"].media_type == "application/pdf"
    assert chunks_of(source_id) == []  # stored now, indexed by the source's sync

    result = sync(source_id)

    assert (result["indexed"], result["errors"], result["documents"]) == (4, [], 4)
    assert keyword_paths(source_id, "descale")[:1] == ["coffee.txt"]
    assert keyword_paths(source_id, "badges blocked")[:1] == ["badges.pdf"]
    with session_scope() as session:
        pages = session.exec(select(DocChunk.page).where(DocChunk.document_id == ids["badges.pdf"])).all()
    assert sorted(pages) == [1, 2]

    for name, data, message in (
        ("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage", "could not be read as a PDF"),
        ("diagram.pdf", png_bytes(), "looks like a PNG image"),
        ("empty.md", b"", "is empty"),
        ("blank.txt", b" \n\t\n", "is empty"),
        ("huge.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "the limit is 25 MB"),
        ("archive.md", zip_bytes({"a.txt": "x"}), "looks like a ZIP archive"),
    ):
        with pytest.raises(DocumentError, match=message):
            ingest.add_upload(member, source_id, name, data)
    assert set(documents(source_id)) == {"checklist.md", "guide.html", "badges.pdf", "coffee.txt"}

    again = ingest.add_upload(member, source_id, "checklist.md", b"# Release checklist\n\nShip on Wednesday now.\n")
    assert again == ids["checklist.md"] and len(documents(source_id)) == 4
    result = sync(source_id)
    assert (result["indexed"], result["unchanged"]) == (1, 3)
    assert "Wednesday" in chunk_texts(source_id, "checklist.md")
    assert keyword_paths(source_id, "Thursday freeze") == []
    assert_no_duplicates(source_id)
    fts_consistent()


def test_uploads_go_only_into_ones_own_files_source(db, member, make_user, admin, tmp_path):
    other = make_user("other@example.com")
    source_id = sources.create_files(member)
    with pytest.raises(AccessDenied):
        ingest.add_upload(other, source_id, "x.md", MARKDOWN.encode())
    package = sources.create_package(member, package="jmespath")
    with pytest.raises(ValidationError, match="files source"):
        ingest.add_upload(member, package, "x.md", MARKDOWN.encode())
    with pytest.raises(ValidationError, match="at most 200"):
        sources.create_files(member, name="n" * 201)
    assert documents(source_id) == {}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        """Silent: access logs would only bury test output."""


@pytest.fixture
def web(tmp_path) -> Iterator[str]:
    """A local web server over a folder; yields its base URL."""
    root = tmp_path / "site"
    write(root / "guide.html", "<html><head><title>Travel guide</title></head><body><h1>Travel guide</h1>"
                               "<p>Book trains through the travel desk at least a week ahead. Flights need the "
                               "approval of your manager.</p></body></html>")
    write(root / "manual.pdf", pdf_bytes(["The printer on floor 3 takes A3 paper."], title="Printer manual"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def summarize(user, document_id: int) -> tuple[list[str], ingest.Summary]:
    async def run() -> list:
        return [item async for item in ingest.summarize(user, document_id)]

    items = run_async(run())
    assert isinstance(items[-1], ingest.Summary) and all(isinstance(i, str) for i in items[:-1]), items
    return items[:-1], items[-1]


def test_a_web_page_is_fetched_indexed_and_summarised(db, member, make_user, web, fake_llm):
    snoop = make_user("snoop@example.com")
    source_id = sources.create_files(member, name="Web")
    page_id = ingest.add_url(member, source_id, f"{web}/guide.html")
    pdf_id = ingest.add_url(member, source_id, f" {web}/manual.pdf ")
    stored = documents(source_id)
    assert set(stored) == {f"{web}/guide.html", f"{web}/manual.pdf"}
    assert (stored[f"{web}/guide.html"].url, stored[f"{web}/guide.html"].title) == (f"{web}/guide.html", "Travel guide")
    assert stored[f"{web}/manual.pdf"].title == "Printer manual" and pdf_id != page_id
    assert sync(source_id)["indexed"] == 2
    assert keyword_paths(source_id, "trains travel desk") == [f"{web}/guide.html"]

    add_provider(fake_llm, "primary", "openai", "sum-m1", input_price="1", output_price="2")
    fake_llm.script("sum-m1", ok(text="A travel guide.\n- Book trains a week ahead."))
    pieces, summary = summarize(member, page_id)
    assert summary.text == "A travel guide.\n- Book trains a week ahead." == "".join(pieces) and len(pieces) > 1
    assert (summary.source, summary.title, summary.document_id) == ("provider", "Travel guide", page_id)
    prompt = next(m["content"] for m in fake_llm.requests[0].body["messages"] if m["role"] == "user")
    assert '<untrusted_data source="document" label="Travel guide" index="1">' in prompt
    assert "Book trains through the travel desk" in prompt

    providers.remove("primary")
    pieces, fallback = summarize(member, pdf_id)
    assert fallback.source == "fallback"
    assert fallback.text.startswith("**No AI summary** (no model was reachable). The document begins: ")
    assert "takes A3 paper" in fallback.text
    with pytest.raises(AccessDenied):
        summarize(snoop, page_id)


def test_a_url_that_cannot_be_fetched_stores_nothing(db, member, web):
    source_id = sources.create_files(member, name="Web")
    for url, error, message in (
        (f"{web}/missing.html", DocumentError, "answered 404"),
        (refused_url() + "/page", DocumentError, "could not be fetched"),
        ("ftp://example.com/file.txt", ValidationError, "starting with https://"),
        ("not a url", ValidationError, "starting with https://"),
    ):
        with pytest.raises(error, match=message):
            ingest.add_url(member, source_id, url)
    assert documents(source_id) == {}


# --- Python packages -------------------------------------------------------------------------

SDIST = {
    "mini-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: mini\nVersion: 1.0\n",
    "mini-1.0/README.md": "# Mini\n\nMini greets people politely.\n",
    "mini-1.0/mini/__init__.py": '"""Mini: greetings."""\n\n\ndef greet(name: str, *, loud: bool = False) -> str:\n'
                                 '    """Say hello to `name`, in capitals when `loud`."""\n'
                                 '    return ("HELLO " if loud else "hello ") + name\n',
    "mini-1.0/mini/util.py": 'class Greeter:\n    """Keeps a greeting."""\n\n    def __init__(self, word: str = "hi"):\n'
                             '        self.word = word\n\n    def to(self, name: str) -> str:\n'
                             '        """The greeting for `name`."""\n        return f"{self.word} {name}"\n',
    "mini-1.0/tests/test_mini.py": "def test_x(): pass\n",
}


def symbols_of(source_id: int) -> dict[str, DocSymbol]:
    with session_scope() as session:
        return {s.qualname: s for s in session.exec(select(DocSymbol).where(DocSymbol.source_id == source_id)).all()}


def test_an_installed_package_fills_the_symbol_table(db, admin):
    source_id = sources.create_package(admin, package="jmespath")
    result = sync(source_id)
    found = symbols_of(source_id)
    assert result["errors"] == [] and result["symbols"] == len(found) > 20
    search = found["jmespath.search"]
    assert (search.kind, search.file, search.signature) == ("function", "jmespath/__init__.py",
                                                            "(expression, data, options=None)")
    assert "jmespath.parser.Parser.parse" in found
    assert {"module:jmespath", "module:jmespath.parser"} <= set(documents(source_id))
    assert any(eid.startswith("doc:README") for eid in documents(source_id))
    assert sync(source_id)["unchanged"] == result["listed"]  # nothing changed, nothing re-read
    assert len(symbols_of(source_id)) == len(found)
    for name in ("not a package!", ""):
        with pytest.raises(ValidationError):
            sources.create_package(admin, package=name)
    missing = sources.create_package(admin, package="no_such_package_here")
    with pytest.raises(DocumentError, match="No installed Python package"):
        sync(missing)
    assert source_row(missing).status == "error"


def test_an_uploaded_sdist_fills_the_symbol_table(db, member):
    source_id = ingest.add_package_archive(member, "mini-1.0.tar.gz", targz_bytes(SDIST))
    assert sources.archive_path(source_id).read_bytes() == targz_bytes(SDIST)

    result = sync(source_id)

    found = symbols_of(source_id)
    assert found["mini.greet"].signature == "(name: str, *, loud: bool = False) -> str"
    assert "Say hello" in found["mini.greet"].docstring
    assert found["mini.util.Greeter.to"].signature == "(self, name: str) -> str"
    assert not any(name.startswith("tests") for name in found)
    assert set(documents(source_id)) == {"module:mini", "module:mini.util", "doc:README.md"}
    assert result["symbols"] == len(found)
    assert keyword_paths(source_id, "politely") == ["doc:README.md"]
    assert sources.get(member, source_id).detail == "mini-1.0.tar.gz"


@pytest.mark.parametrize(("archive", "message"), [
    (targz_bytes({"pkg/__init__.py": "", "pkg/../../etc/cron.d/evil.py": "boom"}), "points outside the archive"),
    (targz_bytes({"pkg/__init__.py": ""}, symlinks={"pkg/passwd.py": "/etc/passwd"}), "is a link"),
    (zip_bytes({"pkg/__init__.py": "", "/abs/evil.py": "x"}), "points outside the archive"),
    (targz_bytes({"x-1.0/setup.py": "", "x-1.0/README": "hi"}), "no Python package"),
    (b"just some text", "is not a .tar.gz"),
])
def test_a_malicious_or_useless_archive_is_refused(db, member, archive, message):
    with pytest.raises(DocumentError, match=message):
        ingest.add_package_archive(member, "upload.tar.gz", archive)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(DocSource)).one() == 0
    folder = sources.archive_path(1).parent
    assert not folder.exists() or not any(folder.iterdir())


# --- deleting a source -----------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, db, monkeypatch) -> str:
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
        reset_process_caches()
        migrate.upgrade()
    return request.param


def test_deleting_a_source_removes_everything_it_indexed(backend, make_user):
    owner = make_user("owner@example.com", role="admin")
    kept = sources.create_files(owner, name="Kept")
    ingest.add_upload(owner, kept, "kept.md", b"# Kept\n\nThe zyzzyva beetle note that stays.\n")
    sync(kept)
    doomed = sources.create_files(owner, name="Doomed")
    ingest.add_upload(owner, doomed, "doomed.md", b"# Doomed\n\nThe zyzzyva quokka note that goes.\n")
    sync(doomed)
    package = ingest.add_package_archive(owner, "mini-1.0.tar.gz", targz_bytes(SDIST))
    sync(package)
    doomed_chunks = {c.id for c in chunks_of(doomed)}
    assert keyword_paths(doomed, "quokka") == ["doomed.md"] and doomed_chunks <= dense_ids(doomed, "quokka note")

    sources.delete(owner, doomed)
    sources.delete(owner, package)

    with session_scope() as session:
        for model in (DocDocument, DocChunk, DocSymbol):
            assert session.exec(select(func.count()).select_from(model)
                                .where(model.source_id.in_([doomed, package]))).one() == 0
    assert keyword.search([doomed, kept], "quokka", limit=10) == []
    assert [c for c, _ in keyword.search([kept], "zyzzyva", limit=10)] == [c.id for c in chunks_of(kept)]
    assert dense.search([doomed], embed_one("quokka note"), limit=10) == []
    assert not sources.archive_path(package).exists()
    if backend == "sqlite":
        assert fts_rowids("quokka") == []  # no ghost rows in the full-text index
        assert fts_rowids("zyzzyva") == [c.id for c in chunks_of(kept)]
        fts_consistent()
    with pytest.raises(AccessDenied):
        sources.delete(owner, doomed)


def test_ids_are_never_reused_so_cached_vectors_stay_right(backend, make_user):
    """Each process caches chunk vectors by chunk id and source id: a re-synced document's
    new chunk must not take its deleted chunk's id (SQLite reused the largest one)."""
    owner = make_user("owner@example.com")
    source_id = sources.create_files(owner)
    ingest.add_upload(owner, source_id, "tea.md", b"# Kombucha\n\nFerment sweet tea with a SCOBY.\n")
    ingest.add_upload(owner, source_id, "park.md", b"# Parking\n\nThe garage has forty car spaces.\n")
    sync(source_id)
    park = documents(source_id)["park.md"].id
    old = {c.id for c in chunks_of(source_id)}
    assert dense.search([source_id], embed_one("where do I park my car"), limit=1)[0][0] in \
        {c.id for c in chunks_of(source_id) if c.document_id == park}  # and its matrix is cached now

    ingest.add_upload(owner, source_id, "park.md", b"# Volcanoes\n\nMagma erupts from the crater.\n")
    sync(source_id)

    new = {c.id for c in chunks_of(source_id)} - old
    assert len(new) == 1
    [(best, similarity)] = dense.search([source_id], embed_one("volcano eruption magma"), limit=1)
    assert best in new and similarity > 0.5
    with session_scope() as session:  # deleted by another process: this one's cache is not told
        session.exec(delete(DocSource).where(DocSource.id == source_id))
    assert sources.create_files(owner) > source_id


# --- scheduling ------------------------------------------------------------------------------

def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


def set_row(source_id: int, **values) -> None:
    with session_scope() as session:
        session.exec(update(DocSource).where(DocSource.id == source_id).values(**values))


def test_iter_due_honours_intervals_windows_and_paused_runs(db, member):
    def new(name: str, interval: int, window: tuple[int, int] | None = None, **row) -> int:
        source_id = sources.create_files(member, name=name)
        start, end = window or (None, None)
        sources.set_schedule(member, source_id, interval_minutes=interval, window_start_hour=start,
                             window_end_hour=end)
        set_row(source_id, **{"status": "ready", **row})
        return source_id

    hourly_fresh = new("hourly, synced 30 min ago", 60, last_sync_at=at(12) - timedelta(minutes=30))
    hourly_stale = new("hourly, synced 2 h ago", 60, last_sync_at=at(12) - timedelta(hours=2))
    never = new("never synced", 60)
    manual = new("only when asked", 0)
    running = new("already running", 60, status="indexing", last_sync_at=at(0))
    queued = new("already queued", 60, status="queued", last_sync_at=at(0))
    nightly = new("nightly 22-6", 60, (22, 6), last_sync_at=at(0) - timedelta(days=1))
    office = new("office 9-17", 60, (9, 17), last_sync_at=at(0) - timedelta(days=1))
    paused = new("paused at 6", 24 * 60, (22, 6), last_sync_at=at(12),
                 checkpoint_json=json.dumps({"complete": False, "paused": True, "done": 10, "total": 25}))
    failed = new("failed last time", 60, status="error", last_sync_at=at(9))
    del manual, running, queued

    def due(now: datetime) -> set[int]:
        return set(indexing.iter_due(now))

    assert due(at(12)) == {hourly_stale, never, office, failed}
    assert due(at(12, 31)) == {hourly_fresh, hourly_stale, never, office, failed}
    assert due(at(23)) == {hourly_fresh, hourly_stale, never, nightly, paused, failed}
    assert nightly in due(at(3)) and paused in due(at(3)) and nightly in due(at(22))
    assert nightly not in due(at(6)) and office not in due(at(17)) and office in due(at(9))
    assert paused not in due(at(12, 59))  # paused, but outside its window

    for bad in ({"interval_minutes": 3}, {"interval_minutes": -1}, {"interval_minutes": 7 * 24 * 60 + 1},
                {"interval_minutes": 60, "window_start_hour": 22}, {"interval_minutes": 60, "window_start_hour": 5,
                                                                      "window_end_hour": 5},
                {"interval_minutes": 60, "window_start_hour": 24, "window_end_hour": 6}):
        with pytest.raises(ValidationError):
            sources.set_schedule(member, never, **bad)


def test_a_scheduled_run_stops_at_the_end_of_its_window_and_the_next_one_continues(db, admin, tmp_path):
    folder = tmp_path / "many"
    for n in range(25):
        write(folder / f"note-{n:02d}.md", f"# Note {n}\n\nTopic number {n}: the {n}th office plant needs water.\n")
    source_id = sources.create_folder(admin, path=str(folder))
    sources.set_schedule(admin, source_id, interval_minutes=60, window_start_hour=22, window_end_hour=6)
    calls = []

    def clock() -> datetime:  # the window closes during the 11th document
        calls.append(1)
        return at(5, 59) if len(calls) <= 10 else at(6, 0)

    first = sync(source_id, scheduled=True, now=clock)

    assert (first["complete"], first["indexed"], first["documents"], first["removed"]) == (False, 10, 10, 0)
    row = source_row(source_id)
    assert row.status == "ready" and row.error.startswith("Paused at the end of its hours window after 10 of 25")
    assert row.last_sync_at is None and json.loads(row.checkpoint_json)["complete"] is False
    assert source_id not in set(indexing.iter_due(at(6)))
    assert source_id in set(indexing.iter_due(at(22)))  # paused: due as soon as its window opens
    written = documents(source_id)

    second = sync(source_id, scheduled=True, now=lambda: at(23))

    assert (second["complete"], second["indexed"], second["unchanged"], second["documents"]) == (True, 15, 10, 25)
    after = documents(source_id)
    assert all(after[eid].updated_at == doc.updated_at for eid, doc in written.items())
    row = source_row(source_id)
    assert (row.status, row.error) == ("ready", "") and row.last_sync_at is not None
    assert source_id not in set(indexing.iter_due(at(23, 30)))
    assert_no_duplicates(source_id)
    unscheduled = sync(source_id, scheduled=False, now=lambda: at(12))  # asked by hand: no window
    assert unscheduled["complete"] is True


def test_submit_due_starts_scheduled_syncs_as_the_owner_or_an_admin(db, admin, member, make_user, tmp_path):
    from services.auth import users

    leaver = make_user("leaver@example.com")
    mine = sources.create_files(member, name="Member's")
    orphaned = sources.create_files(leaver, name="Leaver's")
    manual = sources.create_files(member, name="Only when asked")
    for source_id in (mine, orphaned):
        sources.set_schedule(admin, source_id, interval_minutes=60)
    users.set_active(leaver.id, False)
    now = datetime.now(UTC)

    assert indexing.submit_due(now) == 2

    with session_scope() as session:
        jobs = {json.loads(j.params_json)["source_id"]: j for j in session.exec(select(JobRun)).all()}
    assert set(jobs) == {mine, orphaned} and manual not in jobs
    assert (jobs[mine].owner_id, jobs[orphaned].owner_id) == (member.id, admin.id)
    assert all(json.loads(j.params_json)["scheduled"] is True for j in jobs.values())
    for job in jobs.values():
        assert wait_job(job.id, timeout=30).status == "succeeded"
    assert indexing.submit_due(now + timedelta(minutes=5)) == 0  # synced, not due again yet
    assert indexing.submit_due(now + timedelta(minutes=61)) == 2


def test_an_unloadable_embedding_model_fails_the_sync_clearly(db, member, monkeypatch):
    from services.settings import reset_settings_cache

    source_id = sources.create_files(member)
    ingest.add_upload(member, source_id, "a.md", MARKDOWN.encode())
    monkeypatch.setenv("LLMCODER_EMBEDDING_MODEL_PATH", str(Path("/nonexistent/model")))
    reset_settings_cache()
    embedder.reset_embedder()
    try:
        with pytest.raises(embedder.EmbeddingUnavailable):
            sync(source_id)
        row = source_row(source_id)
        assert row.status == "error"
        assert row.error == ("Indexing stopped: EmbeddingUnavailable: LLMCODER_EMBEDDING_MODEL_PATH is "
                             "/nonexistent/model, which is not a folder")
        assert chunks_of(source_id) == []
    finally:
        monkeypatch.delenv("LLMCODER_EMBEDDING_MODEL_PATH")
        reset_settings_cache()
        embedder.reset_embedder()
    assert sync(source_id)["indexed"] == 1 and source_row(source_id).status == "ready"


def test_the_sync_job_is_registered_and_needs_a_source(db, member):
    with pytest.raises(ValidationError, match="was deleted"):
        sync(10**6)
    job_id = indexing.start(member, sources.create_files(member))
    assert wait_job(job_id, timeout=30).status == "succeeded"
    with pytest.raises(AccessDenied):
        indexing.start(member, 10**6)


def test_files_into_a_new_collection_are_checked_one_by_one_and_indexed(db, member):
    good = b"# Release checklist\n\nTag the release, then announce it in #releases.\n"
    added = ingest.add_files(member, None, [("checklist.md", good), ("broken.pdf", b"%PDF-1.4 truncated")],
                             name="Team files")
    assert added.source_id is not None and added.job_id and added.stored == 1
    assert added.results[0] == ("checklist.md", "")
    assert "could not be read as a PDF" in added.results[1][1]
    assert wait_job(added.job_id, timeout=60).status == "succeeded"
    assert source_row(added.source_id).chunks >= 1


def test_a_new_collection_that_receives_nothing_is_not_kept(db, member):
    before = {view.id for view in sources.list_sources(member)}
    added = ingest.add_files(member, None, [("empty.txt", b"  \n")], name="Nothing")
    assert (added.source_id, added.stored, added.job_id) == (None, 0, "")
    assert "empty" in added.results[0][1]
    assert {view.id for view in sources.list_sources(member)} == before
    with pytest.raises(ValidationError, match="Choose one or more files"):
        ingest.add_files(member, None, [])


# --- the pipelined writer ---------------------------------------------------------------------

def _page(name: str) -> store.NewDocument:
    return store.NewDocument(name, ParsedDocument(name.title(), [Section("", f"All about {name}.")], "text/plain"),
                             version="1")


def test_the_writer_commits_batches_in_order_and_raises_a_failed_commit(db, monkeypatch):
    source_id = sources.create_eval("writer")
    with store.Writer(source_id) as writer:
        assert writer.write([_page("alpha"), _page("beta")]) == 2
        writer.write([_page("gamma")])
    assert set(documents(source_id)) == {"alpha", "beta", "gamma"}  # the last commit waited for on exit

    real = store._write

    def failing(session, source, doc, vectors):
        if doc.external_id == "delta":
            raise RuntimeError("disk full")
        real(session, source, doc, vectors)

    monkeypatch.setattr(store, "_write", failing)
    with pytest.raises(RuntimeError, match="disk full"), store.Writer(source_id) as writer:
        writer.write([_page("delta")])
        writer.write([_page("epsilon")])  # waits for delta's commit, which failed
    assert "delta" not in documents(source_id) and "epsilon" not in documents(source_id)
    assert_no_duplicates(source_id)

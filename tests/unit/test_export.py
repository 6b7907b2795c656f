"""The data export job (in-process runner) and the signed download links to its ZIP."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlmodel import select

from services import runtime_settings
from services.auth import api_tokens, sessions, users
from services.auth.errors import AccessDenied
from services.db import session_scope
from services.db.models import ApiToken, AuthSession, JobRun, User
from services.db.models.base import utcnow
from services.jobs import downloads, export, service
from services.jobs.progress import JobCancelled
from services.llm import calls
from services.notifications.service import notify, recent
from tests.unit.jobs_helpers import wait_job

PASSWORD = "correct horse 1"
EXPECTED_FILES = {"profile.json", "sessions.json", "api_tokens.json", "notifications.json", "jobs.json",
                  "llm_calls.json", "llm_feedback.json", "llm_failure_reports.json", "manifest.json"}


@pytest.fixture
def people(make_user):
    owner = make_user("owner@example.com")
    other = make_user("other@example.com")
    admin = make_user("admin@example.com", role="admin")
    for user, tag in ((owner, "owner"), (other, "other")):
        api_tokens.create(user.id, f"{tag}-laptop-token")
        sessions.sign_in(user.email, PASSWORD, user_agent=f"{tag}-browser")
        notify(user.id, f"Hello {tag}", body=f"{tag}-private-body")
        call_id = calls.log(calls.CallRecord(request_id=f"{tag}-request", status="ok", feature="test",
                                             user_id=user.id, user_prompt=f"{tag}-private-prompt"))
        calls.add_feedback(call_id, user_id=user.id, rating=5, comment=f"{tag}-feedback")
    return owner, other, admin


@pytest.fixture
def exported(people, data_dir):
    owner, other, admin = people
    failed = wait_job(service.submit(owner, "worker_check", {"fail": True}))
    assert failed.status == "failed" and failed.traceback
    wait_job(service.submit(other, "worker_check", {}))
    job_id = service.submit(owner, "data_export", {"user_id": owner.id})
    row = wait_job(job_id, timeout=20)
    assert row.status == "succeeded", (row.error, row.traceback)
    return {"owner": owner, "other": other, "admin": admin, "job_id": job_id, "row": row, "failed_id": failed.id}


def _secrets_of(user_id: int) -> list[str]:
    with session_scope() as session:
        values = [session.get(User, user_id).password_hash]
        values += [t.token_hash for t in session.exec(select(ApiToken).where(ApiToken.user_id == user_id))]
        values += [s.token_hash for s in session.exec(select(AuthSession).where(AuthSession.user_id == user_id))]
    assert len(values) == 3
    return values


def test_export_writes_a_zip_of_the_users_data_without_credentials(exported, data_dir):
    owner, job_id, row = exported["owner"], exported["job_id"], exported["row"]
    assert row.progress == 100 and row.message == "Done" and row.runner == "in-process"
    zip_path = data_dir / "exports" / str(owner.id) / f"{job_id}.zip"
    assert zip_path.is_file()
    assert not list(zip_path.parent.glob("*.part"))

    with zipfile.ZipFile(zip_path) as archive:
        assert set(archive.namelist()) == EXPECTED_FILES
        raw = {name: archive.read(name).decode() for name in archive.namelist()}
    everything = "\n".join(raw.values())
    assert "password_hash" not in everything and "token_hash" not in everything
    for secret in _secrets_of(owner.id):
        assert secret not in everything

    data = {name: json.loads(text) for name, text in raw.items()}
    [profile] = data["profile.json"]
    assert profile["email"] == "owner@example.com" and profile["id"] == owner.id
    assert [s["user_agent"] for s in data["sessions.json"]] == ["owner-browser"]
    assert [t["name"] for t in data["api_tokens.json"]] == ["owner-laptop-token"]
    assert [n["title"] for n in data["notifications.json"]] == ["Hello owner"]
    jobs = {j["id"]: j for j in data["jobs.json"]}
    assert set(jobs) == {exported["failed_id"], job_id}
    # Tracebacks are admin-only in the app, so the member's export leaves them out.
    assert all("traceback" not in j for j in jobs.values())
    assert jobs[exported["failed_id"]]["error"] == "RuntimeError: Worker check asked to fail"
    manifest = data["manifest.json"]
    assert manifest["user_id"] == owner.id and manifest["format"] == 1
    assert [c["user_prompt"] for c in data["llm_calls.json"]] == ["owner-private-prompt"]
    assert [f["comment"] for f in data["llm_feedback.json"]] == ["owner-feedback"]
    assert manifest["counts"] == {"profile": 1, "sessions": 1, "api_tokens": 1, "notifications": 1, "jobs": 2,
                                  "llm_calls": 1, "llm_feedback": 1, "llm_failure_reports": 0}

    result = service.get(owner, job_id).result
    assert result["file"] == f"exports/{owner.id}/{job_id}.zip"
    assert result["bytes"] == zip_path.stat().st_size
    assert re.fullmatch(r"llmcoder-export-\d{4}-\d{2}-\d{2}\.zip", result["filename"])
    assert result["counts"] == manifest["counts"]


def test_export_contains_nothing_of_another_user(exported, data_dir):
    zip_path = data_dir / "exports" / str(exported["owner"].id) / f"{exported['job_id']}.zip"
    with zipfile.ZipFile(zip_path) as archive:
        everything = "\n".join(archive.read(name).decode() for name in archive.namelist())
    for marker in ("other@example.com", "other-laptop-token", "other-browser", "Hello other", "other-private-body",
                   "other-private-prompt", "other-feedback"):
        assert marker not in everything
    for secret in _secrets_of(exported["other"].id):
        assert secret not in everything
    assert not (data_dir / "exports" / str(exported["other"].id)).exists()


def test_export_notifies_its_owner_only(exported):
    owner_titles = [n.title for n in recent(exported["owner"].id)]
    assert owner_titles.count("Your data export is ready") == 1
    [ready] = [n for n in recent(exported["owner"].id) if n.title == "Your data export is ready"]
    assert ready.kind == "job" and ready.link == "/jobs" and not ready.read
    assert "Your data export is ready" not in [n.title for n in recent(exported["other"].id)]


def test_a_cancelled_export_leaves_no_partial_file(people, data_dir):
    owner = people[0]

    class CancelOnThirdUpdate:
        job_id = "cancelled-export"
        calls = 0

        def update(self, percent, message=""):
            self.calls += 1
            if self.calls == 3:
                raise JobCancelled("Cancelled by the user.")

    with pytest.raises(JobCancelled):
        export.run_export(CancelOnThirdUpdate(), {"user_id": owner.id})
    folder = data_dir / "exports" / str(owner.id)
    assert list(folder.iterdir()) == []
    assert "Your data export is ready" not in [n.title for n in recent(owner.id)]


# --- signed download links ----------------------------------------------------------------------


def _link(user, job_id: str) -> tuple[int, int, str]:
    path = downloads.signed_path(user, job_id)
    assert path.startswith(f"/api/jobs/{job_id}/download?")
    query = parse_qs(urlsplit(path).query)
    return int(query["u"][0]), int(query["e"][0]), query["s"][0]


def test_owner_link_resolves_to_the_zip(exported, data_dir):
    owner, job_id = exported["owner"], exported["job_id"]
    user_id, expires, signature = _link(owner, job_id)
    assert user_id == owner.id
    assert time.time() < expires <= time.time() + downloads.LINK_SECONDS + 1
    path, filename = downloads.resolve(job_id, user_id, expires, signature)
    assert path == (data_dir / "exports" / str(owner.id) / f"{job_id}.zip").resolve()
    assert filename == service.get(owner, job_id).result["filename"]


def test_tampered_links_are_refused(exported):
    job_id = exported["job_id"]
    user_id, expires, signature = _link(exported["owner"], job_id)
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for args in (
        (job_id, user_id, expires, flipped),
        (job_id, user_id, expires, ""),
        (job_id, user_id, expires, signature.upper()),
        (job_id, user_id, expires, "é" * len(signature)),  # non-ASCII must not crash the check
        (job_id, user_id, expires + 3600, signature),  # stretched lifetime
        (exported["failed_id"], user_id, expires, signature),  # another job
    ):
        with pytest.raises(downloads.DownloadRefused, match="not valid"):
            downloads.resolve(*args)


def test_expired_links_are_refused(exported, monkeypatch):
    monkeypatch.setattr(downloads, "LINK_SECONDS", -1)
    args = _link(exported["owner"], exported["job_id"])
    with pytest.raises(downloads.DownloadRefused, match="expired"):
        downloads.resolve(exported["job_id"], *args)


def test_links_of_or_for_other_users_are_refused(exported):
    owner, other, admin, job_id = exported["owner"], exported["other"], exported["admin"], exported["job_id"]
    _, expires, signature = _link(owner, job_id)
    with pytest.raises(downloads.DownloadRefused):
        downloads.resolve(job_id, other.id, expires, signature)
    # Even a correctly signed link naming another member does not open this job.
    forged = downloads._signature(job_id, other.id, expires)
    with pytest.raises(downloads.DownloadRefused, match="not valid"):
        downloads.resolve(job_id, other.id, expires, forged)
    with pytest.raises(AccessDenied):
        downloads.signed_path(other, job_id)
    # Admins may fetch any user's export.
    path, _ = downloads.resolve(job_id, *_link(admin, job_id))
    assert path.name == f"{job_id}.zip"


def test_jobs_without_a_file_have_no_link(exported):
    owner = exported["owner"]
    check = wait_job(service.submit(owner, "worker_check", {}))
    assert check.status == "succeeded"
    for job_id in (check.id, exported["failed_id"]):
        with pytest.raises(downloads.DownloadRefused, match="no file"):
            downloads.signed_path(owner, job_id)
        expires = int(time.time()) + 60
        with pytest.raises(downloads.DownloadRefused, match="no file"):
            downloads.resolve(job_id, owner.id, expires, downloads._signature(job_id, owner.id, expires))


def test_a_disabled_signer_or_a_deleted_file_is_refused(exported, data_dir):
    owner, job_id = exported["owner"], exported["job_id"]
    args = _link(owner, job_id)
    users.set_active(owner.id, False)
    with pytest.raises(downloads.DownloadRefused, match="not valid"):
        downloads.resolve(job_id, *args)
    users.set_active(owner.id, True)
    assert downloads.resolve(job_id, *args)[0].is_file()
    (data_dir / "exports" / str(owner.id) / f"{job_id}.zip").unlink()
    with pytest.raises(downloads.DownloadRefused, match="gone"):
        downloads.resolve(job_id, *args)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_download_route_serves_genuine_links_and_refuses_tampered_ones(exported):
    from starlette.testclient import TestClient

    from llmcoder_app.api import api

    owner, job_id = exported["owner"], exported["job_id"]
    client = TestClient(api, raise_server_exceptions=False)
    good = client.get(downloads.signed_path(owner, job_id))
    assert good.status_code == 200
    assert good.headers["content-type"] == "application/zip"
    assert set(zipfile.ZipFile(io.BytesIO(good.content)).namelist()) == EXPECTED_FILES
    user_id, expires, _ = _link(owner, job_id)
    bad = client.get(f"/api/jobs/{job_id}/download?u={user_id}&e={expires}&s={quote('é' * 64)}")
    assert bad.status_code == 403, bad.text
    assert bad.json() == {"error": "This download link is not valid."}


def test_a_new_export_deletes_exports_older_than_the_retention(exported, data_dir):
    owner, old_id = exported["owner"], exported["job_id"]
    old_file = data_dir / json.loads(exported["row"].result_json)["file"]
    assert old_file.exists()
    runtime_settings.set_value("jobs.export_keep_days", "3")
    with session_scope() as session:
        row = session.get(JobRun, old_id)
        row.finished_at = utcnow() - timedelta(days=4)
        session.add(row)

    fresh = wait_job(service.submit(owner, "data_export", {"user_id": owner.id}), timeout=20)

    assert fresh.status == "succeeded"
    assert not old_file.exists()
    old = service.get(owner, old_id)
    assert "file" not in old.result and old.result["expired"] is True
    assert "deleted after 3 day" in old.message
    assert (data_dir / json.loads(fresh.result_json)["file"]).exists()
    with pytest.raises(downloads.DownloadRefused):
        downloads.signed_path(owner, old_id)


def test_exports_inside_the_retention_are_kept(exported, data_dir):
    owner = exported["owner"]
    old_file = data_dir / json.loads(exported["row"].result_json)["file"]
    wait_job(service.submit(owner, "data_export", {"user_id": owner.id}), timeout=20)
    assert old_file.exists()

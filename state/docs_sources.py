"""Doc Q&A's Sources page: the sources with live indexing progress and their actions, and the
forms that add Confluence sites, uploaded files, web pages, Python packages and (admins) folders."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TypedDict, TypeVar

import reflex as rx

from services.auth.errors import AuthError
from services.auth.users import AuthedUser
from services.docs import indexing, ingest, sources
from services.integrations.base import IntegrationError
from services.jobs.runners import JobQueueUnavailable
from services.llm.types import LLMError
from services.search.documents import DocumentError
from state.formatting import when
from state.jobs import job_progress
from state.session import SessionState
from state.streaming import batched

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_MS = 2000
# What a form shows inline. AuthError covers ValidationError and the services' refusal of a
# source that vanished or is not the user's; a missing session is refused by `_require` first.
USER_ERRORS = (AuthError, DocumentError, IntegrationError, JobQueueUnavailable)
# Packages are public documentation, so they are shared unless unticked.
SHARE_DEFAULTS = {"confluence": False, "files": False, "package": True, "folder": False}
FORMS = ("sources", "schedule", "confluence", "files", "url", "package", "folder")
NEW_COLLECTION = "new"
DEFAULT_COLLECTION = "Uploaded files"
CONFLUENCE_FIELDS = ("url", "token", "email", "name", "keys")
FILES_UPLOAD_ID = "docs-upload"
PACKAGE_UPLOAD_ID = "docs-package-upload"


class SourceRow(TypedDict):
    id: int
    kind: str
    name: str
    detail: str
    owner: str  # "" when it is the viewer's own
    shared: bool
    manage: bool  # the viewer may re-sync, share, schedule and delete it
    status: str
    error: str
    documents: int
    chunks: int
    symbols: int
    last_sync: str
    schedule: str
    active: bool
    progress: int
    message: str


class Collection(TypedDict):
    id: str
    name: str


class UploadResult(TypedDict):
    name: str
    ok: bool
    message: str


class SpaceOption(TypedDict):
    key: str
    name: str


def _schedule(view: sources.SourceView) -> str:
    if not view.sync_interval_minutes:
        return ""
    return f"Every {view.sync_interval_minutes} min" + (f" · {view.window}" if view.window else "")


def _hour(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text else None


class DocsSourcesState(SessionState):
    sources: list[SourceRow] = rx.field(default_factory=list)
    any_active: bool = False
    errors: dict[str, str] = rx.field(default_factory=lambda: dict.fromkeys(FORMS, ""))
    notes: dict[str, str] = rx.field(default_factory=lambda: dict.fromkeys(FORMS, ""))
    share: dict[str, bool] = rx.field(default_factory=lambda: dict(SHARE_DEFAULTS))
    # The schedule dialog (0: closed).
    schedule_id: int = 0
    schedule_name: str = ""
    schedule_interval: str = ""
    schedule_start: str = ""
    schedule_end: str = ""
    # Confluence: the spaces the token sees and the ones ticked.
    spaces: list[SpaceOption] = rx.field(default_factory=list)
    chosen_spaces: list[str] = rx.field(default_factory=list)
    # Files and web pages go into one of the user's files sources, or a new one.
    collections: list[Collection] = rx.field(default_factory=list)
    collection: str = NEW_COLLECTION
    collection_name: str = DEFAULT_COLLECTION
    upload_results: list[UploadResult] = rx.field(default_factory=list)
    summary_title: str = ""
    summary: str = ""
    summary_notice: str = ""
    summarizing: bool = False
    # Typed Confluence fields live on the server only: the token is never sent back to the page.
    _confluence: dict[str, str] = rx.field(default_factory=dict)
    _summary_for: int = 0

    # ------------------------------------------------------------ listing

    def _row(self, user: AuthedUser, view: sources.SourceView) -> SourceRow:
        active = view.status in sources.ACTIVE
        progress, message = job_progress(user, view.last_job_id if active else None, "Indexing…")
        return {"id": view.id, "kind": view.kind, "name": view.name, "detail": view.detail,
                "owner": "" if view.mine else view.owner_email, "shared": view.shared,
                "manage": view.mine or user.is_admin, "status": view.status, "error": view.error,
                "documents": view.documents, "chunks": view.chunks, "symbols": view.symbols,
                "last_sync": when(view.last_sync_at) or "never", "schedule": _schedule(view), "active": active,
                "progress": progress, "message": message}

    def _reload(self, user: AuthedUser) -> None:
        views = sources.list_sources(user)
        self.sources = [self._row(user, view) for view in views]
        self.any_active = any(row["active"] for row in self.sources)
        self.collections = [{"id": str(v.id), "name": v.name} for v in views if v.kind == "files" and v.mine]
        if self.collection != NEW_COLLECTION and self.collection not in {c["id"] for c in self.collections}:
            self.collection = NEW_COLLECTION

    @rx.event
    def load(self):
        user = self._require()
        self.errors, self.notes = dict.fromkeys(FORMS, ""), dict.fromkeys(FORMS, "")
        self.upload_results, self.spaces, self.chosen_spaces, self._confluence = [], [], [], {}
        self.schedule_id = 0
        self._reload(user)
        self.collection = self.collections[0]["id"] if self.collections else NEW_COLLECTION

    @rx.event
    def refresh(self, _tick: str = ""):
        self._reload(self._require())

    # ------------------------------------------------------------ helpers

    def _try(self, form: str, action: Callable[[], T]) -> T | None:
        """One service call for a form: what the user must fix becomes the form's error."""
        self.errors[form], self.notes[form] = "", ""
        try:
            return action()
        except USER_ERRORS as exc:
            self.errors[form] = str(exc)
            return None

    def _index(self, user: AuthedUser, source_id: int, form: str, done: str) -> None:
        """Starts the source's sync and says so under the form; the table then shows its progress."""
        if self._try(form, partial(indexing.start, user, source_id)) is not None:
            self.notes[form] = f"{done} Indexing started; its progress shows in the list above.".lstrip()
        self._reload(user)

    @rx.event
    def set_share(self, form: str, value: bool):
        self._require()
        if form in self.share:
            self.share[form] = bool(value)

    # ------------------------------------------------------------ actions on a source

    @rx.event
    def resync(self, source_id: int):
        user = self._require()
        self._index(user, source_id, "sources", "")

    @rx.event
    def set_shared(self, source_id: int, shared: bool):
        user = self._require()
        self._try("sources", partial(sources.set_shared, user, source_id, bool(shared)))
        self._reload(user)

    @rx.event
    def delete(self, source_id: int):
        user = self._require()
        self._try("sources", partial(sources.delete, user, source_id))
        self._reload(user)

    @rx.event
    def open_schedule(self, source_id: int):
        user = self._require()
        view = self._try("sources", partial(sources.get, user, source_id))
        if view is None:
            return
        self.schedule_id, self.schedule_name = view.id, view.name
        self.schedule_interval = str(view.sync_interval_minutes)
        self.schedule_start = "" if view.window_start_hour is None else str(view.window_start_hour)
        self.schedule_end = "" if view.window_end_hour is None else str(view.window_end_hour)
        self.errors["schedule"] = ""

    @rx.event
    def close_schedule(self, _open: bool = False):
        self._require()
        self.schedule_id = 0

    @rx.event
    def save_schedule(self, form: dict):
        user = self._require()
        try:
            interval, start, end = int(form.get("interval") or 0), _hour(form.get("start")), _hour(form.get("end"))
        except ValueError:
            self.errors["schedule"] = "Enter whole numbers: the interval in minutes, the hours from 0 to 23."
            return
        self._try("schedule", partial(sources.set_schedule, user, self.schedule_id, interval_minutes=interval,
                                      window_start_hour=start, window_end_hour=end))
        if not self.errors["schedule"]:
            self.schedule_id = 0
            self.notes["sources"] = "Schedule saved."
            self._reload(user)

    # ------------------------------------------------------------ Confluence

    @rx.event
    def set_confluence(self, field: str, value: str):
        self._require()
        if field in CONFLUENCE_FIELDS:
            self._confluence = {**self._confluence, field: value}

    @rx.event
    def list_spaces(self):
        user = self._require()
        typed = self._confluence
        found = self._try("confluence", partial(sources.confluence_spaces, user, url=typed.get("url", ""),
                                                token=typed.get("token", ""), email=typed.get("email", "")))
        if found is None:
            return
        self.spaces = [{"key": space.key, "name": space.name} for space in found]
        self.chosen_spaces = [key for key in self.chosen_spaces if key in {space.key for space in found}]
        self.notes["confluence"] = (f"The token works and sees {len(found)} space(s): tick the ones to index."
                                    if found else "The token works, but it sees no spaces.")

    @rx.event
    def toggle_space(self, key: str, checked: bool):
        self._require()
        chosen = set(self.chosen_spaces) - {key}
        self.chosen_spaces = sorted(chosen | {key} if checked else chosen)

    @rx.event
    def save_confluence(self):
        user = self._require()
        typed = self._confluence
        keys = [*self.chosen_spaces, *typed.get("keys", "").split(",")]
        source_id = self._try("confluence", partial(
            sources.create_confluence, user, url=typed.get("url", ""), token=typed.get("token", ""), spaces=keys,
            email=typed.get("email", ""), name=typed.get("name", ""), shared=self.share["confluence"]))
        if source_id is None:
            return None
        self._confluence, self.spaces, self.chosen_spaces = {}, [], []
        self._index(user, source_id, "confluence", "Confluence source saved.")
        return [rx.set_value(f"docs-confluence-{field}", "") for field in CONFLUENCE_FIELDS]

    # ------------------------------------------------------------ files and web pages

    @rx.event
    def set_collection(self, value: str):
        self._require()
        self.collection = value

    @rx.event
    def set_collection_name(self, value: str):
        self._require()
        self.collection_name = value[:sources.MAX_NAME]

    def _added(self, user: AuthedUser, form: str, call: Callable[[int | None], ingest.Added], what: str) -> ingest.Added | None:
        """Files or a page into the chosen collection (None: a new one), which the service
        creates, fills and starts indexing; the outcome becomes the form's note."""
        chosen = None if self.collection == NEW_COLLECTION else int(self.collection)
        added = self._try(form, partial(call, chosen))
        if added is not None:
            if added.source_id is not None:
                self.collection = str(added.source_id)
            if added.stored:
                self.notes[form] = (f"{what.format(added.stored)} "
                                    + (added.index_error or "Indexing started; its progress shows in the list above."))
        self._reload(user)
        return added

    @rx.event
    async def upload(self, files: list[rx.UploadFile]):
        user = self._require()
        self.upload_results = []
        received = [(file.name or "upload", await file.read()) for file in files]
        added = self._added(user, "files", lambda chosen: ingest.add_files(
            user, chosen, received, name=self.collection_name, shared=self.share["files"]), "{} file(s) added.")
        if added is not None:
            self.upload_results = [{"name": name, "ok": not error, "message": error or "Added."}
                                   for name, error in added.results]
        return rx.clear_selected_files(FILES_UPLOAD_ID)

    @rx.event
    def add_url(self, form: dict):
        user = self._require()
        url = str(form.get("url", "")).strip()
        self.summary_title, self.summary, self.summary_notice = "", "", ""
        added = self._added(user, "url", lambda chosen: ingest.add_page(
            user, chosen, url, name=self.collection_name, shared=self.share["files"]), "Page added.")
        if added is None or not added.stored:
            if added is not None:
                self.errors["url"] = added.results[0][1]
            return None
        self._summary_for = added.document_ids[0]
        self.summarizing = True
        return [rx.set_value("docs-url", ""), DocsSourcesState.summarize(self._summary_for)]

    @rx.event(background=True)
    async def summarize(self, document_id: int):
        """Streams the summary of the page `add_url` just stored (once: a replayed event does nothing)."""
        async with self:
            user = self._require()
            if self._summary_for != document_id:
                return
            self._summary_for = 0
            stream = ingest.summarize(user, document_id)
        try:
            async for text, final in batched(stream):
                async with self:
                    if isinstance(final, ingest.Summary):
                        self.summary_title, self.summary, self.summary_notice = final.title, final.text, final.notice
                    else:
                        self.summary += text
        except (*USER_ERRORS, LLMError) as exc:
            async with self:
                self.errors["url"] = f"The page was added, but it could not be summarised: {exc}"
        except Exception as exc:  # a bug must not leave the spinner running; it is logged in full
            log.exception("Summary of document %s failed", document_id)
            async with self:
                self.errors["url"] = f"The page was added, but summarising failed ({type(exc).__name__})."
        finally:
            async with self:
                self.summarizing = False

    # ------------------------------------------------------------ Python packages and folders

    @rx.event
    def add_package(self, form: dict):
        user = self._require()
        source_id = self._try("package", partial(sources.create_package, user, package=str(form.get("package", "")),
                                                 shared=self.share["package"]))
        if source_id is None:
            return None
        self._index(user, source_id, "package", "Package added.")
        return rx.set_value("docs-package-name", "")

    @rx.event
    async def upload_package(self, files: list[rx.UploadFile]):
        user = self._require()
        if not files:
            self.errors["package"] = "Choose a source archive (.tar.gz, .zip) or a wheel (.whl) first."
            return None
        name, data = files[0].name or "package", await files[0].read()
        source_id = self._try("package", partial(ingest.add_package_archive, user, name, data,
                                                 shared=self.share["package"]))
        if source_id is not None:
            self._index(user, source_id, "package", f"{name} added.")
        return rx.clear_selected_files(PACKAGE_UPLOAD_ID)

    @rx.event
    def add_folder(self, form: dict):
        user = self._require_admin()
        source_id = self._try("folder", partial(sources.create_folder, user, path=str(form.get("path", "")),
                                                name=str(form.get("name", "")), shared=self.share["folder"]))
        if source_id is None:
            return None
        self._index(user, source_id, "folder", "Folder added.")
        return [rx.set_value("docs-folder-path", ""), rx.set_value("docs-folder-name", "")]

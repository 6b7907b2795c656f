"""Admin: learned templates (totals, search, view/edit/disable/delete, export and import)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import reflex as rx

from services.auth.errors import AuthError
from services.llm import learned, template_library
from services.llm.costs import format_usd
from state.formatting import when
from state.session import SessionState

ALL = "all"
STATES = {ALL: None, "enabled": True, "disabled": False}
SHOWN_ERRORS = 50  # of an import's errors; the rest are counted


@dataclasses.dataclass
class LearnedRow:
    id: int
    name: str
    feature: str
    context: str
    provider: str
    uses: int
    quality: int
    last_used: str
    enabled: bool


@dataclasses.dataclass
class LearnedView:
    id: int = 0
    name: str = ""  # as stored, for the edit form
    title: str = ""  # for people: placeholders shown as ‹kind›
    feature: str = ""
    context: str = ""
    task_text: str = ""
    output: str = ""
    placeholders: list[str] = dataclasses.field(default_factory=list)
    quality: int = 0
    uses: int = 0
    saved: str = ""
    demotions: int = 0
    enabled: bool = True
    source_call_id: str = ""
    source_provider: str = ""
    source_model: str = ""
    source_cost: str = ""
    last_used: str = ""
    created: str = ""
    updated: str = ""


def _view(d: template_library.TemplateDetail) -> LearnedView:
    return LearnedView(
        id=d.id, name=d.name, title=learned.display_name(d.name), feature=d.feature, context=d.context,
        task_text=d.task_text, output=d.output, placeholders=d.placeholders, quality=d.quality, uses=d.uses, saved=format_usd(d.saved_nanos),
        demotions=d.demotions, enabled=d.enabled, source_call_id=d.source_call_id or "",
        source_provider=d.source_provider, source_model=d.source_model, source_cost=format_usd(d.source_cost_nanos),
        last_used=when(d.last_used_at) or "never", created=when(d.created_at), updated=when(d.updated_at))


class LearnedState(SessionState):
    # totals
    templates: int = 0
    enabled_count: int = 0
    uses: int = 0
    saved: str = "$0.00"
    average_quality: str = "–"
    # the table
    rows: list[LearnedRow] = []
    features: list[str] = []
    query: str = ""
    feature: str = ALL
    state_filter: str = ALL
    page: int = 1
    has_next: bool = False
    total: int = 0
    error: str = ""
    notice: str = ""
    # dialogs
    view: LearnedView = LearnedView()
    viewing: bool = False
    editing: bool = False
    edit_error: str = ""
    deleting: bool = False
    # the last import
    imported: bool = False
    import_created: int = 0
    import_duplicates: int = 0
    import_errors: list[str] = []
    import_more_errors: int = 0

    def _reload(self) -> None:
        totals = template_library.totals()
        self.templates, self.enabled_count, self.uses = totals["templates"], totals["enabled"], totals["uses"]
        self.saved = format_usd(totals["saved_nanos"])
        self.average_quality = "–" if totals["average_quality"] is None else f"{totals['average_quality']:.1f}"
        self.features = template_library.features()
        feature = "" if self.feature == ALL else self.feature
        found, self.has_next, self.total = template_library.search(
            self.query, feature, STATES.get(self.state_filter), page=self.page)
        if not found and self.page > 1:  # the last row of the last page was deleted
            self.page -= 1
            found, self.has_next, self.total = template_library.search(
                self.query, feature, STATES.get(self.state_filter), page=self.page)
        self.rows = [LearnedRow(id=r.id, name=learned.display_name(r.name), feature=r.feature, context=r.context,
                                provider=r.source_provider, uses=r.uses, quality=r.quality,
                                last_used=when(r.last_used_at) or "never", enabled=r.enabled) for r in found]

    def _run(self, action: Callable[[], object], notice: str) -> bool:
        """One change; a refusal becomes the page's error. True when it was made."""
        try:
            action()
        except AuthError as exc:
            self.error, self.notice = str(exc), ""
            self._reload()
            return False
        self.error, self.notice = "", notice
        self._reload()
        return True

    @rx.event
    def load(self):
        self._require_admin()
        self.error = self.notice = ""
        self.viewing = self.editing = self.deleting = self.imported = False
        self._reload()

    # ------------------------------------------------------------ filters and pages

    @rx.event
    def search(self, form: dict):
        self._require_admin()
        self.query, self.page = str(form.get("query", "")).strip(), 1
        self._reload()

    @rx.event
    def set_feature(self, value: str):
        self._require_admin()
        self.feature, self.page = value, 1
        self._reload()

    @rx.event
    def set_state_filter(self, value: str):
        self._require_admin()
        self.state_filter, self.page = (value if value in STATES else ALL), 1
        self._reload()

    @rx.event
    def next_page(self):
        self._require_admin()
        if self.has_next:
            self.page += 1
        self._reload()

    @rx.event
    def previous_page(self):
        self._require_admin()
        self.page = max(1, self.page - 1)
        self._reload()

    # ------------------------------------------------------------ one template

    def _open(self, template_id: int) -> bool:
        try:
            self.view = _view(template_library.get(template_id))
        except AuthError as exc:
            self.error = str(exc)
            self._reload()
            return False
        self.edit_error = ""
        return True

    @rx.event
    def open_view(self, template_id: int):
        self._require_admin()
        self.viewing = self._open(template_id)

    @rx.event
    def open_edit(self, template_id: int):
        self._require_admin()
        self.editing = self._open(template_id)

    @rx.event
    def set_viewing(self, value: bool):
        self._require_admin()
        self.viewing = value

    @rx.event
    def set_editing(self, value: bool):
        self._require_admin()
        self.editing = value

    @rx.event
    def save_edit(self, form: dict):
        self._require_admin()
        name = str(form.get("name", ""))
        try:
            quality = int(str(form.get("quality", "")).strip())
        except ValueError:
            self.edit_error = "Quality must be a whole number from 0 to 100."
            return
        try:
            template_library.update(self.view.id, name=name, output=str(form.get("output", "")),
                                    quality=quality, context=str(form.get("context", "")))
        except AuthError as exc:
            self.edit_error = str(exc)
            return
        self.editing, self.edit_error = False, ""
        self.error, self.notice = "", f"Saved \u201c{learned.display_name(name.strip())}\u201d."
        self._reload()

    @rx.event
    def set_enabled(self, template_id: int, enabled: bool):
        self._require_admin()
        self._run(lambda: template_library.set_enabled(template_id, enabled),
                  "Template enabled: it answers again." if enabled else "Template disabled: it no longer answers.")

    @rx.event
    def ask_delete(self, template_id: int, name: str):
        self._require_admin()
        self.view, self.deleting = LearnedView(id=template_id, title=name), True

    @rx.event
    def set_deleting(self, value: bool):
        self._require_admin()
        self.deleting = value

    @rx.event
    def confirm_delete(self):
        self._require_admin()
        self.deleting = False
        self._run(lambda: template_library.delete(self.view.id), f"Deleted \u201c{self.view.title}\u201d.")

    # ------------------------------------------------------------ export and import

    @rx.event
    def export(self):
        self._require_admin()
        document = template_library.export_all()
        filename = f"learned-templates-{datetime.now(UTC):%Y%m%d}.json"
        return rx.download(data=document, filename=filename, mime_type="application/json")

    def _show(self, report: template_library.ImportReport) -> None:
        self.imported = True
        self.import_created, self.import_duplicates = report.created, report.duplicates
        self.import_errors = report.errors[:SHOWN_ERRORS]
        self.import_more_errors = max(0, len(report.errors) - SHOWN_ERRORS)
        self.error = self.notice = ""
        self.page = 1
        self._reload()

    @rx.event
    async def import_file(self, files: list[rx.UploadFile]):
        admin = self._require_admin()
        if len(files) != 1:
            self.error = "Choose one .json file."
            return
        data = await files[0].read()
        # Embedding each new template takes milliseconds: off the event loop, so other users
        # are not kept waiting by a large import.
        self._show(await asyncio.to_thread(template_library.import_bytes, data, user_id=admin.id))

    @rx.event
    async def import_pasted(self, form: dict):
        admin = self._require_admin()
        text = str(form.get("document", ""))
        if not text.strip():
            self.error = "Paste an exported JSON document first."
            return
        self._show(await asyncio.to_thread(template_library.import_json, text, user_id=admin.id))

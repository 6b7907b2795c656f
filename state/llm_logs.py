"""Admin LLM Logs page: the call log, filtered and paginated on the server, one call's detail,
re-run on another provider and save as template."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import reflex as rx

from services.auth.errors import AuthError
from services.llm import call_log
from services.llm.costs import format_usd
from services.llm.types import LLMError
from state.session import SessionState

ANY = "all"  # the dropdowns' "no filter" (Radix select items cannot have an empty value)
RANGE_OPTIONS: list[tuple[str, str]] = [(key, label) for key, (label, _) in call_log.RANGES.items()]


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass
class LogRowView:
    id: str
    time: str
    feature: str
    user: str
    provider: str
    model: str
    tokens: str
    cost: str
    latency: str
    status: str


@dataclasses.dataclass
class AttemptView:
    call_id: str
    number: int
    time: str
    provider: str
    model: str
    status: str
    error: str
    latency: str
    cost: str


@dataclasses.dataclass
class DetailView:
    id: str = ""
    request_id: str = ""
    time: str = ""
    feature: str = ""
    task: str = ""
    project: str = ""
    user: str = ""
    provider: str = ""
    model: str = ""
    status: str = ""
    system_prompt: str = ""
    user_prompt: str = ""
    response: str = ""
    task_text: str = ""
    context: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: str = ""
    saved: str = ""
    latency: str = ""
    error: str = ""
    purged: bool = False
    quality: str = ""
    template: str = ""


def _row(r: call_log.LogRow) -> LogRowView:
    return LogRowView(r.id, _time(r.created_at), r.feature, r.user_email or "(system)", r.provider or "-",
                      r.model or "-", f"{r.input_tokens} / {r.output_tokens}", format_usd(r.cost_nanos),
                      f"{r.latency_ms} ms", r.status)


def _detail(d: call_log.CallDetail) -> DetailView:
    cost = format_usd(d.cost_nanos) + (" (unpriced model: fallback price)" if d.unpriced else "")
    return DetailView(
        id=d.id, request_id=d.request_id, time=_time(d.created_at), feature=d.feature, task=d.task,
        project=d.project or "-", user=d.user_email or "(system)", provider=d.provider or "-", model=d.model or "-",
        status=d.status, system_prompt=d.system_prompt, user_prompt=d.user_prompt, response=d.response,
        task_text=d.task_text, context=d.context, input_tokens=d.input_tokens, output_tokens=d.output_tokens,
        cached_tokens=d.cached_tokens, reasoning_tokens=d.reasoning_tokens, cost=cost, saved=format_usd(d.saved_nanos),
        latency=f"{d.latency_ms} ms", error=f"{d.error_class}: {d.error_message}" if d.error_class else "",
        purged=d.content_purged, quality="" if d.quality is None else str(d.quality),
        template="" if d.template_id is None else f"#{d.template_id}")


def _attempt(a: call_log.AttemptRow) -> AttemptView:
    error = f"{a.error_class}: {a.error_message}" if a.error_class else ""
    return AttemptView(a.call_id, a.attempt, _time(a.created_at), a.provider or "-", a.model or "-", a.status,
                       error, f"{a.latency_ms} ms", format_usd(a.cost_nanos))


class LogsState(SessionState):
    # filters
    feature: str = ANY
    provider: str = ANY
    status: str = ANY
    range_key: str = "all"
    text: str = ""
    features: list[str] = []
    providers: list[str] = []
    statuses: list[str] = []
    # the page of rows
    rows: list[LogRowView] = []
    page: int = 1
    has_next: bool = False
    total: int = -1  # -1: not counted (text search)
    error: str = ""
    # the detail dialog
    detail_open: bool = False
    detail: DetailView = DetailView()
    attempts: list[AttemptView] = []
    validation: list[str] = []
    feedback: list[str] = []
    outcomes: list[str] = []
    detail_error: str = ""
    rerun_options: list[str] = []
    rerun_provider: str = ""
    rerun_text: str = ""
    rerun_summary: str = ""
    template_notice: str = ""

    @rx.var
    def page_label(self) -> str:
        if self.total < 0:
            return f"Page {self.page}"
        pages = max(1, -(-self.total // call_log.PAGE_SIZE))
        return f"Page {self.page} of {pages} · {self.total} call(s)"

    def _search(self) -> None:
        def value(v: str) -> str:
            return "" if v == ANY else v

        self.error = ""
        try:
            found = call_log.search(feature=value(self.feature), provider=value(self.provider),
                                    status=value(self.status), since=call_log.since_for(self.range_key),
                                    text=self.text, page=self.page)
        except AuthError as exc:
            self.error, self.rows, self.has_next, self.total = str(exc), [], False, -1
            return
        self.rows = [_row(r) for r in found.rows]
        self.has_next = found.has_next
        self.total = -1 if found.total is None else found.total

    def _filter(self, **values: str) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.page = 1
        self._search()

    @rx.event
    def load(self):
        """on_load and the Refresh button: the dropdowns' values, then the current page."""
        self._require_admin()
        facets = call_log.facets()
        self.features, self.providers, self.statuses = facets["features"], facets["providers"], facets["statuses"]
        self._search()

    @rx.event
    def set_feature(self, value: str):
        self._require_admin()
        self._filter(feature=value)

    @rx.event
    def set_provider(self, value: str):
        self._require_admin()
        self._filter(provider=value)

    @rx.event
    def set_status(self, value: str):
        self._require_admin()
        self._filter(status=value)

    @rx.event
    def set_range(self, value: str):
        self._require_admin()
        self._filter(range_key=value)

    @rx.event
    def search(self, form: dict):
        self._require_admin()
        self._filter(text=str(form.get("q", "")).strip())

    @rx.event
    def clear_filters(self):
        self._require_admin()
        self._filter(feature=ANY, provider=ANY, status=ANY, range_key="all", text="")

    @rx.event
    def next_page(self):
        self._require_admin()
        if self.has_next:
            self.page += 1
            self._search()

    @rx.event
    def prev_page(self):
        self._require_admin()
        if self.page > 1:
            self.page -= 1
            self._search()

    # -- one call

    @rx.event
    def open_detail(self, call_id: str):
        self._require_admin()
        self.detail_error = self.rerun_text = self.rerun_summary = self.template_notice = ""
        try:
            d = call_log.detail(call_id)
        except AuthError as exc:
            self.error = str(exc)
            return
        self.detail = _detail(d)
        self.attempts = [_attempt(a) for a in d.attempts]
        self.validation = d.validation
        self.feedback = [f"{'★' * f.rating}{'☆' * (5 - f.rating)} {f.comment}".strip() for f in d.feedback]
        self.outcomes = [f"{o.label} · {_time(o.created_at)}" + (f" · {round(o.edit_ratio * 100)}% edited"
                                                                  if o.edit_ratio else "") for o in d.outcomes]
        self.rerun_options = call_log.rerun_providers()
        others = [name for name in self.rerun_options if name != d.provider]
        self.rerun_provider = (others or self.rerun_options or [""])[0]
        self.detail_open = True

    @rx.event
    def set_detail_open(self, value: bool):
        self._require_admin()
        self.detail_open = value

    @rx.event
    def set_rerun_provider(self, value: str):
        self._require_admin()
        self.rerun_provider = value

    @rx.event
    async def rerun(self):
        admin = self._require_admin()
        self.detail_error = self.rerun_text = self.rerun_summary = ""
        try:
            result = await call_log.arerun(self.detail.id, self.rerun_provider, user_id=admin.id)
        except (AuthError, LLMError) as exc:
            self.detail_error = str(exc)
            return
        self.rerun_text = result.text
        self.rerun_summary = (f"{result.provider} ({result.model}) · {result.input_tokens} / {result.output_tokens} "
                              f"tokens · {format_usd(result.cost_nanos)}")
        self.template_notice = ""

    @rx.event
    def save_template(self, form: dict):
        admin = self._require_admin()
        self.detail_error = self.template_notice = ""
        name = str(form.get("name", "")).strip()
        try:
            saved = call_log.save_as_template(self.detail.id, user_id=admin.id, name=name)
        except AuthError as exc:
            self.detail_error = str(exc)
            return
        label = f"#{saved.template_id}" + (f" \u201c{name}\u201d" if name else "")
        self.template_notice = (f"Saved as learned template {label}." if saved.created else
                                f"An identical template exists already: {label}.")

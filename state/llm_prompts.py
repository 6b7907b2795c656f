"""Admin LLM prompts page: edit a (feature, task) prompt per level, its history and diffs,
and try unsaved wording with demo values through the gateway."""

from __future__ import annotations

import dataclasses

import reflex as rx

from services.auth.errors import AuthError, ValidationError
from services.llm import gateway, prompt_diff, prompts
from services.llm.costs import format_usd
from services.llm.types import LLMError, LLMRequest, LLMResult
from state.formatting import when
from state.session import SessionState

# Tries are charged and logged under their own feature, not the feature whose prompt is tried.
DEMO_FEATURE = "prompt_test"
EDITOR = "editor"  # diff choice: the text in the editors, saved or not
DEFAULT = "default"  # diff choice: the built-in wording


@dataclasses.dataclass
class PairOption:
    key: str  # "feature/task"
    label: str


@dataclasses.dataclass
class HistoryRow:
    key: str  # "v3", also the diff choice
    version: int
    created: str
    kind: str  # "saved" or "reset"
    preview: str


@dataclasses.dataclass
class DiffRow:
    kind: str
    text: str


@dataclasses.dataclass
class DemoValue:
    name: str
    value: str


def _source_label(view: prompts.PromptView) -> str:
    if view.source == "default":
        return "built-in default"
    level = "admin" if view.source == "admin" else f"project {view.project}"
    return f"{level} override v{view.version}"


def _preview(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 80 else first[:77] + "..."


def _meta(result: LLMResult) -> str:
    by = " / ".join(part for part in (result.provider, result.model) if part) or "no provider"
    return (f"{result.source} · {by} · {result.input_tokens} in / {result.output_tokens} out tokens · "
            f"{format_usd(result.cost_nanos)}")


class LLMPromptsState(SessionState):
    pairs: list[PairOption] = []
    pair: str = ""
    description: str = ""
    variables: list[str] = []
    project: str = ""  # as typed
    open_project: str = ""  # the level being edited: "" is the admin override
    known_projects: list[str] = []
    source_label: str = ""
    system_text: str = ""
    user_text: str = ""
    error: str = ""
    notice: str = ""
    history: list[HistoryRow] = []
    diff_choices: list[str] = []
    diff_from: str = ""
    diff_to: str = ""
    diff: list[DiffRow] = []
    diff_message: str = ""
    demo: list[DemoValue] = []
    demo_real: bool = False
    demo_system: str = ""
    demo_user: str = ""
    demo_result: str = ""
    demo_meta: str = ""
    demo_error: str = ""
    running: bool = False
    # (system, user) of each diff choice but the editor, by choice key.
    _texts: dict[str, tuple[str, str]] = {}

    def _feature_task(self) -> tuple[str, str]:
        feature, _, task = self.pair.partition("/")
        return feature, task

    def _open(self) -> None:
        """Loads the prompt of the chosen pair and level, its history and demo values."""
        feature, task = self._feature_task()
        default = prompts.get_default(feature, task)
        view = prompts.current(feature, task, project=self.open_project)
        versions = prompts.history(feature, task, project=self.open_project)
        self.description, self.variables = default.description, list(default.variables)
        self.known_projects = prompts.override_projects(feature, task)
        self.source_label = _source_label(view)
        self.system_text, self.user_text = view.system, view.user
        self.history = [HistoryRow(f"v{v.version}", v.version, when(v.created_at), "reset" if v.is_reset else "saved",
                                   _preview(v.user)) for v in versions]
        self._texts = {f"v{v.version}": (v.system, v.user) for v in versions if not v.is_reset}
        self._texts[DEFAULT] = (default.system, default.user)
        self.diff_choices = [*self._texts, EDITOR]
        saved = [key for key in self._texts if key != DEFAULT]
        self.diff_from = saved[1] if len(saved) > 1 else DEFAULT
        self.diff_to = saved[0] if saved else EDITOR
        self.diff, self.diff_message = [], ""
        self.demo = [DemoValue(name, value) for name, value in prompts.demo_values(default.variables).items()]
        self.demo_system = self.demo_user = self.demo_result = self.demo_meta = self.demo_error = ""

    def _reopen(self, error: str = "", notice: str = "") -> None:
        self.error, self.notice = error, notice
        try:
            self._open()
        except AuthError as exc:
            self.error = str(exc)

    @rx.event
    def load(self):
        self._require_admin()
        self.pairs = [PairOption(f"{d.feature}/{d.task}", f"{d.feature} / {d.task}") for d in prompts.defaults()]
        if self.pair not in {p.key for p in self.pairs}:
            self.pair = self.pairs[0].key if self.pairs else ""
        self._reopen()

    @rx.event
    def select_pair(self, key: str):
        self._require_admin()
        self.pair, self.project, self.open_project = key, "", ""
        self._reopen()

    @rx.event
    def set_project(self, value: str):
        self._require_admin()
        self.project = value

    @rx.event
    def open_level(self):
        """Edit the typed project's override (an empty project: the admin override)."""
        self._require_admin()
        self.project = self.open_project = self.project.strip()
        self._reopen()

    @rx.event
    def choose_project(self, name: str):
        self._require_admin()
        self.project = self.open_project = name
        self._reopen()

    @rx.event
    def set_system_text(self, value: str):
        self._require_admin()
        self.system_text = value

    @rx.event
    def set_user_text(self, value: str):
        self._require_admin()
        self.user_text = value

    @rx.event
    def save(self):
        admin = self._require_admin()
        feature, task = self._feature_task()
        try:
            version = prompts.save_override(feature, task, system=self.system_text, user=self.user_text,
                                            project=self.open_project, user_id=admin.id)
        except AuthError as exc:
            self.error, self.notice = str(exc), ""  # the editors keep the refused text to fix
            return
        self._reopen(notice=f"Saved version {version}; the next call uses it.")

    @rx.event
    def reset_prompt(self):
        admin = self._require_admin()
        feature, task = self._feature_task()
        try:
            version = prompts.reset(feature, task, project=self.open_project, user_id=admin.id)
        except AuthError as exc:
            self.error, self.notice = str(exc), ""
            return
        self._reopen(notice=f"Reset (version {version}): the next level's wording applies again.")

    # -- diff

    @rx.event
    def set_diff_from(self, value: str):
        self._require_admin()
        self.diff_from = value

    @rx.event
    def set_diff_to(self, value: str):
        self._require_admin()
        self.diff_to = value

    @rx.event
    def show_diff(self):
        self._require_admin()
        texts = {**self._texts, EDITOR: (self.system_text, self.user_text)}
        if self.diff_from not in texts or self.diff_to not in texts:
            self.diff, self.diff_message = [], "Choose two versions to compare."
            return
        lines = prompt_diff.diff_lines(texts[self.diff_from], texts[self.diff_to], old_label=self.diff_from,
                                       new_label=self.diff_to)
        self.diff = [DiffRow(line.kind, line.text) for line in lines]
        self.diff_message = "" if lines else f"{self.diff_from} and {self.diff_to} are the same."

    # -- test with demo values

    @rx.event
    def set_demo_value(self, name: str, value: str):
        self._require_admin()
        self.demo = [DemoValue(d.name, value) if d.name == name else d for d in self.demo]

    @rx.event
    def set_demo_real(self, value: bool):
        self._require_admin()
        self.demo_real = value

    @rx.event(background=True)
    async def run_demo(self):
        async with self:
            admin = self._require_admin()
            self.demo_system = self.demo_user = self.demo_result = self.demo_meta = self.demo_error = ""
            feature, task = self._feature_task()
            try:
                system, user = prompts.render_text(self.system_text, self.user_text,
                                                   {d.name: d.value for d in self.demo}, self.variables)
            except ValidationError as exc:
                self.demo_error = str(exc)
                return
            self.demo_system, self.demo_user, self.running = system, user, True
            request = LLMRequest(feature=DEMO_FEATURE, task=f"{feature}/{task}", project=self.open_project,
                                 user_id=admin.id, prompts=(system, user), use_cache=False,
                                 dry_run=not self.demo_real)
        try:
            result = await gateway.acomplete(request)
        except LLMError as exc:
            async with self:
                self.running, self.demo_error = False, str(exc)
            return
        except Exception:
            async with self:
                self.running = False
            raise
        async with self:
            self.running, self.demo_result, self.demo_meta = False, result.text, _meta(result)

"""Prompt templates per (feature, task) with three levels: the built-in default, the
admin's override (project "") and a project's override.

Overrides are kept as numbered versions forever, so an admin can see and restore any
earlier wording; the newest version of a level applies unless it is a reset, which
falls through to the next level. Templates use `str.format` placeholders (`{text}`,
`{{`/`}}` for literal braces) but only plain names: attribute/index access and format
specs would let a template reach into objects or fail on the hot path.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from sqlalchemy import ColumnElement, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import select

from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.models import PromptTemplateVersion
from services.llm.config import FreshMap

Source = Literal["default", "admin", "project"]
ADMIN_PROJECT = ""
MAX_PROJECT_LENGTH = 120  # the column's length
_SAVE_ATTEMPTS = 10  # each lost race means another save won, so this bounds concurrent savers
_FORMATTER = string.Formatter()


class PromptRenderError(ValueError):
    """A template cannot be filled: the caller did not supply its variables."""


@dataclass(frozen=True)
class PromptDefault:
    feature: str
    task: str
    system: str
    user: str
    variables: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class PromptView:
    feature: str
    task: str
    project: str
    system: str
    user: str
    source: Source
    version: int  # 0 for the built-in default
    variables: tuple[str, ...]


@dataclass(frozen=True)
class PromptVersionView:
    version: int
    system: str
    user: str
    is_reset: bool
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str
    source: Source
    version: int


class _TemplateProblem(ValueError):
    """Why a template text is unusable; callers turn it into their own error type."""


# Literal text, then the variable that follows it (None after the last literal).
_Piece = tuple[str, str | None]


@lru_cache(maxsize=1024)
def _compile(template: str) -> tuple[_Piece, ...]:
    """Parsed once per distinct text, because render runs on every LLM call."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        raise _TemplateProblem("has an unmatched '{' or '}'; write {{ or }} for a literal brace.") from None
    pieces: list[_Piece] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        if "." in name or "[" in name:
            raise _TemplateProblem(
                f"{{{name}}} is not allowed: use plain {{name}} variables, without '.' or '[...]'."
            )
        if not name.isidentifier():
            raise _TemplateProblem(f"{{{name}}} is not a variable name: use named variables such as {{text}}.")
        if spec or conversion:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise _TemplateProblem(
                f"{{{written}}} is not allowed: conversions (!r) and format specs (:...) are refused; "
                f"write {{{name}}}."
            )
        pieces.append((literal, name))
    return tuple(pieces)


def _names(template: str) -> set[str]:
    return {name for _, name in _compile(template) if name is not None}


def _problem(template: str, allowed: Sequence[str]) -> str | None:
    """What is wrong with a template for these variables, or None."""
    try:
        unknown = sorted(_names(template) - set(allowed))
    except _TemplateProblem as exc:
        return str(exc)
    if unknown:
        listed = ", ".join(f"{{{name}}}" for name in unknown)
        permitted = ", ".join(f"{{{name}}}" for name in allowed) or "none"
        return f"uses unknown variable(s) {listed}; allowed: {permitted}."
    return None


_DEFAULTS: dict[tuple[str, str], PromptDefault] = {}


def register_default(
    feature: str, task: str, *, system: str, user: str, variables: Sequence[str], description: str = ""
) -> PromptDefault:
    """Features register their prompts at import; registering a pair again replaces it."""
    variables = tuple(variables)
    for label, text in (("system", system), ("user", user)):
        problem = _problem(text, variables)
        if problem:
            raise ValueError(f"Default {label} prompt of {feature}/{task} {problem}")
    default = PromptDefault(feature, task, system, user, variables, description)
    _DEFAULTS[(feature, task)] = default
    return default


def defaults() -> list[PromptDefault]:
    return sorted(_DEFAULTS.values(), key=lambda d: (d.feature, d.task))


def get_default(feature: str, task: str) -> PromptDefault:
    try:
        return _DEFAULTS[(feature, task)]
    except KeyError:
        raise ValidationError(f"No prompt is registered for feature {feature!r}, task {task!r}.") from None


def _clean_project(project: str) -> str:
    project = project.strip()
    if len(project) > MAX_PROJECT_LENGTH:
        raise ValidationError(f"A project name can have at most {MAX_PROJECT_LENGTH} characters.")
    return project


def _pair(feature: str, task: str) -> ColumnElement[bool]:
    return (PromptTemplateVersion.feature == feature) & (PromptTemplateVersion.task == task)


def _latest_version(feature: str, task: str, project: str) -> int:
    with session_scope() as session:
        latest = session.exec(
            select(func.max(PromptTemplateVersion.version)).where(
                _pair(feature, task), PromptTemplateVersion.project == project
            )
        ).one()
    return latest or 0


def _append(
    feature: str, task: str, project: str, *, system: str, user: str, is_reset: bool, user_id: int | None
) -> int:
    """Insert the next version; a concurrent save that took the number makes us retry."""
    for _ in range(_SAVE_ATTEMPTS):
        version = _latest_version(feature, task, project) + 1
        try:
            with session_scope() as session:
                session.add(PromptTemplateVersion(
                    feature=feature, task=task, project=project, version=version,
                    system=system, user=user, is_reset=is_reset, created_by=user_id,
                ))
            _applied.clear()
            return version
        except IntegrityError:
            if _latest_version(feature, task, project) < version:
                raise  # not a lost race (e.g. an unknown user id)
    raise ValidationError(f"Could not save the {feature}/{task} prompt: other saves kept racing; try again.")


def _check_texts(system: str, user: str, allowed: Sequence[str]) -> None:
    """What an admin's wording must satisfy, whether it is saved or only tried out."""
    if not user.strip():
        raise ValidationError("The user prompt cannot be empty.")
    for label, text in (("System", system), ("User", user)):
        problem = _problem(text, allowed)
        if problem:
            raise ValidationError(f"{label} prompt {problem}")


def save_override(
    feature: str, task: str, *, system: str, user: str, project: str = "", user_id: int | None = None
) -> int:
    """A new override version for the admin (project "") or one project; returns its number."""
    default = get_default(feature, task)
    project = _clean_project(project)
    _check_texts(system, user, default.variables)
    return _append(feature, task, project, system=system, user=user, is_reset=False, user_id=user_id)


def reset(feature: str, task: str, *, project: str = "", user_id: int | None = None) -> int:
    """Back to the next level down; stored as a version so the history shows it."""
    get_default(feature, task)
    return _append(feature, task, _clean_project(project), system="", user="", is_reset=True, user_id=user_id)


def _newest_rows(feature: str, task: str, project: str) -> dict[str, PromptTemplateVersion]:
    """The newest row of the project and of the admin level, in one query."""
    newer = aliased(PromptTemplateVersion)
    newest_version = (
        select(func.max(newer.version))
        .where(
            newer.feature == PromptTemplateVersion.feature,
            newer.task == PromptTemplateVersion.task,
            newer.project == PromptTemplateVersion.project,
        )
        .scalar_subquery()
    )
    query = select(PromptTemplateVersion).where(
        _pair(feature, task),
        PromptTemplateVersion.project.in_({project, ADMIN_PROJECT}),  # type: ignore[attr-defined]
        PromptTemplateVersion.version == newest_version,
    )
    with session_scope() as session:
        return {row.project: row for row in session.exec(query).all()}


def current(feature: str, task: str, *, project: str = "") -> PromptView:
    """The prompt that applies now: project override, else admin override, else default."""
    default = get_default(feature, task)
    project = _clean_project(project)
    rows = _newest_rows(feature, task, project)
    levels: list[tuple[str, Source]] = [(project, "project")] if project else []
    levels.append((ADMIN_PROJECT, "admin"))
    for level, source in levels:
        row = rows.get(level)
        if row is not None and not row.is_reset:
            return PromptView(feature, task, project, row.system, row.user, source, row.version, default.variables)
    return PromptView(feature, task, project, default.system, default.user, "default", 0, default.variables)


def override_projects(feature: str, task: str) -> list[str]:
    """The projects that have (or had) their own wording for this prompt, by name."""
    query = (
        select(PromptTemplateVersion.project)
        .where(_pair(feature, task), PromptTemplateVersion.project != ADMIN_PROJECT)
        .distinct()
        .order_by(PromptTemplateVersion.project)
    )
    with session_scope() as session:
        return list(session.exec(query).all())


def history(feature: str, task: str, *, project: str = "") -> list[PromptVersionView]:
    """Every saved version of one level, newest first."""
    get_default(feature, task)
    query = (
        select(PromptTemplateVersion)
        .where(_pair(feature, task), PromptTemplateVersion.project == _clean_project(project))
        .order_by(PromptTemplateVersion.version.desc())  # type: ignore[attr-defined]
    )
    with session_scope() as session:
        rows = session.exec(query).all()
    return [PromptVersionView(r.version, r.system, r.user, r.is_reset, r.created_by, r.created_at) for r in rows]


def _describe(view: PromptView) -> str:
    if view.source == "default":
        return f"{view.feature}/{view.task} (default)"
    level = "admin" if view.source == "admin" else f"project {view.project!r}"
    return f"{view.feature}/{view.task} ({level} override v{view.version})"


def _fill(template: str, values: Mapping[str, object]) -> str:
    # Values are joined in as text, never formatted again: "{x}" in a value stays as is.
    return "".join(literal + (str(values[name]) if name is not None else "") for literal, name in _compile(template))


# What render uses: current() as read within the last second (a save here clears it at once).
_applied: FreshMap[tuple[str, str, str], PromptView] = FreshMap(lambda key: current(key[0], key[1], project=key[2]))


def render(feature: str, task: str, variables: Mapping[str, object], *, project: str = "") -> RenderedPrompt:
    """The system and user prompt filled with `variables`; extra variables are ignored."""
    view = _applied.get((feature, task, project))
    try:
        missing = sorted((_names(view.system) | _names(view.user)) - set(variables))
    except _TemplateProblem as exc:  # a row written around save_override's checks
        raise PromptRenderError(f"Prompt {_describe(view)} {exc}") from None
    if missing:
        raise PromptRenderError(
            f"Prompt {_describe(view)} needs variable(s) that were not given: {', '.join(missing)}."
        )
    return RenderedPrompt(_fill(view.system, variables), _fill(view.user, variables), view.source, view.version)


def render_text(system: str, user: str, variables: Mapping[str, object], allowed: Sequence[str]) -> tuple[str, str]:
    """Unsaved wording filled with `variables` (to try it before saving): refused for the same
    reasons a save is, and when a variable it uses is not given."""
    _check_texts(system, user, allowed)
    missing = sorted((_names(system) | _names(user)) - set(variables))
    if missing:
        raise ValidationError(f"Give a value for: {', '.join(missing)}.")
    return _fill(system, variables), _fill(user, variables)


# Plausible inputs for trying a prompt out, by variable name; other names get a placeholder.
_DEMO_VALUES = {
    "text": "Please write a short, friendly welcome message for Ada, who joins the team on Monday.",
    "question": "How do I rotate the API key of a provider without downtime?",
    "code": "def add(a, b):\n    return a + b\n",
    "language": "Python",
    "stack": "Python 3.11, Reflex, SQLModel",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "subject": "Welcome to the team",
    "project": "demo-project",
    "channel": "#general",
}


def demo_values(variables: Sequence[str]) -> dict[str, str]:
    """A sample value for each variable, so a prompt can be tried without typing them all."""
    return {name: _DEMO_VALUES.get(name, f"example {name.replace('_', ' ')}") for name in variables}


register_default(
    "general", "complete",
    system="You are the assistant built into LLMCoder. Answer concisely and helpfully, "
           "and say so when you are not sure.",
    user="{text}",
    variables=("text",),
    description="Free-form completion of the user's text.",
)
register_default(
    "general", "summarize",
    system="You summarise text for LLMCoder users. Keep the facts, names, numbers and decisions; "
           "leave out filler.",
    user="Summarise the following in a few sentences:\n\n{text}",
    variables=("text",),
    description="A summary of a few sentences.",
)

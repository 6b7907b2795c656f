"""Creating a ticket: the form built from JIRA's own create-screen metadata (so custom fields such
as story points appear when the project has them), and "describe it": the user writes in plain
words, the assistant fills the fields and asks for what is missing, the user confirms.

Nothing is created without the user's click on the filled form. Fields the form cannot edit
(users, cascades, dates) are left to JIRA's defaults; when JIRA requires one of them, the user
is told to create that kind of ticket in JIRA itself rather than getting JIRA's refusal later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.integrations.tickets import FieldSpec, IssueType, NewTicket, Project, Ticket, TicketTracker
from services.jira import connection, store
from services.llm import gateway, prompts
from services.llm.messages import UntrustedText
from services.llm.structured import first_json
from services.llm.types import LLMRequest

FEATURE = "jira"
MAX_SUMMARY = 255  # JIRA's limit
MAX_DESCRIPTION = 32_000
MAX_PLAIN = 8_000
MAX_QUESTIONS = 4
BUILT_IN = ("summary", "description", "priority")
SKIPPED = ("project", "issuetype", "reporter", "parent", "attachment", "issuelinks")
EDITABLE_SCHEMAS = {"string": "text", "number": "number", "option": "select", "priority": "select",
                    "array": "labels"}

prompts.register_default(
    FEATURE, "describe",
    system="You turn a plain-words request into a JIRA ticket. Answer with one JSON object only: "
           '{{"fields": {{<field id>: <value>, ...}}, "questions": [<question>, ...]}}. Use only the field ids listed. '
           "Values: strings, numbers for number fields, one of the allowed values for choice fields. The summary is "
           "one line under 120 characters; the description uses JIRA wiki markup (h3. headings, * bullets) and "
           "keeps every fact given. Ask a short question for each required field you cannot fill from the request "
           f"(at most {MAX_QUESTIONS}); never invent facts.",
    user="Project {project}, issue type {issue_type}. Fields:\n{fields}\n{answers}",
    variables=("project", "issue_type", "fields", "answers"),
    description="JIRA: fills the create form from the user's plain-words description and asks for what is missing.",
)


@dataclass(frozen=True)
class FormField:
    id: str
    name: str
    kind: str  # text | textarea | number | select | labels
    required: bool
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interpretation:
    values: dict[str, str]  # field id -> the form's text for it
    questions: tuple[str, ...]
    notice: str


def projects(user: AuthedUser) -> list[Project]:
    return connection.tracker_for(user)[1].projects()


def issue_types(user: AuthedUser, project: str) -> list[IssueType]:
    """The project's creatable types: the everyday ones first (Task, then Story), epics after them,
    subtasks last (they need a parent: the breakdown makes them)."""
    types = connection.tracker_for(user)[1].issue_types(_project(project))
    everyday = {"task": 0, "story": 1}
    return sorted(types, key=lambda t: (t.subtask, t.hierarchy_level != 0, everyday.get(t.name.lower(), 2),
                                        t.name.lower()))


def _project(project: str) -> str:
    project = (project or "").strip()
    if not project:
        raise ValidationError("Choose a project.")
    return project


def _form_field(spec: FieldSpec, story_points: str) -> FormField | None:
    if spec.id in SKIPPED:
        return None
    if spec.id == "description":
        return FormField(spec.id, spec.name, "textarea", spec.required)
    if spec.id == "labels":
        return FormField(spec.id, spec.name, "labels", spec.required)
    kind = "number" if spec.id == story_points else EDITABLE_SCHEMAS.get(spec.schema_type)
    if kind is None or (kind == "labels" and spec.allowed):
        return None
    return FormField(spec.id, spec.name, kind, spec.required, spec.allowed)


def form(user: AuthedUser, project: str, issue_type_id: str) -> list[FormField]:
    """The create screen's editable fields, summary first; raises when JIRA requires a field the
    form cannot edit."""
    with session_scope() as session:
        row = connection.required(session, user)
        session.expunge(row)
    tracker = connection.open_tracker(row)
    specs = tracker.create_fields(_project(project), issue_type_id)
    story_points = connection.fields_of(row).story_points
    fields = [f for f in (_form_field(spec, story_points) for spec in specs) if f is not None]
    missing = [spec.name for spec in specs if spec.required and not spec.has_default and spec.id not in SKIPPED
               and all(f.id != spec.id for f in fields)]
    if missing:
        raise ValidationError(f"JIRA requires {', '.join(missing)} for this kind of ticket, which this form cannot "
                              "fill in; create it in JIRA itself.")
    order = {name: position for position, name in enumerate(BUILT_IN)}
    return sorted(fields, key=lambda f: (order.get(f.id, len(order)), not f.required, f.name.lower()))


def _value(spec: FormField, text: str) -> Any:
    if spec.kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValidationError(f"{spec.name} must be a number.") from None
    if spec.kind == "select":
        if spec.options and text not in spec.options:
            raise ValidationError(f"Choose one of the offered values for {spec.name}.")
        return {"name": text} if spec.id == "priority" else {"value": text}
    if spec.kind == "labels":
        return [label for label in text.replace(",", " ").split() if label]
    return text


def new_ticket(project: str, issue_type_id: str, fields: list[FormField], values: Mapping[str, str]) -> NewTicket:
    """The form's values checked and in JIRA's REST shapes."""
    texts = {key: (value or "").strip() for key, value in values.items()}
    for spec in fields:
        if spec.required and not texts.get(spec.id):
            raise ValidationError(f"{spec.name} is required.")
    summary = " ".join(texts.get("summary", "").split())
    if not summary:
        raise ValidationError("Summary is required.")
    if len(summary) > MAX_SUMMARY:
        raise ValidationError(f"Keep the summary under {MAX_SUMMARY} characters.")
    description = texts.get("description", "")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(f"Keep the description under {MAX_DESCRIPTION} characters.")
    extra = {spec.id: _value(spec, texts[spec.id]) for spec in fields
             if spec.id not in BUILT_IN and texts.get(spec.id)}
    priority_field = next((f for f in fields if f.id == "priority"), None)
    priority = texts.get("priority", "") if priority_field is not None else ""
    if priority_field is not None and priority:
        _value(priority_field, priority)  # one of JIRA's priorities
    return NewTicket(project=_project(project), issue_type_id=issue_type_id, summary=summary,
                     description=description, priority=priority, extra=extra)


def create(user: AuthedUser, project: str, issue_type_id: str, values: Mapping[str, str]) -> Ticket:
    """Creates the ticket from the confirmed form; it joins the synced tickets at once."""
    fields = form(user, project, issue_type_id)
    connection_id, tracker = connection.tracker_for(user)
    return _created(tracker, connection_id, user, new_ticket(project, issue_type_id, fields, values))


def _created(tracker: TicketTracker, connection_id: int, user: AuthedUser, ticket: NewTicket) -> Ticket:
    created = tracker.create(ticket)
    with session_scope() as session:
        store.upsert_tickets(session, connection_id, user.id, [created])
    return created


def _field_lines(fields: list[FormField]) -> str:
    lines = []
    for spec in fields:
        extra = f"; one of: {', '.join(spec.options)}" if spec.options else ""
        lines.append(f"- {spec.id} ({spec.name}, {spec.kind}{', required' if spec.required else ''}{extra})")
    return "\n".join(lines)


def _unassisted(text: str) -> str:
    """No model (offline, budget reached): the first line as the summary, all of it as the description."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return json.dumps({"fields": {"summary": first[:120], "description": text}, "questions": []})


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("value") or "")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def interpret(user: AuthedUser, project: str, issue_type: str, fields: list[FormField], text: str,
                    answers: str = "") -> Interpretation:
    """Fills the form from the user's words (and their answers to earlier questions)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("Describe the ticket in a few words first.")
    if len(text) + len(answers) > MAX_PLAIN:
        raise ValidationError(f"Keep the description under {MAX_PLAIN} characters.")
    result = await gateway.acomplete(LLMRequest(
        feature=FEATURE, task="describe", project=project, user_id=user.id,
        untrusted=(UntrustedText("request", text, "What the user asked for"),),
        variables={"project": project, "issue_type": issue_type, "fields": _field_lines(fields),
                   "answers": f"Answers to your questions:\n{answers.strip()}" if answers.strip() else ""},
        max_tokens=1200, temperature=0, use_cache=False, fallback=lambda: _unassisted(text)))
    try:
        answer = first_json(result.text)
    except ValueError:
        raise ValidationError("The assistant's answer could not be read; try again or fill the form yourself.") \
            from None
    known = {spec.id: spec for spec in fields}
    raw = answer.get("fields") if isinstance(answer.get("fields"), dict) else {}
    values = {key: _as_text(value) for key, value in raw.items() if key in known and value not in (None, "")}
    for key, spec in known.items():
        if spec.options and values.get(key) not in spec.options:
            values.pop(key, None)
    questions = tuple(str(q).strip() for q in (answer.get("questions") or []) if str(q).strip())[:MAX_QUESTIONS]
    return Interpretation(values=values, questions=questions, notice=result.notice)

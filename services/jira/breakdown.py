"""Epic / subtask breakdown: from a ticket's description the assistant proposes child tickets
(stories under an epic, subtasks under anything else) as a checklist the user edits; on confirm
they are created and linked to the ticket.

Linking follows the site: subtasks and Cloud's epics take `parent`; a Server/Data Center epic
takes its stories through the Epic Link custom field found in the field metadata. Children are
created one by one; when JIRA refuses one, the ones already created are reported with the error,
so the user can retry only the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.integrations.base import IntegrationError
from services.integrations.tickets import IssueType, NewTicket, Ticket, TicketDetail
from services.jira import connection, jql, store
from services.llm import gateway, prompts
from services.llm.messages import UntrustedText
from services.llm.structured import first_json
from services.llm.types import LLMRequest

FEATURE = "jira"
MAX_CHILDREN = 15
MAX_SUMMARY = 255
BULLET_PREFIXES = ("* ", "- ", "# ", "+ ")

prompts.register_default(
    FEATURE, "breakdown",
    system="You split a JIRA ticket into smaller child tickets that together deliver it. Answer with one JSON array "
           'only: [{{"summary": "...", "description": "..."}}, ...], 2 to 8 items, in the order the work would be done. '
           "Each summary is one line under 100 characters starting with a verb; each description says what done "
           "means in one or two sentences of JIRA wiki markup. Use only what the ticket says; never invent scope.",
    user="Break {key} ({issue_type}) into {child_kind}.",
    variables=("key", "issue_type", "child_kind"),
    description="JIRA: proposes the stories of an epic or the subtasks of an issue from its description.",
)


@dataclass(frozen=True)
class Child:
    summary: str
    description: str = ""


@dataclass(frozen=True)
class Proposal:
    key: str
    child_type: str  # the issue type the children get
    child_kind: str  # "stories" | "subtasks"
    children: tuple[Child, ...]
    notice: str


@dataclass(frozen=True)
class Created:
    keys: tuple[str, ...]
    error: str  # JIRA's words for the child it refused, "" when all were created


def is_epic(ticket_type: str, types: list[IssueType]) -> bool:
    found = next((t for t in types if t.name == ticket_type), None)
    return (found.hierarchy_level >= 1) if found is not None else ticket_type.lower() == "epic"


def child_type(detail: TicketDetail, types: list[IssueType]) -> IssueType:
    """Stories (else tasks) under an epic; the project's subtask type under anything else."""
    if is_epic(detail.ticket.type, types):
        standard = [t for t in types if not t.subtask and t.hierarchy_level == 0]
        chosen = next((t for name in ("story", "task") for t in standard if t.name.lower() == name),
                      standard[0] if standard else None)
    else:
        chosen = next((t for t in types if t.subtask), None)
    if chosen is None:
        raise ValidationError(f"Project {detail.ticket.project} has no issue type for the children of a "
                              f"{detail.ticket.type}.")
    return chosen


def from_list_items(description: str) -> tuple[Child, ...]:
    """No model: the description's own bullet or numbered items, one child each."""
    children = []
    for line in description.splitlines():
        stripped = line.strip()
        if stripped.startswith(BULLET_PREFIXES):
            text = stripped.lstrip("*-#+ ").strip()
            if text:
                children.append(Child(text[:MAX_SUMMARY]))
    return tuple(children[:MAX_CHILDREN])


def _children(answer: object) -> tuple[Child, ...]:
    items = answer if isinstance(answer, list) else []
    children = []
    for item in items[:MAX_CHILDREN]:
        if isinstance(item, dict) and str(item.get("summary", "")).strip():
            children.append(Child(" ".join(str(item["summary"]).split())[:MAX_SUMMARY],
                                  str(item.get("description") or "").strip()))
    return tuple(children)


async def propose(user: AuthedUser, key: str) -> Proposal:
    key = jql.checked_key(key)
    _, tracker = connection.tracker_for(user)
    detail = tracker.detail(key)
    types = tracker.issue_types(detail.ticket.project)
    kind = "stories" if is_epic(detail.ticket.type, types) else "subtasks"
    target = child_type(detail, types)
    ticket_text = f"{detail.ticket.key}: {detail.ticket.summary}\n\n{detail.ticket.description or '(no description)'}"
    listed = from_list_items(detail.ticket.description)
    fallback = [{"summary": c.summary, "description": ""} for c in listed]
    result = await gateway.acomplete(LLMRequest(
        feature=FEATURE, task="breakdown", project=detail.ticket.project, user_id=user.id,
        untrusted=(UntrustedText("ticket", ticket_text, key),),
        variables={"key": key, "issue_type": detail.ticket.type, "child_kind": kind},
        max_tokens=1500, temperature=0.2, fallback=lambda: json.dumps(fallback)))
    try:
        children = _children(first_json(result.text, list))
    except ValueError:
        raise ValidationError("The assistant's answer could not be read; try again.") from None
    notice = result.notice
    if not children:
        notice = notice or "No child tickets were proposed: add them yourself below."
    return Proposal(key=key, child_type=target.name, child_kind=kind, children=children, notice=notice)


def create_children(user: AuthedUser, key: str, children: list[Child]) -> Created:
    """Creates the confirmed children under the ticket, in order."""
    key = jql.checked_key(key)
    children = [Child(" ".join(c.summary.split())[:MAX_SUMMARY], c.description.strip()) for c in children
                if c.summary.strip()]
    if not children:
        raise ValidationError("Keep at least one child ticket with a summary.")
    if len(children) > MAX_CHILDREN:
        raise ValidationError(f"Create at most {MAX_CHILDREN} children at a time.")
    with session_scope() as session:
        row = connection.required(session, user)
        session.expunge(row)
    assert row.id is not None
    tracker = connection.open_tracker(row)
    detail = tracker.detail(key)
    types = tracker.issue_types(detail.ticket.project)
    target = child_type(detail, types)
    epic_link = connection.fields_of(row).epic_link if is_epic(detail.ticket.type, types) else ""
    epic_link = epic_link if row.deployment == "server" else ""
    made: list[Ticket] = []
    error = ""
    for child in children:
        try:
            made.append(tracker.create(NewTicket(
                project=detail.ticket.project, issue_type_id=target.id, summary=child.summary,
                description=child.description, parent=key, epic_link_field=epic_link)))
        except IntegrationError as exc:
            error = f"Created {len(made)} of {len(children)}; JIRA refused “{child.summary}”: {exc}"
            break
    with session_scope() as session:
        store.upsert_tickets(session, row.id, user.id, made)
    return Created(keys=tuple(t.key for t in made), error=error)

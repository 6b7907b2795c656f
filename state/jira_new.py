"""The New ticket page: project and type, the form JIRA's create screen defines, and "describe
it": the assistant fills the form from plain words and asks for what is missing; the user checks
the filled form and creates the ticket with an explicit click."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import reflex as rx

from services.auth.errors import AuthError
from services.auth.users import AuthedUser
from services.integrations.base import IntegrationError
from services.jira import connection, create
from services.llm.types import LLMError
from state.background import reported
from state.session import SessionState

USER_ERRORS = (AuthError, IntegrationError, LLMError)


class Option(TypedDict):
    value: str
    label: str


class FieldRow(TypedDict):
    id: str
    name: str
    kind: str
    required: bool
    options: list[str]


class JiraNewState(SessionState):
    connected: bool = True
    projects: list[Option] = rx.field(default_factory=list)
    project: str = ""
    types: list[Option] = rx.field(default_factory=list)
    issue_type: str = ""
    fields: list[FieldRow] = rx.field(default_factory=list)
    values: dict[str, str] = rx.field(default_factory=dict)
    form_key: str = "0"  # changes when the assistant fills the form, to remount its inputs
    described: str = ""
    questions: list[str] = rx.field(default_factory=list)
    answers: str = ""
    assist_notice: str = ""
    filling: bool = False
    creating: bool = False
    error: str = ""
    created_key: str = ""
    created_url: str = ""

    def _subtask_ids(self) -> set[str]:
        return {option["value"] for option in self.types if option["label"].endswith("(subtask)")}

    @rx.event
    async def load(self):
        user = self._require()
        self.connected, self.error, self.created_key = connection.get(user) is not None, "", ""
        if not self.connected:
            return
        try:
            found = await asyncio.to_thread(create.projects, user)
        except USER_ERRORS as exc:
            self.error = f"JIRA's projects could not be read: {exc}"
            return
        self.projects = [{"value": p.key, "label": f"{p.name} ({p.key})"} for p in found]
        if self.project not in {p.key for p in found}:
            self.project = found[0].key if found else ""
        await self._load_types(user)

    async def _load_types(self, user: AuthedUser) -> None:
        self.types, self.fields, self.issue_type = [], [], ""
        if not self.project:
            return
        found = await asyncio.to_thread(create.issue_types, user, self.project)
        self.types = [{"value": t.id, "label": f"{t.name} (subtask)" if t.subtask else t.name} for t in found]
        standard = [t for t in found if not t.subtask]
        self.issue_type = standard[0].id if standard else ""
        await self._load_fields(user)

    async def _load_fields(self, user: AuthedUser) -> None:
        self.fields = []
        if not self.issue_type:
            return
        try:
            found = await asyncio.to_thread(create.form, user, self.project, self.issue_type)
        except USER_ERRORS as exc:
            self.error = str(exc)
            return
        self.fields = [{"id": f.id, "name": f.name, "kind": f.kind, "required": f.required,
                        "options": list(f.options)} for f in found]
        self.values = {f.id: self.values.get(f.id, "") for f in found}

    @rx.event
    async def choose_project(self, value: str):
        user = self._require()
        self.project, self.error = str(value), ""
        try:
            await self._load_types(user)
        except USER_ERRORS as exc:
            self.error = str(exc)

    @rx.event
    async def choose_type(self, value: str):
        user = self._require()
        self.issue_type, self.error = str(value), ""
        if self.issue_type in self._subtask_ids():
            self.error = "Subtasks need a parent: open the parent ticket on the board and use Break down."
            self.fields = []
            return
        await self._load_fields(user)

    @rx.event
    def set_value(self, field_id: str, value: str):
        self._require()
        if field_id in self.values:
            self.values[field_id] = str(value)

    @rx.event(background=True)
    async def fill_from_description(self, form: dict):
        """The words come with the click (the form), never from an edit still on its way."""
        async with self:
            user = self._require()
            if self.filling or not self.fields:
                return
            self.described = str(form.get("described", ""))[: create.MAX_PLAIN]
            self.answers = str(form.get("answers", ""))[: create.MAX_PLAIN]
            project, type_id, text, answers = self.project, self.issue_type, self.described, self.answers
            type_name = next((t["label"] for t in self.types if t["value"] == type_id), "")
            self.filling, self.error, self.assist_notice = True, "", ""
        async with reported(self, busy="filling", error="error", what="The assistant", user_errors=USER_ERRORS):
            fields = await asyncio.to_thread(create.form, user, project, type_id)
            found = await create.interpret(user, project, type_name, fields, text, answers)
            async with self:
                self.values = {**self.values, **found.values}
                self.questions, self.assist_notice = list(found.questions), found.notice
                self.form_key = str(int(self.form_key) + 1)

    @rx.event
    async def create_ticket(self, form: dict):
        """The form's inputs come with the click: what the user sees is what is created."""
        user = self._require()
        if self.creating:
            return
        values = {key: str(value) for key, value in form.items() if key in self.values}
        self.values = {**self.values, **values}
        self.creating, self.error, self.created_key = True, "", ""
        yield
        try:
            ticket = await asyncio.to_thread(create.create, user, self.project, self.issue_type, self.values)
        except USER_ERRORS as exc:
            self.error = str(exc)
        else:
            self.created_key, self.created_url = ticket.key, ticket.url
            self.values = dict.fromkeys(self.values, "")
            self.described, self.answers, self.questions = "", "", []
            self.form_key = str(int(self.form_key) + 1)
        finally:
            self.creating = False

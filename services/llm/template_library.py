"""The admin's library of learned templates: totals, a searchable list, edits, and moving
templates between installations as a JSON document.

Edits keep a template answerable: the output may only use placeholders its task defines
(`fill` could not fill any other), and every change bumps `updated_at`, which is what
makes each process's vector index re-sync (services.llm.learned._Index): this one at once,
the others within a second. Imports are
all-or-nothing for bad input: every item is checked first and one invalid item stops the
whole document, so an admin never has to work out which half of a file got in. Creation
goes through `learned.save`, so an imported template is stored, embedded and
de-duplicated exactly like a learned one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.auth.errors import ValidationError
from services.db import connection_scope, session_scope
from services.db.models import LearnedTemplate
from services.db.models.base import utcnow
from services.db.text_match import any_contains
from services.llm import learned
from services.search import embedder

FORMAT = "llmcoder-learned-templates"
VERSION = 1
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_TEMPLATES = 50_000
CONTEXT_LENGTH = 200
_TOO_LARGE = f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it into smaller ones."
# A placeholder `fill` can fill: the k-th value of one of the kinds `entities` finds.
# Text fields of an exported template: name -> (required, longest allowed; None = no limit).
# The limits are the columns' (PostgreSQL enforces them; the name is cut by learned.save).
_TEXTS: dict[str, tuple[bool, int | None]] = {
    "name": (False, learned.NAME_LENGTH), "feature": (True, 60), "context": (False, CONTEXT_LENGTH),
    "task_text": (True, None), "output": (True, None), "source_provider": (False, 80), "source_model": (False, 200),
}
# Whole-number fields: name -> (required, smallest, largest; None = no limit).
_NUMBERS: dict[str, tuple[bool, int, int | None]] = {
    "quality": (True, 0, 100), "source_cost_nanos": (False, 0, None), "uses": (False, 0, None),
}


@dataclass(frozen=True)
class TemplateRow:
    id: int
    name: str
    feature: str
    context: str
    source_provider: str
    uses: int
    quality: int
    last_used_at: datetime | None
    enabled: bool


@dataclass(frozen=True)
class TemplateDetail:
    id: int
    name: str
    feature: str
    context: str
    task_text: str
    output: str
    placeholders: list[str]
    quality: int
    uses: int
    saved_nanos: int
    demotions: int
    enabled: bool
    source_call_id: str | None
    source_provider: str
    source_model: str
    source_cost_nanos: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImportReport:
    created: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading

def totals() -> dict[str, Any]:
    """The figures above the table; average quality is None while there are no templates."""
    with session_scope() as session:
        count, enabled, uses, saved, quality = session.exec(select(
            func.count(), func.coalesce(func.sum(case((col(LearnedTemplate.enabled), 1), else_=0)), 0),
            func.coalesce(func.sum(LearnedTemplate.uses), 0), func.coalesce(func.sum(LearnedTemplate.saved_nanos), 0),
            func.avg(LearnedTemplate.quality))).one()
    return {"templates": int(count), "enabled": int(enabled), "uses": int(uses), "saved_nanos": int(saved),
            "average_quality": None if quality is None else round(float(quality), 1)}


def search(text: str = "", feature: str = "", enabled: bool | None = None, page: int = 1,
           page_size: int = PAGE_SIZE) -> tuple[list[TemplateRow], bool, int]:
    """(rows, has_next, total matching): most recently used first, never-used ones newest first."""
    if page < 1:
        raise ValidationError("Pages are numbered from 1.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"Page size must be from 1 to {MAX_PAGE_SIZE}.")
    where: list[ColumnElement[bool]] = []
    if text.strip():
        searched = (LearnedTemplate.name, LearnedTemplate.task_text, LearnedTemplate.output)
        where.append(any_contains(searched, text.strip()))
    if feature:
        where.append(col(LearnedTemplate.feature) == feature)
    if enabled is not None:
        where.append(col(LearnedTemplate.enabled).is_(enabled))
    query = (select(LearnedTemplate.id, LearnedTemplate.name, LearnedTemplate.feature, LearnedTemplate.context,
                    LearnedTemplate.source_provider, LearnedTemplate.uses, LearnedTemplate.quality,
                    LearnedTemplate.last_used_at, LearnedTemplate.enabled)
             .where(*where)
             .order_by(col(LearnedTemplate.last_used_at).desc().nulls_last(), col(LearnedTemplate.id).desc())
             .offset((page - 1) * page_size).limit(page_size + 1))
    with session_scope() as session:
        found = session.exec(query).all()
        total = int(session.exec(select(func.count()).select_from(LearnedTemplate).where(*where)).one())
    return [TemplateRow(*row) for row in found[:page_size]], len(found) > page_size, total


def features() -> list[str]:
    """The features that have templates, for the filter."""
    with session_scope() as session:
        return sorted(session.exec(select(LearnedTemplate.feature).distinct()).all())


def _row(session, template_id: int) -> LearnedTemplate:
    row = session.get(LearnedTemplate, template_id)
    if row is None:
        raise ValidationError("That template does not exist (it may have been deleted).")
    return row


def get(template_id: int) -> TemplateDetail:
    with session_scope() as session:
        t = _row(session, template_id)
        assert t.id is not None
        return TemplateDetail(
            id=t.id, name=t.name, feature=t.feature, context=t.context, task_text=t.task_text, output=t.output,
            placeholders=list(json.loads(t.placeholders)), quality=t.quality, uses=t.uses,
            saved_nanos=t.saved_nanos, demotions=t.demotions, enabled=t.enabled, source_call_id=t.source_call_id,
            source_provider=t.source_provider, source_model=t.source_model, source_cost_nanos=t.source_cost_nanos,
            last_used_at=t.last_used_at, created_at=t.created_at, updated_at=t.updated_at)


# ---------------------------------------------------------------- changing

def _undefined_placeholders(task_text: str, output: str) -> list[str]:
    return sorted(set(learned._PLACEHOLDER.findall(output)) - set(learned._PLACEHOLDER.findall(task_text)))


def update(template_id: int, *, name: str | None = None, output: str | None = None, quality: int | None = None,
           context: str | None = None) -> TemplateDetail:
    """Changes the given fields; the task (and so the embedding) stays as learned."""
    with session_scope() as session:
        t = _row(session, template_id)
        if name is not None:
            if not name.strip() or len(name.strip()) > learned.NAME_LENGTH:
                raise ValidationError(f"The name must be 1 to {learned.NAME_LENGTH} characters.")
            t.name = name.strip()
        if quality is not None:
            if not 0 <= quality <= 100:
                raise ValidationError("Quality must be from 0 to 100.")
            t.quality = quality
        if context is not None:
            if len(context.strip()) > CONTEXT_LENGTH:
                raise ValidationError(f"The context must be at most {CONTEXT_LENGTH} characters.")
            t.context = context.strip()
        if output is not None:
            if not output.strip():
                raise ValidationError("The output cannot be empty.")
            unknown = _undefined_placeholders(t.task_text, output)
            if unknown:
                raise ValidationError("The output uses placeholders the task does not define: "
                                      + ", ".join("{{" + n + "}}" for n in unknown) + ".")
            t.output = output
        t.content_hash = learned._hash(t.feature, t.context, t.output)
        with session.no_autoflush:  # the check must not write the change it checks
            same = session.exec(select(LearnedTemplate.id).where(
                LearnedTemplate.feature == t.feature, LearnedTemplate.content_hash == t.content_hash,
                col(LearnedTemplate.id) != template_id)).first()
        if same is not None:
            raise ValidationError(f"Template {same} already has this output in this feature and context.")
        t.updated_at = utcnow()
        session.add(t)
        try:
            session.flush()
        except IntegrityError as exc:  # the same output was saved elsewhere since the check
            raise ValidationError("Another template already has this output in this feature and context.") from exc
    learned.changed()
    return get(template_id)


def set_enabled(template_id: int, enabled: bool) -> None:
    with session_scope() as session:
        t = _row(session, template_id)
        t.enabled, t.updated_at = enabled, utcnow()
        session.add(t)
    learned.changed()


def delete(template_id: int) -> None:
    with session_scope() as session:
        session.delete(_row(session, template_id))
    learned.changed()


# ---------------------------------------------------------------- export and import

_EXPORTED = ("name", "feature", "context", "task_text", "output", "placeholders", "quality", "source_provider",
             "source_model", "source_cost_nanos", "uses", "enabled")


def export_all() -> str:
    """Every template, oldest first, without ids (they are local) or embeddings (recomputed
    on import, so a document stays valid across embedding models)."""
    with session_scope() as session:
        rows = session.exec(select(LearnedTemplate).order_by(col(LearnedTemplate.id))).all()
        templates = [{name: getattr(t, name) for name in _EXPORTED} | {"placeholders": json.loads(t.placeholders)}
                     for t in rows]
    return json.dumps({"format": FORMAT, "version": VERSION, "exported_at": utcnow().isoformat(),
                       "templates": templates}, indent=1, ensure_ascii=False)


def _problems(item: Any) -> list[str]:
    """What is wrong with one exported template; empty when it can be imported."""
    if not isinstance(item, dict):
        return ["is not an object"]
    problems = []
    for name, (required, longest) in _TEXTS.items():
        value = item.get(name)
        if value is None:
            if required:
                problems.append(f"{name} is missing")
        elif not isinstance(value, str):
            problems.append(f"{name} must be a string")
        elif required and not value.strip():
            problems.append(f"{name} is empty")
        elif longest is not None and len(value.strip()) > longest:
            problems.append(f"{name} is longer than {longest} characters")
    for name, (required, low, high) in _NUMBERS.items():
        value = item.get(name)
        if value is None:
            if required:
                problems.append(f"{name} is missing")
        elif isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name} must be a whole number")
        elif value < low or (high is not None and value > high):
            problems.append(f"{name} must be from {low} to {high}" if high is not None else f"{name} must be ≥ {low}")
    if "enabled" in item and not isinstance(item["enabled"], bool):
        problems.append("enabled must be true or false")
    task, output = item.get("task_text"), item.get("output")
    if isinstance(task, str) and isinstance(output, str):
        defined = set(learned._PLACEHOLDER.findall(task))
        unfillable = sorted(n for n in defined if not learned.FILLABLE.match(n))
        if unfillable:
            problems.append("the task has placeholders no request can fill: "
                            + ", ".join("{{" + n + "}}" for n in unfillable))
        unknown = _undefined_placeholders(task, output)
        if unknown:
            problems.append("the output uses placeholders the task does not define: "
                            + ", ".join("{{" + n + "}}" for n in unknown))
        listed = item.get("placeholders")
        if listed is not None:
            if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
                problems.append("placeholders must be a list of names")
            elif set(listed) != defined:
                problems.append(f"placeholders {sorted(listed)} do not match the task's {sorted(defined)}")
    return problems


def _label(number: int, item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"Template {number} \u201c{name}\u201d" if isinstance(name, str) and name.strip() else f"Template {number}"


def _check_document(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(templates, errors): the templates only when the whole document is valid."""
    if len(text.encode()) > MAX_IMPORT_BYTES:
        return [], [_TOO_LARGE]
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"Not a JSON document: {exc.msg} at line {exc.lineno}, column {exc.colno}."]
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return [], [f"Not a learned-templates export: the document's \"format\" must be \"{FORMAT}\"."]
    if document.get("version") != VERSION:
        return [], [f"Unsupported version {document.get('version')!r}: this installation reads version {VERSION}."]
    templates = document.get("templates")
    if not isinstance(templates, list):
        return [], ["\"templates\" must be a list."]
    if len(templates) > MAX_IMPORT_TEMPLATES:
        return [], [f"The file holds {len(templates):,} templates; at most {MAX_IMPORT_TEMPLATES:,} per import."]
    errors = [f"{_label(n, item)}: {problem}." for n, item in enumerate(templates, start=1) for problem in _problems(item)]
    return ([], errors) if errors else (templates, [])


def import_json(text: str, *, user_id: int | None) -> ImportReport:
    """Creates the document's templates that are not here yet. Nothing is created when any
    item is invalid; the report lists every problem with its item's number (from 1)."""
    templates, errors = _check_document(text)
    if errors:
        return ImportReport(errors=errors)
    if templates and not embedder.available():
        return ImportReport(errors=[f"Templates need the embedding model: {embedder.unavailable_reason()}"])
    keyed = [((t["feature"], learned._hash(t["feature"], (t.get("context") or "").strip(), t["output"])), t)
             for t in templates]
    with session_scope() as session:
        hashes = sorted({key[1] for key, _ in keyed})
        seen: set[tuple[str, str]] = set()
        for start in range(0, len(hashes), 500):
            seen.update((feature, content_hash) for feature, content_hash in session.exec(
                select(LearnedTemplate.feature, LearnedTemplate.content_hash)
                .where(col(LearnedTemplate.content_hash).in_(hashes[start:start + 500]))).all())
    created, duplicates = 0, 0
    uses: dict[int, int] = {}
    for key, t in keyed:
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        result = learned.save(
            feature=t["feature"], context=(t.get("context") or "").strip(), task_text=t["task_text"],
            output=t["output"], quality=t["quality"], name=t.get("name") or "",
            source_provider=t.get("source_provider") or "", source_model=t.get("source_model") or "",
            source_cost_nanos=t.get("source_cost_nanos") or 0, user_id=user_id, already_parameterised=True,
            enabled=t.get("enabled", True))
        if not result.created:  # made by someone else since the check above
            duplicates += 1
            continue
        created += 1
        if t.get("uses"):
            uses[result.template_id] = t["uses"]
    if uses:  # learned.save starts every template at 0
        with connection_scope() as conn:
            for template_id, count in uses.items():
                conn.execute(sql_update(LearnedTemplate).where(col(LearnedTemplate.id) == template_id).values(uses=count))
    return ImportReport(created=created, duplicates=duplicates)


def import_bytes(data: bytes, *, user_id: int | None) -> ImportReport:
    """An uploaded file: refused before decoding when too large, and when not UTF-8."""
    if len(data) > MAX_IMPORT_BYTES:
        return ImportReport(errors=[_TOO_LARGE])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ImportReport(errors=[f"The file is not UTF-8 text (byte {exc.start} cannot be decoded)."])
    return import_json(text, user_id=user_id)

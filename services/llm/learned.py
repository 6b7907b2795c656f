"""Learned templates: accepted, high-quality outputs that answer repeat work at no cost.

An output is kept with the request-specific values of its task (e-mail addresses, URLs,
dates, IDs, numbers, names) turned into `{{placeholders}}`. A new request in the same
feature and context whose task embeds close enough is answered by filling those
placeholders with the new task's values, in order. A template only answers when the new
task has exactly as many values of each kind: a request with an extra number or address
differs in a way the template cannot know, so a provider answers it instead.

The database holds the templates and their embeddings. Each process keeps a vector index
built from it (see services.search.store for why) and re-syncs when the table changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

from py_rust_stemmers import SnowballStemmer
from sqlalchemy import func, update
from sqlmodel import col, select

from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.models import LearnedTemplate, LLMCall
from services.db.models.base import utcnow
from services.search import embedder
from services.search.store import VectorIndex

COLLECTION = "learned_templates"
NAME_LENGTH = 80
DEMOTION = 20  # quality points lost per bad rating or heavy edit
HEAVY_EDIT = 0.5  # share of the output changed that counts as "the template was wrong"

# Longest, most specific shapes first; each match masks its span for the later kinds.
_MONTHS = "Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|" \
          "Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("url", re.compile(r"https?://[^\s<>\"'`)\]]+[^\s<>\"'`)\].,;:!?]")),
    ("date", re.compile(rf"\b\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}})?)?\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|"
                        rf"\b\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b|\b(?:{_MONTHS}) \d{{1,2}}(?:, \d{{4}})?\b")),
    ("id", re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|"
                      r"(?<![\w#])#\d+\b")),
    ("number", re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\w)")),
    # Capitalised words that do not start a sentence: "ask Maria Lopez", not "Write ...".
    ("name", re.compile(r"(?<=[a-z,] )[A-Z][a-z]+(?: [A-Z][a-z]+)*")),
)
_NOT_NAMES = frozenset({"I", "Python", "JavaScript", "TypeScript", "SQL", "JSON", "HTML", "CSS", "API", "The", "Monday",
                        "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Slack", "Jira", "Gmail",
                        "Outlook", "Confluence", "Django", "Flask", "FastAPI", "React", "Reflex", "Docker", "Linux",
                        "Windows", "Redis", "Postgres", "PostgreSQL", "SQLite", "Git", "GitHub", "Go", "Rust", "Java"})
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# The placeholder names `fill` can fill: the n-th value of a kind.
FILLABLE = re.compile(rf"^(?:{'|'.join(kind for kind, _ in KINDS)})_[1-9]\d*$")
# Words that frame a request without changing what is asked ("write a function that ...",
# "could you create a script which ..."). Everything else must match, stem for stem: the
# embedding alone rates "downloads URL" and "deletes URL" 0.80 alike, because once the
# values are gone the verb is most of what differs, and embeddings barely tell verbs apart.
_FRAMING = frozenset("""
a an the this that these those which who whom whose what it its it's i me my we us our you your he she they them
is are was were be been being am has have had do does did will would shall should can could may might must
to of in on at by for from with into onto about as and or but so then than also too just only very really
please kindly help want need like give show make write create build implement generate produce code coding
function functions script snippet program routine helper simple small quick short new some any one
time times using use used via per each every all
""".split())
_NEGATIONS = frozenset({"not", "no", "never", "without", "dont", "don't", "doesnt", "doesn't", "except", "avoid",
                        "neither", "nor", "none"})
_KIND_WORDS = frozenset(kind.upper() for kind, _ in KINDS)
_stemmer = SnowballStemmer("english")
# A task value this common also occurs in code by chance ("1 time" vs range(1, n + 1)), so
# replacing every copy of it in the output would corrupt the template.
_AMBIGUOUS_VALUES = frozenset({"0", "1", "2", "-1"})


@dataclass(frozen=True)
class Entity:
    kind: str
    value: str


def entities(text: str) -> list[Entity]:
    """Request-specific values in order of appearance, each value once."""
    found: list[tuple[int, Entity]] = []
    masked = text
    for kind, pattern in KINDS:
        for match in pattern.finditer(masked):
            value = match.group(0)
            if kind == "name" and value.split(" ")[0] in _NOT_NAMES:
                continue
            found.append((match.start(), Entity(kind, value)))
            masked = masked[:match.start()] + "\0" * len(value) + masked[match.end():]
    seen: set[Entity] = set()
    ordered = []
    for _, entity in sorted(found, key=lambda item: item[0]):
        if entity not in seen:
            seen.add(entity)
            ordered.append(entity)
    return ordered


def _slots(items: list[Entity]) -> dict[str, str]:
    """placeholder name -> value: the k-th distinct value of a kind is `<kind>_<k>`."""
    counts: dict[str, int] = defaultdict(int)
    slots = {}
    for entity in items:
        counts[entity.kind] += 1
        slots[f"{entity.kind}_{counts[entity.kind]}"] = entity.value
    return slots


def normalise(text: str) -> str:
    """The task with its values replaced by their kinds, so "retry 3 times" and "retry 5
    times" embed alike while "retry" and "delete" do not."""
    for entity in sorted(entities(text), key=lambda e: -len(e.value)):
        text = text.replace(entity.value, entity.kind.upper())
    return " ".join(text.split())


def _substitute(text: str, values: dict[str, str]) -> str:
    """Longest values first, so "3.5" is not split by "3"; whole tokens only."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        text = re.sub(rf"(?<![\w.@/-]){re.escape(value)}(?![\w@/-]|\.\w)", "{{" + name + "}}", text)
    return text


def parameterise(task_text: str, output: str) -> tuple[str, str, dict[str, str]]:
    """(task, output, {placeholder: original value}) with the task's values as placeholders."""
    slots = _slots(entities(task_text))
    return _substitute(task_text, slots), _substitute(output, slots), slots


def fill(output: str, placeholders: list[str], task_text: str) -> str | None:
    """The template's output for a new task, or None when the task's values do not fit."""
    new = _slots(entities(task_text))
    wanted_kinds = sorted(name.rsplit("_", 1)[0] for name in placeholders)
    given_kinds = sorted(name.rsplit("_", 1)[0] for name in new)
    if wanted_kinds != given_kinds:
        return None
    return _PLACEHOLDER.sub(lambda m: new.get(m.group(1), m.group(0)), output)


def intent(text: str) -> frozenset[str]:
    """The stems of the words that say what is asked: framing words and values left out,
    negations kept. Works on raw tasks and on parameterised ones ({{url_1}})."""
    text = _PLACEHOLDER.sub(" ", normalise(_PLACEHOLDER.sub(" ", text)))
    words = re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)
    return frozenset(_stemmer.stem_word(w.lower()) for w in words
                     if w not in _KIND_WORDS and (w.lower() not in _FRAMING or w.lower() in _NEGATIONS))


def display_name(name: str) -> str:
    """A template name for people: "{{url_1}}" shows as "‹url›"."""
    return _PLACEHOLDER.sub(lambda m: "\u2039" + m.group(1).rsplit("_", 1)[0] + "\u203a", name)


def edit_ratio(before: str, after: str) -> float:
    """Share of the text the user changed: 0 untouched, 1 rewritten."""
    if before == after:
        return 0.0
    return round(1.0 - SequenceMatcher(None, before, after, autojunk=False).ratio(), 3)


def _vector_bytes(vector: list[float]) -> bytes:
    return array("f", vector).tobytes()


def _vector(blob: bytes) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    return values.tolist()


def _hash(feature: str, context: str, output: str) -> str:
    normalised = " ".join(output.split())
    return hashlib.sha256(f"{feature}\0{context}\0{normalised}".encode()).hexdigest()


# ---------------------------------------------------------------- the per-process index

def _template_key(task_param: str) -> str:
    """A template's task as a new task with the same wording normalises (the model is uncased)."""
    return normalise(_PLACEHOLDER.sub(lambda m: m.group(1).rsplit("_", 1)[0].upper(), task_param)).lower()


def _query_key(task_text: str) -> str:
    return normalise(task_text).lower()


def _collection(feature: str, context: str) -> str:
    return f"{COLLECTION}_" + hashlib.sha1(f"{feature}\0{context}".encode()).hexdigest()[:16]


class _Index:
    """Vector indexes that follow the table: a cheap change check, a diff sync when it changed.
    One collection per (feature, context): matching never crosses them, and an unfiltered
    search is an order of magnitude faster than a filtered one in Qdrant's local mode."""

    CHECK_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.indexes: dict[str, VectorIndex] = {}
        self.synced: dict[int, tuple[datetime, str]] = {}  # id -> (updated_at, collection)
        self.sizes: dict[str, int] = defaultdict(int)
        # Repeat work is mostly the same wording with other values: found by its normalised
        # text without embedding anything.
        self.exact: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.keys: dict[int, str] = {}
        self.signature: tuple[Any, ...] = ()
        self.checked_at = 0.0

    def reset(self) -> None:
        with self._lock:
            for index in self.indexes.values():
                index.clear()
            self._reset()

    def _partition(self, name: str) -> VectorIndex:
        if name not in self.indexes:
            index = VectorIndex(name, embedder.DIM)
            index.ensure()
            self.indexes[name] = index
        return self.indexes[name]

    def candidates(self, feature: str, context: str, task_text: str, threshold: float) -> list[tuple[int, float]]:
        """(template id, similarity), best first: exact wordings, else the nearest embeddings."""
        name = _collection(feature, context)
        if not self.sizes.get(name):
            return []  # nothing learned here: no need to embed
        exact = self.exact[name].get(_query_key(task_text))
        if exact:
            return [(template_id, 1.0) for template_id in sorted(exact)]
        vector = embedder.embed_one(_query_key(task_text))
        return [(hit.id, hit.score) for hit in self.indexes[name].search(vector, limit=3, min_score=threshold)]

    def sync(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.checked_at < self.CHECK_SECONDS:
            return
        with self._lock:
            with session_scope() as session:
                signature = tuple(session.exec(select(func.count(), func.max(LearnedTemplate.updated_at))).one())
                if signature == self.signature and not force:
                    self.checked_at = now
                    return
                rows = session.exec(select(LearnedTemplate.id, LearnedTemplate.updated_at, LearnedTemplate.feature,
                                           LearnedTemplate.context)
                                    .where(col(LearnedTemplate.enabled).is_(True))).all()
                current = {row_id: (updated, _collection(feature, context))
                           for row_id, updated, feature, context in rows}
                changed = [i for i, state in current.items() if self.synced.get(i) != state]
                points: dict[str, list] = defaultdict(list)
                keys: dict[int, str] = {}
                for start in range(0, len(changed), 500):
                    for t in session.exec(select(LearnedTemplate)
                                          .where(col(LearnedTemplate.id).in_(changed[start:start + 500]))).all():
                        points[current[t.id][1]].append(
                            (t.id, _vector(t.embedding), {"feature": t.feature, "context": t.context}))
                        keys[t.id] = _template_key(t.task_text)
            gone: dict[str, list[int]] = defaultdict(list)
            for i, (_, name) in self.synced.items():
                if current.get(i, (None, None))[1] != name or i in keys:
                    gone[name].append(i)
                    self.exact[name][self.keys.pop(i)].discard(i)
            for name, ids in gone.items():
                self._partition(name).delete(ids)
                self.sizes[name] -= len(ids)
            for name, batch in points.items():
                self._partition(name).upsert(batch)
                self.sizes[name] += len(batch)
                for template_id, _vector_, _payload in batch:
                    self.keys[template_id] = keys[template_id]
                    self.exact[name][keys[template_id]].add(template_id)
            self.synced = current
            self.signature = signature
            self.checked_at = now


_index = _Index()


def reset_index() -> None:
    """Forget this process's index (tests switch databases under a running process)."""
    _index.reset()


def changed() -> None:
    """Call after writing templates: this process's next lookup re-syncs at once (others
    within CHECK_SECONDS)."""
    _index.checked_at = 0.0


# ---------------------------------------------------------------- matching

@dataclass(frozen=True)
class Match:
    template_id: int
    name: str
    score: float
    text: str
    source_provider: str
    source_model: str
    saved_nanos: int


def lookup(feature: str, context: str, task_text: str, *, threshold: float) -> Match | None:
    """The best enabled template of this feature and context that fits the task, if any."""
    if not task_text.strip():
        return None
    if not embedder.loads_quickly():
        embedder.warm_up()  # a download: answer this request without templates meanwhile
        return None
    if not embedder.available():
        return None
    _index.sync()
    hits = _index.candidates(feature, context, task_text, threshold)
    if not hits:
        return None
    asked = intent(task_text)
    with session_scope() as session:
        for template_id, score in hits:
            t = session.get(LearnedTemplate, template_id)
            if t is None or not t.enabled or intent(t.task_text) != asked:
                continue
            text = fill(t.output, list(json.loads(t.placeholders)), task_text)
            if text is not None:
                assert t.id is not None
                return Match(t.id, t.name, score, text, t.source_provider, t.source_model, t.source_cost_nanos)
    return None


def count_use(conn, template_id: int, saved_nanos: int) -> None:
    """Inside the transaction that logs the template answer."""
    now = utcnow()
    conn.execute(update(LearnedTemplate).where(col(LearnedTemplate.id) == template_id).values(
        uses=LearnedTemplate.uses + 1, saved_nanos=LearnedTemplate.saved_nanos + saved_nanos, last_used_at=now))


# ---------------------------------------------------------------- learning and demotion

@dataclass(frozen=True)
class Learned:
    template_id: int
    created: bool  # False: an identical template existed; its quality was kept at the higher value


def learn(call_id: str, *, quality: int, output: str | None = None, name: str = "",
          user_id: int | None = None) -> Learned:
    """Keeps a provider's answer (or the text the user accepted in its place) as a template."""
    if not embedder.available():
        raise ValidationError(f"Templates need the embedding model: {embedder.unavailable_reason()}")
    with session_scope() as session:
        call = session.get(LLMCall, call_id)
        if call is None:
            raise ValidationError("That LLM call does not exist (or its log was deleted).")
        if call.content_purged or not (output or call.response).strip():
            raise ValidationError("That call has no response text left to learn from.")
        task_text = call.task_text or call.user_prompt
        feature, context = call.feature, call.context
        request_cost = session.exec(select(func.coalesce(func.sum(LLMCall.cost_nanos), 0))
                                    .where(LLMCall.request_id == call.request_id)).one()
        provider, model = call.provider, call.model
    text = output if output is not None else _response_of(call_id)
    return save(feature=feature, context=context, task_text=task_text, output=text, quality=quality,
                name=name, source_call_id=call_id, source_provider=provider, source_model=model,
                source_cost_nanos=int(request_cost), user_id=user_id)


def _response_of(call_id: str) -> str:
    with session_scope() as session:
        call = session.get(LLMCall, call_id)
        return call.response if call else ""


def save(*, feature: str, context: str, task_text: str, output: str, quality: int, name: str = "",
         source_call_id: str | None = None, source_provider: str = "", source_model: str = "",
         source_cost_nanos: int = 0, user_id: int | None = None, already_parameterised: bool = False,
         enabled: bool = True) -> Learned:
    if not feature.strip() or not task_text.strip() or not output.strip():
        raise ValidationError("A template needs a feature, a task and an output.")
    if not 0 <= quality <= 100:
        raise ValidationError("Quality must be from 0 to 100.")
    if already_parameterised:
        task_param, output_param = task_text, output
        names = sorted(set(_PLACEHOLDER.findall(task_param)))
        unfillable = [name for name in names if not FILLABLE.match(name)]
        if unfillable:
            raise ValidationError(f"Placeholders must be a kind and a number, like {{{{url_1}}}}: "
                                  f"{', '.join(unfillable)} cannot be filled.")
    else:
        task_param, output_param, slots = parameterise(task_text, output)
        names = sorted(slots)
        ambiguous = sorted({v for v in slots.values() if v in _AMBIGUOUS_VALUES and v in output})
        if ambiguous:
            raise ValidationError(f"Not learned: the task's value {', '.join(ambiguous)} also occurs in the output "
                                  "where it may mean something else, so it cannot safely become a placeholder.")
    unknown = set(_PLACEHOLDER.findall(output_param)) - set(names)
    if unknown:
        raise ValidationError(f"The output uses placeholders the task does not define: {', '.join(sorted(unknown))}.")
    content_hash = _hash(feature, context, output_param)
    vector = embedder.embed_one(_template_key(task_param))
    with session_scope() as session:
        existing = session.exec(select(LearnedTemplate).where(LearnedTemplate.feature == feature,
                                                              LearnedTemplate.content_hash == content_hash)).first()
        if existing is not None:
            if quality > existing.quality:
                existing.quality, existing.updated_at = quality, utcnow()
                session.add(existing)
            assert existing.id is not None
            return Learned(existing.id, False)  # the quality alone does not change the index
        row = LearnedTemplate(
            name=(name.strip() or " ".join(task_param.split()))[:NAME_LENGTH], feature=feature, context=context,
            task_text=task_param, output=output_param, placeholders=json.dumps(names),
            embedding=_vector_bytes(vector), content_hash=content_hash, source_call_id=source_call_id,
            source_provider=source_provider, source_model=source_model, source_cost_nanos=source_cost_nanos,
            quality=quality, enabled=enabled, created_by=user_id)
        session.add(row)
        session.flush()
        assert row.id is not None
        created = Learned(row.id, True)
    changed()
    return created


def demote(template_id: int, *, floor: int, points: int = DEMOTION) -> bool:
    """Lowers quality; below the floor the template stops answering. True when disabled now."""
    with session_scope() as session:
        t = session.get(LearnedTemplate, template_id)
        if t is None:
            return False
        t.quality = max(0, t.quality - points)
        t.demotions += 1
        disabled_now = t.enabled and t.quality < floor
        if disabled_now:
            t.enabled = False
        t.updated_at = utcnow()
        session.add(t)
    changed()
    return disabled_now

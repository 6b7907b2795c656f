"""The admin's template library against a real database and the real embedding model:
totals, search, edits that keep templates answerable, enable/disable/delete as seen by
`learned.lookup`, and the JSON export/import round trip with its validation."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from services.auth.errors import ValidationError
from services.db import connection_scope, migrate, session_scope
from services.db.models import LearnedTemplate
from services.llm import learned, template_library
from services.search import embedder
from tests.conftest import reset_process_caches

THRESHOLD = 0.8
RETRY = ("write a function that retries a request 3 times",
         "def fetch(url):\n    for attempt in range(3):\n        pass  # 3 tries\n")
MAIL = ("write a function that sends a reminder to bob@example.org",
        "send_reminder(to='bob@example.org')\n")
INVOICE = ("reply to ann@example.com that invoice INV-42 is paid",
           "Hello,\n\ninvoice INV-42 is paid. Thank you!\n")


def make(task_output: tuple[str, str], *, feature: str = "assistant", context: str = "python", quality: int = 95,
         name: str = "", provider: str = "fake-primary", cost: int = 1500) -> int:
    task, output = task_output
    return learned.save(feature=feature, context=context, task_text=task, output=output, quality=quality, name=name,
                        source_provider=provider, source_model="openai/m1", source_cost_nanos=cost).template_id


def use(template_id: int, saved: int, times: int = 1) -> None:
    with connection_scope() as conn:
        for _ in range(times):
            learned.count_use(conn, template_id, saved)


def ask(task: str, *, feature: str = "assistant", context: str = "python") -> learned.Match | None:
    learned._index.sync(force=True)
    return learned.lookup(feature, context, task, threshold=THRESHOLD)


@pytest.fixture
def library(db):
    """Three templates: two in assistant/python, one in email (no context)."""
    return {"retry": make(RETRY, name="Retry helper"), "mail": make(MAIL, name="Reminder mail"),
            "invoice": make(INVOICE, feature="email", context="", name="Invoice paid", provider="fake-secondary")}


def template_count() -> int:
    with session_scope() as session:
        return len(session.exec(select(LearnedTemplate.id)).all())


# ---------------------------------------------------------------- reading

def test_totals_of_an_empty_library(db):
    assert template_library.totals() == {"templates": 0, "enabled": 0, "uses": 0, "saved_nanos": 0,
                                         "average_quality": None}


def test_totals_count_templates_uses_savings_and_quality(library):
    make(("write a function that sorts 5 numbers", "sorted(items)[:5]"), quality=91)
    template_library.set_enabled(library["mail"], False)
    use(library["retry"], 1500, times=3)
    use(library["invoice"], 700)
    assert template_library.totals() == {"templates": 4, "enabled": 3, "uses": 4, "saved_nanos": 3 * 1500 + 700,
                                         "average_quality": 94.0}


def test_search_by_text_feature_and_state_most_recently_used_first(library):
    use(library["invoice"], 10)
    use(library["retry"], 10)  # used last: first
    rows, has_next, total = template_library.search()
    assert [r.id for r in rows] == [library["retry"], library["invoice"], library["mail"]]
    assert (has_next, total) == (False, 3)
    first = rows[0]
    assert (first.name, first.feature, first.context, first.source_provider, first.uses, first.quality,
            first.enabled) == ("Retry helper", "assistant", "python", "fake-primary", 1, 95, True)
    assert first.last_used_at is not None and rows[2].last_used_at is None

    def ids(**filters) -> list[int]:
        return [r.id for r in template_library.search(**filters)[0]]

    assert ids(text="REMINDER") == [library["mail"]]  # name, any case
    assert ids(text="{{email_1}}") == [library["invoice"], library["mail"]]  # task text
    assert ids(text="thank you") == [library["invoice"]]  # output
    assert ids(text="%") == [] and ids(text="_1}") != []  # LIKE wildcards are literal
    assert ids(feature="email") == [library["invoice"]]
    template_library.set_enabled(library["retry"], False)
    assert ids(enabled=False) == [library["retry"]]
    assert library["retry"] not in ids(enabled=True)
    assert ids(text="function", feature="assistant", enabled=True) == [library["mail"]]
    assert template_library.features() == ["assistant", "email"]


def test_search_pages(db):
    made = [make((f"write a function named {op}", f"def {op}(): pass")) for op in ("add", "sub", "mul", "div", "mod")]
    pages = [template_library.search(page=p, page_size=2) for p in (1, 2, 3)]
    assert [[r.id for r in rows] for rows, _, _ in pages] == [made[4:2:-1], made[2:0:-1], made[:1]]
    assert [has_next for _, has_next, _ in pages] == [True, True, False]
    assert {total for _, _, total in pages} == {5}
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": template_library.MAX_PAGE_SIZE + 1}):
        with pytest.raises(ValidationError):
            template_library.search(**bad)


def test_get_shows_the_whole_template(library):
    detail = template_library.get(library["invoice"])
    assert detail.task_text == "reply to {{email_1}} that invoice {{id_1}} is paid"
    assert detail.output == "Hello,\n\ninvoice {{id_1}} is paid. Thank you!\n"
    assert detail.placeholders == ["email_1", "id_1"]
    assert (detail.source_provider, detail.source_model, detail.source_cost_nanos) == ("fake-secondary",
                                                                                       "openai/m1", 1500)
    assert detail.created_at <= detail.updated_at
    with pytest.raises(ValidationError, match="does not exist"):
        template_library.get(999_999)


# ---------------------------------------------------------------- editing

def test_update_changes_what_the_template_answers(library):
    before = template_library.get(library["retry"])
    after = template_library.update(library["retry"], name="  Retry loop  ", quality=97,
                                    output="for attempt in range({{number_1}}):\n    call()\n")
    assert (after.name, after.quality) == ("Retry loop", 97)
    assert after.updated_at > before.updated_at
    with session_scope() as session:
        row = session.get(LearnedTemplate, library["retry"])
        assert row.content_hash == learned._hash("assistant", "python", after.output)
    match = ask("write a function that retries a request 7 times")
    assert match is not None and match.template_id == library["retry"]
    assert match.text == "for attempt in range(7):\n    call()\n"


def test_update_context_moves_the_template(library):
    assert ask(RETRY[0].replace("3", "4"))
    template_library.update(library["retry"], context="go")
    assert ask(RETRY[0].replace("3", "4")) is None
    moved = ask(RETRY[0].replace("3", "4"), context="go")
    assert moved is not None and moved.template_id == library["retry"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"output": "send_reminder(to='{{email_2}}')"}, r"does not define: \{\{email_2\}\}"),
    ({"output": "   "}, "cannot be empty"),
    ({"name": " "}, "name must be"),
    ({"name": "x" * (learned.NAME_LENGTH + 1)}, "name must be"),
    ({"quality": 101}, "from 0 to 100"),
    ({"quality": -1}, "from 0 to 100"),
    ({"context": "c" * 201}, "at most 200"),
])
def test_update_refuses_bad_values_and_changes_nothing(library, changes, message):
    before = template_library.get(library["mail"])
    with pytest.raises(ValidationError, match=message):
        template_library.update(library["mail"], **changes)
    assert template_library.get(library["mail"]) == before


def test_update_refuses_the_output_of_another_template(library):
    other = make(("write a function that sends a reminder to ann@example.org soon", "remind('ann@example.org')"))
    before = template_library.get(other)
    with pytest.raises(ValidationError, match="already has this output"):
        template_library.update(other, output="send_reminder(to='{{email_1}}')\n")
    assert template_library.get(other) == before
    with pytest.raises(ValidationError, match="does not exist"):
        template_library.update(999_999, quality=50)


def test_disable_enable_and_delete_decide_whether_lookup_answers(library):
    paraphrase = "write a function that retries a request 5 times"
    match = ask(paraphrase)
    assert match is not None and match.template_id == library["retry"] and "range(5)" in match.text
    template_library.set_enabled(library["retry"], False)
    assert learned.lookup("assistant", "python", paraphrase, threshold=THRESHOLD) is None  # before any re-sync
    assert ask(paraphrase) is None
    template_library.set_enabled(library["retry"], True)
    again = learned.lookup("assistant", "python", paraphrase, threshold=THRESHOLD)  # this process re-syncs at once
    assert again is not None and again.template_id == library["retry"]
    template_library.delete(library["retry"])
    assert learned.lookup("assistant", "python", paraphrase, threshold=THRESHOLD) is None
    assert ask(paraphrase) is None
    with pytest.raises(ValidationError, match="does not exist"):
        template_library.delete(library["retry"])
    with pytest.raises(ValidationError, match="does not exist"):
        template_library.set_enabled(library["retry"], True)


# ---------------------------------------------------------------- export and import

def fresh_database(tmp_path, monkeypatch, name: str) -> None:
    monkeypatch.setenv("LLMCODER_DATA_DIR", str(tmp_path / name))
    reset_process_caches()
    migrate.upgrade()


def test_export_then_import_into_a_fresh_database(library, tmp_path, monkeypatch, make_user):
    use(library["retry"], 1500, times=2)
    template_library.set_enabled(library["mail"], False)
    exported = template_library.export_all()
    document = json.loads(exported)
    assert (document["format"], document["version"]) == ("llmcoder-learned-templates", 1)
    assert [t["name"] for t in document["templates"]] == ["Retry helper", "Reminder mail", "Invoice paid"]
    assert set(document["templates"][0]) == {"name", "feature", "context", "task_text", "output", "placeholders",
                                             "quality", "source_provider", "source_model", "source_cost_nanos",
                                             "uses", "enabled"}
    assert document["templates"][0]["uses"] == 2 and document["templates"][1]["enabled"] is False

    fresh_database(tmp_path, monkeypatch, "second")
    assert template_library.totals()["templates"] == 0
    assert ask("write a function that retries a request 9 times") is None
    admin = make_user("admin@example.com", role="admin")
    report = template_library.import_json(exported, user_id=admin.id)
    assert report == template_library.ImportReport(created=3, duplicates=0, errors=[])
    again = json.loads(template_library.export_all())
    assert again["templates"] == document["templates"]
    match = ask("write a function that retries a request 9 times")
    assert match is not None and "range(9)" in match.text
    invoice = ask("reply to cy@example.net that invoice INV-77 is paid", feature="email", context="")
    assert invoice is not None and invoice.text == "Hello,\n\ninvoice INV-77 is paid. Thank you!\n"
    assert ask("write a function that sends a reminder to dee@example.org") is None  # it was exported disabled
    with session_scope() as session:
        assert {t.created_by for t in session.exec(select(LearnedTemplate)).all()} == {admin.id}


def test_import_skips_duplicates_in_the_database_and_in_the_file(library):
    document = json.loads(template_library.export_all())
    new = {**document["templates"][0], "task_text": "write a loop that runs {{number_1}} times",
           "output": "for _ in range({{number_1}}): pass", "name": "Loop"}
    document["templates"] += [new, dict(new, name="Same output, other name")]
    report = template_library.import_json(json.dumps(document), user_id=None)
    assert report == template_library.ImportReport(created=1, duplicates=4, errors=[])
    assert template_library.totals()["templates"] == 4
    again = template_library.import_json(json.dumps(document), user_id=None)
    assert (again.created, again.duplicates) == (0, 5)


def valid_item(**changes) -> dict:
    item = {"name": "Loop", "feature": "assistant", "context": "python",
            "task_text": "write a loop that runs {{number_1}} times", "output": "for _ in range({{number_1}}): pass",
            "placeholders": ["number_1"], "quality": 92, "source_provider": "p", "source_model": "m",
            "source_cost_nanos": 10, "uses": 0, "enabled": True}
    return {k: v for k, v in {**item, **changes}.items() if v is not ...}


def doc(*items: dict, **top) -> str:
    return json.dumps({"format": "llmcoder-learned-templates", "version": 1, "templates": list(items), **top})


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "Not a JSON document: Expecting property name enclosed in double quotes at line 1, column 2."),
    ("[1, 2]", 'must be "llmcoder-learned-templates"'),
    (doc(format="something-else"), 'must be "llmcoder-learned-templates"'),
    (doc(version=2), "Unsupported version 2"),
    (doc(templates={"a": 1}), '"templates" must be a list'),
    (doc("text"), "Template 1: is not an object."),
    (doc(valid_item(feature=...)), "Template 1 “Loop”: feature is missing."),
    (doc(valid_item(output="  ")), "output is empty."),
    (doc(valid_item(quality="high")), "quality must be a whole number."),
    (doc(valid_item(quality=True)), "quality must be a whole number."),
    (doc(valid_item(quality=101)), "quality must be from 0 to 100."),
    (doc(valid_item(uses=-1)), "uses must be ≥ 0."),
    (doc(valid_item(name=7)), "Template 1: name must be a string."),
    (doc(valid_item(feature="f" * 61)), "feature is longer than 60 characters."),
    (doc(valid_item(enabled="yes")), "enabled must be true or false."),
    (doc(valid_item(output="{{email_1}}")), r"the output uses placeholders the task does not define: {{email_1}}."),
    (doc(valid_item(placeholders=["number_1", "url_1"])), "placeholders ['number_1', 'url_1'] do not match"),
    (doc(valid_item(placeholders="number_1")), "placeholders must be a list of names."),
    (doc(valid_item(task_text="greet {{customer}}", output="hi {{customer}}", placeholders=["customer"])),
     "the task has placeholders no request can fill: {{customer}}."),
])
def test_invalid_documents_import_nothing(db, text, message):
    report = template_library.import_json(text, user_id=None)
    assert (report.created, report.duplicates) == (0, 0)
    assert any(message in error for error in report.errors), report.errors
    assert template_count() == 0


def test_one_bad_item_stops_the_whole_document_and_every_error_is_listed(db):
    text = doc(valid_item(), valid_item(name="B", quality=500), valid_item(name="C", task_text=...,
                                                                          placeholders=...))
    report = template_library.import_json(text, user_id=None)
    assert report.errors == ["Template 2 “B”: quality must be from 0 to 100.", "Template 3 “C”: task_text is missing."]
    assert report.created == 0 and template_count() == 0
    fixed = template_library.import_json(doc(valid_item(), valid_item(name="B", output="x({{number_1}})")),
                                         user_id=None)
    assert (fixed.created, fixed.errors) == (2, [])


def test_size_limits(db, monkeypatch):
    huge = template_library.import_json(" " * (template_library.MAX_IMPORT_BYTES + 1), user_id=None)
    assert huge.errors == ["The file is larger than 20 MB; split it into smaller ones."]
    assert template_library.import_bytes(b"x" * (template_library.MAX_IMPORT_BYTES + 1), user_id=None).errors == \
        huge.errors
    monkeypatch.setattr(template_library, "MAX_IMPORT_TEMPLATES", 2)
    many = template_library.import_json(doc(*[valid_item(output=f"x{n}") for n in range(3)]), user_id=None)
    assert many.errors == ["The file holds 3 templates; at most 2 per import."]
    assert template_count() == 0


def test_uploaded_bytes_must_be_utf8(db):
    assert template_library.import_bytes(b'{"format": "\xff"}', user_id=None).errors == [
        "The file is not UTF-8 text (byte 12 cannot be decoded)."]
    with_bom = template_library.import_bytes(b"\xef\xbb\xbf" + doc(valid_item()).encode(), user_id=None)
    assert (with_bom.created, with_bom.errors) == (1, [])


def test_import_without_the_embedding_model_creates_nothing(db, monkeypatch):
    monkeypatch.setattr(embedder, "available", lambda: False)
    monkeypatch.setattr(embedder, "unavailable_reason", lambda: "no model folder")
    report = template_library.import_json(doc(valid_item()), user_id=None)
    assert report.errors == ["Templates need the embedding model: no model folder"]
    assert template_count() == 0

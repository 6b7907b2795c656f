"""The text side of learned templates: which values become placeholders and how a new
task fills them. No database or model needed."""

from __future__ import annotations

import pytest

from services.llm import learned

TASK = ("Write a Python function that fetches https://example.com/a and retries 3 times, then mails "
        "bob@x.org by 2026-12-01 about PROJ-12")
OUTPUT = ("def fetch():\n    # fetch https://example.com/a, 3 retries\n    for _ in range(3):\n"
          "        pass  # mail bob@x.org before 2026-12-01 (PROJ-12)\n")


def kinds(text: str) -> list[tuple[str, str]]:
    return [(e.kind, e.value) for e in learned.entities(text)]


def test_entities_are_found_in_order_each_once():
    assert kinds(TASK) == [("url", "https://example.com/a"), ("number", "3"), ("email", "bob@x.org"),
                           ("date", "2026-12-01"), ("id", "PROJ-12")]
    assert kinds("retry 3 times, then 3 more, then 4") == [("number", "3"), ("number", "4")]


@pytest.mark.parametrize(("text", "expected"), [
    ("see https://a.example/x?y=1.", [("url", "https://a.example/x?y=1")]),
    ("ticket #42 and uuid 123e4567-e89b-12d3-a456-426614174000",
     [("id", "#42"), ("id", "123e4567-e89b-12d3-a456-426614174000")]),
    ("by 3 March 2026 or March 4", [("date", "3 March 2026"), ("date", "March 4")]),
    ("on 12/31/2026 at v2 and py3", [("date", "12/31/2026")]),
    ("ask Maria Lopez and tell Tom", [("name", "Maria Lopez"), ("name", "Tom")]),
    ("write it in Python, for Django", []),
])
def test_entity_shapes(text, expected):
    assert kinds(text) == expected


def test_numbers_inside_other_values_are_not_counted_twice():
    assert kinds("mail a1@b2.org about ABC-7 at https://x.org/3") == [
        ("email", "a1@b2.org"), ("id", "ABC-7"), ("url", "https://x.org/3")]


def test_parameterise_replaces_the_task_values_in_task_and_output():
    task, output, slots = learned.parameterise(TASK, OUTPUT)
    assert slots == {"url_1": "https://example.com/a", "number_1": "3", "email_1": "bob@x.org",
                     "date_1": "2026-12-01", "id_1": "PROJ-12"}
    assert "{{url_1}}" in task and "https://example.com" not in task
    assert "range({{number_1}})" in output and "{{email_1}}" in output and "({{id_1}})" in output
    assert "3" not in output.replace("{{", "").replace("}}", "").replace("number_1", "")


def test_values_only_in_the_output_stay_literal():
    _task, output, slots = learned.parameterise("sort a list of 5 numbers", "sorted(items)[:10]  # 5 items")
    assert slots == {"number_1": "5"}
    assert output == "sorted(items)[:10]  # {{number_1}} items"


def test_fill_uses_the_new_values_by_kind_and_order():
    _task, output, slots = learned.parameterise(TASK, OUTPUT)
    new = ("Create a python function which fetches https://foo.org/b?x=1, retrying 5 times, then mail al@y.com "
           "by 2027-01-02 about OPS-7")
    filled = learned.fill(output, list(slots), new)
    assert filled == ("def fetch():\n    # fetch https://foo.org/b?x=1, 5 retries\n    for _ in range(5):\n"
                      "        pass  # mail al@y.com before 2027-01-02 (OPS-7)\n")


@pytest.mark.parametrize("new", [
    "fetch https://foo.org/b and retry 5 times",  # fewer values than the template has
    "fetch https://foo.org/b and https://bar.org retrying 5 times, mail al@y.com by 2027-01-02 about OPS-7",
])
def test_fill_refuses_tasks_whose_values_do_not_fit(new):
    _task, output, slots = learned.parameterise(TASK, OUTPUT)
    assert learned.fill(output, list(slots), new) is None


def test_normalise_hides_values_but_keeps_the_words():
    assert learned.normalise("retry https://a.b/c 3 times") == "retry URL NUMBER times"
    assert learned.normalise("retry 5 times") == learned.normalise("retry 7 times")
    assert learned.normalise("delete 5 rows") != learned.normalise("retry 5 times")


def test_edit_ratio():
    assert learned.edit_ratio("same text", "same text") == 0.0
    assert learned.edit_ratio("abcdefghij", "abcdefghiX") == pytest.approx(0.1)
    assert learned.edit_ratio("completely different", "nothing alike at all here") > 0.5


@pytest.mark.parametrize(("other", "same"), [
    ("Create a python function which downloads https://b.example/y, retrying 5 times", True),
    ("Python function to download https://b.example/y, retry 5 times", True),
    ("Write a Python function that deletes https://b.example/y with 5 retries", False),
    ("Write a Python function that uploads https://b.example/y with 5 retries", False),
    ("Write a Python function that never downloads https://b.example/y with 5 retries", False),
    ("Write a Python function that downloads https://b.example/y with 5 retries and a timeout", False),
])
def test_intent_ignores_framing_and_values_but_not_what_is_asked(other, same):
    template_task, _output, _slots = learned.parameterise(
        "Write a Python function that downloads https://a.example/x with 3 retries", "")
    assert (learned.intent(template_task) == learned.intent(other)) is same


def test_display_name_hides_placeholder_syntax():
    assert learned.display_name("fetch {{url_1}} {{number_2}} times") == "fetch \u2039url\u203a \u2039number\u203a times"

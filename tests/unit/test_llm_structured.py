"""Reading a model's JSON answer out of the prose and fences around it."""

from __future__ import annotations

import pytest

from services.llm.structured import first_json


@pytest.mark.parametrize(("text", "kind", "value"), [
    ('{"a": 1}', dict, {"a": 1}),
    ('Sure! Here it is:\n```json\n{"fields": {"summary": "x"}, "questions": []}\n```\nAnything else?', dict,
     {"fields": {"summary": "x"}, "questions": []}),
    ('[1, 2] then {"b": [3]}', dict, {"b": [3]}),  # the first object, past an array
    ('{"a": [1, 2]}', list, [1, 2]),  # the first array, even inside an object
    ('a {broken json} and {"ok": true}', dict, {"ok": True}),
    ('text with [brackets] and [{"summary": "s"}]', list, [{"summary": "s"}]),
])
def test_first_json_finds_the_first_value_of_the_kind(text, kind, value):
    assert first_json(text, kind) == value


@pytest.mark.parametrize(("text", "kind"), [("", dict), ("no json at all", dict), ('"just a string"', dict),
                                            ('{"a": 1}', list), ("{unclosed", dict)])
def test_first_json_says_when_there_is_none(text, kind):
    with pytest.raises(ValueError, match="no JSON"):
        first_json(text, kind)

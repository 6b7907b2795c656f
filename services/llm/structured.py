"""Reading a JSON answer out of a model's text: models wrap it in prose or ``` fences however
firmly they are asked not to, so the first complete JSON object (or array) in the text is taken."""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()


def first_json(text: str, kind: type = dict) -> Any:
    """The first JSON value of type `kind` (dict or list) in the text; ValueError when none."""
    opener = "{" if kind is dict else "["
    start = text.find(opener)
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except ValueError:
            start = text.find(opener, start + 1)
            continue
        if isinstance(value, kind):
            return value
        start = text.find(opener, start + 1)
    raise ValueError(f"The answer holds no JSON {kind.__name__}.")

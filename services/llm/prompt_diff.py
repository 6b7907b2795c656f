"""Line diffs between two wordings of a prompt (system and user part), for the version history."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Kind = Literal["header", "hunk", "added", "removed", "same"]


@dataclass(frozen=True)
class DiffLine:
    kind: Kind
    text: str


def _kind(line: str) -> Kind:
    """Of a line after the two file headers (a removed '--x' line starts like a header)."""
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "added"
    if line.startswith("-"):
        return "removed"
    return "same"


def diff_lines(old: tuple[str, str], new: tuple[str, str], *, old_label: str, new_label: str,
               context: int = 3) -> list[DiffLine]:
    """A unified diff of each part that changed, as typed lines the page can colour.
    `old`/`new` are (system, user); an empty list means the two wordings are identical."""
    lines: list[DiffLine] = []
    for part, before, after in (("system", old[0], new[0]), ("user", old[1], new[1])):
        diff = difflib.unified_diff(before.splitlines(), after.splitlines(), fromfile=f"{old_label} ({part})",
                                    tofile=f"{new_label} ({part})", lineterm="", n=context)
        lines.extend(DiffLine("header" if index < 2 else _kind(line), line) for index, line in enumerate(diff))
    return lines

"""The user's JIRA workflows as they really walk them, learned from the status changes in their
tickets' changelogs: how often tickets of each issue type moved from one status to another.

The board uses it to offer the likeliest next transition first and to draw a small workflow graph.
Counts are per issue type because a Bug and a Story rarely follow the same path; an issue type
with fewer than MIN_TYPE_MOVES moves out of a status borrows what all types did there. Statuses
are matched by name, as changelogs carry only names. `add` counts every change it is given, so
the caller passes each change once (for instance only those newer than the last sync).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from services.integrations.tickets import StatusChange, Transition

MIN_TYPE_MOVES = 3

Row = tuple[str, str, str, int]  # issue type, from status, to status, count: one database row


@dataclass(frozen=True)
class TransitionRow:
    issue_type: str
    from_status: str
    to_status: str
    count: int
    share: float  # of the moves out of from_status for this issue type


class TransitionCounts:
    """Moves per (issue type, from status, to status); `rows` and `from_rows` are its database form."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()

    @classmethod
    def from_rows(cls, rows: Iterable[Row]) -> TransitionCounts:
        counts = cls()
        for issue_type, from_status, to_status, count in rows:
            if count < 1:
                raise ValueError(f"a transition count must be positive, got {count} for {issue_type}: "
                                 f"{from_status} -> {to_status}")
            counts._counts[(issue_type, from_status, to_status)] += count
        return counts

    def rows(self) -> Iterator[Row]:
        for (issue_type, from_status, to_status), count in sorted(self._counts.items()):
            yield issue_type, from_status, to_status, count

    def add(self, issue_type: str, changes: Iterable[StatusChange]) -> None:
        for change in changes:
            if change.from_status and change.to_status and change.from_status != change.to_status:
                self._counts[(issue_type, change.from_status, change.to_status)] += 1

    def types(self) -> list[str]:
        return sorted({issue_type for issue_type, _, _ in self._counts})

    def table(self, issue_type: str | None = None) -> list[TransitionRow]:
        """Sorted by issue type, from status, then the most frequent move first."""
        moves_out = _moves_out(self._counts.items())
        rows = [TransitionRow(kind, source, target, count, count / moves_out[(kind, source)])
                for (kind, source, target), count in self._counts.items()
                if issue_type is None or kind == issue_type]
        return sorted(rows, key=lambda row: (row.issue_type, row.from_status, -row.count, row.to_status))

    def suggest(self, issue_type: str, current_status: str, available: Iterable[Transition]) -> Transition | None:
        """The available transition to the status most often taken from `current_status`; on a tie
        the one the workflow lists first. None when no available target was ever taken from there."""
        taken = self._taken_from(current_status, issue_type)
        if taken.total() < MIN_TYPE_MOVES:
            taken = self._taken_from(current_status)
        best = max(available, key=lambda transition: taken[transition.to.name], default=None)
        return best if best is not None and taken[best.to.name] else None

    def _taken_from(self, status: str, issue_type: str | None = None) -> Counter[str]:
        """The statuses moved to from `status`, by one issue type or by all."""
        taken: Counter[str] = Counter()
        for (kind, source, target), count in self._counts.items():
            if source == status and issue_type in (None, kind):
                taken[target] += count
        return taken


def graph_edges(rows: Iterable[TransitionRow], min_share: float = 0.05) -> list[tuple[str, str, int]]:
    """(from, to, count) edges for drawing the workflow, summed over the issue types in `rows`;
    a move rarer than `min_share` of those out of its status is left out as noise."""
    weights: Counter[tuple[str, str]] = Counter()
    for row in rows:
        weights[(row.from_status, row.to_status)] += row.count
    moves_out = _moves_out(weights.items())
    edges = [(source, target, count) for (source, target), count in weights.items()
             if count / moves_out[(source,)] >= min_share]
    return sorted(edges, key=lambda edge: (edge[0], -edge[2], edge[1]))


def _moves_out(counts: Iterable[tuple[tuple[str, ...], int]]) -> Counter[tuple[str, ...]]:
    """Moves out of each source, keyed by the count's key without its target status."""
    totals: Counter[tuple[str, ...]] = Counter()
    for key, count in counts:
        totals[key[:-1]] += count
    return totals

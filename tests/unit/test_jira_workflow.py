"""Workflow learning: transition counts per issue type from changelogs, their table and database
rows, the suggested next transition (ties, fallback to all types, nothing learned) and graph edges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.integrations.tickets import Status, StatusChange, Transition
from services.jira.workflow import TransitionCounts, TransitionRow, graph_edges

AT = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)


def moves(*path: str) -> list[StatusChange]:
    """The status changes of one ticket walking `path`."""
    return [StatusChange(at=AT, author="Sam", from_status=source, to_status=target)
            for source, target in zip(path, path[1:], strict=False)]


def transition(name: str, to: str) -> Transition:
    return Transition(id=name.lower().replace(" ", "-"), name=name, to=Status(name=to, category="indeterminate"))


START, CLOSE, REVIEW, BLOCK = (transition("Start", "In Progress"), transition("Close", "Done"),
                               transition("Review", "In Review"), transition("Block", "Blocked"))


@pytest.fixture
def counts() -> TransitionCounts:
    learned = TransitionCounts()
    for _ in range(3):
        learned.add("Bug", moves("Open", "In Progress", "In Review", "Done"))
    learned.add("Bug", moves("Open", "Done"))
    learned.add("Story", moves("Open", "In Progress", "Done"))
    learned.add("Story", moves("Open", "In Progress", "In Review", "In Progress", "In Review", "Done"))
    return learned


def test_table_counts_and_shares_per_type(counts):
    assert counts.table("Bug") == [
        TransitionRow("Bug", "In Progress", "In Review", 3, 1.0),
        TransitionRow("Bug", "In Review", "Done", 3, 1.0),
        TransitionRow("Bug", "Open", "In Progress", 3, 0.75),
        TransitionRow("Bug", "Open", "Done", 1, 0.25),
    ]
    story = counts.table("Story")
    assert [(row.from_status, row.to_status, row.count) for row in story] == [
        ("In Progress", "In Review", 2), ("In Progress", "Done", 1), ("In Review", "Done", 1),
        ("In Review", "In Progress", 1), ("Open", "In Progress", 2),
    ]
    assert [row.share for row in story] == pytest.approx([2 / 3, 1 / 3, 0.5, 0.5, 1.0])
    assert counts.table() == counts.table("Bug") + story
    assert counts.table("Epic") == []


def test_types(counts):
    assert counts.types() == ["Bug", "Story"]
    assert TransitionCounts().types() == []


@pytest.mark.parametrize("changes", [
    [StatusChange(at=AT, author="Sam", from_status="Open", to_status="Open")],
    [StatusChange(at=AT, author="Sam", from_status="", to_status="Open")],
    [StatusChange(at=AT, author="Sam", from_status="Open", to_status="")],
    [],
])
def test_changes_that_are_no_move_are_not_counted(changes):
    learned = TransitionCounts()
    learned.add("Bug", changes)
    assert list(learned.rows()) == []


def test_rows_round_trip_and_duplicates_add_up(counts):
    rows = list(counts.rows())
    assert rows[0] == ("Bug", "In Progress", "In Review", 3)
    assert len(rows) == 9
    assert TransitionCounts.from_rows(rows).table() == counts.table()
    merged = TransitionCounts.from_rows([("Bug", "Open", "Done", 2), ("Bug", "Open", "Done", 3)])
    assert list(merged.rows()) == [("Bug", "Open", "Done", 5)]


@pytest.mark.parametrize("count", [0, -1])
def test_from_rows_refuses_counts_below_one(count):
    with pytest.raises(ValueError, match="positive"):
        TransitionCounts.from_rows([("Bug", "Open", "Done", count)])


@pytest.mark.parametrize(("issue_type", "status", "available", "expected"), [
    ("Bug", "Open", [CLOSE, START], START),  # 3 of 4 Bugs went to In Progress
    ("Bug", "In Progress", [BLOCK, REVIEW, CLOSE], REVIEW),
    ("Bug", "In Progress", [BLOCK, CLOSE], None),  # Bugs never went to Blocked or Done from there
    # Stories left In Review twice (1 to 1), too few: all types say Done (4 to 1).
    ("Story", "In Review", [START, CLOSE], CLOSE),
    # Stories moved out of In Progress only 3 times: that is enough to decide on their own.
    ("Story", "In Progress", [CLOSE, REVIEW], REVIEW),
    # Tasks never moved: all types together (3 Bugs + 2 Stories went to In Progress, 1 Bug to Done).
    ("Task", "Open", [CLOSE, START], START),
    ("Bug", "Blocked", [START, CLOSE], None),  # nothing ever left Blocked
    ("Bug", "Open", [], None),
])
def test_suggest(counts, issue_type, status, available, expected):
    assert counts.suggest(issue_type, status, available) == expected


@pytest.mark.parametrize(("available", "expected"), [([START, CLOSE], START), ([CLOSE, START], CLOSE)])
def test_a_tie_goes_to_the_transition_the_workflow_lists_first(available, expected):
    learned = TransitionCounts()
    for _ in range(2):
        learned.add("Bug", moves("In Review", "In Progress", "In Review", "Done"))
    assert learned.suggest("Bug", "In Review", available) == expected


def test_a_type_with_few_moves_borrows_from_all_types():
    learned = TransitionCounts()
    for _ in range(4):
        learned.add("Bug", moves("Open", "In Progress"))
    learned.add("Story", moves("Open", "Done"))
    learned.add("Story", moves("Open", "Done"))
    # 2 Story moves out of Open are fewer than MIN_TYPE_MOVES: all types say In Progress (4 to 2).
    assert learned.suggest("Story", "Open", [CLOSE, START]) == START
    learned.add("Story", moves("Open", "Done"))
    assert learned.suggest("Story", "Open", [CLOSE, START]) == CLOSE  # now the Stories' own habit counts


def test_nothing_learned_suggests_nothing():
    assert TransitionCounts().suggest("Bug", "Open", [START, CLOSE]) is None


def test_graph_edges_sum_over_types_and_drop_rare_moves(counts):
    assert graph_edges(counts.table()) == [
        ("In Progress", "In Review", 5), ("In Progress", "Done", 1),
        ("In Review", "Done", 4), ("In Review", "In Progress", 1),
        ("Open", "In Progress", 5), ("Open", "Done", 1),
    ]
    # Open -> Done is 1 of 6 moves out of Open (0.17), In Progress -> Done 1 of 6, In Review -> In Progress 1 of 5.
    assert graph_edges(counts.table(), min_share=0.2) == [
        ("In Progress", "In Review", 5), ("In Review", "Done", 4), ("In Review", "In Progress", 1),
        ("Open", "In Progress", 5),
    ]
    assert graph_edges(counts.table("Bug"), min_share=0.5) == [
        ("In Progress", "In Review", 3), ("In Review", "Done", 3), ("Open", "In Progress", 3),
    ]
    assert graph_edges([]) == []

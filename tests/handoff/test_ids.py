"""handoff.ids: which duplicates are found, which references move, which stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.handoff.ids import find_duplicates, renumber_duplicates
from decp.handoff.state import read_state

LOOPS = """\
# Loops
<!-- next-id: LOOP-003 -->
<!-- next-id: LOOP-003 -->

### LOOP-001 (open) Keep me
- created: t

### LOOP-002 (closed) First two
- outcome: DECISION-001: pick first
- created: t

### LOOP-002 (closed) Second two
- outcome: DECISION-001: pick second
- created: t

### LOOP-002 (open) Third two
- created: t
"""

STATE = """\
# State
- goal: g

## Decisions
<!-- next-id: DECISION-002 -->
- DECISION-001 (2026-11-26, LOOP-002): pick first. Why: a
- DECISION-001 (2026-11-27, LOOP-002): pick second. Why: b
"""


@pytest.fixture
def merged(project: Path) -> Path:
    p = project / ".project"
    (p / "LOOPS.md").write_text(LOOPS, encoding="utf-8")
    (p / "STATE.md").write_text(STATE, encoding="utf-8")
    (p / "gtd").mkdir()
    (p / "gtd" / "todo.txt").write_text(
        "Second two +shop id:LOOP-002\nFirst two +shop id:LOOP-002\nmine, no id\n",
        encoding="utf-8",
    )
    (p / "sessions").mkdir()
    (p / "sessions" / "2026-11-27-1.md").write_text(
        "## Loops\n- Opened: LOOP-002 (open) Third two\n- see LOOP-002 somewhere\n",
        encoding="utf-8",
    )
    return project


def test_find_duplicates_lists_every_occurrence_in_file_order(merged: Path) -> None:
    dups = find_duplicates(load_config(merged))
    assert [(d.kind, d.id, [o.line for o in d.occurrences]) for d in dups] == [
        ("loop", "LOOP-002", [8, 12, 16]),
        ("decision", "DECISION-001", [6, 7]),
    ]
    assert dups[0].to_dict()["at"][0].endswith("LOOPS.md:8")


def test_renumber_moves_only_references_that_name_the_moved_entry(merged: Path) -> None:
    config = load_config(merged)
    mapping = renumber_duplicates(config)
    assert mapping == {
        "LOOP-002": "LOOP-003",
        "LOOP-002@LOOPS.md:16": "LOOP-004",
        "DECISION-001": "DECISION-002",
    }
    p = merged / ".project"
    loops = (p / "LOOPS.md").read_text(encoding="utf-8")
    assert "### LOOP-002 (closed) First two\n- outcome: DECISION-001: pick first\n" in loops
    assert "### LOOP-003 (closed) Second two\n- outcome: DECISION-002: pick second\n" in loops
    assert "### LOOP-004 (open) Third two\n" in loops
    assert loops.count("<!-- next-id:") == 1 and "<!-- next-id: LOOP-005 -->" in loops
    state = (p / "STATE.md").read_text(encoding="utf-8")
    assert "- DECISION-001 (2026-11-26, LOOP-002): pick first. Why: a\n" in state
    assert "- DECISION-002 (2026-11-27, LOOP-003): pick second. Why: b\n" in state
    assert "<!-- next-id: DECISION-003 -->" in state
    assert read_state(config).next_decision_number() == 3
    todo = (p / "gtd" / "todo.txt").read_text(encoding="utf-8")
    assert todo == "Second two +shop id:LOOP-003\nFirst two +shop id:LOOP-002\nmine, no id\n"
    session = (p / "sessions" / "2026-11-27-1.md").read_text(encoding="utf-8")
    # the line naming the title moves; a bare id could mean either loop and stays
    assert session == "## Loops\n- Opened: LOOP-004 (open) Third two\n- see LOOP-002 somewhere\n"
    assert find_duplicates(config) == []


def test_nothing_to_fix_writes_nothing(project: Path) -> None:
    p = project / ".project"
    (p / "LOOPS.md").write_text("### LOOP-001 (open) a\n", encoding="utf-8")
    before = (p / "LOOPS.md").stat().st_mtime_ns
    assert find_duplicates(load_config(project)) == []
    assert renumber_duplicates(load_config(project)) == {}
    assert (p / "LOOPS.md").stat().st_mtime_ns == before


def test_conflict_markers_are_refused_before_any_renumbering(merged: Path) -> None:
    path = merged / ".project" / "LOOPS.md"
    path.write_text(LOOPS + "<<<<<<< HEAD\n", encoding="utf-8")
    with pytest.raises(DataError, match="resolve the merge first"):
        renumber_duplicates(load_config(merged))
    assert path.read_text(encoding="utf-8") == LOOPS + "<<<<<<< HEAD\n"

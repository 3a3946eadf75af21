"""STATE.md and decisions: line-level edits, ids never reused, the token cap, both-or-neither."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from decp.core.config import load_config
from decp.core.errors import DataError, UsageError
from decp.core.tokens import get_counter
from decp.handoff.loops import edit_loops, read_loops
from decp.handoff.state import default_text, parse_state, read_state, state_path

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE = Path(".project/STATE.md")
LOOPS = Path(".project/LOOPS.md")
P = Path("STATE.md")

HAND_WRITTEN = """\
# State
My own intro line.

- goal: ship the incremental fct_orders
- task:   phase 2
- blockers: waiting on
  the finance team

## Notes
- owner: me (free notes under another heading are mine)

## Decisions
<!-- next-id: DECISION-009 · kept by decp -->
- DECISION-004 (2026-01-02, LOOP-003): Use a 3-day lookback. Why: late orders land within 72h
- DECISION-006 (2026-01-03): Keep stg_orders a view Why: it is cheap
"""


def test_hand_written_state_parses_and_edits_touch_only_their_line() -> None:
    doc = parse_state(HAND_WRITTEN, P)
    assert doc.render() == HAND_WRITTEN
    assert doc.fields["goal"] == "ship the incremental fct_orders"
    assert doc.fields["task"] == "phase 2"
    assert doc.fields["blockers"] == "waiting on\nthe finance team"
    assert [d.id for d in doc.decisions] == ["DECISION-004", "DECISION-006"]
    first = doc.decisions[0]
    assert (first.what, first.why, first.loop, first.date) == (
        "Use a 3-day lookback",
        "late orders land within 72h",
        "LOOP-003",
        "2026-01-02",
    )
    doc.set("next", "run dbt build")
    doc.set("blockers", "")
    rendered = doc.render()
    assert "- next_action: run dbt build\n" in rendered
    assert "- blockers:\n## Notes" not in rendered  # inserted fields keep the layout
    assert (
        rendered.replace("- next_action: run dbt build\n", "").replace(
            "- blockers:\n", "- blockers: waiting on\n  the finance team\n"
        )
        == HAND_WRITTEN
    )


def test_decision_ids_follow_the_mark_and_survive_removal() -> None:
    doc = parse_state(HAND_WRITTEN, P)
    added = doc.add_decision("Drop the legacy model.", "nobody reads it", date="2026-01-04")
    assert added.id == "DECISION-009"
    assert added.what == "Drop the legacy model"
    assert "<!-- next-id: DECISION-010 · kept by decp -->" in doc.render()
    doc.remove_decisions([d.id for d in doc.decisions])
    assert doc.decisions == []
    again = parse_state(doc.render(), P)
    assert again.add_decision("next", "because").id == "DECISION-010"
    assert again.render().count("## Decisions") == 1


def test_decision_needs_a_why_and_a_what() -> None:
    doc = parse_state(HAND_WRITTEN, P)
    with pytest.raises(UsageError):
        doc.add_decision("x", " ")
    with pytest.raises(UsageError):
        doc.add_decision("", "y")


def test_decision_line_round_trips_through_the_parser() -> None:
    doc = parse_state("", P)
    for what in ("Use X", "Use X?", "Keep ünïcode · (parens)"):
        doc.add_decision(what, "a reason, with commas", loop="LOOP-001", date="2026-01-01")
    again = parse_state(doc.render(), P)
    assert [d.to_dict() for d in again.decisions] == [d.to_dict() for d in doc.decisions]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("- goal: a\n- goal: b\n", 2, "appears twice"),
        ("- gaol: a\n", 1, "unknown field"),
        ("## Decisions\n- a stray bullet\n", 2, "bad line in the Decisions section"),
        ("## Decisions\n- DECISION-1 no parens\n", 2, "malformed decision line"),
        (
            "## Decisions\n- DECISION-1 (d): a Why: b\n- DECISION-001 (d): c Why: d\n",
            3,
            "duplicate",
        ),
    ],
)
def test_malformed_state_names_the_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(DataError) as info:
        parse_state(text, P)
    assert info.value.line == line and needle in info.value.message and info.value.fix


def test_stamped_template_equals_default_and_is_small() -> None:
    source = (REPO_ROOT / "template/.project/STATE.md.jinja").read_text(encoding="utf-8")
    rendered = jinja2.Template(source, keep_trailing_newline=True).render(
        docs_url="https://d.example", state_cap=600
    )
    assert rendered == default_text("https://d.example", 600)
    doc = parse_state(rendered, P)
    assert doc.render() == rendered and doc.decisions == []
    assert get_counter("cl100k_base").count(rendered) < 150


def test_state_cli_set_show_and_aliases(project, run_decp) -> None:
    assert run_decp("state", "set", "goal", "ship it", cwd=project).returncode == 0
    assert run_decp("state", "set", "phase", "build", cwd=project).returncode == 0
    assert run_decp("state", "set", "next", "dbt build -s fct_orders+", cwd=project).returncode == 0
    shown = json.loads(run_decp("state", "show", "--json", cwd=project).stdout)
    assert shown["goal"] == "ship it" and shown["task"] == "build"
    assert shown["next_action"] == "dbt build -s fct_orders+"
    assert shown["cap"] == 600 and shown["tokens"] > 0
    bad = run_decp("state", "set", "mood", "x", cwd=project)
    assert bad.returncode == 2 and "goal" in bad.stderr


def test_decision_with_loop_closes_it_in_both_files(project, run_decp) -> None:
    run_decp("loop", "add", "Lookback window?", cwd=project)
    result = run_decp(
        "decision",
        "add",
        "Use a 3-day lookback",
        "--why",
        "late orders land within 72h",
        "--loop",
        "1",
        "--json",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] == "DECISION-001" and data["loop"] == "LOOP-001"
    assert data["closed_loop"]["status"] == "closed"
    assert data["closed_loop"]["outcome"] == "DECISION-001: Use a 3-day lookback"
    config = load_config(project)
    assert read_state(config).decisions[0].why == "late orders land within 72h"


def test_decision_on_an_unclosable_loop_writes_neither_file(project, run_decp) -> None:
    run_decp("loop", "propose", "not approved yet", cwd=project)
    run_decp("state", "set", "goal", "g", cwd=project)
    before = ((project / STATE).read_bytes(), (project / LOOPS).read_bytes())
    for loop_id in ("1", "99"):
        result = run_decp("decision", "add", "x", "--why", "y", "--loop", loop_id, cwd=project)
        assert result.returncode == 2
    assert ((project / STATE).read_bytes(), (project / LOOPS).read_bytes()) == before


def test_cap_refuses_growth_and_allows_shrinking(project, run_decp) -> None:
    long_value = " ".join(f"word{n}" for n in range(400))
    result = run_decp("state", "set", "goal", long_value, cwd=project)
    assert result.returncode == 1
    assert "cap of 600" in result.stderr and "decp session end" in result.stderr
    assert not (project / STATE).exists()
    # a hand-edited, oversized STATE.md may still shrink
    config = load_config(project)
    state_path(config).write_text(
        default_text(config.docs_url, 600).replace("- goal:", f"- goal: {long_value}"),
        encoding="utf-8",
    )
    before = (project / STATE).read_bytes()
    grow = run_decp("decision", "add", "grow", "--why", "more", cwd=project)
    assert grow.returncode == 1 and (project / STATE).read_bytes() == before
    assert run_decp("state", "set", "goal", "short", cwd=project).returncode == 0


def test_malformed_state_file_exits_1_and_changes_nothing(project, run_decp) -> None:
    (project / STATE).write_text("# State\n- goal: a\n- goal: b\n", encoding="utf-8")
    before = (project / STATE).read_bytes()
    result = run_decp("decision", "add", "x", "--why", "y", cwd=project)
    assert result.returncode == 1 and "STATE.md:3:" in result.stderr
    (project / STATE).write_bytes(b"# State\n- goal: caf\xe9\n")
    before = (project / STATE).read_bytes()
    result = run_decp("state", "set", "goal", "x", cwd=project)
    assert result.returncode == 1 and "STATE.md:2:" in result.stderr
    assert (project / STATE).read_bytes() == before


def test_decision_and_loop_together_in_process(project) -> None:
    from decp.handoff.state import add_decision

    config = load_config(project)
    with edit_loops(config) as book:
        book.new_loop("a", status="open")
    decision = add_decision(config, "Do A", "because B", "LOOP-001")
    assert read_loops(config).get("1").outcome == f"{decision.id}: Do A"

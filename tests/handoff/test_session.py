"""Sessions: start snapshot, end summary, decisions moved out of STATE, loop diffs, ledger."""

from __future__ import annotations

import json
from pathlib import Path

from decp.context.ledger import LedgerEntry, record
from decp.core.config import load_config
from decp.handoff.loops import edit_loops, transition
from decp.handoff.session import (
    current_path,
    end_session,
    parse_summary,
    session_files,
    start_session,
)
from decp.handoff.state import add_decision, read_state, set_field

SESSIONS = Path(".project/sessions")


def _seed(config) -> None:
    with edit_loops(config) as book:
        book.new_loop("old open question", status="open")
        book.new_loop("old question to close", status="open")
    set_field(config, "goal", "make fct_orders incremental")


def test_start_refuses_a_second_start_unless_forced(project, run_decp) -> None:
    first = run_decp("session", "start", "--json", cwd=project)
    assert first.returncode == 0, first.stderr
    snapshot = json.loads(first.stdout)
    assert snapshot["head"] is None  # not a git repo: no commit, no crash
    again = run_decp("session", "start", cwd=project)
    assert again.returncode == 1 and "session end" in again.stderr and "--force" in again.stderr
    assert run_decp("session", "start", "--force", cwd=project).returncode == 0
    assert (project / SESSIONS / ".current.json").is_file()


def test_end_writes_the_handoff_and_moves_decisions(project) -> None:
    config = load_config(project)
    _seed(config)
    start_session(config)
    with edit_loops(config) as book:
        book.new_loop("new question", status="open")
        book.new_loop("new proposal")
        book.new_loop("opened and closed", status="open")
    decision = add_decision(
        config, "Use a 3-day lookback", "late orders land within 72h", "LOOP-002"
    )
    add_decision(config, "Close it too", "done in-session", "LOOP-005")
    record(
        config,
        LedgerEntry(
            "models/marts/fct_orders.sql",
            "path",
            812,
            "the model we change",
            "2026-01-01T00:00:00Z",
        ),
        excluded=False,
    )
    record(
        config,
        LedgerEntry(".env", "secret", None, "credentials", "2026-01-01T00:00:00Z"),
        excluded=True,
    )
    summary = end_session(
        config,
        done=["rewrote the incremental filter"],
        next_steps=["run dbt build -s fct_orders+", "open the PR"],
        verified=["dbt build -s fct_orders+ passed"],
    )
    path = project / summary.path
    assert path.parent == project / SESSIONS and path.name.endswith("-1.md")
    text = path.read_text(encoding="utf-8")
    assert "**Goal:** make fct_orders incremental" in text
    assert f"- {decision.id} (" in text and "Why: late orders land within 72h" in text
    assert "- Closed: LOOP-002 (closed) old question to close → DECISION-001" in text
    assert "- Closed: LOOP-005" in text and "- Opened: LOOP-005" not in text
    assert "- Opened: LOOP-003 (open) new question" in text
    assert "- Opened: LOOP-004 (proposed) new proposal" in text
    assert "- Still open: LOOP-001 (open) old open question" in text
    assert "`models/marts/fct_orders.sql` (path, 812 tokens): the model we change" in text
    assert "- Excluded: `.env` (secret): credentials" in text
    assert "Context: 812/4,000 task tokens" in text
    assert text.rstrip().endswith("1. run dbt build -s fct_orders+\n2. open the PR")
    # decisions moved out of STATE; ids continue; state follows the handoff
    state = read_state(config)
    assert state.decisions == []
    assert state.fields["next_action"] == "run dbt build -s fct_orders+"
    assert state.fields["last_action"] == "rewrote the incremental filter"
    assert add_decision(config, "next", "because").id == "DECISION-003"
    assert not current_path(config).exists()
    # the summary reads back
    back = parse_summary(path, project)
    assert [d.to_dict() for d in back.decisions] == [d.to_dict() for d in summary.decisions]
    assert back.next_steps == summary.next_steps and back.verified == summary.verified
    assert [x.id for x in back.closed] == ["LOOP-002", "LOOP-005"]
    assert [x.id for x in back.awaiting] == ["LOOP-004"]


def test_end_without_start_uses_the_last_summary_as_baseline(project, monkeypatch) -> None:
    config = load_config(project)
    monkeypatch.setenv("DECP_NOW", "2026-02-01T10:00:00Z")
    _seed(config)
    first = end_session(config, next_steps=["a"])
    assert "all loops listed" in (project / first.path).read_text(encoding="utf-8")
    monkeypatch.setenv("DECP_NOW", "2026-02-01T11:00:00Z")
    with edit_loops(config) as book:
        transition(book.get("2"), "closed", outcome="answered")
    second = end_session(config)
    text = (project / second.path).read_text(encoding="utf-8")
    assert second.path.endswith("-2.md")
    assert "since " + first.name in text
    assert "- Closed: LOOP-002" in text
    assert "- Opened:" not in text
    # no --next: STATE's next_action is the next step
    assert "1. a" in text


def test_session_files_sort_by_date_then_number(project) -> None:
    config = load_config(project)
    folder = project / SESSIONS
    folder.mkdir(parents=True)
    for name in ("2026-01-02-10.md", "2026-01-02-9.md", "2025-12-31-1.md", "notes.md"):
        (folder / name).write_text("# x\n", encoding="utf-8")
    assert [p.name for p in session_files(config)] == [
        "2025-12-31-1.md",
        "2026-01-02-9.md",
        "2026-01-02-10.md",
    ]


def test_end_cli_json_and_fixed_clock(project, run_decp) -> None:
    env = {"DECP_NOW": "2026-03-04T05:06:07Z"}
    run_decp("session", "start", cwd=project, env=env)
    run_decp("decision", "add", "Keep stg_orders a view", "--why", "cheap", cwd=project, env=env)
    result = run_decp(
        "session",
        "end",
        "--done",
        "a",
        "--done",
        "b",
        "--next",
        "c",
        "--json",
        cwd=project,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["path"] == ".project/sessions/2026-03-04-1.md"
    assert data["done"] == ["a", "b"] and data["next_steps"] == ["c"]
    assert data["decisions"][0]["what"] == "Keep stg_orders a view"
    assert data["ended"] == "2026-03-04T05:06:07Z"
    second = run_decp("session", "end", cwd=project, env=env)
    assert second.stdout.strip() == ".project/sessions/2026-03-04-2.md"


def test_end_with_a_malformed_state_writes_nothing(project, run_decp) -> None:
    run_decp("session", "start", cwd=project)
    (project / ".project/STATE.md").write_text("- goal: a\n- goal: b\n", encoding="utf-8")
    result = run_decp("session", "end", "--done", "x", cwd=project)
    assert result.returncode == 1 and "STATE.md:2:" in result.stderr
    assert [p.name for p in (project / SESSIONS).iterdir() if not p.name.startswith(".")] == []
    assert (project / SESSIONS / ".current.json").exists()


def test_end_refuses_to_grow_state_past_its_cap(project, run_decp) -> None:
    huge = " ".join(f"w{n}" for n in range(700))
    result = run_decp("session", "end", "--next", huge, cwd=project)
    assert result.returncode == 1 and "cap" in result.stderr
    assert not (project / SESSIONS).exists() or not any(
        p.suffix == ".md" for p in (project / SESSIONS).iterdir()
    )


def test_end_hands_loaded_context_to_the_summary_and_empties_the_ledger(project) -> None:
    """A fresh session starts with nothing loaded; exclusions are standing decisions and stay."""
    from decp.context.ledger import read_ledger
    from decp.handoff.resume import build_pack

    config = load_config(project)
    when = "2026-11-26T03:00:00Z"
    record(
        config,
        LedgerEntry("models/fct_orders.sql", "path", 812, "focal model", when),
        excluded=False,
    )
    record(config, LedgerEntry("profiles.yml", "path", None, "credentials", when), excluded=True)
    summary = end_session(config, done=["scoped"], next_steps=["write int_order_lines"])

    text = (project / summary.path).read_text(encoding="utf-8")
    assert "models/fct_orders.sql" in text and "profiles.yml" in text
    ledger = read_ledger(config)
    assert ledger.loaded == []
    assert [entry.target for entry in ledger.excluded] == ["profiles.yml"]
    assert "Context: 0/4,000" in build_pack(config).text

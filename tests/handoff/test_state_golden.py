"""Golden lines for STATE.md and decisions, both-or-neither, ids above the session summaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.handoff import state as state_mod
from decp.handoff.loops import edit_loops, read_loops
from decp.handoff.state import add_decision, parse_state, read_state, set_field

P = Path("STATE.md")
NOW = "2026-11-26T03:04:05Z"
STATE = Path(".project/STATE.md")
LOOPS = Path(".project/LOOPS.md")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECP_NOW", NOW)


def test_decision_lines_are_exact_with_and_without_a_loop(project: Path) -> None:
    config = load_config(project)
    with edit_loops(config) as book:
        book.new_loop("Lookback?", status="open")
    first = add_decision(config, "Keep stg_orders a view.", "it is cheap")
    second = add_decision(config, "Use a 3-day lookback", "late orders land within 72h", "1")
    text = (project / STATE).read_text(encoding="utf-8")
    assert first.date == "2026-11-26"  # the date part of now, exactly ten characters
    assert "\n- DECISION-001 (2026-11-26): Keep stg_orders a view. Why: it is cheap\n" in text
    assert (
        "\n- DECISION-002 (2026-11-26, LOOP-001): Use a 3-day lookback. "
        "Why: late orders land within 72h\n<!-- next-id: DECISION-003 -->" not in text
    )
    assert text.endswith(
        "## Decisions\n<!-- next-id: DECISION-003 -->\n"
        "- DECISION-001 (2026-11-26): Keep stg_orders a view. Why: it is cheap\n"
        "- DECISION-002 (2026-11-26, LOOP-001): Use a 3-day lookback. "
        "Why: late orders land within 72h\n"
    )
    loop = read_loops(config).get("1")
    assert (loop.status, loop.outcome) == ("closed", "DECISION-002: Use a 3-day lookback")
    assert second.loop == "LOOP-001"


def test_crlf_state_keeps_crlf_on_every_line_it_writes() -> None:
    text = (
        "# State\r\n- goal: g\r\n- task:\r\n\r\n## Decisions\r\n<!-- next-id: DECISION-002 -->\r\n"
    )
    doc = parse_state(text, P)
    doc.set("next", "run it\u2028now")
    doc.set("goal", "two\nlines")
    doc.add_decision("Pick A", "cheaper", date="2026-11-26")
    assert doc.render() == (
        "# State\r\n- goal: two\r\n  lines\r\n- task:\r\n- next_action: run it now\r\n\r\n"
        "## Decisions\r\n<!-- next-id: DECISION-003 -->\r\n"
        "- DECISION-002 (2026-11-26): Pick A. Why: cheaper\r\n"
    )


def test_a_value_keeps_a_missing_final_newline_missing() -> None:
    doc = parse_state("# State\n- goal: old", P)
    doc.set("goal", "new")
    assert doc.render() == "# State\n- goal: new"


def test_conflicted_state_is_refused_with_its_line() -> None:
    with pytest.raises(DataError) as info:
        parse_state("# State\n- goal: a\n=======\n- goal: b\n", P)
    assert info.value.line == 3 and "resolve the merge first" in str(info.value)


def test_decision_ids_start_above_the_session_summaries(project: Path) -> None:
    """Issue 9: losing STATE.md's mark restarted ids at DECISION-001."""
    config = load_config(project)
    sessions = project / ".project" / "sessions"
    sessions.mkdir()
    (sessions / "2026-11-20-1.md").write_text(
        "# Session\n\n## Decisions\n- DECISION-007 (2026-11-20): a Why: b\n", encoding="utf-8"
    )
    (sessions / "2026-11-21-1.md").write_text("mentions DECISION-012 in prose\n", encoding="utf-8")
    (sessions / "notes.txt").write_text("DECISION-999\n", encoding="utf-8")  # not a summary
    (project / STATE).write_text("# State\n- goal:\n", encoding="utf-8")  # the mark is gone
    assert add_decision(config, "x", "y").id == "DECISION-013"
    assert add_decision(config, "z", "w").id == "DECISION-014"


def test_decision_with_loop_rolls_state_back_when_loops_write_fails(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: with LOOPS.md unwritable the decision landed in STATE.md and the loop stayed open."""
    config = load_config(project)
    set_field(config, "goal", "g")
    with edit_loops(config) as book:
        book.new_loop("Lookback?", status="open")
    before = ((project / STATE).read_bytes(), (project / LOOPS).read_bytes())
    real_write = state_mod.atomic_write
    calls: list[Path] = []

    def failing_second(path: Path, text: str) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise DataError("cannot write: permission denied.", path=path)
        real_write(path, text)

    monkeypatch.setattr(state_mod, "atomic_write", failing_second)
    with pytest.raises(DataError, match="permission denied"):
        add_decision(config, "Use 3 days", "late data", "1")
    assert calls[:2] == [project / STATE, project / LOOPS]
    assert ((project / STATE).read_bytes(), (project / LOOPS).read_bytes()) == before
    monkeypatch.setattr(state_mod, "atomic_write", real_write)
    # the retry records it once, not twice
    assert add_decision(config, "Use 3 days", "late data", "1").id == "DECISION-001"
    assert [d.id for d in read_state(config).decisions] == ["DECISION-001"]


SHIM = """
import decp.core.fsio as fsio
from decp.core.errors import DataError

_real = fsio.atomic_write


def _failing(path, text):
    if path.name == "LOOPS.md":
        raise DataError("cannot write: permission denied.", path=path)
    _real(path, text)


fsio.atomic_write = _failing
"""


def test_decision_with_loop_unwritable_loops_via_cli(
    project: Path, run_decp, tmp_path: Path
) -> None:
    """A real `decp` process whose LOOPS.md writes fail (root ignores file modes, so a
    sitecustomize shim makes the write fail): STATE.md is rolled back, exit 1, one line."""
    run_decp("state", "set", "goal", "g", cwd=project)
    run_decp("loop", "add", "Lookback?", cwd=project)
    before = ((project / STATE).read_bytes(), (project / LOOPS).read_bytes())
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM, encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    args = ("decision", "add", "Use 3 days", "--why", "late", "--loop", "1")
    result = run_decp(*args, cwd=project, env=env)
    assert result.returncode == 1, result.stderr
    assert "LOOPS.md: cannot write: permission denied." in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert ((project / STATE).read_bytes(), (project / LOOPS).read_bytes()) == before
    ok = run_decp(*args, cwd=project)
    assert ok.returncode == 0 and ok.stdout == "DECISION-001\n"
    assert read_loops(load_config(project)).get("1").status == "closed"


def test_the_state_lock_is_free_while_tokens_are_counted(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: 100 concurrent `state set` calls timed out queueing behind token counts."""
    from decp.core.fsio import locked

    config = load_config(project)
    real_check = state_mod.check_cap
    seen: list[bool] = []

    def check_while_probing_the_lock(cfg, old, new, path):  # type: ignore[no-untyped-def]
        with locked(path, timeout=0.2):  # would time out if the writer held it
            seen.append(True)
        return real_check(cfg, old, new, path)

    monkeypatch.setattr(state_mod, "check_cap", check_while_probing_the_lock)
    set_field(config, "goal", "g")
    add_decision(config, "a", "b")
    with edit_loops(config) as book:
        book.new_loop("l", status="open")
    add_decision(config, "c", "d", "1")
    assert seen == [True, True, True]


def test_a_write_that_races_another_starts_over_from_the_new_text(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(project)
    set_field(config, "goal", "g")
    real_check = state_mod.check_cap
    raced: list[int] = []

    def check_then_race(cfg, old, new, path):  # type: ignore[no-untyped-def]
        result = real_check(cfg, old, new, path)
        if not raced:  # another writer lands between our read and our write
            raced.append(1)
            text = path.read_text(encoding="utf-8").replace("- task:", "- task: theirs")
            path.write_text(text, encoding="utf-8")
        return result

    monkeypatch.setattr(state_mod, "check_cap", check_then_race)
    set_field(config, "next", "mine")
    fields = read_state(config).fields
    assert (fields["task"], fields["next_action"]) == ("theirs", "mine")


def test_concurrent_decisions_all_land_with_distinct_ids(project: Path) -> None:
    """Writers race without queueing on the lock while counting; none is lost or doubled."""
    import subprocess
    import sys

    set_field(load_config(project), "goal", "g")
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "decp", "decision", "add", f"d{n}", "--why", "w"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
    ids = sorted(out.strip() for out, _ in outs)
    assert ids == [f"DECISION-{n:03d}" for n in range(1, 9)]
    decisions = read_state(load_config(project)).decisions
    assert sorted(d.what for d in decisions) == [f"d{n}" for n in range(8)]


def test_state_commands_refuse_a_conflicted_file(project: Path, run_decp) -> None:
    path = project / STATE
    text = "# State\n<<<<<<< HEAD\n- goal: a\n=======\n- goal: b\n>>>>>>> other\n"
    path.write_text(text, encoding="utf-8")
    for args in (("state", "set", "goal", "c"), ("decision", "add", "x", "--why", "y")):
        result = run_decp(*args, cwd=project)
        assert result.returncode == 1, result.stderr
        assert "STATE.md:2:" in result.stderr and "resolve the merge first" in result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_text(encoding="utf-8") == text


def test_fields_go_after_the_intro_and_before_its_blank_lines() -> None:
    doc = parse_state("# State\nintro\n\n\n## Decisions\n", P)
    doc.set("blocker", "waiting")  # the alias
    doc.set("goal", "g")
    assert doc.render() == "# State\nintro\n- blockers: waiting\n- goal: g\n\n\n## Decisions\n"
    assert doc.fields["blockers"] == "waiting"


def test_an_empty_decision_names_the_command() -> None:
    from decp.core.errors import UsageError

    doc = parse_state("", P)
    with pytest.raises(UsageError) as info:
        doc.add_decision(" \u2028 ", "why")
    assert info.value.fix == 'decp decision add "WHAT" --why "WHY"'
    with pytest.raises(UsageError) as info:
        doc.add_decision("what", "\x0c")
    assert "a decision needs its why" in info.value.message


def test_edits_on_a_file_without_a_final_newline() -> None:
    doc = parse_state("# State\n- goal: a", P)
    doc.set("task", "t")
    assert doc.render() == "# State\n- goal: a\n- task: t\n"
    doc = parse_state("## Decisions\n- DECISION-004 (d): a Why: b", P)
    doc.add_decision("c", "e", date="2026-11-26")
    assert doc.render() == (
        "## Decisions\n<!-- next-id: DECISION-006 -->\n- DECISION-004 (d): a Why: b\n"
        "- DECISION-005 (2026-11-26): c. Why: e\n"
    )


def test_decision_refusals_say_exactly_what_to_do() -> None:
    from decp.core.errors import UsageError

    doc = parse_state("", P)
    with pytest.raises(UsageError) as info:
        doc.add_decision("what", " ")
    assert info.value.fix == 'add --why "the reason" (a decision without one gets re-litigated).'
    with pytest.raises(UsageError) as info:
        doc.add_decision("Use X Why: cheap", "cheap")
    assert str(info.value) == "the decision text contains `Why:`. Fix: put the reason in --why."
    with pytest.raises(DataError) as data:
        parse_state("## Decisions\n- DECISION-001 (d): a Why: b\n- DECISION-1 (d): c Why: e\n", P)
    assert str(data.value) == (
        "STATE.md:3: duplicate id DECISION-001 (first at line 2). Fix: run `decp doctor --fix` "
        "(it renumbers the later one), or give one of them the next free DECISION id."
    )


def test_removing_several_decisions_keeps_the_others_and_the_mark() -> None:
    text = (
        "## Decisions\n<!-- next-id: DECISION-004 -->\n- DECISION-001 (d): a Why: b\n"
        "- DECISION-002 (d): c Why: e\n- DECISION-003 (d): f Why: g\n"
    )
    doc = parse_state(text, P)
    removed = doc.remove_decisions(["DECISION-003", "DECISION-001"])
    assert [d.id for d in removed] == ["DECISION-001", "DECISION-003"]
    assert doc.render() == (
        "## Decisions\n<!-- next-id: DECISION-004 -->\n- DECISION-002 (d): c Why: e\n"
    )

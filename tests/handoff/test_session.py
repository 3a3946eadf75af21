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
    assert first.warnings == [
        "no `decp session start` was run, there is no earlier session and git has no stamp "
        "commit: every loop is listed as opened; run `decp session start` when the next "
        "session begins."
    ]
    assert first.notes()[0] == "warning: " + first.warnings[0]
    monkeypatch.setenv("DECP_NOW", "2026-02-01T11:00:00Z")
    with edit_loops(config) as book:
        transition(book.get("2"), "closed", outcome="answered")
    second = end_session(config)
    assert second.warnings == [
        f"no `decp session start` was run: loops counted since session {first.name} ended; "
        "run `decp session start` when the next session begins."
    ]
    assert second.started == "2026-02-01T10:00:00Z"
    text = (project / second.path).read_text(encoding="utf-8")
    assert "warning" not in text
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


COUNTS_RE = r"(\d+) opened, (\d+) closed, (\d+) still open, (\d+) awaiting approval"


def test_end_counts_match_loop_list(project, run_decp) -> None:
    """Seen in a 254-model repo: `1 opened, 3 closed, 0 still open` while the new loop was open."""
    import re

    for title in ("a", "b", "c"):
        assert run_decp("loop", "add", title, cwd=project).returncode == 0
    run_decp("loop", "propose", "old proposal", cwd=project)  # LOOP-004, before the start
    assert run_decp("session", "start", cwd=project).returncode == 0
    run_decp("loop", "add", "opened in this session", cwd=project)  # LOOP-005, stays open
    run_decp("loop", "propose", "new proposal", cwd=project)  # LOOP-006
    for loop_id in ("1", "2", "3"):
        run_decp("loop", "close", loop_id, "--outcome", "done", cwd=project)
    end = run_decp("session", "end", "--json", cwd=project)
    assert end.returncode == 0, end.stderr
    data = json.loads(end.stdout)
    listed = json.loads(run_decp("loop", "list", "--json", cwd=project).stdout)
    open_now = [x["id"] for x in listed if x["status"] in ("open", "clarifying")]
    proposed_now = [x["id"] for x in listed if x["status"] == "proposed"]
    assert open_now == ["LOOP-005"] and proposed_now == ["LOOP-004", "LOOP-006"]
    assert [x["id"] for x in data["opened"]] == ["LOOP-005", "LOOP-006"]
    assert [x["id"] for x in data["closed"]] == ["LOOP-001", "LOOP-002", "LOOP-003"]
    assert [x["id"] for x in data["still_open"]] == open_now
    assert [x["id"] for x in data["awaiting"]] == proposed_now
    # the file says each loop once, and reads back to the same counts
    text = (project / data["path"]).read_text(encoding="utf-8")
    loops_part = text.split("## Loops\n", 1)[1].split("\n\n", 1)[0]
    assert loops_part.splitlines()[1:] == [
        "- Closed: LOOP-001 (closed) a → done",
        "- Closed: LOOP-002 (closed) b → done",
        "- Closed: LOOP-003 (closed) c → done",
        "- Opened: LOOP-005 (open) opened in this session",
        "- Opened: LOOP-006 (proposed) new proposal",
        "- Awaiting approval: LOOP-004 (proposed) old proposal",
    ]
    back = parse_summary(project / data["path"], project)
    assert [x.id for x in back.still_open] == open_now
    assert [x.id for x in back.awaiting] == proposed_now
    assert back.counts_line() == "loops: 2 opened, 3 closed, 1 still open, 2 awaiting approval."
    # and the CLI's line says the same numbers
    run_decp("session", "start", cwd=project)
    plain = run_decp("session", "end", cwd=project)
    found = re.search(COUNTS_RE, plain.stderr)
    assert found and found.groups() == ("0", "0", "1", "2"), plain.stderr


def test_end_without_start_or_summary_diffs_against_the_stamp_commit(project) -> None:
    from test_resume import git, init_repo

    config = load_config(project)
    _seed(config)  # LOOP-001 and LOOP-002 open, committed with the stamp
    init_repo(project)
    stamp = git(project, "rev-parse", "HEAD").strip()
    (project / "models" / "fct_orders.sql").write_text("select 2 as id\n", encoding="utf-8")
    git(project, "commit", "-qam", "later work")
    with edit_loops(config) as book:
        transition(book.get("2"), "closed", outcome="answered")
        book.new_loop("new since the stamp", status="open")
    summary = end_session(config)
    assert summary.start_head == stamp
    assert summary.warnings == [
        "no `decp session start` was run and there is no earlier session: loops counted "
        f"since the stamp commit {stamp[:10]} (the first commit with .project/); "
        "run `decp session start` when the next session begins."
    ]
    assert [x.id for x in summary.opened] == ["LOOP-003"]
    assert [x.id for x in summary.closed] == ["LOOP-002"]
    assert [x.id for x in summary.still_open] == ["LOOP-001", "LOOP-003"]
    text = (project / summary.path).read_text(encoding="utf-8")
    assert (
        f"<!-- no session start snapshot and no earlier session: loop changes since the stamp commit {stamp[:10]} -->"
        in text
    )
    assert f"start_head={stamp} " in text


def test_a_session_start_is_not_warned_about(project) -> None:
    config = load_config(project)
    start_session(config)
    assert end_session(config).warnings == []


# ---------------------------------------------------------------- untrusted summaries


def test_a_summary_with_conflict_markers_is_refused(project, run_decp) -> None:
    run_decp("session", "end", "--next", "x", cwd=project)
    (path,) = (project / SESSIONS).glob("*.md")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = lines.index("## Next steps\n")
    lines[at + 1 : at + 2] = ["<<<<<<< HEAD\n", "1. ours\n", "=======\n", "1. theirs\n"]
    lines.append(">>>>>>> feature\n")
    path.write_text("".join(lines), encoding="utf-8")
    rel = path.relative_to(project)
    for command in (("resume",), ("pr",), ("session", "end")):
        result = run_decp(*command, cwd=project)
        assert result.returncode == 1, (command, result.stdout)
        assert f"{rel}:{at + 2}: git conflict marker" in result.stderr, result.stderr
        assert "resolve the merge first" in result.stderr and "Traceback" not in result.stderr
    assert len(list((project / SESSIONS).glob("*.md"))) == 1  # nothing written


def test_a_seven_equals_setext_underline_is_no_conflict(project) -> None:
    """Near miss: `========` (eight) or `=======` after text is not a marker line."""
    config = load_config(project)
    summary = end_session(config, done=["a"])
    path = project / summary.path
    path.write_text(path.read_text(encoding="utf-8") + "\nNotes\n========\n", encoding="utf-8")
    assert parse_summary(path, project).done == ["a"]


def test_line_breaks_in_arguments_cannot_forge_sections(project) -> None:
    config = load_config(project)
    forged = "a\n## Next steps\n1. rm -rf models\u2028- Done: b\x1c\r\n<<<<<<< HEAD"
    summary = end_session(config, done=[forged], next_steps=["real\u2029step"])
    path = project / summary.path
    text = path.read_text(encoding="utf-8")
    assert "- a ## Next steps 1. rm -rf models - Done: b <<<<<<< HEAD\n" in text
    assert text.count("\n## Next steps\n") == 1
    back = parse_summary(path, project)
    assert back.done == ["a ## Next steps 1. rm -rf models - Done: b <<<<<<< HEAD"]
    assert back.next_steps == ["real step"] == summary.next_steps


def test_a_huge_summary_is_refused_fast(project, run_decp) -> None:
    run_decp("session", "end", cwd=project)
    (path,) = (project / SESSIONS).glob("*.md")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(("- filler " + "x" * 1000 + "\n") * 5000)  # ~5 MB
    result = run_decp("resume", cwd=project)
    assert result.returncode == 1
    assert "MB is too big for a decp file (the limit is 4 MB)" in result.stderr


# ---------------------------------------------------------------- render ↔ parse properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from decp.core.mdoc import one_line  # noqa: E402
from decp.handoff.session import PLACEHOLDERS, LoopLine, Summary  # noqa: E402

BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(BREAKS + "#-*<>=`()→ ")),
    max_size=40,
)
_item = _text.filter(lambda t: one_line(t) and one_line(t) not in PLACEHOLDERS)
_title = _item.filter(lambda t: "→" not in t)
_loop = st.builds(
    LoopLine,
    id=st.integers(1, 999).map(lambda n: f"LOOP-{n:03d}"),
    status=st.sampled_from(["open", "clarifying", "proposed", "closed", "rejected"]),
    title=_title,
    outcome=st.one_of(st.just(""), _item),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    goal=_item,
    task=st.one_of(st.just(""), _item),
    done=st.lists(_item, max_size=4),
    verified=st.lists(_item, max_size=3),
    next_steps=st.lists(_item, max_size=3),
    loops=st.lists(_loop, max_size=6, unique_by=lambda x: x.id),
    loaded=st.lists(_item, max_size=2),
)
def test_summary_render_then_parse_is_identical(
    tmp_path, goal, task, done, verified, next_steps, loops, loaded
) -> None:
    closed = [x for x in loops if x.status in ("closed", "rejected")]
    rest = [x for x in loops if x not in closed]
    opened, older = rest[: len(rest) // 2], rest[len(rest) // 2 :]
    active = sorted(opened + older, key=lambda x: x.number)
    summary = Summary(
        name="2026-01-01-1",
        path="s.md",
        started="2026-01-01T00:00:00Z",
        ended="2026-01-01T01:00:00Z",
        head="a" * 40,
        branch="main",
        goal=goal,
        task=task,
        done=done,
        opened=opened,
        closed=closed,
        still_open=[x for x in active if x.status in ("open", "clarifying")],
        awaiting=[x for x in active if x.status == "proposed"],
        context_loaded=loaded,
        budget_line="Context: 0/4,000 task tokens",
        verified=verified,
        next_steps=next_steps,
        baseline="loop changes since `decp session start` at 2026-01-01T00:00:00Z",
        start_head="b" * 40,
        tree="c" * 40,
    )
    path = tmp_path / "2026-01-01-1.md"
    text = summary.render()
    path.write_text(text, encoding="utf-8", newline="")
    back = parse_summary(path)
    norm = [one_line(x) for x in done]
    assert back.done == norm and back.goal == one_line(goal) and back.task == one_line(task)
    assert back.verified == [one_line(x) for x in verified]
    assert back.next_steps == [one_line(x) for x in next_steps]
    assert back.context_loaded == [one_line(x) for x in loaded]
    assert back.budget_line == summary.budget_line and back.baseline == summary.baseline
    assert (back.head, back.start_head, back.tree) == (
        summary.head,
        summary.start_head,
        summary.tree,
    )

    def ids(lines: list[LoopLine]) -> list[tuple[str, str, str, str]]:
        return [(x.id, x.status, one_line(x.title), one_line(x.outcome)) for x in lines]

    assert ids(back.opened) == ids(opened) and ids(back.closed) == ids(closed)
    assert ids(back.still_open) == ids(summary.still_open)
    assert ids(back.awaiting) == ids(summary.awaiting)
    assert back.render() == text  # and writing it again changes nothing
    light = parse_summary(path, with_loops=False)  # what the resume pack reads
    assert light.opened == light.closed == light.still_open == light.awaiting == []
    assert (light.next_steps, light.head, light.tree) == (back.next_steps, back.head, back.tree)
    assert len(text.split("\n")) == len(text.splitlines()) + 1  # no stray line breaks


def test_end_without_start_says_so_in_its_json(project, run_decp) -> None:
    result = run_decp("session", "end", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("no `decp session start` was run")
    run_decp("session", "start", cwd=project)
    assert json.loads(run_decp("session", "end", "--json", cwd=project).stdout)["warnings"] == []


def test_decision_numbers_in_summaries(project) -> None:
    from decp.handoff.session import decision_numbers_in_summaries

    config = load_config(project)
    assert decision_numbers_in_summaries(config) == set()
    add_decision(config, "one", "why")
    add_decision(config, "two", "why")
    end_session(config)
    folder = project / SESSIONS
    (folder / "2000-01-01-1.md").write_text(
        "## Decisions\n- DECISION-017 (2000-01-01): old. Why: x\n"
        "text about DECISION-099 is not a decision line\n- DECISION-1000x no\n",
        encoding="utf-8",
    )
    assert decision_numbers_in_summaries(config) == {1, 2, 17}


def test_end_without_start_says_so_on_stderr_with_counts_that_match_loop_list(
    project, run_decp
) -> None:
    """Seen on a real repo: an end with no start wrote silently and miscounted."""
    env = {"DECP_NOW": "2026-11-30T10:00:00Z"}
    assert run_decp("loop", "add", "Grain of fct_orders?", cwd=project, env=env).returncode == 0
    assert run_decp("loop", "propose", "Dedupe payments?", cwd=project, env=env).returncode == 0
    ended = run_decp("session", "end", cwd=project, env=env)
    assert ended.returncode == 0, ended.stderr
    assert ended.stderr.splitlines() == [
        "warning: no `decp session start` was run, there is no earlier session and git has no "
        "stamp commit: every loop is listed as opened; run `decp session start` when the next "
        "session begins.",
        "0 decision(s) moved from STATE.md; loops: 2 opened, 0 closed, 1 still open, "
        "1 awaiting approval.",
    ]
    listed = run_decp("loop", "list", "--json", cwd=project).stdout
    assert listed.count('"status": "open"') == 1 and listed.count('"status": "proposed"') == 1

"""`decp loop …` as real processes: ids on stdout, exit codes, locking, no half writes."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from decp.core.config import load_config
from decp.handoff.loops import read_loops, review_loops

LOOPS = Path(".project/LOOPS.md")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    env["NO_COLOR"] = "1"
    return env


def test_propose_prints_only_the_id_and_writes_a_proposed_loop(project, run_decp) -> None:
    result = run_decp(
        "loop",
        "propose",
        "Is the late-data filter safe?",
        "--body",
        "Orders arrive up to 3 days late.",
        "--context",
        "refactoring fct_orders",
        "--source",
        "models/marts/fct_orders.sql:12",
        "--tag",
        "incremental",
        "--tag",
        "late-data",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "LOOP-001\n"
    assert "approve" in result.stderr
    shown = json.loads(run_decp("loop", "show", "1", "--json", cwd=project).stdout)
    assert shown["status"] == "proposed"
    assert shown["tags"] == ["incremental", "late-data"]
    assert shown["source"] == "models/marts/fct_orders.sql:12"
    text = (project / LOOPS).read_text(encoding="utf-8")
    assert "### LOOP-001 (proposed) Is the late-data filter safe?" in text


def test_lifecycle_through_the_cli(project, run_decp) -> None:
    run_decp("loop", "propose", "a", cwd=project)
    run_decp("loop", "add", "b", cwd=project)
    approved = run_decp("loop", "approve", "LOOP-001", "--json", cwd=project)
    assert json.loads(approved.stdout)[0]["status"] == "open"
    assert run_decp("loop", "start", "1", cwd=project).stdout.startswith("LOOP-001 (clarifying)")
    closed = run_decp("loop", "close", "1", "--outcome", "safe with a 3-day lookback", cwd=project)
    assert closed.returncode == 0
    listed = run_decp("loop", "list", "--json", cwd=project)
    assert [loop["id"] for loop in json.loads(listed.stdout)] == ["LOOP-002"]
    every = json.loads(run_decp("loop", "list", "--status", "all", "--json", cwd=project).stdout)
    assert every[0]["outcome"] == "safe with a 3-day lookback"
    assert run_decp("loop", "reopen", "1", cwd=project).returncode == 0
    rejected = run_decp("loop", "reject", "2", "--why", "not our model", "--json", cwd=project)
    assert json.loads(rejected.stdout)[0]["outcome"] == "not our model"


def test_loop_show_prints_a_pasteable_block(project, run_decp) -> None:
    run_decp("loop", "propose", "x [with brackets]", "--body", "q", cwd=project)
    shown = run_decp("loop", "show", "1", cwd=project).stdout
    assert shown.startswith("### LOOP-001 (proposed) x [with brackets]\n")
    assert shown in (project / LOOPS).read_text(encoding="utf-8")


def test_print_writes_nothing_and_shows_the_next_id(project, run_decp) -> None:
    run_decp("loop", "propose", "first", cwd=project)
    before = (project / LOOPS).read_bytes()
    printed = run_decp("loop", "propose", "second", "--print", cwd=project)
    assert printed.stdout.startswith("### LOOP-002 (proposed) second\n")
    assert (project / LOOPS).read_bytes() == before


def test_twenty_concurrent_proposals_get_twenty_distinct_ids(project) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "decp", "loop", "propose", f"concurrent {n}"],
            cwd=project,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(20)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    ids = [out.strip() for out, _ in outputs]
    assert len(set(ids)) == 20
    loops = read_loops(load_config(project)).loops
    assert sorted(loop.id for loop in loops) == sorted(ids)
    assert sorted(loop.title for loop in loops) == sorted(f"concurrent {n}" for n in range(20))
    assert {loop.number for loop in loops} == set(range(1, 21))


def test_malformed_file_exits_1_names_the_line_and_changes_nothing(project, run_decp) -> None:
    path = project / LOOPS
    path.write_text("# Loops\n\n### LOOP-001 (open) ok\n- tgas: x\n", encoding="utf-8")
    before = path.read_bytes()
    for args in (("loop", "propose", "new"), ("loop", "list"), ("loop", "approve", "1")):
        result = run_decp(*args, cwd=project)
        assert result.returncode == 1
        assert "LOOPS.md:4:" in result.stderr
        assert "Fix:" in result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_bytes() == before


def test_non_utf8_file_exits_1(project, run_decp) -> None:
    path = project / LOOPS
    path.write_bytes(b"# Loops\n\n### LOOP-001 (open) caf\xe9\n")
    before = path.read_bytes()
    result = run_decp("loop", "propose", "new", cwd=project)
    assert result.returncode == 1
    assert "LOOPS.md:3:" in result.stderr and "UTF-8" in result.stderr
    assert path.read_bytes() == before


def test_unknown_id_and_wrong_transition_exit_2_and_change_nothing(project, run_decp) -> None:
    run_decp("loop", "propose", "a", cwd=project)
    run_decp("loop", "reject", "1", cwd=project)
    run_decp("loop", "propose", "b", cwd=project)
    before = (project / LOOPS).read_bytes()
    unknown = run_decp("loop", "show", "LOOP-404", cwd=project)
    assert unknown.returncode == 2 and "LOOP-404" in unknown.stderr
    wrong = run_decp("loop", "close", "1", "--outcome", "x", cwd=project)
    assert wrong.returncode == 2 and "rejected" in wrong.stderr and "reopen" in wrong.stderr
    # all-or-nothing: approving 2 and an unknown id approves neither
    partial = run_decp("loop", "approve", "2", "99", cwd=project)
    assert partial.returncode == 2
    assert (project / LOOPS).read_bytes() == before
    bad_status = run_decp("loop", "list", "--status", "done", cwd=project)
    assert bad_status.returncode == 2


def test_outside_a_stamped_repo_says_how_to_stamp(tmp_path, run_decp) -> None:
    result = run_decp("loop", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert "copier copy" in result.stderr


def test_review_without_a_tty_refuses(project, run_decp) -> None:
    run_decp("loop", "propose", "a", cwd=project)
    result = run_decp("loop", "review", cwd=project, input="a\n")
    assert result.returncode == 2
    assert "terminal" in result.stderr and "decp loop approve" in result.stderr
    assert read_loops(load_config(project)).get("1").status == "proposed"


def test_review_function_applies_each_answer(project) -> None:
    config = load_config(project)
    from decp.handoff.loops import edit_loops

    with edit_loops(config) as book:
        for title in ("approve me", "edit me", "reject me", "skip me"):
            book.new_loop(title)
    answers = iter(["a", "e", "better title", "", "a", "r", "dup of LOOP-001", "s"])
    said: list[str] = []
    summary = review_loops(config, lambda _prompt: next(answers), said.append)
    assert summary == {
        "approved": ["LOOP-001", "LOOP-002"],
        "rejected": ["LOOP-003"],
        "edited": ["LOOP-002"],
        "skipped": ["LOOP-004"],
    }
    loops = read_loops(config)
    assert loops.get("2").title == "better title" and loops.get("2").status == "open"
    assert loops.get("3").outcome == "dup of LOOP-001"
    assert loops.get("4").status == "proposed"


def test_review_in_a_pseudo_terminal(project) -> None:
    from decp.handoff.loops import edit_loops

    config = load_config(project)
    with edit_loops(config) as book:
        book.new_loop("first")
        book.new_loop("second")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "decp", "loop", "review"],
        cwd=project,
        env=_env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    output = b""
    answers = [b"a\n", b"r\n", b"no\n"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            while answers and output.count(b"? ") > 3 - len(answers):
                os.write(master, answers.pop(0))
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    assert proc.returncode == 0, output.decode(errors="replace")
    loops = read_loops(config)
    assert loops.get("1").status == "open"
    assert loops.get("2").status == "rejected" and loops.get("2").outcome == "no"


def test_a_real_write_leaves_hand_edits_byte_identical(project, run_decp) -> None:
    from test_loops import HAND_WRITTEN

    path = project / LOOPS
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    assert run_decp("loop", "approve", "7", cwd=project).returncode == 0
    after = path.read_text(encoding="utf-8")
    changed = [
        (a, b) for a, b in zip(HAND_WRITTEN.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert [a for a, _ in changed] == ["### LOOP-007 (Proposed) Second loop", "- updated: whenever"]
    new_id = run_decp("loop", "propose", "appended", cwd=project).stdout.strip()
    assert new_id == "LOOP-010"
    final = path.read_text(encoding="utf-8")
    assert final.startswith(after.split("<!-- next-id")[0])
    assert "<!-- next-id: LOOP-011 -->" in final


@pytest.mark.parametrize(
    "args",
    [("state", "show"), ("session", "start"), ("resume",), ("pr",), ("decision", "list")],
)
def test_every_handoff_command_outside_a_stamped_repo_says_how_to_stamp(
    tmp_path, run_decp, args
) -> None:
    result = run_decp(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert "copier copy" in result.stderr and "Traceback" not in result.stderr

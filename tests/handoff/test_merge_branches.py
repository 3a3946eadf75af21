"""Two real git branches each add loops and decisions, then merge.

With the stamped `.project/.gitattributes` (`LOOPS.md merge=union`) the merge has
no conflict; the duplicate ids it leaves are found and renumbered, and every
loop's text survives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.handoff.ids import find_duplicates, renumber_duplicates
from decp.handoff.loops import read_loops

REPO_ROOT = Path(__file__).resolve().parents[2]
ATTRIBUTES = REPO_ROOT / "template" / ".project" / ".gitattributes.jinja"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


@pytest.fixture
def repo(project: Path, run_decp) -> Path:
    text = jinja2.Template(ATTRIBUTES.read_text(encoding="utf-8")).render(
        docs_url="https://d.example"
    )
    (project / ".project" / ".gitattributes").write_text(text, encoding="utf-8")
    git(project, "init", "-q", "-b", "main")
    env = {"DECP_NOW": "2026-11-25T09:00:00Z"}
    assert run_decp("loop", "add", "Base loop", cwd=project, env=env).returncode == 0
    assert run_decp("state", "set", "goal", "ship", cwd=project, env=env).returncode == 0
    git(project, "add", "-A")
    git(project, "commit", "-qm", "base")
    return project


def _branch_work(root: Path, run_decp, branch: str, day: str, loops: list[tuple[str, str]]) -> None:
    git(root, "checkout", "-q", "-b", branch, "main")
    env = {"DECP_NOW": f"2026-11-{day}T10:00:00Z"}
    ids = []
    for title, body in loops:
        result = run_decp("loop", "add", title, "--body", body, cwd=root, env=env)
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    what = f"{branch} decides"
    result = run_decp(
        "decision", "add", what, "--why", f"{branch} reason", "--loop", ids[0], cwd=root, env=env
    )
    assert result.returncode == 0, result.stderr
    # no --next: STATE.md is not union-merged, so both branches leave it identical here
    result = run_decp("session", "end", cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", branch)


def test_two_branches_merge_without_conflict_and_renumber_cleanly(repo: Path, run_decp) -> None:
    alpha = [("Alpha question", "Alpha body line.\n\n    indented alpha code"), ("Alpha two", "A2")]
    beta = [("Beta question", "Beta body\n- a bullet in beta")]
    _branch_work(repo, run_decp, "alpha", "26", alpha)
    _branch_work(repo, run_decp, "beta", "27", beta)
    git(repo, "checkout", "-q", "alpha")
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", "merge", "-q", "beta", "-m", "merge"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    loops_text = (repo / ".project" / "LOOPS.md").read_text(encoding="utf-8")
    assert proc.returncode == 0, proc.stdout + proc.stderr + loops_text
    for marker in ("<<<<<<<", "=======", ">>>>>>>"):
        assert marker not in loops_text
    config = load_config(repo)

    # every loop command refuses the duplicate, naming the fix
    with pytest.raises(DataError, match="decp doctor --fix"):
        read_loops(config)
    listed = run_decp("loop", "list", cwd=repo)
    assert listed.returncode == 1 and "decp doctor --fix" in listed.stderr

    found = {(d.kind, d.id): len(d.occurrences) for d in find_duplicates(config)}
    assert found == {("loop", "LOOP-002"): 2, ("decision", "DECISION-001"): 2}

    mapping = renumber_duplicates(config)
    assert mapping == {"LOOP-002": "LOOP-004", "DECISION-001": "DECISION-002"}
    assert find_duplicates(config) == []
    assert renumber_duplicates(config) == {}  # idempotent

    book = read_loops(config)
    by_title = {loop.title: loop for loop in book.loops}
    assert {t: by_title[t].id for t in by_title} == {
        "Base loop": "LOOP-001",
        "Alpha question": "LOOP-002",
        "Alpha two": "LOOP-003",
        "Beta question": "LOOP-004",
    }
    assert by_title["Alpha question"].body == "Alpha body line.\n\n    indented alpha code"
    assert by_title["Alpha two"].body == "A2"
    assert by_title["Beta question"].body == "Beta body\n- a bullet in beta"
    assert by_title["Alpha question"].outcome == "DECISION-001: alpha decides"
    assert by_title["Beta question"].outcome == "DECISION-002: beta decides"
    assert book.next_number == 5

    sessions = sorted((repo / ".project" / "sessions").glob("*.md"))
    alpha_s, beta_s = (p.read_text(encoding="utf-8") for p in sessions)
    assert "- DECISION-001 (2026-11-26, LOOP-002): alpha decides. Why: alpha reason" in alpha_s
    assert "- DECISION-002 (2026-11-27, LOOP-004): beta decides. Why: beta reason" in beta_s
    assert "LOOP-004 (closed) Beta question → DECISION-002: beta decides" in beta_s
    assert "LOOP-002" not in beta_s and "DECISION-001" not in beta_s
    assert "LOOP-004" not in alpha_s and "DECISION-002" not in alpha_s

    # the next ids come after the renumbered ones
    added = run_decp("loop", "add", "After merge", cwd=repo)
    assert added.stdout == "LOOP-005\n", added.stderr
    decided = run_decp("decision", "add", "next", "--why", "w", "--json", cwd=repo)
    assert json.loads(decided.stdout)["id"] == "DECISION-003", decided.stderr


def test_union_merge_of_two_marks_keeps_the_max(repo: Path, run_decp) -> None:
    """Both branches move the high-water mark; union keeps both lines and the max wins."""
    _branch_work(repo, run_decp, "alpha", "26", [("A1", "a"), ("A2", "b"), ("A3", "c")])
    _branch_work(repo, run_decp, "beta", "27", [("B1", "d")])
    git(repo, "checkout", "-q", "alpha")
    git(repo, "merge", "-q", "beta", "-m", "merge")
    config = load_config(repo)
    renumber_duplicates(config)
    book = read_loops(config)
    assert sorted(loop.title for loop in book.loops) == ["A1", "A2", "A3", "B1", "Base loop"]
    assert len({loop.id for loop in book.loops}) == 5
    assert book.next_number == 6
    text = (repo / ".project" / "LOOPS.md").read_text(encoding="utf-8")
    assert text.count("<!-- next-id:") == 1 and "<!-- next-id: LOOP-006 -->" in text

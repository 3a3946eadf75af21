"""`decp doctor`: every problem is one clear line with file, line and fix, and the right exit code.

Runs the real CLI (`python -m decp`) against a repo stamped by a real Copier
run (shared, copied per test), then breaks one thing at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result
from template_helpers import private_copy, session_stamp, tree_digest

from decp import __version__
from decp.core.config import defaults

Run = Callable[..., Result]


@pytest.fixture
def repo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy of a default stamp (dbt, claude/copilot/cursor/chat)."""
    return private_copy(session_stamp(tmp_path_factory, {}), tmp_path / "shop")


def _toml(repo: Path) -> Path:
    return repo / ".project" / "decp.toml"


def _line_of(path: Path, prefix: str) -> int:
    """1-based number of the first line starting with `prefix`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(prefix):
            return number
    raise AssertionError(f"no line starting with {prefix!r} in {path}")


def _replace_line(path: Path, prefix: str, new: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    number = _line_of(path, prefix)
    lines[number - 1] = new
    path.write_text("".join(lines), encoding="utf-8")
    return number


def _single_failure(result: Result) -> str:
    """Exit 1, no traceback, and exactly one FAIL line, which is returned."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    fails = [line for line in result.stdout.splitlines() if line.startswith("[FAIL]")]
    assert len(fails) == 1, f"expected one FAIL line:\n{output}"
    return fails[0]


def test_fresh_stamp_passes(repo: Path, run_decp: Run) -> None:
    result = run_decp("doctor", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s)" in result.stdout


def test_runs_from_a_subdirectory(repo: Path, run_decp: Run) -> None:
    sub = repo / "models" / "staging"
    sub.mkdir(parents=True)
    result = run_decp("doctor", cwd=sub)
    assert result.returncode == 0, result.stdout
    assert str(repo) in result.stdout


def test_outside_a_stamped_repo_says_how_to_stamp(tmp_path: Path, run_decp: Run) -> None:
    bare = tmp_path / "not-stamped"
    bare.mkdir()
    line = _single_failure(run_decp("doctor", cwd=bare))
    assert ".project/decp.toml" in line
    assert "copier copy" in line, line


def test_bad_toml_names_the_line(repo: Path, run_decp: Run) -> None:
    number = _replace_line(_toml(repo), "working =", "working = 0.4 0.5\n")
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "decp.toml" in line and "TOML" in line, line
    assert f"line {number}" in line, line
    assert "Fix:" in line, line


def test_bad_toml_uses_the_file_line_prefix(repo: Path, run_decp: Run) -> None:
    """Like every other DataError, a TOML error starts `…/decp.toml:LINE:` (editors jump there)."""
    number = _replace_line(_toml(repo), "working =", "working = 0.4 0.5\n")
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert f"decp.toml:{number}:" in line, line


def test_wrong_type_names_key_and_fix(repo: Path, run_decp: Run) -> None:
    _replace_line(_toml(repo), "task_budget =", 'task_budget = "x"\n')
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "budget.task_budget" in line, line
    assert f"task_budget = {defaults()['task_budget']}" in line, line
    assert "decp.toml" in line


def test_unordered_fractions(repo: Path, run_decp: Run) -> None:
    _replace_line(_toml(repo), "working =", "working = 0.6\n")
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "session_start < working < handoff" in line, line
    assert "0.6" in line and "Fix:" in line, line


def test_unknown_project_type(repo: Path, run_decp: Run) -> None:
    _replace_line(_toml(repo), "type =", 'type = "sql"\n')
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "project.type" in line and "'sql'" in line, line
    assert "dbt" in line and "Fix:" in line, line


def test_non_utf8_config_names_the_line(repo: Path, run_decp: Run) -> None:
    path = _toml(repo)
    number = _line_of(path, "name =")
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = 'name = "café"'.encode("latin-1")
    path.write_bytes(b"\n".join(lines))
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert f"decp.toml:{number}:" in line, line
    assert "UTF-8" in line, line


def test_missing_answers_file(repo: Path, run_decp: Run) -> None:
    (repo / ".copier-answers.yml").unlink()
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert ".copier-answers.yml" in line and "missing" in line, line
    assert "→" in line, "no fix given"


def test_malformed_answers_file_names_the_line(repo: Path, run_decp: Run) -> None:
    answers = repo / ".copier-answers.yml"
    answers.write_text(answers.read_text(encoding="utf-8") + "agents: [claude\n", encoding="utf-8")
    number = len(answers.read_text(encoding="utf-8").splitlines())
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert ".copier-answers.yml" in line and "YAML" in line, line
    # YAML reports the line where it gave up: the broken last line or the end after it.
    assert any(f".copier-answers.yml:{n}" in line for n in (number, number + 1)), line


def test_answers_file_without_source(repo: Path, run_decp: Run) -> None:
    (repo / ".copier-answers.yml").write_text("project_name: shop\n", encoding="utf-8")
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "_src_path" in line, line


def test_missing_shim_is_recreated_by_fix(repo: Path, run_decp: Run) -> None:
    stamped = (repo / "CLAUDE.md").read_bytes()
    (repo / "CLAUDE.md").unlink()
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "CLAUDE.md is missing" in line and "--fix" in line, line
    assert run_decp("doctor", "--fix", cwd=repo).returncode == 0
    assert (repo / "CLAUDE.md").read_bytes() == stamped


def test_missing_chat_bootloader(repo: Path, run_decp: Run) -> None:
    (repo / ".project" / "CHAT-BOOTLOADER.md").unlink()
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert "CHAT-BOOTLOADER.md" in line, line


def test_fix_writes_nothing_when_config_is_broken(repo: Path, run_decp: Run) -> None:
    """With an unreadable config doctor cannot render blocks, so --fix must not touch agent files."""
    (repo / "CLAUDE.md").write_text("my own claude notes\n", encoding="utf-8")
    _replace_line(_toml(repo), "handoff =", "handoff = 2.0\n")
    before = tree_digest(repo)
    result = run_decp("doctor", "--fix", cwd=repo)
    assert result.returncode == 1, result.stdout
    assert tree_digest(repo) == before


def test_version(tmp_path: Path, run_decp: Run) -> None:
    result = run_decp("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"decp {__version__}"


def test_unknown_flag_is_a_usage_error(repo: Path, run_decp: Run) -> None:
    result = run_decp("doctor", "--nope", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_has_stable_keys(repo: Path, run_decp: Run) -> None:
    import json

    clean = run_decp("doctor", "--json", cwd=repo)
    assert clean.returncode == 0, clean.stderr
    data = json.loads(clean.stdout)
    assert list(data) == ["ok", "root", "version", "problems", "fixed", "checks"]
    # Only warnings may show on a fresh stamp (a version skew while developing decp).
    assert (data["ok"], data["fixed"]) == (True, [])
    assert [p for p in data["problems"] if p["level"] != "warn"] == []
    assert data["root"] == str(repo.resolve()) and data["version"] == __version__
    assert all(set(c) == {"level", "what", "fix"} for c in data["checks"])
    (repo / "CLAUDE.md").unlink()
    broken = run_decp("doctor", "--json", cwd=repo)
    assert broken.returncode == 1
    data = json.loads(broken.stdout)
    assert data["ok"] is False
    assert [p for p in data["problems"] if p["level"] == "fail"] == [
        {"level": "fail", "what": "CLAUDE.md is missing", "fix": "run `decp doctor --fix`"}
    ]
    fixed = json.loads(run_decp("doctor", "--json", "--fix", cwd=repo).stdout)
    assert (fixed["ok"], fixed["fixed"]) == (True, ["created CLAUDE.md"])


def test_fix_leaves_a_symlinked_agent_file_alone(repo: Path, run_decp: Run) -> None:
    (repo / "CLAUDE.md").unlink()
    (repo / "CLAUDE.md").symlink_to("AGENTS.md")
    agents_before = (repo / "AGENTS.md").read_bytes()
    result = run_decp("doctor", "--fix", cwd=repo)
    assert result.returncode == 0, result.stdout
    assert (repo / "CLAUDE.md").is_symlink() and str((repo / "CLAUDE.md").readlink()) == "AGENTS.md"
    assert (repo / "AGENTS.md").read_bytes() == agents_before
    assert (
        "[ok  ] CLAUDE.md -> AGENTS.md reaches the protocol (symlink; its target has the decp block)"
        in result.stdout
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_fix_writes_through_a_symlink_whose_target_lacks_the_block(
    repo: Path, run_decp: Run
) -> None:
    notes = repo / "docs" / "ai.md"
    notes.parent.mkdir()
    notes.write_text("# my notes\n", encoding="utf-8")
    (repo / "CLAUDE.md").unlink()
    (repo / "CLAUDE.md").symlink_to("docs/ai.md")
    warned = run_decp("doctor", cwd=repo)
    assert "CLAUDE.md -> docs/ai.md: the symlink's target has no decp block" in warned.stdout
    result = run_decp("doctor", "--fix", cwd=repo)
    assert result.returncode == 0, result.stdout
    assert (repo / "CLAUDE.md").is_symlink()
    assert notes.read_text(encoding="utf-8").startswith(
        "# my notes\n\n<!-- decp:begin -->\n@AGENTS.md\n"
    )


@pytest.mark.parametrize("target", ["nowhere.md", "/etc/hostname"])
def test_a_broken_or_outside_symlink_is_reported_never_replaced(
    repo: Path, run_decp: Run, target: str
) -> None:
    (repo / "CLAUDE.md").unlink()
    (repo / "CLAUDE.md").symlink_to(target)
    line = _single_failure(run_decp("doctor", "--fix", cwd=repo))
    assert line.startswith(f"[FAIL] CLAUDE.md -> {target} ")
    assert (repo / "CLAUDE.md").is_symlink() and str((repo / "CLAUDE.md").readlink()) == target


def test_protocol_files_with_conflict_markers_or_as_directories(repo: Path, run_decp: Run) -> None:
    loops = repo / ".project" / "LOOPS.md"
    text = loops.read_text(encoding="utf-8")
    loops.write_text(text + "<<<<<<< ours\n## LOOP-001\n=======\n## LOOP-001\n>>>>>>> theirs\n")
    marker = len(text.splitlines()) + 1
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert line.startswith(f"[FAIL] .project/LOOPS.md:{marker} holds git merge conflict markers")
    loops.unlink()
    loops.mkdir()
    line = _single_failure(run_decp("doctor", cwd=repo))
    assert line == (
        f"[FAIL] {loops}: cannot read it: it is a directory, not a file. "
        "Fix: move the directory away; decp needs LOOPS.md to be a file."
    )

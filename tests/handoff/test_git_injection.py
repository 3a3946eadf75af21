"""A committed session summary must never steer git: no option injection through its values.

Summaries are team files (untrusted input). Their `tree=`, `head=` and `start_head=` values
used to go straight to `git diff`, so `--output=FILE` made `decp resume` and `decp pr`
truncate FILE. Now each is checked to be a hex object id first, and git gets
`--end-of-options` anyway.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_resume import git, init_repo

PRECIOUS = "do not truncate me\n"


def _summary_with(project: Path, run_decp, key: str, value: str) -> Path:
    """A real summary (start + end in a git repo), then `key=` rewritten to `value`, committed."""
    init_repo(project)
    assert run_decp("session", "start", cwd=project).returncode == 0
    end = run_decp("session", "end", "--next", "x", cwd=project)
    assert end.returncode == 0, end.stderr
    path = project / end.stdout.strip()
    if value == "<short HEAD>":
        value = git(project, "rev-parse", "--short=7", "HEAD").strip()
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(rf"\b{key}=\S+", f"{key}={value}", text, count=1)
    assert count == 1, text
    path.write_text(new, encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "sessions")
    return path


@pytest.mark.parametrize("key", ["tree", "start_head", "head"])
@pytest.mark.parametrize("command", [("resume",), ("pr",), ("pr", "--json")])
def test_an_option_in_a_summary_never_reaches_git(
    project, run_decp, tmp_path, key, command
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text(PRECIOUS, encoding="utf-8")
    summary = _summary_with(project, run_decp, key, f"--output={victim}")
    result = run_decp(*command, cwd=project)
    assert victim.read_text(encoding="utf-8") == PRECIOUS
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    rel = summary.relative_to(project)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"decp: {rel}:2: ") or f"{rel}:2: " in lines[0], lines[0]
    assert f"{key}=" in lines[0] and "hex" in lines[0]


@pytest.mark.parametrize(
    "value",
    ["-p", "HEAD", "main", "abc", "g" * 40, "a" * 65, "a1b2c3d4;rm", "@{-1}", "HEAD~1"],
)
def test_near_misses_are_refused_too(project, run_decp, value) -> None:
    _summary_with(project, run_decp, "tree", value)
    result = run_decp("resume", cwd=project)
    assert result.returncode == 1 and "tree=" in result.stderr, result.stderr


def test_a_real_hex_id_still_works(project, run_decp) -> None:
    """The check accepts what decp itself writes (40-hex ids), and short ids a human pasted."""
    summary = _summary_with(project, run_decp, "start_head", "<short HEAD>")
    head = git(project, "rev-parse", "HEAD~1").strip()
    assert f"start_head={head[:7]} " in summary.read_text(encoding="utf-8")
    result = run_decp("resume", cwd=project)
    assert result.returncode == 0, result.stderr
    assert run_decp("pr", cwd=project).returncode == 0


def test_an_option_typed_as_since_is_a_usage_error(project, run_decp, tmp_path) -> None:
    """`--since` is typed by the user, but still reaches git only as a revision."""
    init_repo(project)
    victim = tmp_path / "victim.txt"
    victim.write_text(PRECIOUS, encoding="utf-8")
    for value in (f"--output={victim}", f"-o{victim}"):
        result = run_decp("pr", f"--since={value}", cwd=project)
        assert result.returncode == 2, result.stderr
        assert "no such commit or ref" in result.stderr
    assert victim.read_text(encoding="utf-8") == PRECIOUS


def test_a_snapshot_head_must_be_hex_too(project, run_decp, tmp_path) -> None:
    """`.current.json` is a runtime file, but a committed one is untrusted like the rest."""
    init_repo(project)
    assert run_decp("session", "start", cwd=project).returncode == 0
    current = project / ".project" / "sessions" / ".current.json"
    victim = tmp_path / "victim.txt"
    victim.write_text(PRECIOUS, encoding="utf-8")
    data = json.loads(current.read_text(encoding="utf-8"))
    data["head"] = f"--output={victim}"
    current.write_text(json.dumps(data), encoding="utf-8")
    for command in (("resume",), ("session", "end")):
        result = run_decp(*command, cwd=project)
        assert result.returncode == 1 and ".current.json: head=" in result.stderr, result.stderr
    assert run_decp("pr", cwd=project).returncode == 0  # pr no longer reads the snapshot
    assert victim.read_text(encoding="utf-8") == PRECIOUS

"""gitinfo never lets a value become a git option: hex checks and `--end-of-options`, real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decp.core import gitinfo
from decp.core.errors import DataError

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env=ENV, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "a.sql").write_text("select 1\n", encoding="utf-8")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "init")
    return root


@pytest.mark.parametrize("value", ["abcd", "0" * 40, "a1" * 32, "deadbeef"])
def test_hex_ids_pass(value: str) -> None:
    assert gitinfo.object_id(value, key="tree", path="s.md", line=2) == value


@pytest.mark.parametrize(
    "value",
    ["abc", "a" * 65, "ABCD1234", "--output=/tmp/x", "-p", "HEAD", "abcd~1", "abcd ", "", "g123"],
)
def test_everything_else_is_a_one_line_data_error(value: str) -> None:
    with pytest.raises(DataError) as caught:
        gitinfo.object_id(value, key="tree", path="sessions/x.md", line=2)
    line = caught.value.one_line()
    assert line.startswith("sessions/x.md:2: tree=") and "\n" not in line
    assert "not a hex git object id" in line and "Fix:" in line


@given(st.text(max_size=80))
def test_only_short_lowercase_hex_is_valid(value: str) -> None:
    expected = 4 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value)
    assert gitinfo.valid_object_id(value) is expected


def test_this_git_supports_end_of_options() -> None:
    assert gitinfo.end_of_options() == ["--end-of-options"]


@pytest.mark.parametrize(
    "call",
    [
        lambda root, bad: gitinfo.diff_stat(root, bad),
        lambda root, bad: gitinfo.changed_since(root, bad),
        lambda root, bad: gitinfo.commits_between(root, bad),
        lambda root, bad: gitinfo.resolve(root, bad),
        lambda root, bad: gitinfo.commit_time(root, bad),
        lambda root, bad: gitinfo.merge_base(root, bad),
        lambda root, bad: gitinfo.file_at(root, bad, "a.sql"),
        lambda root, bad: gitinfo.files_at(root, bad, "."),
    ],
)
def test_an_option_shaped_value_never_writes_a_file(repo: Path, tmp_path: Path, call) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n", encoding="utf-8")
    assert call(repo, f"--output={victim}") in (None, [])
    assert victim.read_text(encoding="utf-8") == "keep\n"


def test_end_of_options_makes_an_option_a_revision(repo: Path, tmp_path: Path) -> None:
    """Even a ref that is not hex-checked (a branch name) reaches git as a revision."""
    victim = tmp_path / "victim"
    victim.write_text("keep\n", encoding="utf-8")
    assert gitinfo.git(repo, "diff", *gitinfo.end_of_options(), f"--output={victim}") is None
    assert victim.read_text(encoding="utf-8") == "keep\n"
    assert gitinfo.merge_base(repo, "main") == _git(repo, "rev-parse", "HEAD")


def test_queries_on_real_history(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    assert gitinfo.stamp_commit(repo) is None  # no .project/ yet
    (repo / ".project").mkdir()
    (repo / ".project" / "LOOPS.md").write_text("# Loops\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "stamp")
    stamp = _git(repo, "rev-parse", "HEAD")
    (repo / "a.sql").write_text("select 2\n", encoding="utf-8")
    _git(repo, "commit", "-qam", "work")
    assert gitinfo.stamp_commit(repo) == stamp
    assert gitinfo.commits_between(repo, first) == 2
    assert gitinfo.file_at(repo, stamp, ".project/LOOPS.md") == "# Loops"
    assert gitinfo.file_at(repo, first, ".project/LOOPS.md") is None
    assert gitinfo.files_at(repo, stamp, ".project") == {".project/LOOPS.md"}
    assert gitinfo.files_at(repo, first, ".project") == set()
    assert gitinfo.last_tag(repo) is None
    _git(repo, "tag", "v1.0", stamp)
    assert gitinfo.last_tag(repo) == "v1.0"
    assert gitinfo.default_branch(repo) == "main"
    assert gitinfo.branch(repo) == "main"
    assert gitinfo.head(repo) == _git(repo, "rev-parse", "HEAD")
    assert gitinfo.resolve(repo, "v1.0") == stamp
    assert gitinfo.merge_base(repo, "main") == gitinfo.head(repo)
    assert "a.sql" in (gitinfo.diff_stat(repo, stamp) or "")


def test_default_branch_prefers_origin_head_then_main_then_master(repo: Path) -> None:
    _git(repo, "branch", "-m", "main", "master")
    assert gitinfo.default_branch(repo) == "master"
    _git(repo, "branch", "main")
    assert gitinfo.default_branch(repo) == "main"
    _git(repo, "update-ref", "refs/remotes/origin/trunk", "HEAD")
    _git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    assert gitinfo.default_branch(repo) == "origin/trunk"
    _git(repo, "branch", "-m", "master", "feature")
    _git(repo, "branch", "-D", "main")
    _git(repo, "update-ref", "-d", "refs/remotes/origin/trunk")
    assert gitinfo.default_branch(repo) is None

"""Small, failure-tolerant git queries for staleness checks and PR narratives.

Every function returns None (or an empty result) instead of raising when git
is missing, the directory is not a repository, or a ref does not exist: decp
works in repos without git, it just says less.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

MEMORY_DIR = ".project"  # decp's own files: not "what changed" in the code
BASE_BRANCHES = ("main", "master", "origin/main", "origin/master")


def git(root: Path, *args: str, env_extra: dict[str, str] | None = None) -> str | None:
    """Run git in `root`; stdout (stripped of the final newline) or None on any failure."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
    env.update(env_extra or {})
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.rstrip("\n")


def is_repo(root: Path) -> bool:
    return git(root, "rev-parse", "--is-inside-work-tree") == "true"


def head(root: Path) -> str | None:
    """The current commit, or None (no repo, or no commit yet)."""
    return git(root, "rev-parse", "--verify", "-q", "HEAD")


def worktree_snapshot(root: Path) -> str | None:
    """A tree object of the working files as they are now (new files included, .gitignore
    respected, .project/ left out), written through a throw-away index.

    Neither the real index nor the working tree is touched. A later
    `git diff --name-only TREE` lists what changed since, whether or not the
    session's work was committed meanwhile.
    """
    with tempfile.TemporaryDirectory(prefix="decp-index-") as scratch:
        extra = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if head(root) is not None and git(root, "read-tree", "HEAD", env_extra=extra) is None:
            return None
        if git(root, "add", "-A", "--", ".", f":(exclude){MEMORY_DIR}", env_extra=extra) is None:
            return None
        return git(root, "write-tree", env_extra=extra)


def branch(root: Path) -> str | None:
    name = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return name if name and name != "HEAD" else None


def resolve(root: Path, ref: str) -> str | None:
    return git(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")


def default_base(root: Path) -> tuple[str, str] | None:
    """(sha, label) of the merge-base with main/master, when HEAD has moved past it."""
    current = head(root)
    if current is None:
        return None
    for name in BASE_BRANCHES:
        if resolve(root, name) is None:
            continue
        base = git(root, "merge-base", "HEAD", name)
        if base and base != current:
            return base, f"merge-base with {name}"
    return None


def commits_between(root: Path, old: str, new: str = "HEAD") -> int | None:
    count = git(root, "rev-list", "--count", f"{old}..{new}")
    return int(count) if count and count.isdigit() else None


def changed_since(root: Path, snapshot: str) -> list[str] | None:
    """Working files (new ones included) that differ from an earlier `worktree_snapshot`."""
    now = worktree_snapshot(root)
    if now is None:
        return None
    out = git(root, "diff", "--name-only", snapshot, now, "--", ".", f":(exclude){MEMORY_DIR}")
    if out is None:
        return None
    return [line for line in out.splitlines() if line]


def untracked_files(root: Path) -> list[str]:
    """New files git does not track yet (ignored ones excluded), minus .project/."""
    out = git(
        root, "ls-files", "--others", "--exclude-standard", "--", ".", f":(exclude){MEMORY_DIR}"
    )
    return [line for line in (out or "").splitlines() if line]


def diff_stat(root: Path, since: str) -> str | None:
    """`git diff --stat SINCE` (committed and uncommitted changes), minus .project/."""
    return git(root, "diff", "--stat=100", since, "--", ".", f":(exclude){MEMORY_DIR}")


def commit_time(root: Path, ref: str) -> datetime | None:
    out = git(root, "show", "-s", "--format=%ct", ref)
    if not out or not out.isdigit():
        return None
    return datetime.fromtimestamp(int(out), UTC)


def git_toplevel(start: Path) -> Path | None:
    """The git work tree holding `start`, or None (no git, or not a repo)."""
    top = git(start if start.is_dir() else start.parent, "rev-parse", "--show-toplevel")
    return Path(top.strip()) if top and top.strip() else None


def work_tree_files(root: Path) -> list[str] | None:
    """Files git sees under `root` (tracked, plus untracked ones not ignored), relative to it.

    None when git cannot answer (no git, not a repo), so callers can walk the tree instead.
    """
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    names = proc.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    return [name for name in names if name]


def git_ignored(paths: list[Path], cwd: Path | None) -> set[Path]:
    """Which of `paths` git ignores: one `git check-ignore --stdin` run from `cwd` (in the repo).

    Paths go over relative to `cwd`, so symlinked temp dirs and long absolute
    prefixes don't matter; paths outside the work tree are never ignored.
    """
    if cwd is None or not paths:
        return set()
    by_rel: dict[str, Path] = {}
    for path in paths:
        rel = os.path.relpath(path, cwd)
        if not rel.startswith(".."):
            by_rel[rel] = path
    if not by_rel:
        return set()
    payload = "\0".join(by_rel) + "\0"
    try:
        proc = subprocess.run(
            ["git", "check-ignore", "--stdin", "-z", "--no-index"],
            cwd=cwd,
            input=payload.encode("utf-8", errors="surrogateescape"),
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    if proc.returncode not in (0, 1):
        return set()
    out = proc.stdout.decode("utf-8", errors="surrogateescape")
    return {by_rel[rel] for rel in out.split("\0") if rel in by_rel}


def short(sha: str | None) -> str:
    return sha[:10] if sha else "-"

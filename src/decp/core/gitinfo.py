"""Small, failure-tolerant git queries for staleness checks and PR narratives.

Every function returns None (or an empty result) instead of raising when git
is missing, the directory is not a repository, or a ref does not exist: decp
works in repos without git, it just says less.

Values read from repo files (a session summary's `tree=`, `start_head=`) are
untrusted: `object_id` checks them to be hex ids before they reach git, and every
revision argument is passed after `--end-of-options` (git >= 2.24), paths after
`--`, so no value can become a git option such as `--output=FILE`.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from decp.core.errors import DataError

MEMORY_DIR = ".project"  # decp's own files: not "what changed" in the code
DEFAULT_BRANCHES = ("main", "master")  # tried after origin/HEAD
OBJECT_ID_RE = re.compile(r"[0-9a-f]{4,64}")
END_OF_OPTIONS_SINCE = (2, 24)


def valid_object_id(value: str) -> bool:
    """True for a (possibly abbreviated) hex object id: 4 to 64 lowercase hex digits."""
    return OBJECT_ID_RE.fullmatch(value) is not None


def object_id(value: str, *, key: str, path: Path | str, line: int | None = None) -> str:
    """`value` if it is a hex object id, else a DataError naming the file, line and key.

    Why: the value came from a file a teammate can commit, and it is about to be
    passed to git; anything but hex could be read as an option or a revision expression.
    """
    if valid_object_id(value):
        return value
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise DataError(
        f"{key}={shown!r} is not a hex git object id (4-64 hex digits).",
        path=path,
        line=line,
        fix=f"restore {key}= from git history, or set it to `-` (unknown).",
    )


@cache
def _git_version() -> tuple[int, int] | None:
    try:
        proc = subprocess.run(["git", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)", proc.stdout)
    return (int(found[1]), int(found[2])) if found else None


def end_of_options() -> list[str]:
    """`["--end-of-options"]` when this git knows it (2.24+), else [] (ids are hex-checked anyway)."""
    version = _git_version()
    return ["--end-of-options"] if version and version >= END_OF_OPTIONS_SINCE else []


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
    return git(root, "rev-parse", "--verify", "-q", *end_of_options(), "HEAD")


def worktree_snapshot(root: Path) -> str | None:
    """A tree object of the working files as they are now (new files included, .gitignore
    respected, .project/ left out), written through a throw-away index.

    Neither the real index nor the working tree is touched. A later
    `git diff --name-only TREE` lists what changed since, whether or not the
    session's work was committed meanwhile.
    """
    with tempfile.TemporaryDirectory(prefix="decp-index-") as scratch:
        extra = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if (
            head(root) is not None
            and git(root, "read-tree", *end_of_options(), "HEAD", env_extra=extra) is None
        ):
            return None
        if git(root, "add", "-A", "--", ".", f":(exclude){MEMORY_DIR}", env_extra=extra) is None:
            return None
        return git(root, "write-tree", env_extra=extra)


def branch(root: Path) -> str | None:
    # constant arguments only: rev-parse without --verify would echo --end-of-options
    name = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return name if name and name != "HEAD" else None


def resolve(root: Path, ref: str) -> str | None:
    """The commit `ref` names (a user-typed ref is fine: it can never act as an option)."""
    if not ref or ref.startswith("-"):
        return None
    return git(root, "rev-parse", "--verify", "-q", *end_of_options(), f"{ref}^{{commit}}")


def default_branch(root: Path) -> str | None:
    """The repo's default branch as a ref git resolves: origin/HEAD's target, else main, else master."""
    target = git(root, "symbolic-ref", "-q", "refs/remotes/origin/HEAD")
    if target and target.startswith("refs/remotes/"):
        name = target.removeprefix("refs/remotes/")
        if resolve(root, name) is not None:
            return name
    for name in DEFAULT_BRANCHES:
        if resolve(root, f"refs/heads/{name}") is not None:
            return name
    return None


def merge_base(root: Path, ref: str) -> str | None:
    return git(root, "merge-base", *end_of_options(), "HEAD", ref)


def last_tag(root: Path) -> str | None:
    """The nearest tag reachable from HEAD (annotated or not), or None."""
    return git(root, "describe", "--tags", "--abbrev=0", *end_of_options(), "HEAD")


def stamp_commit(root: Path) -> str | None:
    """The first commit that added `.project/` (decp was stamped there), or None."""
    out = git(root, "rev-list", "--reverse", *end_of_options(), "HEAD", "--", MEMORY_DIR)
    return out.splitlines()[0] if out else None


def file_at(root: Path, commit: str, path: str) -> str | None:
    """A file's text as of `commit` (a hex id), or None when it was not there.

    `path` is relative to `root` (which may sit below the repo's top level).
    """
    if not valid_object_id(commit):
        return None
    return git(root, "show", *end_of_options(), f"{commit}:./{path}")


def files_at(root: Path, commit: str, folder: str) -> set[str] | None:
    """Paths under `folder` in `commit` (a hex id), or None when git cannot say."""
    if not valid_object_id(commit):
        return None
    out = git(root, "ls-tree", "-r", "--name-only", *end_of_options(), commit, "--", folder)
    return None if out is None else {line for line in out.splitlines() if line}


def commits_between(root: Path, old: str, new: str = "HEAD") -> int | None:
    if not valid_object_id(old):
        return None
    count = git(root, "rev-list", "--count", *end_of_options(), f"{old}..{new}")
    return int(count) if count and count.isdigit() else None


def changed_since(root: Path, snapshot: str) -> list[str] | None:
    """Working files (new ones included) that differ from an earlier `worktree_snapshot`."""
    if not valid_object_id(snapshot):
        return None
    now = worktree_snapshot(root)
    if now is None:
        return None
    out = git(
        root,
        "diff",
        "--name-only",
        *end_of_options(),
        snapshot,
        now,
        "--",
        ".",
        f":(exclude){MEMORY_DIR}",
    )
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
    if not valid_object_id(since):
        return None
    return git(
        root,
        "diff",
        "--stat=100",
        *end_of_options(),
        since,
        "--",
        ".",
        f":(exclude){MEMORY_DIR}",
    )


def commit_time(root: Path, ref: str) -> datetime | None:
    if not ref or ref.startswith("-"):
        return None
    out = git(root, "show", "-s", "--format=%ct", *end_of_options(), ref)
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

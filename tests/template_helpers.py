"""Shared helpers for the template tests: real git repos, real Copier runs.

The template tests never mock Copier or git. They build a throw-away template
repo from the lead's `copier.yml`, `template/` and `src/decp/defaults.yml`
(the file copier.yml pulls in with `!include`), tag it, and stamp real
destination repos from it. Git identity comes from the environment of each
call, never from the global config.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO_ROOT / "template"

V1, V2, V3 = "v1.0.0", "v2.0.0", "v3.0.0"

# The spec's user-data paths (issue 6, "What gets stamped"): owned by the user
# and by `decp`, never touched by `copier update`.
USER_DATA_FILES = (".project/STATE.md", ".project/LOOPS.md", ".project/CONTEXT.md")
SESSIONS_DIR = ".project/sessions"

# Every shim an agent choice can add, keyed by the answer value.
SHIMS = {
    "claude": "CLAUDE.md",
    "copilot": ".github/copilot-instructions.md",
    "cursor": ".cursor/rules/decp.mdc",
    "gemini": "GEMINI.md",
    "windsurf": ".windsurf/rules/decp.md",
    "chat": ".project/CHAT-BOOTLOADER.md",
}
# Top-level dirs that exist only to hold one shim; they must not appear empty.
SHIM_DIRS = {"copilot": ".github", "cursor": ".cursor", "windsurf": ".windsurf"}
ALL_AGENTS = ["claude", "copilot", "cursor", "gemini", "codex", "windsurf", "chat"]
PROJECT_TYPES = ("dbt", "airflow", "spark", "python", "generic")

# What v2 of the throw-away template adds.
NEW_FILE = ".project/NEW.md"
NEW_FILE_TEXT = "# New in v2\n\nA file the template gained between v1 and v2.\n"
V2_MARK = "(v2 wording)"
USER_DATA_V2_LINE = "\n<!-- v2 changed this user-data template -->\n"

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "decp tests",
    "GIT_AUTHOR_EMAIL": "tests@decp.invalid",
    "GIT_COMMITTER_NAME": "decp tests",
    "GIT_COMMITTER_EMAIL": "tests@decp.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a test identity; fail loudly with git's own message."""
    env = {**os.environ, **_GIT_IDENTITY, "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stderr}")
    return proc.stdout


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    return path


def commit_all(repo: Path, message: str) -> None:
    """Stage everything (including deletions) and commit, even if nothing changed."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def git_status(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all")


# --- the throw-away template repo -------------------------------------------


@dataclass(frozen=True)
class TemplateRepo:
    """The tagged template repo, the PROTOCOL.md line v2 rewords, and v1's user-data files.

    `user_data` is recorded when v1 is built: template/ in the working tree may
    change while the suite runs (the lead keeps editing), the tags do not.
    """

    path: Path
    old_line: str
    new_line: str
    user_data: tuple[str, ...]


def copy_lead_template(dst: Path) -> Path:
    """Copy exactly what Copier needs from the working tree into `dst`."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "copier.yml", dst / "copier.yml")
    shutil.copytree(TEMPLATE_DIR, dst / "template")
    (dst / "src" / "decp").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "src" / "decp" / "defaults.yml", dst / "src" / "decp" / "defaults.yml")
    return dst


def reword_candidate(protocol_template: str) -> str:
    """A PROTOCOL.md line the v2 template rewords: the first plain `Why:` line.

    Plain (no Jinja) so the rendered line equals the template line, and near
    the top so a user's edit at the end of the file is far from it.
    """
    for line in protocol_template.splitlines():
        if line.startswith("Why:") and "{{" not in line and "{%" not in line:
            return line
    raise AssertionError("PROTOCOL.md.jinja has no plain `Why:` line left to reword")


def reworded(line: str) -> str:
    return line.replace("Why:", f"Why {V2_MARK}:", 1)


def build_template_repo(path: Path) -> TemplateRepo:
    """Template repo with three tags, built from the lead's working tree.

    v1.0.0: the lead's template as it is in the working tree.
    v2.0.0: one PROTOCOL.md line reworded, a new file (NEW_FILE), and a line
            appended to every user-data template.
    v3.0.0: v2 minus every user-data path in template/ (a maintainer mistake
            the `_exclude`-on-update rule must survive).
    """
    copy_lead_template(path)
    user_data = tuple(stamped_user_data(path / "template"))
    git_init(path)
    commit_all(path, "template v1")
    git(path, "tag", V1)

    protocol = path / "template" / ".project" / "PROTOCOL.md.jinja"
    text = protocol.read_text(encoding="utf-8")
    old_line = reword_candidate(text)
    protocol.write_text(text.replace(old_line, reworded(old_line), 1), encoding="utf-8")
    (path / "template" / NEW_FILE).write_text(NEW_FILE_TEXT, encoding="utf-8")
    # v2 also changes the user-data templates: an update must still not touch the user's copies.
    for rel in template_user_data(path / "template"):
        target = path / "template" / rel
        for file in [target] if target.is_file() else sorted(target.rglob("*.*")):
            append(file, USER_DATA_V2_LINE)
    commit_all(path, "template v2: reword PROTOCOL.md, add NEW.md, change user-data templates")
    git(path, "tag", V2)

    for rel in template_user_data(path / "template"):
        target = path / "template" / rel
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    commit_all(path, "template v3: drop user-data paths from template/")
    git(path, "tag", V3)
    return TemplateRepo(path, old_line, reworded(old_line), user_data)


def template_user_data(template_dir: Path = TEMPLATE_DIR) -> list[str]:
    """The user-data paths template/ stamps today (template-relative names).

    Discovered, not hard-coded: the spec lists STATE/LOOPS/CONTEXT and
    sessions/, but the template may ship only some of them yet.
    """
    found: list[str] = []
    for rel in USER_DATA_FILES:
        for candidate in (f"{rel}.jinja", rel):
            if (template_dir / candidate).is_file():
                found.append(candidate)
    sessions = template_dir / SESSIONS_DIR
    if sessions.is_dir():
        found.append(SESSIONS_DIR)
    return found


def stamped_user_data(template_dir: Path = TEMPLATE_DIR) -> list[str]:
    """Rendered names of the user-data files the template stamps on copy."""
    names = [rel.removesuffix(".jinja") for rel in template_user_data(template_dir)]
    sessions = template_dir / SESSIONS_DIR
    files = [n for n in names if n != SESSIONS_DIR]
    if sessions.is_dir():
        files += [
            str(p.relative_to(template_dir)).removesuffix(".jinja")
            for p in sessions.rglob("*")
            if p.is_file()
        ]
    return files


# --- stamping ----------------------------------------------------------------


def stamp(
    src: Path | str,
    dst: Path,
    *,
    ref: str | None = V1,
    data: dict[str, object] | None = None,
) -> Path:
    """`copier copy --defaults` (no --trust) from `src` at `ref` into `dst`."""
    copier.run_copy(
        str(src),
        str(dst),
        data=data or {},
        defaults=True,
        unsafe=False,
        quiet=True,
        vcs_ref=ref,
    )
    return dst


def stamp_repo(
    src: Path, dst: Path, *, ref: str = V1, data: dict[str, object] | None = None
) -> Path:
    """A git repo stamped at `ref` and committed, ready for `copier update`."""
    git_init(dst)
    stamp(src, dst, ref=ref, data=data)
    commit_all(dst, f"stamp decp {ref}")
    return dst


def update(
    dst: Path, *, ref: str = V2, data: dict[str, object] | None = None, conflict: str = "inline"
) -> None:
    """`copier update --defaults` without --trust, as a user would run it."""
    copier.run_update(
        str(dst),
        data=data or {},
        defaults=True,
        overwrite=True,
        unsafe=False,
        quiet=True,
        vcs_ref=ref,
        conflict=conflict,
    )


# --- file snapshots ----------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (outside .git), keyed by relative path."""
    digest: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        digest[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def all_dirs(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_dir() and p.relative_to(root).parts[0] != ".git"
    }


def append(path: Path, text: str) -> None:
    """Append text as the user would in an editor (creates the file if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_bytes() if path.exists() else b""
    path.write_bytes(old + text.encode("utf-8"))


# --- session-wide builds (shared by every template test module) --------------

_SESSION: dict[str, object] = {}


def session_template_repo(factory: pytest.TempPathFactory) -> TemplateRepo:
    """Build the v1/v2/v3 template repo once per pytest session."""
    if "repo" not in _SESSION:
        path = factory.mktemp("template-repo")
        _SESSION["repo"] = build_template_repo(path)
    repo = _SESSION["repo"]
    assert isinstance(repo, TemplateRepo)
    return repo


def session_stamp(factory: pytest.TempPathFactory, data: dict[str, object]) -> Path:
    """A stamp at v1 with `data`, shared read-only; copy it before changing anything."""
    key = "stamp:" + json.dumps(data, sort_keys=True)
    if key not in _SESSION:
        repo = session_template_repo(factory)
        _SESSION[key] = stamp(repo.path, factory.mktemp("stamped") / "repo", data=data)
    path = _SESSION[key]
    assert isinstance(path, Path)
    return path


def private_copy(src: Path, dst: Path) -> Path:
    """A writable copy of a shared stamp (its .git too, if any)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def run_doctor(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m decp doctor ARGS` as a real process in `root` (DECP_ROOT unset)."""
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "decp", "doctor", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

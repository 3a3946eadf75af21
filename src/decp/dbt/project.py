"""Where the dbt project lives in a repo, and an honest "manifest not found".

A repo's dbt project is often not at the root (`transform/<name>/`, `dbt/`).
decp reads `[dbt] project_dir` from decp.toml; when the manifest is not where
that points, the error says which setting was used and which dbt projects were
actually found, so the fix is one line of config rather than a guess.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.errors import DataError

if TYPE_CHECKING:
    from decp.core.config import Config

PROJECT_FILE = "dbt_project.yml"
MAX_DEPTH = 2  # the root, its folders, and theirs (`transform/<name>/`)
# Folders that never hold the repo's own project: installed packages, build output, tools.
SKIP_DIRS = frozenset(
    {"dbt_packages", "dbt_modules", "node_modules", "target", "logs", "site-packages", "venv"}
)


def find_dbt_projects(root: Path) -> list[str]:
    """Folders (relative to `root`, POSIX, "." for the root) holding a dbt_project.yml,
    shallowest first, then by name. Hidden folders, packages and build output are skipped;
    symlinked folders are not followed (they may point out of the repo)."""
    found: list[tuple[int, str]] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / PROJECT_FILE).is_file():
            rel = folder.relative_to(root).as_posix()
            found.append((depth, rel if rel else "."))
        if depth >= MAX_DEPTH:
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), depth + 1)
            except OSError:
                continue

    walk(root, 0)
    return [rel for _, rel in sorted(found)]


def find_dbt_project(root: Path) -> str | None:
    """The repo's dbt project folder (relative, "." for the root), or None when there is
    none or several at the same shallowest depth (ambiguous: let the user choose)."""
    found = find_dbt_projects(root)
    if not found:
        return None
    if found[0] == ".":
        return "."
    shallowest = found[0].count("/")
    same_depth = [f for f in found if f.count("/") == shallowest]
    return same_depth[0] if len(same_depth) == 1 else None


def manifest_missing(config: Config, manifest: Path) -> DataError:
    """The "manifest not found" error for a stamped repo: the settings used, what exists."""
    found = find_dbt_projects(config.root)
    used = f'[dbt] project_dir = "{config.dbt_project_dir}", manifest = "{config.dbt_manifest}"'
    if not found:
        where = "no dbt_project.yml found in the repo root or two folder levels below it"
        fix = (
            "set [dbt] project_dir in .project/decp.toml to the folder holding "
            "dbt_project.yml, then run `dbt parse` there (or pass --manifest PATH)."
        )
    else:
        shown = ", ".join(f"{f}/{PROJECT_FILE}" if f != "." else PROJECT_FILE for f in found[:5])
        where = f"found {shown}"
        best = find_dbt_project(config.root) or found[0]
        target = config.root / best / config.dbt_manifest
        if best != config.dbt_project_dir.strip("/") and target.is_file():
            fix = f'set `project_dir = "{best}"` under [dbt] in .project/decp.toml.'
        elif best != config.dbt_project_dir.strip("/"):
            fix = (
                f'set `project_dir = "{best}"` under [dbt] in .project/decp.toml, then run '
                f"`dbt parse` in {best} to write {config.dbt_manifest}."
            )
        else:
            fix = f"run `dbt parse` in {best} to write {config.dbt_manifest}."
    return DataError(f"manifest not found ({used}); {where}.", path=manifest, fix=fix)


_TABLE_RE = re.compile(r"^[ \t]*\[([^\]]+)\][ \t]*(?:#.*)?$")
_PROJECT_DIR_RE = re.compile(r"^[ \t]*project_dir[ \t]*=")


def write_project_dir(config: Config, folder: str) -> None:
    """Set `[dbt] project_dir` in decp.toml to `folder`, touching no other line.

    For `decp doctor --fix`: replaces the key's line inside [dbt], or adds it right
    under the [dbt] header, or appends a [dbt] table when there is none.
    """
    from decp.core.fsio import atomic_write, locked, read_text

    path = config.config_path
    setting = f"project_dir = {json.dumps(folder)}"
    with locked(path):
        text = read_text(path)
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        table = None
        header_at = None
        for i, line in enumerate(lines):
            match = _TABLE_RE.match(line)
            if match:
                table = match.group(1).strip()
                if table == "dbt":
                    header_at = i
                continue
            if table == "dbt" and _PROJECT_DIR_RE.match(line):
                lines[i] = setting
                break
        else:
            if header_at is not None:
                lines.insert(header_at + 1, setting)
            else:
                while lines and lines[-1] == "":
                    lines.pop()
                lines += ["", "[dbt]", setting, ""]
        atomic_write(path, newline.join(lines))

"""Where the dbt project lives in a repo, and an honest "manifest not found".

A repo's dbt project is often not at the root (`transform/<name>/`, `dbt/`).
decp reads `[dbt] project_dir` from decp.toml; when the manifest is not where
that points, the error says which setting was used and which dbt projects were
actually found, so the fix is one line of config rather than a guess.
"""

from __future__ import annotations

import os
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

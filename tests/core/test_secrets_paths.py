"""What may never be opened (outside the repo, .git, FIFOs, devices) and names that are secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from decp.core.secrets import exclusion_for, placement_exclusion, secret_by_path


@pytest.mark.parametrize(
    "rel",
    [
        ".git-credentials",
        "infra/prod.tfvars",
        "infra/prod.tfvars.json",
        "infra/terraform.tfstate",
        "home/.docker/config.json",
        "home/.aws/credentials",
        "home/.aws/config",
        "home/.ssh/config",
        "home/.ssh/id_ed25519",
        "home/.kube/config",
        "profiles.yml",
        "app/.env.local",
    ],
)
def test_credential_files_are_secret_by_name(rel: str) -> None:
    assert secret_by_path(Path(rel)) is not None


@pytest.mark.parametrize(
    "rel",
    [
        "config.json",
        "docker/config.json",
        ".github/config.json",
        "aws/credentials_helper.py",
        "ssh/config.md",
        "models/tfvars_notes.md",
        "dbt_project.yml",
        "models/schema.yml",
        ".gitignore",
    ],
)
def test_near_miss_names_are_not_secret(rel: str) -> None:
    assert secret_by_path(Path(rel)) is None


def test_placement_refuses_outside_git_and_special_but_not_plain_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (root / "a.sql").write_text("select 1\n", encoding="utf-8")
    (root / ".github").mkdir()
    (root / ".github" / "ci.yml").write_text("on: push\n", encoding="utf-8")
    outside = tmp_path / "outside.sql"
    outside.write_text("select 2\n", encoding="utf-8")
    (root / "out.sql").symlink_to(outside)
    (root / "in.sql").symlink_to(root / "a.sql")
    (root / "cfg").symlink_to(root / ".git" / "config")
    os.mkfifo(root / "pipe")

    def why(name: str) -> str | None:
        found = placement_exclusion(root / name, root)
        return found.why if found else None

    assert why("a.sql") is None
    assert why("in.sql") is None
    assert why(".github/ci.yml") is None
    assert why("out.sql") == "outside: outside the repo (its real path is not under the root)"
    assert why(".git/config") == "git: inside .git (git's own data; remote URLs may hold tokens)"
    assert why("cfg") == "git: inside .git (git's own data; remote URLs may hold tokens)"
    assert why("pipe") == "special: not a regular file (FIFO)"
    assert why("../outside.sql") == why("out.sql")
    # exclusion_for checks placement before it opens anything: the FIFO would block here.
    assert exclusion_for(root / "pipe", root=root).kind == "special"
    assert exclusion_for(root / "out.sql", root=root).kind == "outside"
    assert exclusion_for(root / "a.sql", root=root) is None

"""Where the dbt project is, and the doctor-facing freshness check `stale_files(config)`."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.dbt.changes import stale_files
from decp.dbt.project import find_dbt_project, find_dbt_projects, manifest_missing

MANIFEST_GZ = REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"


def dbt_project(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text("name: x\n", encoding="utf-8")


def test_the_root_wins(tmp_path: Path) -> None:
    dbt_project(tmp_path)
    dbt_project(tmp_path / "other")
    assert find_dbt_projects(tmp_path) == [".", "other"]
    assert find_dbt_project(tmp_path) == "."


@pytest.mark.parametrize("where", ["dbt", "transform/shop"])
def test_one_or_two_folders_down(tmp_path: Path, where: str) -> None:
    dbt_project(tmp_path / where)
    assert find_dbt_project(tmp_path) == where


def test_three_folders_down_is_too_deep(tmp_path: Path) -> None:
    dbt_project(tmp_path / "a" / "b" / "c")
    assert find_dbt_projects(tmp_path) == []
    assert find_dbt_project(tmp_path) is None


def test_packages_hidden_folders_and_symlinks_are_skipped(tmp_path: Path) -> None:
    dbt_project(tmp_path / "transform" / "shop")
    dbt_project(tmp_path / "transform" / "dbt_packages")  # a folder named like an install dir
    dbt_project(tmp_path / "dbt_packages" / "dbt_utils")
    dbt_project(tmp_path / ".venv" / "lib")
    dbt_project(tmp_path / "target")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    dbt_project(outside)
    (tmp_path / "linked").symlink_to(outside, target_is_directory=True)
    assert find_dbt_projects(tmp_path) == ["transform/shop"]


def test_two_projects_at_the_same_depth_are_ambiguous(tmp_path: Path) -> None:
    dbt_project(tmp_path / "analytics")
    dbt_project(tmp_path / "finance")
    dbt_project(tmp_path / "x" / "deeper")
    assert find_dbt_projects(tmp_path) == ["analytics", "finance", "x/deeper"]
    assert find_dbt_project(tmp_path) is None


def test_manifest_missing_when_nothing_is_found(project: Path) -> None:
    config = load_config(project)
    error = manifest_missing(config, config.manifest_path)
    assert isinstance(error, DataError)
    assert error.message == (
        'manifest not found ([dbt] project_dir = ".", manifest = "target/manifest.json"); '
        "no dbt_project.yml found in the repo root or two folder levels below it."
    )
    assert error.fix and "set [dbt] project_dir" in error.fix


def test_manifest_missing_when_the_project_is_right_but_unparsed(project: Path) -> None:
    dbt_project(project)
    config = load_config(project)
    error = manifest_missing(config, config.manifest_path)
    assert error.message.endswith("; found dbt_project.yml.")
    assert error.fix == "run `dbt parse` in . to write target/manifest.json."


@pytest.fixture
def stamped_shop(project: Path) -> Path:
    """A stamped repo whose dbt project is transform/shop, with its parsed manifest."""
    assert MANIFEST_GZ.is_file(), f"{MANIFEST_GZ} is committed: missing is a failure"
    shop = project / "transform" / "shop"
    shutil.copytree(REPO_ROOT / "examples" / "shop", shop)
    manifest = shop / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_bytes(gzip.decompress(MANIFEST_GZ.read_bytes()))
    past = manifest.stat().st_mtime - 3600
    os.utime(manifest, (past, past))
    toml = project / ".project" / "decp.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            'project_dir = "."', 'project_dir = "transform/shop"'
        ),
        encoding="utf-8",
    )
    return project


def test_stale_files_for_doctor(stamped_shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECP_CACHE_DIR", str(stamped_shop.parent / "cache"))
    config = load_config(stamped_shop)
    assert stale_files(config) == []
    shop = stamped_shop / "transform" / "shop"
    path = shop / "models" / "staging" / "billing" / "stg_billing__charges.sql"
    path.write_text(path.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    (shop / "models" / "new_model.sql").write_text("select 1\n", encoding="utf-8")
    assert stale_files(config) == [
        "models/new_model.sql",
        "models/staging/billing/stg_billing__charges.sql",
    ]


def test_doctor_gets_the_same_warning_line(
    stamped_shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decp.dbt.changes import stale_manifest_warning

    monkeypatch.setenv("DECP_CACHE_DIR", str(stamped_shop.parent / "cache"))
    config = load_config(stamped_shop)
    assert stale_manifest_warning(config) is None
    seed = stamped_shop / "transform" / "shop" / "seeds" / "fx_rates.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + "GBP,1.270000\n", encoding="utf-8")
    assert stale_manifest_warning(config) == (
        "transform/shop/target/manifest.json is stale: 1 project file differs from its "
        "checksums (1 changed): seeds/fx_rates.csv. Run `dbt parse` to refresh it."
    )


def test_stale_files_without_a_manifest_raises(project: Path) -> None:
    with pytest.raises(DataError, match="manifest not found"):
        stale_files(load_config(project))


def test_impact_in_a_stamped_repo_finds_the_project_and_records_one_row(
    run_decp, stamped_shop: Path
) -> None:
    shop = stamped_shop / "transform" / "shop"
    path = shop / "models" / "marts" / "finance" / "fct_refunds.sql"
    path.write_text(path.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    env = {"DECP_CACHE_DIR": str(stamped_shop.parent / "cache")}
    first = run_decp("dbt", "impact", cwd=stamped_shop, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("# dbt impact: 1 changed, 0 downstream, 1 exposures\n")
    assert "- Changed: `fct_refunds` (models/marts/finance/fct_refunds.sql)" in first.stdout
    assert (
        "decp: warning: the impact is computed against the manifest as it was before 1 edited "
        "file; after `dbt parse`, use --changed-since REF or --state DIR to keep seeing these "
        "changes.\n"
    ) in first.stderr
    again = run_decp("dbt", "impact", "--level", "0", cwd=stamped_shop, env=env)
    assert again.returncode == 0, again.stderr
    ledger = (stamped_shop / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    rows = [line for line in ledger.splitlines() if "dbt-impact:" in line]
    assert len(rows) == 1 and rows[0].startswith("| `dbt-impact:state:modified+` | dbt-pack |")
    assert "| L0: " in rows[0]

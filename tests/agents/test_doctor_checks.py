"""`decp doctor` on what a team and a dbt repo get wrong: merged ids, a moved project, a stale manifest."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from conftest import REPO_ROOT

SHOP = REPO_ROOT / "examples" / "shop"
SHOP_MANIFEST = REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"
ENV = {"DECP_NOW": "2026-11-25T09:00:00Z"}


def _two_loops_with_one_id(project: Path, run_decp) -> Path:
    """What a union merge of two branches leaves: two LOOP-002 blocks (and both marks)."""
    for title in ("Base loop", "Ours: grain of fct_orders", "Theirs: late refunds"):
        assert run_decp("loop", "add", title, cwd=project, env=ENV).returncode == 0
    loops = project / ".project" / "LOOPS.md"
    text = loops.read_text(encoding="utf-8")
    loops.write_text(text.replace("### LOOP-003 (open)", "### LOOP-002 (open)"), encoding="utf-8")
    return loops


def test_doctor_reports_a_duplicate_loop_id_and_fix_renumbers_the_later(
    project: Path, run_decp
) -> None:
    loops = _two_loops_with_one_id(project, run_decp)
    checked = run_decp("doctor", cwd=project)
    assert checked.returncode == 1
    assert "[FAIL] LOOP-002 is defined 2 times (LOOPS.md:" in checked.stdout
    assert "→ run `decp doctor --fix` to renumber the later one" in checked.stdout

    fixed = run_decp("doctor", "--fix", "--json", cwd=project)
    data = json.loads(fixed.stdout)
    assert "renumbered LOOP-002 -> LOOP-004" in data["fixed"], fixed.stdout
    text = loops.read_text(encoding="utf-8")
    assert "### LOOP-002 (open) Ours: grain of fct_orders" in text
    assert "### LOOP-004 (open) Theirs: late refunds" in text
    again = run_decp("doctor", "--json", cwd=project)
    checks = [c["what"] for c in json.loads(again.stdout)["checks"]]
    assert "loop and decision ids are unique" in checks
    listed = run_decp("loop", "list", cwd=project)
    assert listed.returncode == 0, listed.stderr


def _copy_shop(root: Path, where: str) -> Path:
    folder = root / where
    shutil.copytree(SHOP, folder, dirs_exist_ok=True)
    manifest = folder / "target" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_bytes(gzip.decompress(SHOP_MANIFEST.read_bytes()))
    return folder


def test_doctor_fix_finds_a_dbt_project_one_folder_down(project: Path, run_decp) -> None:
    _copy_shop(project, "transform/shop")
    checked = run_decp("doctor", cwd=project)
    assert checked.returncode == 1
    assert (
        "no dbt_project.yml in [dbt] project_dir = '.' (found in: transform/shop)" in checked.stdout
    )
    fixed = run_decp("doctor", "--fix", cwd=project)
    assert "[dbt] project_dir set to 'transform/shop'" in fixed.stdout, fixed.stdout
    toml = (project / ".project" / "decp.toml").read_text(encoding="utf-8")
    assert '[dbt]\nproject_dir = "transform/shop"\nmanifest = "target/manifest.json"' in toml
    scoped = run_decp("dbt", "scope", "-s", "fct_orders", "--no-record", cwd=project)
    assert scoped.returncode == 0, scoped.stderr


def test_doctor_warns_when_the_manifest_is_stale(project: Path, run_decp) -> None:
    shop = _copy_shop(project, ".")  # the repo root is the dbt project
    fresh = run_decp("doctor", "--json", cwd=project)
    checks = [c["what"] for c in json.loads(fresh.stdout)["checks"]]
    assert "the dbt manifest matches the project files" in checks, fresh.stdout
    model = next(shop.glob("models/**/fct_orders.sql"))
    model.write_text(model.read_text(encoding="utf-8") + "\n-- a change\n", encoding="utf-8")
    stale = run_decp("doctor", cwd=project)
    assert "[warn] " in stale.stdout and "is stale: 1 project file" in stale.stdout, stale.stdout
    assert "fct_orders.sql" in stale.stdout and "dbt parse" in stale.stdout

"""`decp dbt scope` as a real process: stamped repo, bare directory, and every failure mode."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import test_dbt_support as support
from conftest import REPO_ROOT
from test_dbt_support import small_manifest, write_manifest

from decp.core.tokens import get_counter

dbt_cache, jaffle_path = support.dbt_cache, support.jaffle_path


def env_for(cache: Path) -> dict[str, str]:
    return {"DECP_CACHE_DIR": str(cache)}


@pytest.fixture
def repo(project: Path) -> Path:
    """A stamped project whose default manifest (target/manifest.json) exists."""
    write_manifest(project / "target" / "manifest.json", small_manifest())
    return project


def test_scope_in_a_stamped_repo_uses_config_defaults_and_records_the_pack(
    run_decp, repo: Path
) -> None:
    result = run_decp("dbt", "scope", "--select", "+orders+", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# dbt scope `+orders+`")
    assert "of 4,000 tokens" in result.stdout  # task_budget from the config
    counter = get_counter("o200k_base")  # the config's encoding, resolved offline
    assert counter.label in result.stdout
    assert counter.count(result.stdout) <= 4000
    assert "decp: dbt pack L" in result.stderr and "whole selection per level" in result.stderr
    ledger = (repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    rows = [line for line in ledger.splitlines() if "dbt:+orders+" in line]
    assert len(rows) == 1
    assert rows[0].startswith("| `dbt:+orders+` | dbt-pack |")
    assert f"| {counter.count(result.stdout):,} |" in rows[0]
    assert (repo / ".project" / ".cache" / "dbt").is_dir()  # cache lives under .project


def test_one_ledger_row_per_pack_and_rescoping_replaces_it(run_decp, repo: Path) -> None:
    """14 collapsed groups used to be 14 Excluded rows; now the pack is one row, replaced
    when the same selection is scoped again (at any level)."""
    data = support.big_manifest(400)
    write_manifest(repo / "target" / "manifest.json", data)
    first = run_decp("dbt", "scope", "-s", "package:big", "--budget", "1000", cwd=repo)
    assert first.returncode == 0, first.stderr
    again = run_decp(
        "dbt", "scope", "-s", "package:big", "--budget", "3000", "--level", "0", cwd=repo
    )
    assert again.returncode == 0, again.stderr
    ledger = (repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    assert "dbt-group" not in ledger
    rows = [line for line in ledger.splitlines() if "dbt:package:big" in line]
    assert len(rows) == 1, rows
    assert re.fullmatch(
        r"\| `dbt:package:big` \| dbt-pack \| [\d,]+ \| L0: \d+ named \+ \d+ in \d+ groups "
        r"= 408 nodes, budget 3,000 \(\w+\) \| [\dT:Z-]+ \|",
        rows[0],
    ), rows[0]
    assert "decp: recorded dbt:package:big in .project/CONTEXT.md" in again.stderr


def test_a_legacy_level_row_is_replaced_too(run_decp, repo: Path) -> None:
    context = repo / ".project" / "CONTEXT.md"
    run_decp("dbt", "scope", "-s", "orders", "--no-record", cwd=repo)
    first = run_decp("dbt", "scope", "-s", "orders", cwd=repo)
    assert first.returncode == 0, first.stderr
    text = context.read_text(encoding="utf-8")
    legacy = "| `dbt:orders (L1)` | dbt-pack | 10 | old row | 2026-01-01T00:00:00Z |"
    row = next(line for line in text.splitlines() if "`dbt:orders`" in line)
    context.write_text(text.replace(row, row + "\n" + legacy), encoding="utf-8")
    again = run_decp("dbt", "scope", "-s", "orders", cwd=repo)
    assert again.returncode == 0, again.stderr
    text = context.read_text(encoding="utf-8")
    assert "dbt:orders (L1)" not in text
    assert sum("`dbt:orders`" in line for line in text.splitlines()) == 1


def test_no_record_flag(run_decp, repo: Path) -> None:
    result = run_decp("dbt", "scope", "-s", "orders", "--no-record", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert not (repo / ".project" / "CONTEXT.md").exists()


def test_outside_a_stamped_repo_with_manifest_and_budget(run_decp, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.json.gz", small_manifest(), gz=True)
    result = run_decp(
        "dbt",
        "scope",
        "-s",
        "@orders",
        "--manifest",
        str(manifest),
        "--budget",
        "1500",
        cwd=tmp_path,
        env=env_for(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    assert "of 1,500 tokens" in result.stdout
    assert not (tmp_path / ".project").exists()
    assert list((tmp_path / "cache" / "dbt").glob("*.graph"))


def test_outside_a_stamped_repo_without_flags_says_what_to_pass(run_decp, tmp_path: Path) -> None:
    result = run_decp("dbt", "scope", "-s", "orders", "--budget", "1000", cwd=tmp_path)
    assert result.returncode == 1
    assert "pass both --manifest PATH and --budget N" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_and_out(run_decp, repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.json"
    result = run_decp("dbt", "scope", "-s", "+orders", "--json", "--out", str(out), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["schema"] == "decp-dbt-pack/1"
    assert (
        data["accounting"]["total"] == data["accounting"]["named"] + data["accounting"]["collapsed"]
    )
    assert f"written to {out}" in result.stderr


def test_real_jaffle_shop_through_the_cli(
    run_decp, jaffle_path: Path, dbt_cache: Path, tmp_path: Path
) -> None:
    args = (
        "dbt",
        "scope",
        "-s",
        "+stg_orders+",
        "--manifest",
        str(jaffle_path),
        "--budget",
        "2000",
    )
    first = run_decp(*args, "--level", "1", cwd=tmp_path, env=env_for(dbt_cache))
    assert first.returncode == 0, first.stderr
    assert "5 named + 0 collapsed in 0 groups = 5 of 5 (100%)" in first.stdout
    assert "### stg_orders" in first.stdout and "```sql" not in first.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("-s", "tagg:x"), 2, "unknown selector method 'tagg'"),
        (("-s", "orders", "--level", "3"), 2, "--level '3' is not one of"),
        (("-s", "orders", "--format", "yaml"), 2, "--format 'yaml' is not one of"),
        (("-s", "orders", "--budget", "10"), 2, "--budget 10 is below"),
        (("-s", "nosuch_thing"), 1, "matched no nodes"),
        (("-s", "test_name:unique"), 1, "matched only"),
        (("-s", "ordrs"), 1, "did you mean orders"),
        (("-s", "orders", "--manifest", "missing.json"), 1, "manifest not found"),
    ],
)
def test_failures_are_one_line_with_exit_codes(
    run_decp, repo: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run_decp("dbt", "scope", *args, cwd=repo)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("decp: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_truncated_gzip_manifest(run_decp, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json.gz"
    path.write_bytes(gzip.compress(json.dumps(small_manifest()).encode())[:300])
    result = run_decp(
        "dbt", "scope", "-s", "orders", "--manifest", str(path), "--budget", "1000", cwd=tmp_path
    )
    assert result.returncode == 1
    assert (
        result.stderr
        == f"decp: error: {path}: gzip stream is truncated (the file was cut off while copying or writing). Fix: copy or regenerate the manifest again.\n"
    )


def test_help_lists_the_flags(run_decp, tmp_path: Path) -> None:
    result = run_decp("dbt", "scope", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in ("--select", "--exclude", "--manifest", "--budget", "--level", "--format", "--out"):
        assert flag in result.stdout


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_output_is_byte_identical_across_hash_seeds(run_decp, tmp_path: Path, fmt: str) -> None:
    """Packs are diffable and cacheable: set iteration order must never leak into them."""
    manifest = REPO_ROOT / "examples" / "manifests" / "shop_260.manifest.json.gz"
    assert manifest.is_file(), f"{manifest} is committed: a missing one is a failure, not a skip"
    args = ("dbt", "scope", "--select", "+fct_orders+", "--manifest", str(manifest))
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**env_for(tmp_path / "cache"), "PYTHONHASHSEED": seed}
        result = run_decp(*args, "--budget", "4000", "--format", fmt, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1


# --- --out never destroys input or decp's data (issue 10, section 1) -----------------


def test_out_refuses_an_existing_file_without_force(run_decp, repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.md"
    out.write_text("keep me\n", encoding="utf-8")
    refused = run_decp("dbt", "scope", "-s", "orders", "--out", str(out), cwd=repo)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"decp: error: {out}: --out {out} already exists. "
        "Fix: pass --force to overwrite it, or choose another file.\n"
    )
    assert out.read_text(encoding="utf-8") == "keep me\n"
    forced = run_decp("dbt", "scope", "-s", "orders", "--out", str(out), "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert out.read_text(encoding="utf-8").startswith("# dbt scope `orders`")


@pytest.mark.parametrize("force", [False, True])
def test_out_never_overwrites_the_manifest_or_project_data(
    run_decp, repo: Path, force: bool
) -> None:
    manifest = repo / "target" / "manifest.json"
    before = manifest.read_bytes()
    loops = repo / ".project" / "LOOPS.md"
    loops.write_text("# Loops\n\n- [ ] keep this loop\n", encoding="utf-8")
    link = repo / "pack-link.md"
    link.symlink_to(manifest)
    extra = ("--force",) if force else ()
    for out, message in (
        ("target/manifest.json", "is an input of this command"),
        (str(link), "is an input of this command"),
        (".project/LOOPS.md", "is a decp data file in .project/"),
    ):
        result = run_decp("dbt", "scope", "-s", "orders", "--out", out, *extra, cwd=repo)
        assert result.returncode == 2, (out, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert manifest.read_bytes() == before
    assert loops.read_text(encoding="utf-8") == "# Loops\n\n- [ ] keep this loop\n"


def test_out_may_create_a_new_file_anywhere(run_decp, repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "pack.md"
    out.parent.mkdir()
    result = run_decp("dbt", "scope", "-s", "orders", "--out", str(out), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert out.is_file()


def test_manifest_not_found_names_project_dir_and_what_exists(run_decp, project: Path) -> None:
    (project / "transform" / "shop").mkdir(parents=True)
    (project / "transform" / "shop" / "dbt_project.yml").write_text("name: shop\n")
    result = run_decp("dbt", "scope", "-s", "orders", cwd=project)
    assert result.returncode == 1
    assert 'manifest not found ([dbt] project_dir = ".", manifest = "target/manifest.json")' in (
        result.stderr
    )
    assert "found transform/shop/dbt_project.yml" in result.stderr
    assert 'Fix: set `project_dir = "transform/shop"` under [dbt]' in result.stderr
    assert result.stderr.count("\n") == 1


def test_redactions_are_one_exclusion_row_beside_the_pack(run_decp, repo: Path) -> None:
    """A pack that replaced secret values records that, once, in the ledger's Excluded table."""
    data = support.small_manifest()
    key = "AKIA" + "Z7QX3NB5KLW2PQRT"  # built at run time: no key-shaped literal in the repo
    data["nodes"]["model.shop.orders"]["description"] = f"Orders, loaded with key {key}."
    write_manifest(repo / "target" / "manifest.json", data)
    result = run_decp("dbt", "scope", "-s", "orders", "--level", "1", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout and "[redacted: aws-access-key]" in result.stdout
    ledger = (repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    rows = [line for line in ledger.splitlines() if "dbt:orders" in line]
    assert rows[0].startswith("| `dbt:orders` | dbt-pack |")
    assert rows[1].startswith(
        "| `dbt:orders#redacted` | secret | - | values redacted before packing: aws-access-key |"
    )
    assert len(rows) == 2
    again = run_decp("dbt", "scope", "-s", "orders", "--level", "0", cwd=repo)
    assert again.returncode == 0, again.stderr
    ledger = (repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    rows = [line for line in ledger.splitlines() if "dbt:orders" in line]
    assert len(rows) == 1 and rows[0].startswith("| `dbt:orders` | dbt-pack |")  # level 0: no text

"""`decp dbt scope` as a real process: stamped repo, bare directory, and every failure mode."""

from __future__ import annotations

import gzip
import json
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
    row = next(line for line in ledger.splitlines() if "dbt:+orders+ (L" in line)
    assert "dbt-pack" in row
    assert f"| {counter.count(result.stdout):,} |" in row
    assert (repo / ".project" / ".cache" / "dbt").is_dir()  # cache lives under .project


def test_collapsed_groups_are_recorded_as_exclusions(run_decp, repo: Path) -> None:
    data = support.big_manifest(400)
    write_manifest(repo / "target" / "manifest.json", data)
    result = run_decp("dbt", "scope", "-s", "package:big", "--budget", "1000", cwd=repo)
    assert result.returncode == 0, result.stderr
    ledger = (repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    excluded = ledger.split("## Excluded", 1)[1]
    assert "dbt-group" in excluded and "package:big,fqn:big." in excluded
    assert "collapsed in dbt:package:big (L" in excluded


def test_no_ledger_flag(run_decp, repo: Path) -> None:
    result = run_decp("dbt", "scope", "-s", "orders", "--no-ledger", cwd=repo)
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
    if not manifest.is_file():
        pytest.skip(f"{manifest} not committed")
    args = ("dbt", "scope", "--select", "+fct_orders+", "--manifest", str(manifest))
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**env_for(tmp_path / "cache"), "PYTHONHASHSEED": seed}
        result = run_decp(*args, "--budget", "4000", "--format", fmt, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1

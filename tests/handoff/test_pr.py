"""`decp pr`: the narrative's range, decisions, diff stat, loops and verification, from real git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MINIMAL_CONFIG, _run
from test_resume import git, init_repo


def _decp(*args: str, cwd: Path):
    return _run(list(args), cwd, None, None)


@pytest.fixture(scope="module")
def feature_repo(tmp_path_factory) -> Path:
    """One repo with a finished feature-branch session, shared by the read-only PR tests."""
    root = tmp_path_factory.mktemp("pr") / "repo"
    (root / ".project").mkdir(parents=True)
    (root / ".project" / "decp.toml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    init_repo(root)
    _feature_work(root, lambda *a, cwd: _decp(*a, cwd=cwd))
    return root


def _feature_work(project: Path, run_decp) -> None:
    git(project, "checkout", "-q", "-b", "feature/incremental")
    run_decp("state", "set", "goal", "Make fct_orders incremental", cwd=project)
    run_decp("session", "start", cwd=project)
    run_decp("loop", "propose", "Is a 3-day lookback enough?", cwd=project)
    run_decp("loop", "approve", "1", cwd=project)
    run_decp("loop", "add", "Backfill old partitions later", cwd=project)
    (project / "models" / "fct_orders.sql").write_text(
        "{{ config(materialized='incremental') }}\nselect 1 as id\n", encoding="utf-8"
    )
    run_decp(
        "decision",
        "add",
        "Use a 3-day lookback",
        "--why",
        "late orders land within 72h",
        "--loop",
        "1",
        cwd=project,
    )
    run_decp(
        "session",
        "end",
        "--done",
        "made fct_orders incremental",
        "--verified",
        "dbt build -s fct_orders+ passed",
        cwd=project,
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "incremental fct_orders")


def test_pr_on_a_feature_branch(feature_repo, run_decp) -> None:
    project = feature_repo
    result = run_decp("pr", "--json", "--verified", "row counts match prod", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["since"]["label"] == "merge-base with main"
    assert "models/fct_orders.sql" in data["diff_stat"]
    assert ".project" not in data["diff_stat"]
    assert [d["id"] for d in data["decisions"]] == ["DECISION-001"]
    assert [x["id"] for x in data["loops_closed"]] == ["LOOP-001"]
    assert [x["id"] for x in data["follow_ups"]] == ["LOOP-002"]
    assert data["verified"][0].startswith("dbt build -s fct_orders+ passed (")
    assert data["verified"][1] == "row counts match prod"
    md = data["markdown"]
    for heading in (
        "## Problem",
        "## Reasoning trail",
        "## What changed",
        "## Loops closed",
        "## Open follow-ups",
        "## How it was verified",
    ):
        assert heading in md
    assert "Make fct_orders incremental" in md
    assert "**DECISION-001** (closes LOOP-001): Use a 3-day lookback. Why: late orders" in md
    assert "- made fct_orders incremental" in md
    assert "LOOP-001 (closed) Is a 3-day lookback enough?: DECISION-001: Use a 3-day lookback" in md


def test_pr_out_writes_the_markdown(feature_repo, run_decp, tmp_path) -> None:
    project = feature_repo
    printed = run_decp("pr", cwd=project).stdout
    target = tmp_path / "PR.md"
    result = run_decp("pr", "--out", str(target), cwd=project)
    assert result.returncode == 0 and result.stdout == ""
    assert target.read_text(encoding="utf-8") == printed


def test_pr_since_an_explicit_ref_and_a_bad_one(feature_repo, run_decp) -> None:
    project = feature_repo
    same = json.loads(run_decp("pr", "--since", "HEAD", "--json", cwd=project).stdout)
    assert same["since"]["label"] == "since HEAD"
    assert "fct_orders" not in (same["diff_stat"] or "")
    bad = run_decp("pr", "--since", "no-such-ref", cwd=project)
    assert bad.returncode == 2 and "no-such-ref" in bad.stderr


def test_pr_on_main_falls_back_to_the_session_start(project, run_decp) -> None:
    init_repo(project)
    run_decp("session", "start", cwd=project)
    (project / "models" / "fct_orders.sql").write_text("select 3 as id\n", encoding="utf-8")
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["label"] == "since this session's start"
    assert "models/fct_orders.sql" in data["diff_stat"]
    (project / "models" / "brand_new.sql").write_text("select 4\n", encoding="utf-8")
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["untracked"] == ["models/brand_new.sql"]
    assert "`models/brand_new.sql`" in data["markdown"]
    assert "Not recorded" in data["markdown"]  # no verification recorded: says so


def test_pr_outside_git_uses_every_session(project, run_decp) -> None:
    run_decp("decision", "add", "Keep it simple", "--why", "small team", cwd=project)
    run_decp("session", "end", "--verified", "eyeballed", cwd=project)
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["sha"] is None and "not a git repository" in data["since"]["label"]
    assert data["decisions"][0]["what"] == "Keep it simple"
    assert data["verified"][0].startswith("eyeballed")
    assert run_decp("pr", "--since", "main", cwd=project).returncode == 2

"""The worked example: a grain change on a 200+ node lineage, end to end, within its budgets.

Runs scripts/validate_refactor.py for real (real Copier stamp, real git, real `decp`
processes) on the bundled 260-model example and, when the shared fixtures are present, on
the tuva manifest; then checks the limits from the JSON it writes, and that the figures
published in docs/reference/worked-example.md are the ones a fresh run produces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "validate_refactor.py"
DOCS_PAGE = REPO_ROOT / "docs" / "reference" / "worked-example.md"
BUDGET = 4000
RESUME_CAP = 1000
START_CAP = 3000
STEPS = [
    "scope",
    "columns",
    "loops",
    "decisions",
    "impact",
    "handoff and resume",
    "gtd export",
    "pr narrative",
]
# Figures fixed by the inputs alone: they must match exactly.
EXACT = {"raw_manifest", "nodes", "dbt_mp", "agents_protocol"}
# The packs are byte-stable (deterministic order, pinned tokenizer): they must match exactly.
STABLE_TOLERANCE = 0.0
# Figures that carry timestamps or git SHAs (session summary, resume pack, …) may move a little.
VOLATILE_TOLERANCE = 0.05

pytestmark = pytest.mark.slow

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import validate_refactor  # noqa: E402


def run_script(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    data = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    return proc, data


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    proc, data = run_script(tmp_path_factory.mktemp("worked-example"))
    assert proc.returncode == 0, f"validate_refactor.py failed:\n{proc.stdout}\n{proc.stderr}"
    return data


def figures_of(data: dict[str, Any], step: str) -> dict[str, Any]:
    return next(s["figures"] for s in data["steps"] if s["name"] == step)


def commands_of(data: dict[str, Any], step: str) -> list[str]:
    return next(s["commands"] for s in data["steps"] if s["name"] == step)


def check_scenario(data: dict[str, Any], focal: str, column: str) -> None:
    assert data["ok"] and data["error"] is None
    assert [s["name"] for s in data["steps"]] == STEPS
    assert all(s["ok"] and s["commands"] for s in data["steps"])
    scope = figures_of(data, "scope")
    assert data["scenario"]["focal"] == focal and data["scenario"]["column"] == column
    assert scope["nodes"] >= 200, "the worked example needs a 200+ node lineage"
    assert scope["md_tokens"] <= BUDGET and scope["json_tokens_reported"] <= BUDGET
    accounting = scope["accounting"]
    assert accounting["named"] + accounting["collapsed"] == accounting["total"] == scope["nodes"]
    assert accounting["percent"] == 100.0
    assert accounting["collapsed"] > 0, "a 200+ node lineage cannot fit 4,000 tokens without groups"
    figures = data["figures"]
    assert figures["resume"] <= RESUME_CAP
    assert figures["start_total"] == figures["agents_protocol"] + figures["resume"] <= START_CAP
    assert figures["pack_md"] * 100 < figures["raw_manifest"], (
        "the pack should be <1% of the manifest"
    )
    # the column question: both directions within budget, every entry counted
    columns = figures_of(data, "columns")
    assert columns["column"] == f"{focal}.{column}"
    for direction in ("downstream", "upstream"):
        answer = columns[direction]
        assert answer["md_tokens"] <= BUDGET and answer["accounted"], (direction, answer)
    assert columns["downstream"]["columns"] + columns["downstream"]["unknowns"] > 0
    assert any(
        f"decp dbt columns {focal}.{column} --downstream" in c for c in commands_of(data, "columns")
    )
    # the blast radius of the branch names the changed focal model and fits the budget
    impact = figures_of(data, "impact")
    assert impact["tokens"] <= BUDGET and impact["new_files"], impact
    if "note" in impact:  # a package's model: decp compares the root project's files only
        assert "belongs to a package" in impact["note"] and not impact["focal_changed"]
        assert "impact_finds_the_change" not in data["checks"]
    else:
        assert impact["focal_changed"] and impact["changed"] >= 1 and impact["downstream"] > 0
        assert data["checks"]["impact_finds_the_change"]
    loops, decisions = figures_of(data, "loops"), figures_of(data, "decisions")
    assert loops["proposed"] >= 3 and decisions["decisions"] == 2
    assert figures_of(data, "gtd export")["exported"] == loops["proposed"] - decisions["decisions"]
    assert figures_of(data, "pr narrative")["decisions_in_pr"]
    assert figures_of(data, "pr narrative")["impact_in_pr"]
    assert all(data["checks"].values()), data["checks"]
    encoding = data["scenario"]["encoding"]
    assert encoding.startswith(("o200k_base", "cl100k_base")), encoding


def test_the_worked_example_runs_within_its_budgets(example: dict[str, Any]) -> None:
    check_scenario(example, "fct_orders", "net_revenue_usd")
    assert example["scenario"]["manifest"] == "shop_260.manifest.json.gz"


def test_the_column_answers_feed_the_loops_and_impact_reaches_the_dashboards(
    example: dict[str, Any],
) -> None:
    """The example's known shape: fct_orders.net_revenue_usd reaches 3 dashboards, and is
    computed from the line-level net amount; the first loop names the derived column."""
    columns = figures_of(example, "columns")
    assert columns["downstream"]["exposures"] == 3 and columns["downstream"]["unknowns"] == 0
    assert columns["upstream"]["columns"] >= 1 and columns["upstream"]["exposures"] == 0
    impact = figures_of(example, "impact")
    assert (impact["changed"], impact["exposures"]) == (1, 3)
    first_loop = commands_of(example, "loops")[0]
    assert "dim_accounts.lifetime_net_revenue_usd derive from fct_orders.net_revenue_usd" in (
        first_loop
    )
    session_end = commands_of(example, "handoff and resume")[0]
    assert "--verified 'decp dbt impact --changed-since main: 1 changed," in session_end


def test_the_resume_pack_states_its_own_size_truthfully(example: dict[str, Any]) -> None:
    handoff = figures_of(example, "handoff and resume")
    assert handoff["resume_self_report"] is not None
    assert abs(handoff["resume_self_report"] - handoff["resume_tokens"]) <= 5


def test_published_figures_match_a_fresh_run(example: dict[str, Any]) -> None:
    """Run `python scripts/validate_refactor.py --dbt-mp PATH --update-docs` when this fails."""
    committed = validate_refactor.committed_figures(DOCS_PAGE)
    assert committed, f"{DOCS_PAGE} has no figures block; run the script with --update-docs"
    fresh = example["figures"]
    stable = {row["key"] for row in example["rows"] if row["stable"]}
    missing = set(fresh) - {"dbt_mp"} - set(committed)
    assert not missing, f"figures missing from the page: {missing}"
    for key, value in fresh.items():
        if key not in committed:
            continue  # dbt-mp absent on this machine, or not published
        if key in EXACT:
            slack = 0.0
        elif key in stable:
            slack = STABLE_TOLERANCE * value
        else:
            slack = max(10, VOLATILE_TOLERANCE * value)
        assert abs(committed[key] - value) <= slack, (
            f"{key}: the page says {committed[key]:,}, a fresh run gives {value:,}"
        )


def test_the_tuva_manifest_runs_the_same_scenario(shared_fixtures: Path, tmp_path: Path) -> None:
    manifest = shared_fixtures / "manifests" / "tuva.manifest.json.gz"
    if not manifest.is_file():
        pytest.skip(f"{manifest} not present")
    proc, data = run_script(
        tmp_path, "--manifest", str(manifest), "--select", "+dialysis__encounter_grain+"
    )
    assert proc.returncode == 0, (
        f"validate_refactor.py failed on tuva:\n{proc.stdout}\n{proc.stderr}"
    )
    # no --column: the focal model's first documented measure
    check_scenario(data, "dialysis__encounter_grain", "total_paid_amount")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--manifest", "no-such.manifest.json"], "no such file"),
        (
            ["--manifest", str(REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz")],
            "--select is required",
        ),
        (
            [
                "--manifest",
                str(REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"),
                "--select",
                "+x+",
                "--update-docs",
            ],
            "example only",
        ),
    ],
)
def test_bad_arguments_fail_with_one_clear_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc, data = run_script(tmp_path, *args)
    assert proc.returncode == 2 and message in proc.stderr and not data


def test_a_failing_step_fails_the_run_and_names_the_command(tmp_path: Path) -> None:
    """A selection that matches nothing stops at step 1 with the decp error, exit 1."""
    manifest = REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"
    proc, data = run_script(tmp_path, "--manifest", str(manifest), "--select", "+no_such_model+")
    assert proc.returncode == 1
    assert "decp dbt scope" in proc.stderr
    assert data["ok"] is False and data["error"] and not data["steps"]


def test_a_column_the_model_lacks_fails_at_the_column_step(tmp_path: Path) -> None:
    """decp's own one-line error (with its did-you-mean) reaches the user, exit 1."""
    manifest = REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"
    proc, data = run_script(
        tmp_path, "--manifest", str(manifest), "--select", "+fct_orders+", "--column", "net_revnue"
    )
    assert proc.returncode == 1
    assert "decp dbt columns fct_orders.net_revnue --downstream" in proc.stderr
    assert "fct_orders has no column 'net_revnue'" in proc.stderr
    assert [s["name"] for s in data["steps"]] == ["scope"]


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (("order_id", "net_revenue_usd", "gross_revenue_usd"), "net_revenue_usd"),
        (("encounter_id", "claim_count", "total_paid_amount"), "claim_count"),
        (("encounter_id", "discounted", "total_paid_amount"), "total_paid_amount"),
        (("order_id", "status"), "order_id"),  # no measure: the first column
        ((), None),  # nothing documented: the script asks for --column
    ],
)
def test_the_default_column_is_the_first_documented_measure(
    columns: tuple[str, ...], expected: str | None
) -> None:
    model = validate_refactor.FocalModel("m", None, None, columns)
    assert validate_refactor.default_column(model) == expected

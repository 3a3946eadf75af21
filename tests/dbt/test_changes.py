"""Changed models on the example project in a real git repo: state:modified, --changed-since,
--state, freshness and `decp dbt impact`.

The shop project is copied with its committed manifest (parsed by dbt 1.11 from
exactly these files), so dbt's checksums are real: every test edits files the way
a user would and checks what decp says changed.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

from decp.core.errors import DataError, UsageError
from decp.dbt.cache import load_graph
from decp.dbt.changes import (
    ChangedSinceState,
    ManifestState,
    WorkingTreeState,
    changed_since,
    file_checksum,
    freshness_warning,
    manifest_digests,
    tree_changes,
    validate_ref,
)
from decp.dbt.graph import Graph
from decp.dbt.select import select

EXAMPLE = REPO_ROOT / "examples" / "shop"
MANIFEST_GZ = REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"
FCT = "model.shop.fct_orders"
DOWNSTREAM_OF_FCT = {
    "model.shop.dim_accounts",
    "model.shop.fct_refunds",
    "model.shop.fct_daily_revenue",
    "model.shop.finance__monthly_margin",
    "model.shop.mkt__account_cohorts",
    "model.shop.mkt__promotion_performance",
    "model.shop.ops__delivery_performance",
    "exposure.shop.finance_revenue_dashboard",
}


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "LC_ALL": "C"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e")
    proc = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The example project in a fresh git repo on `main`, its manifest in target/ (ignored)."""
    assert MANIFEST_GZ.is_file(), f"{MANIFEST_GZ} is committed: missing is a failure"
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("target", "logs"))
    manifest = root / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_bytes(gzip.decompress(MANIFEST_GZ.read_bytes()))
    past = manifest.stat().st_mtime - 3600  # the manifest predates any edit a test makes
    os.utime(manifest, (past, past))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "shop")
    return root


def graph_of(root: Path) -> Graph:
    return load_graph(root / "target" / "manifest.json", None)[0]


def working(root: Path, graph: Graph) -> WorkingTreeState:
    return WorkingTreeState(tree_changes(graph, root, root / "target" / "manifest.json", None))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- the working tree against the manifest's checksums --------------------------------


def test_dbt_checksum_is_sha256_of_the_stripped_file(shop: Path) -> None:
    graph = graph_of(shop)
    checked = [n for n in graph.nodes.values() if n.checksum]
    assert len(checked) == 26  # 24 models, 1 seed, 1 singular test
    assert all(file_checksum(shop / n.path) == n.checksum for n in checked)


def test_a_fresh_checkout_has_no_changes(shop: Path) -> None:
    graph = graph_of(shop)
    changes = tree_changes(graph, shop, shop / "target" / "manifest.json", None)
    assert (changes.modified, changes.deleted, changes.new_files) == ((), (), ())
    assert changes.checked == 26
    assert freshness_warning(changes) is None
    assert select(graph, "state:modified", state=working(shop, graph)).uids == frozenset()


def test_modify_a_model(shop: Path) -> None:
    edit(shop / "models/marts/core/fct_orders.sql", "select", "select -- grain: order\n")
    graph = graph_of(shop)
    state = working(shop, graph)
    picked = select(graph, "state:modified", state=state)
    assert picked.roots == {FCT}
    down = select(graph, "state:modified+", state=state)
    assert set(down.lineage(graph)) == {FCT} | DOWNSTREAM_OF_FCT
    both = select(graph, "+state:modified+", state=state)
    assert set(both.lineage(graph)) > set(down.lineage(graph))
    assert "source.shop.storefront.orders" in both.uids
    assert select(graph, "state:modified.body", state=state).roots == {FCT}
    unmodified = select(graph, "state:unmodified", state=state).uids
    assert FCT not in unmodified and len(unmodified) == len(graph.nodes) - 1


def test_whitespace_around_a_file_is_not_a_change(shop: Path) -> None:
    """dbt strips the file before hashing: a trailing blank line changes nothing."""
    path = shop / "models/marts/core/fct_orders.sql"
    path.write_text("\n\n" + path.read_text(encoding="utf-8") + "\n\n  \n", encoding="utf-8")
    graph = graph_of(shop)
    assert select(graph, "state:modified", state=working(shop, graph)).uids == frozenset()


def test_add_and_delete_a_model(shop: Path) -> None:
    (shop / "models/marts/core/fct_order_lines.sql").write_text(
        "select * from {{ ref('int_order_lines__priced') }}\n", encoding="utf-8"
    )
    (shop / "models/marts/finance/fct_refunds.sql").unlink()
    graph = graph_of(shop)
    changes = tree_changes(graph, shop, shop / "target" / "manifest.json", None)
    assert changes.new_files == ("models/marts/core/fct_order_lines.sql",)
    assert changes.deleted == ("model.shop.fct_refunds",)
    assert changes.modified == ()
    assert freshness_warning(changes, "target/manifest.json") == (
        "target/manifest.json is stale: 2 project files differ from its checksums "
        "(1 new, 1 deleted): models/marts/core/fct_order_lines.sql, "
        "models/marts/finance/fct_refunds.sql. Run `dbt parse` to refresh it."
    )
    state = WorkingTreeState(changes)
    assert select(graph, "state:modified", state=state).roots == {"model.shop.fct_refunds"}
    assert select(graph, "state:new", state=state).uids == frozenset()


def test_a_file_older_than_the_manifest_is_not_new(shop: Path) -> None:
    """A disabled model is in no node: it must not be reported on every run."""
    disabled = shop / "models/marts/core/old_disabled.sql"
    disabled.write_text("{{ config(enabled=false) }} select 1\n", encoding="utf-8")
    past = (shop / "target" / "manifest.json").stat().st_mtime - 60
    os.utime(disabled, (past, past))
    graph = graph_of(shop)
    assert tree_changes(graph, shop, shop / "target" / "manifest.json", None).new_files == ()


def test_touching_only_yaml_is_invisible_to_checksums(shop: Path) -> None:
    """YAML has no checksum in the manifest: the working-tree check cannot see it
    (--changed-since and --state can, below)."""
    edit(shop / "models/marts/core/_core__models.yml", "description:", "description: Edited.")
    graph = graph_of(shop)
    assert select(graph, "state:modified", state=working(shop, graph)).uids == frozenset()


def test_hashes_are_cached_by_mtime(shop: Path, tmp_path: Path) -> None:
    graph = graph_of(shop)
    cache = tmp_path / "cache"
    tree_changes(graph, shop, None, cache)
    assert (cache / "file-hashes.marshal").is_file()
    # same size and mtime, different bytes: the cache answers (one hash per file per edit)
    path = shop / "models/marts/core/fct_orders.sql"
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("select", "SELECT", 1), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tree_changes(graph, shop, None, cache).modified == ()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert tree_changes(graph, shop, None, cache).modified == (FCT,)


def test_checks_that_need_a_second_manifest_say_so(shop: Path) -> None:
    graph = graph_of(shop)
    with pytest.raises(UsageError, match="needs a second manifest") as info:
        select(graph, "state:modified.configs", state=working(shop, graph))
    assert "--state DIR" in (info.value.fix or "")
    with pytest.raises(UsageError, match="is not a state check"):
        select(graph, "state:modifed", state=working(shop, graph))


# --- --changed-since REF -----------------------------------------------------------


def test_changed_since_a_branch_sees_models_new_files_and_yaml(shop: Path) -> None:
    git(shop, "checkout", "-q", "-b", "feature")
    edit(shop / "models/marts/core/fct_orders.sql", "select", "select -- v2\n")
    git(shop, "commit", "-qam", "fct_orders v2")
    edit(shop / "models/marts/core/_core__models.yml", "description:", "description: Edited.")
    (shop / "models/marts/core/fct_order_lines.sql").write_text("select 1\n", encoding="utf-8")
    graph = graph_of(shop)
    found = changed_since(graph, "main", shop, shop)
    assert found.files == (
        "models/marts/core/_core__models.yml",
        "models/marts/core/fct_order_lines.sql",
        "models/marts/core/fct_orders.sql",
    )
    documented = {u for u, n in graph.nodes.items() if n.patch_path.endswith("_core__models.yml")}
    in_yaml = {u for u, n in graph.nodes.items() if n.path.endswith("_core__models.yml")}
    assert documented == {FCT, "model.shop.dim_accounts", "model.shop.dim_products"}
    assert found.modified == frozenset(documented | in_yaml)
    assert found.body == frozenset({FCT})
    assert found.unmatched == ("models/marts/core/fct_order_lines.sql",)
    state = ChangedSinceState(found)
    assert select(graph, "state:modified.body", state=state).roots == {FCT}
    assert {graph.nodes[u].kind for u in select(graph, "state:modified", state=state).roots} == {
        "model",
        "test",
    }


def test_changed_since_only_yaml(shop: Path) -> None:
    edit(shop / "models/marts/core/_core__models.yml", "description:", "description: Edited.")
    graph = graph_of(shop)
    found = changed_since(graph, "HEAD", shop, shop)
    models = {u for u in found.modified if graph.nodes[u].kind == "model"}
    assert models == {FCT, "model.shop.dim_accounts", "model.shop.dim_products"}
    assert found.body == frozenset()


def test_changed_since_in_a_subfolder_project(tmp_path: Path, shop: Path) -> None:
    """The dbt project need not be the repo root: paths are made project-relative."""
    repo = tmp_path / "mono"
    shutil.copytree(shop, repo / "transform" / "shop", ignore=shutil.ignore_patterns(".git"))
    (repo / "README.md").write_text("mono\n", encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mono")
    project = repo / "transform" / "shop"
    edit(project / "models/marts/core/fct_orders.sql", "select", "select -- v2\n")
    (repo / "README.md").write_text("changed\n", encoding="utf-8")
    found = changed_since(graph_of(project), "main", repo, project)
    assert found.files == ("models/marts/core/fct_orders.sql",)
    assert found.body == frozenset({FCT})


@pytest.mark.parametrize(
    "ref", ["--output=/tmp/x", "-p", "main..HEAD", "a b", "", "$(touch x)", "main;ls"]
)
def test_changed_since_refuses_refs_that_are_not_revisions(ref: str) -> None:
    with pytest.raises(UsageError, match="is not a git revision") as info:
        validate_ref(ref)
    assert info.value.exit_code == 2


def test_changed_since_an_unknown_ref(shop: Path) -> None:
    with pytest.raises(UsageError, match="git knows no such commit"):
        changed_since(graph_of(shop), "no-such-branch", shop, shop)


# --- --state DIR: another manifest, as dbt compares them ------------------------------


def shop_manifest() -> dict[str, Any]:
    return json.loads(gzip.decompress(MANIFEST_GZ.read_bytes()))


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def state_pair(tmp_path: Path, change) -> tuple[Graph, ManifestState]:
    before = write(tmp_path / "prod" / "manifest.json", shop_manifest())
    data = shop_manifest()
    change(data)
    after = write(tmp_path / "target" / "manifest.json", data)
    state = ManifestState(manifest_digests(after), manifest_digests(before))
    return load_graph(after, None)[0], state


def test_state_identical_manifests_select_nothing(tmp_path: Path) -> None:
    graph, state = state_pair(tmp_path, lambda data: None)
    assert select(graph, "state:modified", state=state).uids == frozenset()
    assert select(graph, "state:new", state=state).uids == frozenset()
    assert len(select(graph, "state:old", state=state).uids) == len(graph.nodes)


def test_state_body_config_and_new(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        nodes = data["nodes"]
        nodes[FCT]["raw_code"] += "\n-- v2"
        nodes["model.shop.dim_accounts"]["unrendered_config"]["materialized"] = "view"
        nodes["model.shop.dim_products"]["unrendered_config"]["tags"] = ["other"]  # not compared
        new = json.loads(json.dumps(nodes["model.shop.dim_products"]))
        new.update(unique_id="model.shop.dim_new", name="dim_new")
        nodes["model.shop.dim_new"] = new

    graph, state = state_pair(tmp_path, change)
    assert select(graph, "state:modified.body", state=state).roots == {FCT, "model.shop.dim_new"}
    assert select(graph, "state:modified.configs", state=state).roots == {
        "model.shop.dim_accounts",
        "model.shop.dim_new",
    }
    assert select(graph, "state:new", state=state).roots == {"model.shop.dim_new"}
    assert select(graph, "state:modified", state=state).roots == {
        FCT,
        "model.shop.dim_accounts",
        "model.shop.dim_new",
    }
    assert select(graph, "state:modified.relation", state=state).roots == {"model.shop.dim_new"}


def test_state_descriptions_count_only_when_persisted(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["nodes"][FCT]["description"] = "Edited."
        data["nodes"]["model.shop.dim_accounts"]["description"] = "Edited."
        data["nodes"]["model.shop.dim_accounts"]["config"]["persist_docs"] = {"relation": True}

    graph, state = state_pair(tmp_path, change)
    # fct_orders does not persist docs: dbt does not call its description change a change
    assert select(graph, "state:modified", state=state).roots == {"model.shop.dim_accounts"}
    assert select(graph, "state:modified.persisted_descriptions", state=state).roots == {
        "model.shop.dim_accounts"
    }


def test_state_macro_changes_reach_the_models_that_call_them(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        macro = data["macros"]["macro.shop.cents_to_amount"]
        macro["macro_sql"] = macro["macro_sql"].replace("100", "100.0")

    graph, state = state_pair(tmp_path, change)
    callers = {
        u
        for u, raw in shop_manifest()["nodes"].items()
        if "macro.shop.cents_to_amount" in raw.get("depends_on", {}).get("macros", [])
    }
    assert callers, "the example calls cents_to_amount"
    assert select(graph, "state:modified.macros", state=state).roots == callers
    assert select(graph, "state:modified", state=state).roots == callers
    assert select(graph, "state:modified.body", state=state).roots == frozenset()


def test_state_sources_and_exposures(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        source = next(iter(data["sources"].values()))
        source["loaded_at_field"] = "_loaded"
        exposure = next(iter(data["exposures"].values()))
        exposure["tags"] = ["bi"]  # metadata: not a change for dbt

    graph, state = state_pair(tmp_path, change)
    source_id = next(iter(shop_manifest()["sources"]))
    assert select(graph, "state:modified", state=state).roots == {source_id}


# --- through the CLI: scope and impact ------------------------------------------------


def decp(run_decp, shop: Path, *args: str):
    return run_decp(
        *args,
        "--manifest",
        "target/manifest.json",
        "--budget",
        "3000",
        cwd=shop,
        env={"DECP_CACHE_DIR": str(shop.parent / "cache")},
    )


def test_scope_warns_about_a_stale_manifest(run_decp, shop: Path) -> None:
    fresh = decp(run_decp, shop, "dbt", "scope", "-s", "fct_orders")
    assert fresh.returncode == 0, fresh.stderr
    assert "warning" not in fresh.stderr
    edit(shop / "models/marts/core/fct_orders.sql", "select", "select -- v2\n")
    stale = decp(run_decp, shop, "dbt", "scope", "-s", "fct_orders")
    assert stale.returncode == 0, stale.stderr
    assert (
        "decp: warning: target/manifest.json is stale: 1 project file differs from its "
        "checksums (1 changed): models/marts/core/fct_orders.sql. Run `dbt parse` to refresh it."
    ) in stale.stderr.splitlines()


def test_scope_state_modified_plus(run_decp, shop: Path) -> None:
    edit(shop / "models/marts/core/fct_orders.sql", "select", "select -- v2\n")
    result = decp(run_decp, shop, "dbt", "scope", "-s", "state:modified+", "--level", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# dbt scope `state:modified+`")
    assert "= 9 nodes (100%)" in result.stderr


def test_impact_modify_a_model(run_decp, shop: Path) -> None:
    edit(shop / "models/marts/core/fct_orders.sql", "select", "select -- v2\n")
    result = decp(run_decp, shop, "dbt", "impact")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "# dbt impact: 1 changed, 7 downstream, 1 exposures",
        "",
        "Compared: the working tree against the manifest's checksums. "
        "Selection: `state:modified+`.",
        "",
        "- Changed: `fct_orders` (models/marts/core/fct_orders.sql)",
    ]
    tail = result.stdout.split("## Exposures reached", 1)[1]
    assert tail.strip().splitlines()[0] == (
        "- `finance_revenue_dashboard` (dashboard) <- `fct_daily_revenue`, "
        "`finance__monthly_margin`, `fct_refunds`"
    )
    assert "decp: dbt impact: " in result.stderr and "of 3,000 tokens" in result.stderr
    from decp.core.tokens import get_counter

    tokens = int(result.stderr.split("decp: dbt impact: ")[1].split(" of ")[0].replace(",", ""))
    assert tokens == get_counter("o200k_base").count(result.stdout) <= 3000


def test_impact_add_a_model_and_touch_yaml_since_main(run_decp, shop: Path) -> None:
    git(shop, "checkout", "-q", "-b", "feature")
    (shop / "models/marts/core/fct_order_lines.sql").write_text("select 1\n", encoding="utf-8")
    edit(shop / "models/marts/finance/_finance__models.yml", "description:", "description: E.")
    result = decp(run_decp, shop, "dbt", "impact", "--changed-since", "main", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "decp-dbt-impact/1"
    assert data["compared"].startswith("git diff main (")
    assert data["new_files"] == ["models/marts/core/fct_order_lines.sql"]
    changed = {c["name"] for c in data["changed"]}
    assert {"fct_daily_revenue", "fct_refunds", "finance__monthly_margin"} <= changed
    assert [e["name"] for e in data["exposures"]] == ["finance_revenue_dashboard"]
    assert data["pack"]["select"] == "state:modified+"


def test_expand_commands_repeat_the_comparison_flags() -> None:
    from decp.dbt.impact import FlaggedCommands

    commands = FlaggedCommands("state:modified+", None, "m.json", 2000, ("--changed-since", "main"))
    assert commands.expand(["fqn:shop.marts.*"], []) == (
        "decp dbt scope --select 'state:modified+,fqn:shop.marts.*' --manifest 'm.json' "
        "--budget 2000 --changed-since 'main'"
    )


def test_impact_with_nothing_changed(run_decp, shop: Path) -> None:
    result = decp(run_decp, shop, "dbt", "impact")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "# dbt impact: nothing changed\n\n"
        "Compared: the working tree against the manifest's checksums. Selection: "
        "`state:modified+` matched no model, seed or snapshot.\n"
    )


def test_impact_refuses_a_ref_that_looks_like_an_option(run_decp, shop: Path) -> None:
    victim = shop / "victim.txt"
    victim.write_text("data\n", encoding="utf-8")
    result = decp(run_decp, shop, "dbt", "impact", f"--changed-since=--output={victim}")
    assert result.returncode == 2
    assert "is not a git revision" in result.stderr
    assert victim.read_text(encoding="utf-8") == "data\n"


def test_scope_with_state_dir_through_the_cli(run_decp, shop: Path) -> None:
    prod = shop.parent / "prod-artifacts"
    prod.mkdir()
    shutil.copy(shop / "target" / "manifest.json", prod / "manifest.json")
    data = json.loads((shop / "target" / "manifest.json").read_text(encoding="utf-8"))
    data["nodes"]["model.shop.dim_products"]["raw_code"] += "\n-- v2"
    write(shop / "target" / "manifest.json", data)
    result = decp(
        run_decp,
        shop,
        "dbt",
        "scope",
        "-s",
        "state:modified+",
        "--state",
        str(prod),
        "--level",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert "focal: dim_products" in result.stdout
    missing = decp(run_decp, shop, "dbt", "scope", "-s", "state:new", "--state", str(shop / "x"))
    assert missing.returncode == 1
    assert "--state folder not found" in missing.stderr and "Traceback" not in missing.stderr
    both = decp(run_decp, shop, "dbt", "impact", "--state", str(prod), "--changed-since", "main")
    assert both.returncode == 2 and "pass one" in both.stderr


# --- decp's state: against dbt-core's own, on the example project ----------------------

DBT_STATE_SCRIPT = r"""
import json, sys
from dbt.cli.main import dbtRunner

project, state, selectors = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
common = ["--project-dir", project, "--profiles-dir", project, "--quiet"]
parsed = dbtRunner().invoke(["parse", *common])
if not parsed.success:
    sys.exit(f"dbt parse failed: {parsed.exception}")
out = {}
if state != "-":
    runner = dbtRunner(manifest=parsed.result)
    for text in selectors:
        res = runner.invoke(["ls", *common, "-s", text, "--state", state,
                             "--indirect-selection", "empty",
                             "--output", "json", "--output-keys", "unique_id"])
        out[text] = sorted(json.loads(line)["unique_id"] for line in (res.result or []))
print(json.dumps(out))
"""
STATE_COMPARED = [
    "state:modified", "state:modified.body", "state:modified.configs", "state:modified.macros",
    "state:modified.relation", "state:modified.persisted_descriptions", "state:new",
    "state:modified+",
]  # fmt: skip


def test_state_matches_dbt_core_on_the_example_project(tmp_path: Path) -> None:
    """Parse, edit like a branch would, parse again: decp's --state answers equal `dbt ls`."""
    from test_dbt_select import dbt_python

    python = dbt_python()
    if python is None:
        pytest.skip(
            "dbt-core is not importable: pip install 'dbt-core~=1.11.0' dbt-duckdb "
            "(or point DECP_DBT_PYTHON at a Python that has them)"
        )
    project = tmp_path / "shop"
    shutil.copytree(EXAMPLE, project)
    (project / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n",
        encoding="utf-8",
    )

    def run(state: str) -> dict[str, list[str]]:
        proc = subprocess.run(
            [python, "-c", DBT_STATE_SCRIPT, str(project), state, json.dumps(STATE_COMPARED)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=project,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    run("-")
    prod = tmp_path / "prod"
    prod.mkdir()
    shutil.copy(project / "target" / "manifest.json", prod / "manifest.json")
    edit(project / "models/marts/core/fct_orders.sql", "select", "select -- v2\n")
    edit(project / "models/marts/core/_core__models.yml", "One row per order", "One row per ORDER")
    refunds = project / "models/marts/finance/fct_refunds.sql"
    refunds.write_text(
        "{{ config(materialized='view') }}\n" + refunds.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    edit(project / "macros/cents_to_amount.sql", "/ 100", "/ 100.0")
    edit(project / "seeds/fx_rates.csv", "USD,1.000000", "USD,1.0")
    (project / "models/marts/core/fct_order_lines.sql").write_text(
        "select * from {{ ref('int_order_lines__priced') }}\n", encoding="utf-8"
    )
    expected = run(str(prod))
    current = project / "target" / "manifest.json"
    graph = load_graph(current, None)[0]
    state = ManifestState(manifest_digests(current), manifest_digests(prod / "manifest.json"))
    differ = {}
    for text in STATE_COMPARED:
        ours = sorted(select(graph, text, state=state).uids)
        theirs = [u for u in expected[text] if u in graph.nodes]
        if ours != theirs:
            differ[text] = (sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours)))
    assert differ == {}
    assert len(expected["state:modified"]) >= 4 and expected["state:new"]


def test_untrusted_state_manifest_shapes_degrade_not_crash(tmp_path: Path) -> None:
    data = shop_manifest()
    data["macros"]["macro.shop.cents_to_amount"]["depends_on"] = {"macros": [["odd"], 3]}
    data["nodes"][FCT]["depends_on"]["macros"] = "not a list"
    data["nodes"]["model.shop.dim_accounts"]["unrendered_config"] = ["not", "a", "dict"]
    odd = write(tmp_path / "odd" / "manifest.json", data)
    good = write(tmp_path / "good" / "manifest.json", shop_manifest())
    graph = load_graph(good, None)[0]
    state = ManifestState(manifest_digests(good), manifest_digests(odd))
    assert "model.shop.dim_accounts" in select(graph, "state:modified.configs", state=state).uids
    listed = write(tmp_path / "list" / "manifest.json", [])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="not a dbt manifest"):
        manifest_digests(listed)


def test_a_corrupt_hash_cache_is_rebuilt(shop: Path, tmp_path: Path) -> None:
    import marshal

    cache = tmp_path / "cache"
    cache.mkdir()
    key = str(shop / "models/marts/core/fct_orders.sql")
    (cache / "file-hashes.marshal").write_bytes(marshal.dumps((1, {key: ("x", None)})))
    assert tree_changes(graph_of(shop), shop, None, cache).modified == ()
    (cache / "file-hashes.marshal").write_bytes(b"\x00garbage")
    assert tree_changes(graph_of(shop), shop, None, cache).modified == ()


def test_impact_json_with_nothing_changed_lists_new_files(run_decp, shop: Path) -> None:
    (shop / "models/marts/core/fct_order_lines.sql").write_text("select 1\n", encoding="utf-8")
    result = decp(run_decp, shop, "dbt", "impact", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "schema": "decp-dbt-impact/1",
        "select": "state:modified+",
        "compared": "the working tree against the manifest's checksums",
        "changed": [],
        "new_files": ["models/marts/core/fct_order_lines.sql"],
        "exposures": [],
        "pack": None,
    }

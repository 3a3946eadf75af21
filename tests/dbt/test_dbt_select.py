"""Selection follows dbt's syntax and matching rules (dbt-core 1.11 selector methods)."""

from __future__ import annotations

import pytest
import test_dbt_support as support
from test_dbt_support import TUVA_SELECTIONS

from decp.core.errors import UsageError
from decp.dbt.graph import Graph
from decp.dbt.select import fqn_matches, parse_criterion, select

# Fixtures shared with the other dbt test modules.
dbt_cache, tuva_path, jaffle_path = support.dbt_cache, support.tuva_path, support.jaffle_path
tuva, jaffle, small = support.tuva, support.jaffle, support.small


def lineage_names(graph: Graph, text: str, exclude: str | None = None) -> set[str]:
    """Lineage as short names; sources as `source:raw.table` so they never collide."""
    sel = select(graph, text, exclude)
    out = set()
    for uid in sel.lineage(graph):
        node = graph.nodes[uid]
        out.add(f"source:{node.source_name}.{node.name}" if node.kind == "source" else node.name)
    return out


def edges_within(graph: Graph, uids: list[str]) -> int:
    inside = set(uids)
    return sum(1 for u in uids for p in graph.nodes[u].parents if p in inside)


# --- the real manifests: reference figures -------------------------------------------


@pytest.mark.parametrize("text", sorted(TUVA_SELECTIONS))
def test_tuva_reference_lineages_match_the_fixture_readme(tuva: Graph, text: str) -> None:
    nodes, edges = TUVA_SELECTIONS[text]
    lineage = select(tuva, text).lineage(tuva)
    assert (len(lineage), edges_within(tuva, lineage)) == (nodes, edges)


def test_jaffle_stg_orders_lineage(jaffle: Graph) -> None:
    lineage = select(jaffle, "+stg_orders+").lineage(jaffle)
    assert (len(lineage), edges_within(jaffle, lineage)) == (5, 5)


def test_a_name_matches_the_fqn_from_the_start_not_any_segment(tuva: Graph) -> None:
    """`provider_attribution` is a model in integration_tests AND a folder in the_tuva_project.

    dbt matches the value against the fqn leaf and against the fqn prefix (with
    or without the package), so only the model is a root. Matching any fqn
    segment (dbt-mp 0.3.0) also picks the 20 nodes of the folder: 21 roots.
    """
    roots = select(tuva, "provider_attribution").roots
    assert roots == {"model.integration_tests.provider_attribution"}
    any_segment = {
        uid
        for uid, n in tuva.nodes.items()
        if n.kind != "source"
        and (n.name == "provider_attribution" or "provider_attribution" in n.fqn)
    }
    assert len(any_segment) == 21 and roots < any_segment


def test_a_dotted_value_selects_a_folder_with_or_without_the_package(tuva: Graph) -> None:
    scoped = select(tuva, "the_tuva_project.data_marts.provider_attribution").roots
    unscoped = select(tuva, "data_marts.provider_attribution").roots
    assert scoped == unscoped
    assert len(scoped) == 20
    assert all(tuva.nodes[u].fqn[1:3] == ("data_marts", "provider_attribution") for u in scoped)


def test_bare_name_index_agrees_with_the_rule(tuva: Graph) -> None:
    """The O(1) name index must select exactly what the rule selects (every 50th name)."""
    names = {n.name for n in tuva.nodes.values()} | {
        n.fqn[1] for n in tuva.nodes.values() if len(n.fqn) > 1
    }
    for name in [*sorted(names)[::50], "provider_attribution", "the_tuva_project", "core"]:
        scanned = {
            u
            for u, n in tuva.nodes.items()
            if n.kind != "source" and fqn_matches(n.fqn, name, n.versioned)
        }
        assert tuva.bare_name_matches(name) == scanned, name


# --- operators and methods on a small real file ---------------------------------------


UPSTREAM_OF_ORDERS = {"int_orders", "stg_orders", "helpers", "source:raw.orders"}


def test_operators(small: Graph) -> None:
    assert lineage_names(small, "orders") == {"orders"}
    assert lineage_names(small, "+orders") == {"orders"} | UPSTREAM_OF_ORDERS
    assert lineage_names(small, "1+orders") == {"orders", "int_orders"}
    assert lineage_names(small, "2+orders") == {"orders", "int_orders", "stg_orders", "helpers"}
    assert lineage_names(small, "orders+") == {"orders", "order_items", "revenue"}
    assert lineage_names(small, "stg_orders+1") == {"stg_orders", "int_orders"}
    assert lineage_names(small, "1+int_orders+1") == {
        "int_orders",
        "stg_orders",
        "helpers",
        "orders",
        "customers",
    }


def test_at_operator_adds_parents_of_descendants_even_through_tests(small: Graph) -> None:
    """dbt walks test nodes too: the relationships test on orders also depends on customers."""
    plus = lineage_names(small, "+orders+")
    at = lineage_names(small, "@orders")
    assert plus == {"orders", "order_items", "revenue"} | UPSTREAM_OF_ORDERS
    assert at - plus == {"customers", "stg_customers", "country_codes", "source:raw.customers"}


def test_a_name_does_not_match_a_folder_of_the_same_name(small: Graph) -> None:
    """`orders` is a model and a folder (marts/orders/order_items): only the model is selected."""
    assert select(small, "orders").roots == {"model.shop.orders"}
    assert {small.nodes[u].name for u in select(small, "marts.orders").roots} == {
        "orders",
        "order_items",
    }


def test_union_intersection_and_exclude(small: Graph) -> None:
    assert lineage_names(small, "stg_orders stg_customers") == {"stg_orders", "stg_customers"}
    assert lineage_names(small, "+orders,tag:nightly") == {"stg_orders"}
    assert lineage_names(small, "+orders", exclude="package:util int_orders") == {
        "orders",
        "stg_orders",
        "source:raw.orders",
    }
    assert select(small, "+orders", "orders").roots == frozenset()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag:nightly", {"stg_orders"}),
        ("tag:fin*", {"orders"}),
        ("path:models/marts", {"orders", "customers", "order_items"}),
        ("models/marts/orders", {"order_items"}),
        ("path:models/staging/stg_orders.sql", {"stg_orders"}),
        ("file:stg_orders.sql", {"stg_orders"}),
        ("stg_orders.sql", {"stg_orders"}),
        ("package:util", {"helpers"}),
        ("resource_type:seed", {"country_codes"}),
        ("resource_type:exposure", {"revenue"}),
        ("source:raw.customers", {"customers"}),
        ("source:raw", {"orders", "customers"}),
        ("exposure:revenue", {"revenue"}),
        ("config.materialized:ephemeral", {"int_orders"}),
        ("fqn:shop.marts.*", {"orders", "customers", "order_items"}),
        ("shop.staging.stg_*", {"stg_orders", "stg_customers"}),
        ("stg_*", set()),  # dbt: a wildcard matches the fqn from the package on, not the name
        ("*orders", {"stg_orders", "int_orders", "orders"}),
        ("marts.*", {"orders", "customers", "order_items"}),
    ],
)
def test_methods(small: Graph, text: str, expected: set[str]) -> None:
    sel = select(small, text)
    assert {small.nodes[u].name for u in sel.roots} == expected
    assert {small.nodes[u].name for u in sel.uids} >= expected


def test_test_methods_select_tests_and_their_lineage_is_empty(small: Graph) -> None:
    sel = select(small, "test_name:unique")
    assert {small.nodes[u].kind for u in sel.uids} == {"test"}
    assert sel.lineage(small) == []
    assert lineage_names(small, "+test_type:generic") >= {"orders", "customers"}


def test_sources_are_not_selected_by_bare_name(small: Graph) -> None:
    assert "source.shop.raw.customers" not in select(small, "customers").uids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tagg:x", "unknown selector method 'tagg'"),
        ("@orders+", "'@' prefix with a '+' suffix"),
        ("state:modified", "needs something to compare with"),
        ("result:error", "not supported offline"),
        ("config.schema:x", "not supported offline"),
        ("+", "no name or method value"),
        ("a,,b", "empty part around a comma"),
        ("   ", "empty selection"),
        ("resource_type:table", "invalid resource_type"),
        ("test_type:weird", "invalid test_type"),
        ("source:a.b.c.d", "invalid source selector"),
    ],
)
def test_bad_selectors_are_usage_errors(small: Graph, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("+", r"\+")) as info:
        select(small, text)
    assert info.value.exit_code == 2
    assert info.value.fix


def test_parse_criterion_depths() -> None:
    crit = parse_criterion("3+tag:nightly+2")
    assert (crit.method, crit.value, crit.parents_depth, crit.children_depth) == (
        "tag",
        "nightly",
        3,
        2,
    )
    assert parse_criterion("@x").childrens_parents


# --- decp's selection against dbt-core's own, on the example project -----------------

DBT_LS_SCRIPT = r"""
import json, sys
from dbt.cli.main import dbtRunner

project, selectors = sys.argv[1], json.loads(sys.argv[2])
common = ["--project-dir", project, "--profiles-dir", project, "--quiet"]
parsed = dbtRunner().invoke(["parse", *common])
if not parsed.success:
    sys.exit(f"dbt parse failed: {parsed.exception}")
runner = dbtRunner(manifest=parsed.result)
out = {}
for text in selectors:
    res = runner.invoke(
        ["ls", *common, "-s", *text.split(), "--indirect-selection", "empty",
         "--output", "json", "--output-keys", "unique_id"]
    )
    out[text] = sorted(json.loads(line)["unique_id"] for line in (res.result or []))
print(json.dumps(out))
"""
DBT_COMPARED = [
    "ord*", "stg_?rders", "*orders", "*s", "stg_*", "staging", "staging.*", "staging.stg_*",
    "marts.*", "shop.marts.core.*", "shop.marts.c?re.*", "shop.marts.[cf]*.*", "fct_orders",
    "fct_order", "+fct_orders+", "@int_orders__payments", "2+fct_refunds+1", "tag:finance",
    "tag:fin*", "path:models/staging", "path:models/stagin", "path:models/staging/",
    "path:models/**/fct_*.sql", "path:models/*/core", "models/marts/finance",
    "file:fct_orders.sql", "fct_orders.sql", "file:fct_orders", "package:shop", "package:this",
    "source:storefront", "source:storefront.orders", "source:shop.*.o*",
    "exposure:finance_revenue_dashboard", "exposure:shop.finance_*", "resource_type:seed",
    "resource_type:exposure", "test_name:unique", "test_name:not_null", "test_type:singular",
    "test_type:generic", "test_type:data", "config.materialized:incremental",
    "config.materialized:ephemeral", "access:protected", "access:public", "group:*",
    "fct_orders,tag:daily", "+fct_orders,tag:staging", "marts.* staging.stg_billing__charges",
]  # fmt: skip


def dbt_python() -> str | None:
    """A Python with dbt-core: this one when dbt imports here, else $DECP_DBT_PYTHON."""
    import importlib.util
    import os
    import sys

    if importlib.util.find_spec("dbt") and importlib.util.find_spec("dbt.cli"):
        return sys.executable
    return os.environ.get("DECP_DBT_PYTHON") or None


def test_selection_matches_dbt_core_on_the_example_project(tmp_path) -> None:
    """Every selector in DBT_COMPARED selects exactly the unique ids `dbt ls` lists."""
    import json
    import shutil
    import subprocess

    from conftest import REPO_ROOT

    from decp.dbt.cache import load_graph

    python = dbt_python()
    if python is None:
        pytest.skip(
            "dbt-core is not importable: pip install 'dbt-core~=1.11.0' dbt-duckdb "
            "(or point DECP_DBT_PYTHON at a Python that has them)"
        )
    project = tmp_path / "shop"
    shutil.copytree(REPO_ROOT / "examples" / "shop", project)
    (project / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [python, "-c", DBT_LS_SCRIPT, str(project), json.dumps(DBT_COMPARED)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = json.loads(proc.stdout.strip().splitlines()[-1])
    graph = load_graph(project / "target" / "manifest.json", None)[0]
    differ = {}
    for text in DBT_COMPARED:
        ours = sorted(u for u in select(graph, text).uids)
        theirs = [u for u in expected[text] if u in graph.nodes]  # decp reads no unit tests
        if ours != theirs:
            differ[text] = (sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours)))
    assert differ == {}
    assert sum(1 for t in DBT_COMPARED if expected[t]) >= 35  # most cases select something

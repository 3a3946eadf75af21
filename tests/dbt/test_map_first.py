"""`--level auto` is map first: every node named when the map fits, details with the rest.

Real manifests: tuva and jaffle_shop from the shared fixtures (skipped visibly
without $DECP_SHARED_FIXTURES), the committed example manifests, and a small
written manifest for what no fixture holds (analyses next to marts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_dbt_support as support
from test_dbt_pack import check, example, make_pack
from test_dbt_support import model, source, write_manifest

from decp.core.config import defaults, load_config
from decp.core.errors import DataError
from decp.dbt import analysis as analysis_module
from decp.dbt.analysis import ENDPOINT_KINDS, analyse
from decp.dbt.cache import load_graph
from decp.dbt.graph import Graph
from decp.dbt.pack import MAP_SHARE, map_share_from
from decp.dbt.select import select

dbt_cache, tuva_path, jaffle_path = support.dbt_cache, support.tuva_path, support.jaffle_path
tuva, jaffle = support.tuva, support.jaffle


# --- every node named when the level-0 map fits in the map share ----------------------


def test_tuva_map_within_sixty_percent_is_fully_named(tuva: Graph) -> None:
    pack = make_pack(tuva, "+core__condition+", 10_000)
    check(pack, tuva, 10_000)
    assert pack.level_costs[0] <= MAP_SHARE * 10_000  # the premise: the map fits in 60%
    assert len(pack.named) == 153 and not pack.groups
    assert "- accounting: 153 named + 0 collapsed in 0 groups = 153 of 153 (100%)" in pack.text
    assert pack.level == 2 and pack.details[0] == "model.the_tuva_project.core__condition"


def test_tuva_map_over_the_share_names_by_priority(tuva: Graph) -> None:
    """Near miss: the same selection with a 30% map share cannot name all 153 nodes."""
    pack = make_pack(tuva, "+core__condition+", 10_000, map_share=0.3)
    check(pack, tuva, 10_000)
    assert 14 <= len(pack.named) < 153 and pack.groups
    assert pack.details  # the rest of the budget went to details


def test_tuva_at_4000_names_far_more_than_the_core(tuva: Graph) -> None:
    """The issue's case: 17 of 153 named before; the map now gets 60% of the budget."""
    pack = make_pack(tuva, "+core__condition+", 4000)
    check(pack, tuva, 4000)
    assert len(pack.named) >= 40
    assert pack.level >= 1 and pack.details[0] == "model.the_tuva_project.core__condition"


def test_jaffle_small_budget_names_everything_before_details(jaffle: Graph) -> None:
    pack = make_pack(jaffle, "+customers+", 1000)
    check(pack, jaffle, 1000)
    a = pack.analysis
    assert len(pack.named) == len(a.lineage) and not pack.groups
    sources = [u for u in a.lineage if a.node(u).kind == "source"]
    assert sources and set(sources) <= pack.named_set
    assert pack.level >= 1 and pack.details


def test_explicit_level_still_spends_on_details_first(tuva: Graph) -> None:
    auto = make_pack(tuva, "+core__condition+", 4000)
    l2 = make_pack(tuva, "+core__condition+", 4000, level="2")
    assert len(l2.named) < len(auto.named)
    assert len(l2.details) >= len(auto.details)


# --- sources and exposures before intermediate nodes -----------------------------------


def _endpoints_follow_the_core(graph: Graph, text: str) -> list[str]:
    a = analyse(graph, select(graph, text, None))
    rank = {u: i for i, u in enumerate(a.order)}
    endpoints = [u for u in a.order[len(a.core) :] if a.node(u).kind in ENDPOINT_KINDS]
    middle = [u for u in a.order[len(a.core) :] if a.node(u).kind not in ENDPOINT_KINDS]
    if endpoints and middle:
        assert max(rank[u] for u in endpoints) < min(rank[u] for u in middle)
    return endpoints


def test_jaffle_sources_rank_before_intermediate_nodes(jaffle: Graph) -> None:
    assert _endpoints_follow_the_core(jaffle, "+customers+")
    assert _endpoints_follow_the_core(jaffle, "+orders+")


def test_shop_sources_and_exposures_named_while_models_collapse() -> None:
    graph = load_graph(example("shop_260.manifest.json.gz"), None)[0]
    endpoints = _endpoints_follow_the_core(graph, "+fct_orders+")
    assert {graph.nodes[u].kind for u in endpoints} == {"source", "exposure"}
    pack = make_pack(graph, "+fct_orders+", 3000)
    check(pack, graph, 3000)
    a = pack.analysis
    wanted = [u for u in a.lineage if a.node(u).kind in ENDPOINT_KINDS]
    assert len(wanted) == 12 and set(wanted) <= pack.named_set
    collapsed = {u for g in pack.groups for u in g.members}
    assert any(a.node(u).kind == "model" and a.distance[u] == 2 for u in collapsed)
    assert "- finance/finance_revenue_dashboard (exposure dashboard) <- " in pack.text


def test_source_and_exposure_cap(jaffle: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the cap, sources go back to plain distance order."""
    monkeypatch.setattr(analysis_module, "SOURCE_EXPOSURE_CAP", 1)
    a = analyse(jaffle, select(jaffle, "+customers+", None))
    far = a.order[len(a.core) :]
    first_sources = [u for u in far if a.node(u).kind == "source"]
    assert a.node(far[0]).kind == "source"
    if len(first_sources) > 1 and len(far) > len(first_sources):
        assert a.node(far[1]).kind != "source" or a.distance[far[1]] <= a.distance[far[0]]


# --- detail order: focal, neighbouring marts and exposures, the rest, analyses last ----


def _analysis_project(tmp_path: Path) -> Path:
    """orders (focal) with six children: an analysis that is the best connected of them,
    a marts model, a reporting model, a plain model, an exposure, and a deeper analysis."""
    p = "shop"
    nodes: dict[str, Any] = {}

    def add(node: dict[str, Any]) -> None:
        nodes[node["unique_id"]] = node

    big_sql = "select\n" + ",\n".join(f"  o.col_{i}" for i in range(120)) + "\nfrom orders o"
    add(model(p, ["staging"], "stg_orders", ["source.shop.raw.orders"]))
    add(model(p, ["core"], "orders", ["model.shop.stg_orders"], materialized="table"))
    add(model(p, ["marts"], "fct_revenue", ["model.shop.orders"], materialized="table"))
    add(model(p, ["reporting"], "rpt_weekly", ["model.shop.orders"]))
    add(model(p, ["core"], "orders_enriched", ["model.shop.orders"]))
    oneoff = model(
        p, [], "oneoff_orders", ["model.shop.orders", "model.shop.stg_orders"], sql=big_sql
    )
    oneoff.update(
        resource_type="analysis",
        unique_id="analysis.shop.oneoff_orders",
        fqn=[p, "analysis", "oneoff_orders"],
        original_file_path="analyses/oneoff_orders.sql",
        path="oneoff_orders.sql",
    )
    add(oneoff)
    src = source(p, "raw", "orders")
    exposure = {
        "name": "ops_dashboard",
        "resource_type": "exposure",
        "package_name": p,
        "type": "dashboard",
        "original_file_path": "models/exposures.yml",
        "unique_id": "exposure.shop.ops_dashboard",
        "fqn": [p, "ops_dashboard"],
        "depends_on": {"macros": [], "nodes": ["model.shop.orders"]},
        "description": "Ops.",
        "tags": [],
    }
    data = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "nodes": nodes,
        "sources": {src["unique_id"]: src},
        "exposures": {exposure["unique_id"]: exposure},
    }
    return write_manifest(tmp_path / "manifest.json", data)


def test_analyses_rank_last_in_details(tmp_path: Path) -> None:
    graph = load_graph(_analysis_project(tmp_path), None)[0]
    a = analyse(graph, select(graph, "orders+ +orders", None))
    names = [a.names[u] for u in a.detail_order]
    assert names[0] == "orders"
    assert names[-1] == "oneoff_orders"
    assert set(names[1:4]) == {"fct_revenue", "rpt_weekly", "ops_dashboard"}
    assert set(names[4:-1]) == {"orders_enriched", "stg_orders"}
    # in naming order the analysis (best connected) still comes before the plain model
    assert a.order.index("analysis.shop.oneoff_orders") < a.order.index(
        "model.shop.orders_enriched"
    )


def test_analysis_sql_is_the_detail_left_out(tmp_path: Path) -> None:
    graph = load_graph(_analysis_project(tmp_path), None)[0]
    pack = make_pack(graph, "orders+ +orders", 1200, level="2")
    check(pack, graph, 1200)
    assert "analysis.shop.oneoff_orders" in pack.omitted
    assert "model.shop.fct_revenue" in pack.details


def test_relation_name_in_details() -> None:
    graph = load_graph(example("shop.manifest.json.gz"), None)[0]
    pack = make_pack(graph, "+fct_orders+", 4000)
    assert pack.details
    assert (
        'model `models/marts/core/fct_orders.sql`, relation `"memory"."main"."fct_orders"`'
        in pack.text
    )


# --- [dbt] map_share from decp.toml ---------------------------------------------------


def _stamp(tmp_path: Path, dbt_table: str) -> Path:
    (tmp_path / ".project").mkdir()
    (tmp_path / ".project" / "decp.toml").write_text(
        f'[project]\nname = "x"\n\n[dbt]\n{dbt_table}\n', encoding="utf-8"
    )
    return tmp_path


def test_map_share_read_from_decp_toml(tmp_path: Path) -> None:
    config = load_config(_stamp(tmp_path, "map_share = 0.45"))
    assert map_share_from(config) == 0.45
    assert map_share_from(None) == MAP_SHARE


def test_map_share_default_when_absent(tmp_path: Path) -> None:
    config = load_config(_stamp(tmp_path, 'manifest = "target/manifest.json"'))
    assert map_share_from(config) == defaults()["dbt_map_share"] == MAP_SHARE


@pytest.mark.parametrize("value", ["0", "1.5", '"half"', "true"])
def test_map_share_out_of_range_is_a_one_line_error(tmp_path: Path, value: str) -> None:
    """Checked once, when decp.toml is read, like every other number in it."""
    with pytest.raises(DataError) as info:
        load_config(_stamp(tmp_path, f"map_share = {value}"))
    message = str(info.value)
    assert "decp.toml" in message and "dbt.map_share must be " in message
    assert info.value.fix == "set `map_share = 0.6` under [dbt]."

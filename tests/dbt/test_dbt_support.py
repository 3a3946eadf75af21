"""Shared helpers for the dbt scope tests: manifest writers and cached real graphs.

Synthetic manifests are written as real files (plain or gzip JSON) with the
shape dbt gives them, so the reader is exercised end to end. The real tuva and
jaffle_shop manifests come from ../shared/fixtures through `shared_fixtures`;
their graphs are parsed once per session into a temporary cache.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from decp.dbt.cache import load_graph
from decp.dbt.graph import Graph

TUVA_SELECTIONS = {
    # selection: (lineage nodes, edges) from ../shared/fixtures/README.md
    "+semantic_layer__dim_condition+": (59, 91),
    "+core__condition+": (153, 234),
    "+dialysis__encounter_grain+": (291, 619),
    "+data_quality__analytical_data_marts+": (547, 1395),
}
BENCH_TUVA = [s for s in TUVA_SELECTIONS if s != "+semantic_layer__dim_condition+"]


def model(
    package: str,
    folders: list[str],
    name: str,
    parents: list[str],
    *,
    materialized: str = "view",
    tags: list[str] | None = None,
    columns: dict[str, Any] | None = None,
    sql: str | None = None,
    kind: str = "model",
) -> dict[str, Any]:
    path = "/".join(["models", *folders, f"{name}.sql"])
    return {
        "name": name,
        "resource_type": kind,
        "package_name": package,
        "path": "/".join([*folders, f"{name}.sql"]),
        "original_file_path": path,
        "unique_id": f"{kind}.{package}.{name}",
        "fqn": [package, *folders, name],
        "config": {"materialized": materialized, "tags": tags or []},
        "tags": tags or [],
        "description": f"The {name} model.",
        "columns": columns if columns is not None else {},
        "depends_on": {"macros": [], "nodes": parents},
        "raw_code": sql if sql is not None else f"select * from {{{{ ref('{name}_up') }}}}",
        "compiled_code": sql if sql is not None else f"select 1 as id -- {name}",
        "patch_path": f"{package}://models/{'/'.join(folders)}/_schema.yml",
    }


def source(package: str, source_name: str, table: str) -> dict[str, Any]:
    return {
        "name": table,
        "resource_type": "source",
        "package_name": package,
        "source_name": source_name,
        "original_file_path": "models/staging/_sources.yml",
        "unique_id": f"source.{package}.{source_name}.{table}",
        "fqn": [package, "staging", source_name, table],
        "description": "",
        "columns": None,
        "tags": [],
    }


def generic_test(package: str, name: str, column: str, on: str, *extra: str) -> dict[str, Any]:
    return {
        "name": f"{name}_{on.split('.')[-1]}_{column}",
        "resource_type": "test",
        "package_name": package,
        "original_file_path": "models/_schema.yml",
        "unique_id": f"test.{package}.{name}_{on.split('.')[-1]}_{column}",
        "fqn": [package, f"{name}_{on.split('.')[-1]}_{column}"],
        "config": {"materialized": "test"},
        "tags": [],
        "columns": {},
        "test_metadata": {"name": name, "kwargs": {"column_name": column}},
        "column_name": column,
        "attached_node": on,
        "depends_on": {"macros": [], "nodes": [on, *extra]},
    }


def small_manifest(version: int = 12, *, maps: bool = True) -> dict[str, Any]:
    """A 10-node project with two packages, a source, a seed, tests and an exposure.

    raw.orders -> stg_orders -> int_orders -> orders -> finance.revenue
    raw.customers -> stg_customers -> customers (marts) <- int_orders
    seed country_codes -> stg_customers ; util.helpers (package util) -> int_orders
    A folder named `orders` holds `order_items` (to test "fqn from the start").
    """
    p = "shop"
    nodes = {}

    def add(node: dict[str, Any]) -> None:
        nodes[node["unique_id"]] = node

    add(model(p, ["staging"], "stg_orders", ["source.shop.raw.orders"], tags=["nightly"]))
    add(
        model(
            p,
            ["staging"],
            "stg_customers",
            ["source.shop.raw.customers", "seed.shop.country_codes"],
            columns={
                "customer_id": {"name": "customer_id", "data_type": None, "description": None}
            },
        )
    )
    add(
        model(
            p,
            ["intermediate"],
            "int_orders",
            ["model.shop.stg_orders", "model.util.helpers"],
            materialized="ephemeral",
        )
    )
    add(
        model(
            p,
            ["marts"],
            "orders",
            ["model.shop.int_orders"],
            materialized="table",
            tags=["finance"],
            columns={
                "order_id": {"name": "order_id", "data_type": "integer", "description": "Key."},
                "amount": {"name": "amount", "data_type": "numeric", "description": ""},
            },
            sql="select order_id, amount from int_orders",
        )
    )
    add(
        model(
            p,
            ["marts"],
            "customers",
            ["model.shop.stg_customers", "model.shop.int_orders"],
            materialized="table",
        )
    )
    add(model(p, ["marts", "orders"], "order_items", ["model.shop.orders"]))
    add(model("util", ["shared"], "helpers", [], materialized="view"))
    seed = model(p, [], "country_codes", [], materialized="seed", kind="seed")
    seed["original_file_path"] = "seeds/country_codes.csv"
    add(seed)
    add(generic_test(p, "unique", "order_id", "model.shop.orders"))
    add(generic_test(p, "not_null", "order_id", "model.shop.orders"))
    add(
        generic_test(p, "relationships", "customer_id", "model.shop.orders", "model.shop.customers")
    )
    sources = {
        s["unique_id"]: s for s in (source(p, "raw", "orders"), source(p, "raw", "customers"))
    }
    exposure = {
        "name": "revenue",
        "resource_type": "exposure",
        "package_name": p,
        "type": "dashboard",
        "original_file_path": "models/exposures.yml",
        "unique_id": "exposure.shop.revenue",
        "fqn": [p, "revenue"],
        "depends_on": {"macros": [], "nodes": ["model.shop.orders"]},
        "description": "Revenue dashboard.",
        "tags": [],
    }
    data: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": f"https://schemas.getdbt.com/dbt/manifest/v{version}.json",
            "dbt_version": {10: "1.6.0", 11: "1.7.0", 12: "1.9.0"}[version],
            "project_name": "shop",
        },
        "nodes": nodes,
        "sources": sources,
        "macros": {"macro.shop.x": {"macro_sql": "{% macro x() %}{% endmacro %}"}},
        "docs": {},
        "exposures": {exposure["unique_id"]: exposure},
        "metrics": {},
        "disabled": {},
    }
    if maps:
        data["parent_map"] = {}
        data["child_map"] = {}
    return data


def big_manifest(models: int, *, package: str = "big", areas: int = 12) -> dict[str, Any]:
    """A layered project of `models` models (staging/intermediate/marts per area)."""
    nodes: dict[str, Any] = {}
    sources = {}
    per_area = max(3, models // areas)
    made = 0
    for a in range(areas):
        area = f"area{a:02d}"
        src = source(package, f"raw{a:02d}", "events")
        sources[src["unique_id"]] = src
        previous = [src["unique_id"]]
        layer_names = ("staging", "intermediate", "marts")
        for i in range(per_area):
            if made >= models:
                break
            layer = layer_names[min(2, i * 3 // per_area)]
            name = f"{area}_{layer[:3]}_{i:03d}"
            parents = previous[-2:]
            if a and i % 7 == 3:
                parents = [*parents, f"model.{package}.area{a - 1:02d}_mar_{per_area - 1:03d}"]
            node = model(package, [area, layer], name, parents, materialized="table")
            nodes[node["unique_id"]] = node
            previous.append(node["unique_id"])
            made += 1
    # the last model of an area may not exist when models < areas*per_area: drop dangling refs
    for node in nodes.values():
        deps = node["depends_on"]["nodes"]
        node["depends_on"]["nodes"] = [d for d in deps if d in nodes or d in sources]
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "nodes": nodes,
        "sources": sources,
        "exposures": {},
    }


def write_manifest(path: Path, data: Any, *, gz: bool = False) -> Path:
    raw = json.dumps(data).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.fixture(scope="session")
def dbt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One graph cache for the whole session, so real manifests are parsed once."""
    return tmp_path_factory.mktemp("dbt-cache")


@pytest.fixture(scope="session")
def tuva_path(shared_fixtures: Path) -> Path:
    path = shared_fixtures / "manifests" / "tuva.manifest.json.gz"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="session")
def jaffle_path(shared_fixtures: Path) -> Path:
    path = shared_fixtures / "manifests" / "jaffle_shop.manifest.json.gz"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="session")
def tuva(tuva_path: Path, dbt_cache: Path) -> Graph:
    return load_graph(tuva_path, dbt_cache / "dbt")[0]


@pytest.fixture(scope="session")
def jaffle(jaffle_path: Path, dbt_cache: Path) -> Graph:
    return load_graph(jaffle_path, dbt_cache / "dbt")[0]


@pytest.fixture
def small(tmp_path: Path) -> Graph:
    path = write_manifest(tmp_path / "manifest.json", small_manifest())
    return load_graph(path, None)[0]

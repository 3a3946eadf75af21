"""catalog.json beside the manifest: real columns and types, and YAML drift flagged.

The catalog is written in each test from the example shop manifest's own
column names (as `dbt docs generate` would, upper-cased like Snowflake), with
one drift: `fct_orders.has_return` is `has_any_return` in the warehouse, and
the warehouse has one column nobody documented (`_loaded_at`).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dbt_pack import check, example, make_pack

from decp.core.errors import DataError
from decp.dbt import scope
from decp.dbt.cache import load_graph
from decp.dbt.catalog import Catalog, catalog_beside, column_view, load_catalog

FCT = "model.shop.fct_orders"


def _types(name: str) -> str:
    if name.endswith("_id"):
        return "BIGINT"
    if name.endswith("_usd"):
        return "DECIMAL(18,2)"
    if name.endswith("_at"):
        return "TIMESTAMP"
    return "VARCHAR"


def build_catalog(manifest: dict[str, Any]) -> dict[str, Any]:
    nodes = {}
    for uid, node in manifest["nodes"].items():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        names = list(node.get("columns") or {})
        if uid == FCT:
            names = [("has_any_return" if n == "has_return" else n) for n in names]
            names.append("_loaded_at")
        nodes[uid] = {
            "metadata": {"type": "BASE TABLE", "name": node["name"].upper()},
            "columns": {
                n.upper(): {"type": _types(n), "index": i, "name": n.upper(), "comment": None}
                for i, n in enumerate(names, 1)
            },
            "stats": {},
            "unique_id": uid,
        }
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"},
        "nodes": nodes,
        "sources": {},
        "errors": None,
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """target/manifest.json and target/catalog.json of the example shop."""
    target = tmp_path / "target"
    target.mkdir()
    raw = gzip.decompress(example("shop.manifest.json.gz").read_bytes())
    (target / "manifest.json").write_bytes(raw)
    catalog = build_catalog(json.loads(raw))
    (target / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    return target / "manifest.json"


def test_level_1_columns_come_from_the_catalog_with_drift_flagged(project: Path) -> None:
    result = scope("fct_orders", manifest=project, budget=4000, level="1", use_cache=False)
    text = result.text
    assert "columns (27, catalog.json):" in text
    assert "- ORDER_ID BIGINT: Identifier of a checkout in the storefront." in text
    assert "- HAS_ANY_RETURN VARCHAR\n" in text
    assert "- _LOADED_AT TIMESTAMP\n" in text
    assert "- documented in YAML, not in catalog.json: has_return\n" in text
    assert "- in catalog.json, not documented: HAS_ANY_RETURN, _LOADED_AT\n" in text
    assert result.pack.catalog is not None
    assert result.pack.catalog.path == project.with_name("catalog.json")


def test_without_drift_nothing_is_flagged(project: Path) -> None:
    result = scope("dim_accounts", manifest=project, budget=4000, level="1", use_cache=False)
    assert ", catalog.json):" in result.text
    assert "not in catalog.json" not in result.text and "not documented" not in result.text


def test_json_pack_carries_catalog_columns_and_drift(project: Path) -> None:
    result = scope(
        "fct_orders", manifest=project, budget=4000, level="1", fmt="json", use_cache=False
    )
    data = json.loads(result.text)
    assert data["catalog"] == str(project.with_name("catalog.json"))
    item = data["named"][0]
    assert item["columns_from"] == "catalog"
    assert item["columns"][0][:2] == ["ORDER_ID", "BIGINT"]
    assert item["column_drift"] == {
        "documented_not_in_catalog": ["has_return"],
        "in_catalog_not_documented": ["HAS_ANY_RETURN", "_LOADED_AT"],
    }


def test_no_catalog_keeps_the_yaml_columns(project: Path) -> None:
    """Near miss: the same manifest without catalog.json shows YAML columns, unflagged."""
    project.with_name("catalog.json").unlink()
    result = scope("fct_orders", manifest=project, budget=4000, level="1", use_cache=False)
    assert "columns (26):" in result.text
    assert "- has_return boolean: At least one unit of the order was returned." in result.text
    assert "catalog.json" not in result.text


def test_node_missing_from_the_catalog_says_so(project: Path) -> None:
    path = project.with_name("catalog.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["nodes"][FCT]
    path.write_text(json.dumps(data), encoding="utf-8")
    result = scope("fct_orders", manifest=project, budget=4000, level="1", use_cache=False)
    assert "columns (26, YAML; not in catalog.json):" in result.text


def test_catalog_packs_fit_and_account(project: Path) -> None:
    graph = load_graph(project, None)[0]
    for budget in (1000, 2000, 4000):
        pack = make_pack(
            graph, "+fct_orders+", budget, catalog=load_catalog(project.with_name("catalog.json"))
        )
        check(pack, graph, budget)


def test_corrupt_catalog_is_one_line_naming_the_file(project: Path) -> None:
    path = project.with_name("catalog.json")
    path.write_text('{"nodes": {\n  "x": [1,,]\n}}', encoding="utf-8")
    with pytest.raises(DataError) as info:
        catalog_beside(project)
    assert str(info.value).startswith(f"{path}:2: corrupt catalog JSON")
    assert "dbt docs generate" in (info.value.fix or "")


@pytest.mark.parametrize(
    "content, message",
    [
        ('["not", "a", "catalog"]', 'no "nodes" object'),
        (
            '{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},'
            ' "nodes": {}}',
            "is not a catalog",
        ),
    ],
)
def test_not_a_catalog(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_catalog(path)


def test_odd_entries_degrade_to_no_columns(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.a.x": {"columns": {"B": {"type": 3, "index": 2}, "A": "junk"}},
                    "model.a.y": {"columns": None},
                    "model.a.z": "junk",
                }
            }
        ),
        encoding="utf-8",
    )
    catalog = load_catalog(path)
    assert catalog.columns["model.a.x"] == (("B", ""), ("A", ""))
    assert catalog.columns["model.a.y"] == ()
    assert "model.a.z" not in catalog.columns


_names = st.lists(
    st.text("abcdefgh_", min_size=1, max_size=6), min_size=0, max_size=8, unique_by=str.lower
)


@settings(max_examples=80, deadline=None)
@given(documented=_names, real=_names)
def test_drift_is_exactly_the_two_set_differences(documented: list[str], real: list[str]) -> None:
    catalog = Catalog(Path("catalog.json"), {"m": tuple((n.upper(), "T") for n in real)})
    view = column_view(tuple((n, "", f"about {n}") for n in documented), catalog, "m")
    doc, wh = {n.lower() for n in documented}, {n.lower() for n in real}
    assert {n.lower() for n in view.missing} == doc - wh
    assert {n.lower() for n in view.undocumented} == wh - doc
    assert [c[0] for c in view.columns] == [n.upper() for n in real]  # warehouse order
    about = {n.lower(): f"about {n}" for n in documented}
    assert [c[2] for c in view.columns] == [about.get(n.lower(), "") for n in real]


def test_cli_reads_the_catalog_beside_the_manifest(project: Path, tmp_path: Path) -> None:
    decp = shutil.which("decp", path=str(Path(sys.executable).parent))
    assert decp
    env = {**os.environ, "DECP_ROOT": str(tmp_path)}
    args = ["--manifest", str(project), "--budget", "4000", "--level", "1"]  # unstamped: no ledger
    done = subprocess.run(
        [decp, "dbt", "scope", "-s", "fct_orders", *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "- documented in YAML, not in catalog.json: has_return\n" in done.stdout
    project.with_name("catalog.json").write_text("{", encoding="utf-8")
    broken = subprocess.run(
        [decp, "dbt", "scope", "-s", "fct_orders", *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert broken.returncode != 0 and "Traceback" not in broken.stderr
    assert "catalog.json:1: corrupt catalog JSON" in broken.stderr

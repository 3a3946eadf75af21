"""Reading manifests: defensive across v10-v12, one clear error for bad files, a correct cache."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import test_dbt_support as support
from test_dbt_support import small_manifest, write_manifest

from decp.core.errors import DataError
from decp.dbt.cache import CACHE_ENV, GRAPH_SUFFIX, cache_dir, load_graph
from decp.dbt.graph import derive_children
from decp.dbt.select import select

dbt_cache, tuva_path, jaffle_path = support.dbt_cache, support.tuva_path, support.jaffle_path
tuva = support.tuva


@pytest.mark.parametrize("version", [10, 11, 12])
@pytest.mark.parametrize("maps", [True, False])
def test_v10_to_v12_manifests_with_or_without_maps(
    tmp_path: Path, version: int, maps: bool
) -> None:
    path = write_manifest(tmp_path / "m.json", small_manifest(version, maps=maps))
    graph = load_graph(path, None)[0]
    assert graph.meta["dbt_schema_version"].endswith(f"/v{version}.json")
    orders = graph.nodes["model.shop.orders"]
    assert orders.parents == ("model.shop.int_orders",)
    assert set(graph.children_of("model.shop.orders")) >= {
        "model.shop.order_items",
        "exposure.shop.revenue",
        "test.shop.unique_orders_order_id",
    }
    assert graph.details("model.shop.orders").columns[0] == ("order_id", "integer", "Key.")


def test_missing_and_null_fields_degrade_to_empty(tmp_path: Path) -> None:
    data = small_manifest()
    node = data["nodes"]["model.shop.stg_orders"]
    for key in ("fqn", "config", "tags", "description", "depends_on", "original_file_path"):
        node.pop(key)
    node["columns"] = None
    data["nodes"]["model.shop.customers"]["depends_on"] = {"nodes": None}
    data["nodes"]["model.shop.customers"]["columns"] = {"x": None}
    data["sources"] = None
    data["exposures"] = None
    path = write_manifest(tmp_path / "m.json", data)
    graph = load_graph(path, None)[0]
    stg = graph.nodes["model.shop.stg_orders"]
    assert (stg.fqn, stg.parents, stg.tags) == (("shop", "stg_orders"), (), ())
    assert graph.details("model.shop.stg_orders").columns == ()
    assert graph.details("model.shop.customers").columns == (("x", "", ""),)
    assert select(graph, "+orders").uids  # still selectable


def test_dangling_parents_and_hooks_are_dropped(tmp_path: Path) -> None:
    data = small_manifest()
    data["nodes"]["model.shop.orders"]["depends_on"]["nodes"].append("semantic_model.shop.x")
    data["nodes"]["operation.shop.hook-0"] = {"resource_type": "operation", "name": "hook-0"}
    graph = load_graph(write_manifest(tmp_path / "m.json", data), None)[0]
    assert graph.nodes["model.shop.orders"].parents == ("model.shop.int_orders",)
    assert "operation.shop.hook-0" not in graph.nodes


def test_gzip_and_plain_json_read_the_same(tmp_path: Path) -> None:
    data = small_manifest()
    plain = load_graph(write_manifest(tmp_path / "m.json", data), None)[0]
    packed = load_graph(write_manifest(tmp_path / "m.json.gz", data, gz=True), None)[0]
    assert plain.nodes == packed.nodes
    # detected by content, not by suffix
    odd = load_graph(write_manifest(tmp_path / "manifest.bin", data, gz=True), None)[0]
    assert odd.nodes == plain.nodes


def test_streaming_reader_agrees_with_json_load_on_tuva(tuva_path: Path, tuva) -> None:
    full = json.loads(gzip.decompress(tuva_path.read_bytes()))
    expected = {uid: n for uid, n in full["nodes"].items() if n["resource_type"] != "operation"}
    assert set(tuva.nodes) == set(expected)
    for uid, raw in expected.items():
        node = tuva.nodes[uid]
        assert node.parents == tuple(
            dict.fromkeys(p for p in raw["depends_on"].get("nodes", []) if p in expected)
        )
        assert node.fqn == tuple(raw["fqn"])
        assert len(tuva.details(uid).columns) == len(raw["columns"])
    # the derived child map equals the manifest's own (tests included, hooks and dangling ids not)
    derived = derive_children(tuva.nodes)
    for uid, kids in full["child_map"].items():
        if uid in expected:
            assert set(derived.get(uid, ())) == {k for k in kids if k in expected}, uid
    some_model = next(u for u, n in expected.items() if n["resource_type"] == "model")
    assert tuva.code(some_model) == expected[some_model]["compiled_code"]


# --- bad files: one DataError naming the file ------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = json.dumps(small_manifest()).encode()
    cases: dict[str, tuple[bytes, str]] = {
        "gzip-truncated": (gzip.compress(good)[:400], "gzip stream is truncated"),
        "plain-truncated": (good[: len(good) // 2], "truncated"),
        "json-list": (b"[1, 2, 3]", "a JSON list"),
        "not-json": (b"<html>oops</html>", "not a JSON object"),
        "empty": (b"  \n", "empty"),
        "non-utf8": (good[:50] + b"\xff\xfe" + good[50:], "not valid UTF-8"),
        "no-nodes": (b'{"metadata": {}, "sources": {}}', 'no "nodes" object'),
        "catalog": (
            json.dumps(
                {
                    "metadata": {
                        "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"
                    },
                    "nodes": {"model.a.b": {"metadata": {}, "columns": {}}},
                    "sources": {},
                }
            ).encode(),
            "catalog.json",
        ),
        "catalog-without-metadata": (
            b'{"nodes": {"model.a.b": {"metadata": {}, "columns": {}, "stats": {}}}}',
            "no resource_type",
        ),
        "run-results": (
            b'{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": []}',
            "run_results.json",
        ),
        "corrupt-gzip": (b"\x1f\x8b" + b"\x00" * 40, "corrupt gzip"),
    }
    out = {}
    for name, (blob, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(blob)
        out[name] = (path, message)
    out["missing"] = (tmp_path / "nope.json", "manifest not found")
    out["directory"] = (tmp_path, "is a directory")
    return out


@pytest.mark.parametrize(
    "case",
    [
        "gzip-truncated",
        "plain-truncated",
        "json-list",
        "not-json",
        "empty",
        "non-utf8",
        "no-nodes",
        "catalog",
        "catalog-without-metadata",
        "run-results",
        "corrupt-gzip",
        "missing",
        "directory",
    ],
)
@pytest.mark.parametrize("cached", [False, True])
def test_bad_files_give_one_clear_data_error(tmp_path: Path, case: str, cached: bool) -> None:
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(DataError) as info:
        load_graph(path, tmp_path / "cache" if cached else None)
    err = info.value
    assert message in err.one_line()
    assert str(path) in err.one_line()
    assert "\n" not in err.one_line()
    assert err.exit_code == 1
    assert not (tmp_path / "cache").exists() or not list(
        (tmp_path / "cache").glob("*" + GRAPH_SUFFIX)
    )


def test_non_utf8_error_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(small_manifest(), indent=1).encode()
    cut = text.index(b'"stg_orders"')
    path = tmp_path / "m.json"
    path.write_bytes(text[:cut] + b"\xe9" + text[cut:])
    with pytest.raises(DataError) as info:
        load_graph(path, None)
    assert info.value.line == text[:cut].count(b"\n") + 1


# --- the cache ---------------------------------------------------------------------------


def test_cache_hit_miss_and_invalidation(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = write_manifest(tmp_path / "m.json", small_manifest())
    first, hit1 = load_graph(path, cache)
    second, hit2 = load_graph(path, cache)
    assert (hit1, hit2) == (False, True)
    assert first.nodes == second.nodes and first.children == second.children
    assert second.code("model.shop.orders") == "select order_id, amount from int_orders"
    for uid in first.nodes:
        assert first.details(uid) == second.details(uid)
    # same size, same mtime, different content: the content hash still notices
    data = small_manifest()
    data["nodes"]["model.shop.orders"]["description"] = "The ORDERS model."
    stat = path.stat()
    write_manifest(path, data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    third, hit3 = load_graph(path, cache)
    assert not hit3
    assert third.details("model.shop.orders").description == "The ORDERS model."


def test_a_corrupt_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = write_manifest(tmp_path / "m.json", small_manifest())
    load_graph(path, cache)
    for entry in cache.iterdir():
        entry.write_bytes(b"garbage")
    graph, hit = load_graph(path, cache)
    assert not hit and "model.shop.orders" in graph.nodes
    assert load_graph(path, cache)[1]  # and the rebuilt entry is used next time


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache dir should be", encoding="utf-8")
    path = write_manifest(tmp_path / "m.json", small_manifest())
    graph, hit = load_graph(path, blocker / "dbt")
    assert not hit and graph.nodes


def test_cache_dir_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    from decp.core.config import load_config

    monkeypatch.delenv(CACHE_ENV, raising=False)
    config = load_config(project)
    assert cache_dir(config) == project / ".project" / ".cache" / "dbt"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir(None) == tmp_path / "xdg" / "decp" / "dbt"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_dir(config) == cache_dir(None) == tmp_path / "env" / "dbt"


def test_a_truncated_details_file_invalidates_the_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = write_manifest(tmp_path / "m.json", small_manifest())
    load_graph(path, cache)
    details = next(cache.glob("*.details"))
    details.write_bytes(details.read_bytes()[:-5])
    graph, hit = load_graph(path, cache)
    assert not hit
    assert graph.code("model.shop.orders") == "select order_id, amount from int_orders"

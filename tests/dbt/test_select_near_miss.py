"""Every selector method, hit and near miss, by dbt-core 1.11's matching rules.

Each case pairs a selector with what dbt selects and a look-alike that must not
match (a typo'd folder, a glob that would only match a bare name, a wrong
package...). The rules mirror `dbt/graph/selector_methods.py`: wildcards in an
`fqn` value are matched against the dotted fqn from the package on (or from the
first folder on), never against the bare name; `path:` is a filesystem glob from
the project root.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dbt_support import model, small_manifest, write_manifest

from decp.core.errors import UsageError
from decp.dbt.cache import load_graph
from decp.dbt.graph import Graph
from decp.dbt.select import (
    METHODS,
    bare_wildcard_matches_leaf,
    fqn_matches,
    glob_match,
    parse_criterion,
    select,
)


def near_miss_manifest() -> dict[str, Any]:
    """small_manifest plus versions, access, groups, a root-level model, a look-alike folder,
    a singular test and an exposure in a second package."""
    data = small_manifest()
    nodes = data["nodes"]

    def add(node: dict[str, Any]) -> None:
        nodes[node["unique_id"]] = node

    root = model("shop", [], "stg_orders_legacy", [])  # models/stg_orders_legacy.sql
    add(root)
    add(model("shop", ["stagong"], "stg_typo", []))  # a folder one letter from `staging`
    for v in (1, 2):
        versioned = model("shop", ["marts"], "dim_customers", ["model.shop.customers"])
        versioned.update(
            unique_id=f"model.shop.dim_customers.v{v}",
            fqn=["shop", "marts", "dim_customers", f"v{v}"],
            version=v,
            latest_version=2,
            original_file_path=f"models/marts/dim_customers_v{v}.sql",
        )
        add(versioned)
    nodes["model.shop.orders"].update(access="public", group="finance")
    nodes["model.shop.customers"].update(access="protected", config={"group": "finance_ops"})
    nodes["model.shop.int_orders"]["access"] = "private"
    singular = {
        "name": "assert_positive",
        "resource_type": "test",
        "package_name": "shop",
        "original_file_path": "tests/assert_positive.sql",
        "unique_id": "test.shop.assert_positive",
        "fqn": ["shop", "assert_positive"],
        "config": {"materialized": "test"},
        "depends_on": {"macros": [], "nodes": ["model.shop.orders"]},
    }
    add(singular)
    data["exposures"]["exposure.util.revenue"] = {
        "name": "revenue",
        "resource_type": "exposure",
        "package_name": "util",
        "type": "notebook",
        "original_file_path": "models/exposures.yml",
        "unique_id": "exposure.util.revenue",
        "fqn": ["util", "revenue"],
        "depends_on": {"macros": [], "nodes": ["model.util.helpers"]},
        "tags": ["bi"],
    }
    return data


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    path = tmp_path_factory.mktemp("near") / "manifest.json"
    return load_graph(write_manifest(path, near_miss_manifest()), None)[0]


def roots(graph: Graph, text: str) -> set[str]:
    return set(select(graph, text).roots)


STAGING_FOLDER = {
    "model.shop.stg_orders",
    "model.shop.stg_customers",
    "source.shop.raw.orders",
    "source.shop.raw.customers",
}
CASES = [
    # (selector, the unique ids dbt selects) - the near miss follows its hit
    # fqn: a bare name is the leaf or the first part (package, or first folder)
    ("stg_orders", {"model.shop.stg_orders"}),
    ("stg_order", set()),
    ("staging", {"model.shop.stg_orders", "model.shop.stg_customers"}),
    ("stagin", set()),
    # fqn wildcards match the dotted fqn from the package or first folder on, not the name
    ("ord*", set()),
    ("stg_?rders", set()),
    ("stg_?rders_legacy", {"model.shop.stg_orders_legacy"}),  # a root model: fqn[1:] is the name
    ("stg_*", {"model.shop.stg_orders_legacy"}),
    ("*orders", {"model.shop.stg_orders", "model.shop.int_orders", "model.shop.orders"}),
    ("*order", set()),
    ("staging.*", {"model.shop.stg_orders", "model.shop.stg_customers"}),
    ("stagin*.stg_orders", {"model.shop.stg_orders"}),
    ("stagong.*", {"model.shop.stg_typo"}),
    ("shop.stag[i]ng.*", {"model.shop.stg_orders", "model.shop.stg_customers"}),
    ("shop.stag[!i]ng.*", {"model.shop.stg_typo"}),
    ("shop.stag[a]ng.*", set()),
    ("shop.marts.*", None),  # checked below: every node under marts
    ("shop.mart.*", set()),
    ("marts.orders.*", {"model.shop.order_items"}),
    ("fqn:util.shared.helpers", {"model.util.helpers"}),
    ("fqn:util.share.helpers", set()),
    ("fqn:util.**", {"model.util.helpers", "exposure.util.revenue"}),
    ("fqn:utils.*", set()),
    ("fqn:revenue", {"exposure.shop.revenue", "exposure.util.revenue"}),  # exposures: fqn too
    ("fqn:raw.orders", set()),  # sources are never matched by fqn
    # versioned models: the name, name.vN, name_vN; not a prefix of the name
    ("dim_customers", {"model.shop.dim_customers.v1", "model.shop.dim_customers.v2"}),
    ("dim_customers.v2", {"model.shop.dim_customers.v2"}),
    ("dim_customers_v1", {"model.shop.dim_customers.v1"}),
    ("dim_customers_v3", set()),
    ("dim_customer", set()),
    ("dim_customers.v*", set()),  # a wildcard value is matched from the fqn's start
    ("marts.dim_customers.v*", {"model.shop.dim_customers.v1", "model.shop.dim_customers.v2"}),
    # tag: fnmatch on every node's tags (exposures too)
    ("tag:nightly", {"model.shop.stg_orders"}),
    ("tag:night", set()),
    ("tag:fin*", {"model.shop.orders"}),
    ("tag:b?", {"exposure.util.revenue"}),
    ("tag:?", set()),
    # access: exact, models only
    ("access:public", {"model.shop.orders"}),
    ("access:publi", set()),
    ("access:pub*", set()),
    ("access:private", {"model.shop.int_orders"}),
    # group: fnmatch, from the node or its config
    ("group:finance", {"model.shop.orders"}),
    ("group:finance*", {"model.shop.orders", "model.shop.customers"}),
    ("group:financ", set()),
    # exposure: NAME or PKG.NAME, fnmatch on both
    ("exposure:revenue", {"exposure.shop.revenue", "exposure.util.revenue"}),
    ("exposure:util.revenue", {"exposure.util.revenue"}),
    ("exposure:utils.revenue", set()),
    ("exposure:revenu", set()),
    ("exposure:*.rev*", {"exposure.shop.revenue", "exposure.util.revenue"}),
    # source: SOURCE, SOURCE.TABLE, PKG.SOURCE.TABLE
    ("source:raw", {"source.shop.raw.orders", "source.shop.raw.customers"}),
    ("source:ra", set()),
    ("source:raw.orders", {"source.shop.raw.orders"}),
    ("source:raw.order", set()),
    ("source:shop.raw.orders", {"source.shop.raw.orders"}),
    ("source:util.raw.orders", set()),
    ("source:*.c*", {"source.shop.raw.customers"}),
    # path: a glob from the project root over files, their YAML and their folders;
    # sources live in models/staging/_sources.yml, so the staging folder holds them too
    ("path:models/staging", STAGING_FOLDER),
    ("models/staging", STAGING_FOLDER),
    ("path:models/stagong", {"model.shop.stg_typo"}),
    ("path:models/stagin", set()),
    ("path:models/staging/", STAGING_FOLDER),
    ("path:./models/staging", STAGING_FOLDER),
    ("path:models/stag?ng", None),  # staging and stagong: checked below
    ("path:models/stag*/stg_orders.sql", {"model.shop.stg_orders"}),
    ("path:models/*.sql", {"model.shop.stg_orders_legacy"}),
    ("path:models/*/stg_orders.sql", {"model.shop.stg_orders"}),
    ("path:models/**/order_items.sql", {"model.shop.order_items"}),
    ("path:models/**/order_item.sql", set()),
    ("path:seeds", {"seed.shop.country_codes"}),
    ("path:seed", set()),
    ("path:Models/staging", set()),
    # file: the file name or its stem
    ("file:stg_orders.sql", {"model.shop.stg_orders"}),
    ("stg_orders.sql", {"model.shop.stg_orders"}),
    ("file:stg_orders", {"model.shop.stg_orders"}),
    ("file:stg_order", set()),
    ("file:stg_orders.py", set()),
    ("file:country_codes.csv", {"seed.shop.country_codes"}),
    # package: fnmatch; `this` is the root project
    ("package:util", {"model.util.helpers", "exposure.util.revenue"}),
    ("package:uti", set()),
    # resource_type
    ("resource_type:seed", {"seed.shop.country_codes"}),
    ("resource_type:exposure", {"exposure.shop.revenue", "exposure.util.revenue"}),
    ("resource_type:metric", set()),
    # test_name (generic tests only), test_type
    ("test_name:not_null", {"test.shop.not_null_orders_order_id"}),
    ("test_name:not_nul", set()),
    ("test_type:singular", {"test.shop.assert_positive"}),
    ("test_type:unit", set()),
    # config.materialized: exact
    ("config.materialized:ephemeral", {"model.shop.int_orders"}),
    ("config.materialized:ephemera", set()),
]


@pytest.mark.parametrize(("text", "expected"), [c for c in CASES if c[1] is not None])
def test_each_method_hits_and_near_misses(graph: Graph, text: str, expected: set[str]) -> None:
    """The manifest says dbt 1.9.0: wildcards never match a bare model name."""
    assert graph.meta["dbt_version"] == "1.9.0"
    assert roots(graph, text) == expected


@pytest.fixture(scope="module")
def graph_1_11_16(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    data = near_miss_manifest()
    data["metadata"]["dbt_version"] = "1.11.16"
    path = tmp_path_factory.mktemp("near16") / "manifest.json"
    return load_graph(write_manifest(path, data), None)[0]


LEAF_CASES = [
    # dbt 1.11.16 / 1.12.6: a dotless wildcard also matches the leaf (the model name)
    ("ord*", {"model.shop.orders", "model.shop.order_items"}),
    ("stg_?rders", {"model.shop.stg_orders"}),
    ("stg_*", {"model.shop.stg_orders", "model.shop.stg_customers", "model.shop.stg_orders_legacy",
               "model.shop.stg_typo"}),
    ("dim_cust*", {"model.shop.dim_customers.v1", "model.shop.dim_customers.v2"}),  # name, not v1
    ("v?", set()),
    ("ord*s.x", set()),  # a dotted value never matches the leaf alone
    ("rev*", {"exposure.shop.revenue", "exposure.util.revenue"}),
    ("stg_?rder", set()),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), LEAF_CASES)
def test_newer_dbt_matches_bare_wildcards_against_the_name(
    graph_1_11_16: Graph, graph: Graph, text: str, expected: set[str]
) -> None:
    assert roots(graph_1_11_16, text) == expected


@pytest.mark.parametrize(
    ("version", "leaf"),
    [
        ("1.11.15", False), ("1.11.16", True), ("1.12.0", False), ("1.12.5", False),
        ("1.12.6", True), ("1.13.0", True), ("1.10.23", False), ("1.9.0", False),
        ("1.11.16rc1", True), ("", True), ("unknown", True),
    ],
)  # fmt: skip
def test_which_releases_match_the_leaf(version: str, leaf: bool) -> None:
    assert bare_wildcard_matches_leaf(version) is leaf


def test_wildcards_after_a_folder_reach_every_depth(graph: Graph) -> None:
    """dbt's fnmatch `*` spans dots, so `shop.marts.*` reaches marts/orders/order_items."""
    marts = {u for u, n in graph.nodes.items() if n.fqn[:2] == ("shop", "marts")}
    assert "model.shop.order_items" in marts
    assert roots(graph, "shop.marts.*") == marts
    assert roots(graph, "path:models/stag?ng") == STAGING_FOLDER | {"model.shop.stg_typo"}


def test_package_this_is_the_project(graph: Graph) -> None:
    shop = {u for u, n in graph.nodes.items() if n.package == "shop"}
    assert roots(graph, "package:this") == roots(graph, "package:shop") == shop


def test_test_name_star_skips_singular_tests(graph: Graph) -> None:
    """dbt reads test_metadata.name, which singular tests lack."""
    picked = roots(graph, "test_name:*")
    assert "test.shop.assert_positive" not in picked
    assert picked == {u for u, n in graph.nodes.items() if n.kind == "test" and n.test_name}


def test_test_type_data_is_every_test(graph: Graph) -> None:
    tests = {u for u, n in graph.nodes.items() if n.kind == "test"}
    assert roots(graph, "test_type:data") == tests
    assert roots(graph, "test_type:generic") == tests - {"test.shop.assert_positive"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version:latest", "not supported offline"),
        ("result:error", "not supported offline"),
        ("config.schema:x", "not supported offline"),
        ("tag.x:y", "takes no arguments"),
        ("fqnn:x", "unknown selector method 'fqnn'"),
        ("exposure:a.b.c", "invalid exposure selector"),
        ("resource_type:models", "invalid resource_type"),
        ("test_type:generics", "invalid test_type"),
        ("state:modified", "needs something to compare with"),
    ],
)
def test_near_miss_methods_are_usage_errors(graph: Graph, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        select(graph, text)
    assert info.value.fix


def test_the_registry_holds_every_method_decp_evaluates() -> None:
    assert sorted(METHODS) == sorted(
        [
            "fqn", "tag", "group", "access", "source", "exposure", "path", "file", "package",
            "config", "resource_type", "test_name", "test_type", "state",
        ]
    )  # fmt: skip


# --- path globs agree with pathlib's own glob, as dbt runs it -------------------------

TREE = [
    "models/staging/stg_a.sql",
    "models/staging/_staging.yml",
    "models/stagong/stg_b.sql",
    "models/marts/core/fct_c.sql",
    "models/marts/core/.hidden.sql",
    "models/top.sql",
    "seeds/s.csv",
    "snapshots/snap.sql",
]
SEGMENTS = st.sampled_from(
    ["models", "staging", "stag?ng", "stag*", "*", "**", "marts", "core", "*.sql", "[sm]*",
     "[!s]*", "fct_?.sql", "top.sql", "seeds", "s.csv", "stg_[ab].sql", "models/", "."]
)  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for rel in TREE:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    return root


def dbt_selects(root: Path, pattern: str, file: str) -> bool:
    """What dbt's PathSelectorMethod does: Path.glob, then the file or any parent found."""
    found = {p.relative_to(root) for p in root.glob(pattern)}
    rel = Path(file)
    return rel in found or any(parent in found for parent in rel.parents)


@settings(max_examples=150, deadline=None)
@given(st.lists(SEGMENTS, min_size=1, max_size=4))
def test_path_globs_select_what_pathlib_finds(tree: Path, segments: list[str]) -> None:
    pattern = "/".join(s.strip("/") for s in segments)
    if not pattern.strip("/.") or pattern.endswith("/."):
        return
    for file in TREE:
        folders = [str(p) for p in PurePosixPath(file).parents if str(p) != "."]
        ours = glob_match(file, pattern, is_dir=False) or any(
            glob_match(d, pattern) for d in folders
        )
        assert ours == dbt_selects(tree, pattern, file), (pattern, file)


# --- properties ---------------------------------------------------------------------

_PART = st.text(alphabet="abc_", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(fqn=st.lists(_PART, min_size=2, max_size=5).map(tuple), cut=st.integers(1, 4))
def test_fqn_prefixes_and_their_globs_always_match(fqn: tuple[str, ...], cut: int) -> None:
    """Any dotted prefix of the fqn (with or without the package) selects the node, and so
    does that prefix followed by `.*`, under both wildcard rules."""
    for leaf_rule in (False, True):
        for start in (0, 1):
            parts = fqn[start:]
            prefix = ".".join(parts[: min(cut, len(parts))])
            assert fqn_matches(fqn, prefix, False, leaf_rule)
            if cut < len(parts):
                assert fqn_matches(fqn, prefix + ".*", False, leaf_rule)


@settings(max_examples=300, deadline=None)
@given(fqn=st.lists(_PART, min_size=2, max_size=5).map(tuple), other=_PART)
def test_a_plain_name_matches_only_the_leaf_or_a_leading_part(
    fqn: tuple[str, ...], other: str
) -> None:
    expected = other in (fqn[0], fqn[1], fqn[-1])
    assert fqn_matches(fqn, other) is expected


@settings(max_examples=200, deadline=None)
@given(
    at=st.booleans(),
    up=st.sampled_from(["", "+", "2+"]),
    method=st.sampled_from(["", "tag:", "fqn:", "path:", "source:", "config.materialized:"]),
    value=st.text(alphabet="abc_*?.", min_size=1, max_size=8),
    down=st.sampled_from(["", "+", "+3"]),
)
def test_parse_criterion_reads_back_every_part(
    at: bool, up: str, method: str, value: str, down: str
) -> None:
    if at and (up or down):
        return  # dbt rejects @ with +
    if method == "path:" and value.strip("/.") == "":
        return
    raw = ("@" if at else "") + up + method + value + down
    crit = parse_criterion(raw)
    assert crit.value == value
    assert crit.method == (method.rstrip(":") or ("file" if value.endswith(".sql") else "fqn"))
    assert crit.parents == bool(up) and crit.parents_depth == (2 if up == "2+" else None)
    assert crit.children == bool(down) and crit.children_depth == (3 if down == "+3" else None)
    assert crit.childrens_parents is at


def test_every_node_selector_picks_exactly_its_node(graph: Graph) -> None:
    from decp.dbt.select import node_selector

    for uid in graph.nodes:
        text = node_selector(graph, uid)
        if text is not None:
            assert set(select(graph, text).roots) == {uid}, text

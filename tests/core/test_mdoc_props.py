"""Property tests for the shared Markdown primitive: lossless for every string."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from decp.core.mdoc import (
    LineDoc,
    conflict_line,
    is_conflict_marker,
    line_body,
    newline_of,
    next_number,
    one_line,
    split_lines,
)

# Every break str.splitlines() knows, plus characters that matter to Markdown.
BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SPECIAL = ["#", "-", " ", "\t", "\\", "|", "`", "<", "=", ">", ":", "(", ")"]
ANY_TEXT = st.lists(
    st.one_of(st.sampled_from(BREAKS + SPECIAL), st.characters(codec="utf-8")), max_size=60
).map("".join)

SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(ANY_TEXT)
def test_split_lines_is_lossless_and_splits_only_on_newline(text: str) -> None:
    lines = split_lines(text)
    assert "".join(lines) == text
    assert len(lines) == text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    for line in lines[:-1]:
        assert line.endswith("\n") and "\n" not in line[:-1]
    for line in lines:
        assert "\n" not in line_body(line)


@SETTINGS
@given(ANY_TEXT)
def test_linedoc_renders_its_input(text: str) -> None:
    if conflict_line(text) is not None:
        return
    doc = LineDoc.parse(text, Path("f"))
    assert doc.render() == text
    assert doc.nl == newline_of(text)


@SETTINGS
@given(ANY_TEXT)
def test_one_line_has_no_break_of_any_kind(text: str) -> None:
    flat = one_line(text)
    assert flat.splitlines() in ([], [flat])
    assert flat == flat.strip() and "  " not in flat
    assert one_line(flat) == flat


@SETTINGS
@given(ANY_TEXT)
def test_conflict_line_agrees_with_the_per_line_check(text: str) -> None:
    found = conflict_line(text)
    flagged = [i for i, x in enumerate(split_lines(text), 1) if is_conflict_marker(line_body(x))]
    assert found == (flagged[0] if flagged else None)


@SETTINGS
@given(st.lists(st.integers(1, 5000), max_size=8), st.lists(st.integers(1, 5000), max_size=4))
def test_next_number_is_above_every_id_and_at_least_every_mark(
    used: list[int], marks: list[int]
) -> None:
    number = next_number(used, marks)
    assert all(number > u for u in used) and all(number >= m for m in marks)
    assert number in {1, *(u + 1 for u in used), *marks}

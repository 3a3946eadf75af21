"""Property tests for LOOPS.md: decp reads back what it writes; hand text survives every write.

Text is drawn from every character class, including every line break
`str.splitlines()` knows (U+2028, U+2029, NEL, form feed, \\x1c-\\x1e, \\x0b, \\r).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from decp.core.mdoc import FIELD_RE, is_conflict_marker, split_lines
from decp.handoff.loops import TRANSITIONS, LoopBook, transition

P = Path("LOOPS.md")
BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SPECIAL = ["#", "### ", "- ", "  ", "\t", "\\", "`", "<!-- next-id: LOOP-900 -->", ":", "="]
TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            BREAKS + SPECIAL + ["<<<<<<< x", "=======", ">>>>>>> y", "### LOOP-5 (open) x"]
        ),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=25,
).map("".join)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _hand_line(text: str) -> str | None:
    """A line a person could write inside a loop body or a notes section (or None)."""
    if "\n" in text or text.endswith("\r"):
        return None
    core = text.lstrip()
    if core.startswith("#") or is_conflict_marker(text) or FIELD_RE.fullmatch(text):
        return None
    if "next-id:" in text:
        return None
    return text


HAND_PIECES = st.sampled_from(
    [
        "- one row per order",
        "- a bullet: with a colon later",
        "    indented code block",
        "\tTab-started body line",
        "prose line with `code` and ünïcödé",
        "  two-space indented",
        "",
        "* star bullet",
        "1. numbered",
        "> quote",
        "form\x0cfeed and\u2028separator in hand text",
    ]
)
HAND_LINES = st.lists(
    st.one_of(HAND_PIECES, TEXT.map(_hand_line).filter(lambda x: x is not None)),
    min_size=1,
    max_size=6,
)


def _loop_values(draw: st.DrawFn) -> dict[str, object]:
    title = draw(TEXT)
    assume(title.split())
    return {
        "title": title,
        "body": draw(TEXT),
        "context": draw(TEXT),
        "source": draw(TEXT),
        "tags": [t for t in draw(st.lists(TEXT, max_size=3)) if "," not in t],
    }


@st.composite
def new_loops(draw: st.DrawFn) -> list[dict[str, object]]:
    return [_loop_values(draw) for _ in range(draw(st.integers(1, 3)))]


def _round_trip(text: str) -> LoopBook:
    book = LoopBook(P, text)
    assert book.render() == text  # untouched: byte-identical
    return book


@SETTINGS
@given(new_loops(), TEXT, st.booleans())
def test_decp_written_loops_read_back_identically(
    specs: list[dict[str, object]], outcome: str, crlf: bool
) -> None:
    header = "# Loops\r\n" if crlf else ""
    book = LoopBook(P, header)
    made = [book.new_loop(status="open", **spec) for spec in specs]  # type: ignore[arg-type]
    text = book.render()
    if crlf:  # the file keeps its newline style: every line decp writes ends in CRLF
        assert text.count("\n") == text.count("\r\n")
    again = _round_trip(text)
    assert [x.to_dict() for x in again.loops] == [x.to_dict() for x in made]
    # a status change, then another round trip
    target = again.loops[0]
    transition(target, "closed", outcome=outcome)
    text2 = again.render()
    third = _round_trip(text2)
    assert third.loops[0].to_dict() == target.to_dict()
    assert [x.to_dict() for x in third.loops[1:]] == [x.to_dict() for x in made[1:]]
    assert len(third.loops) == len(made)  # no phantom loop from any line break
    assert third.next_number == len(made) + 1


@SETTINGS
@given(
    HAND_LINES,
    HAND_LINES,
    HAND_LINES,
    new_loops(),
    st.sampled_from(sorted(TRANSITIONS["open"])),
    st.booleans(),
)
def test_hand_text_survives_status_changes_and_new_loops(
    under_heading: list[str],
    after_fields: list[str],
    notes: list[str],
    specs: list[dict[str, object]],
    status: str,
    crlf: bool,
) -> None:
    nl = "\r\n" if crlf else "\n"
    assume(under_heading[0].strip(" \t"))  # blank lines right under a heading are layout
    hand_a = nl.join(under_heading) + nl
    hand_b = nl.join(after_fields) + nl
    hand_notes = nl.join(notes) + nl
    text = (
        f"# Loops{nl}My intro.{nl}{nl}"
        f"### LOOP-001 (open) Hand loop with a body right under the heading{nl}"
        f"{hand_a}{nl}"
        f"### LOOP-002 (open) Hand loop with fields{nl}"
        f"- context: typed by hand{nl}"
        f"- updated: 2026-01-01T00:00:00Z{nl}"
        f"{nl}{hand_b}{nl}"
        f"## Notes{nl}{hand_notes}"
    )
    hand_chunks = [hand_a, hand_b, hand_notes]
    book = _round_trip(text)
    before = {x.id: x.to_dict() for x in book.loops}
    for loop in book.loops:
        transition(loop, status, outcome="done" if status != "clarifying" else None)
    for spec in specs:
        book.new_loop(**spec)  # type: ignore[arg-type]
    written = book.render()
    for chunk in hand_chunks:
        assert chunk in written  # byte for byte
    again = _round_trip(written)
    assert len(again.loops) == 2 + len(specs)
    for loop in again.loops[:2]:
        old = before[loop.id]
        assert loop.status == status
        assert loop.body == old["body"] and loop.context == old["context"]
    # a second status change keeps everything again
    for loop in again.loops[:2]:
        transition(loop, "open" if status != "open" else "clarifying")
    final = again.render()
    for chunk in hand_chunks:
        assert chunk in final
    assert _round_trip(final).loops[0].body == before["LOOP-001"]["body"]


@SETTINGS
@given(st.lists(st.sampled_from(BREAKS[1:]), min_size=1, max_size=4), TEXT)
def test_a_line_break_in_an_argument_never_creates_a_loop(breaks: list[str], word: str) -> None:
    forged = "".join(f"x{b}### LOOP-050 (open) phantom{b}" for b in breaks)
    book = LoopBook(P, "")
    book.new_loop("t " + forged, body=forged + word, context=forged)
    loop = book.loops[0]
    loop.outcome = forged
    text = book.render()
    again = _round_trip(text)
    assert [x.id for x in again.loops] == ["LOOP-001"]
    assert again.next_number == 2
    assert "LOOP-051" not in text
    assert again.loops[0].to_dict() == loop.to_dict()
    assert all(not line.startswith("### LOOP-050") for line in split_lines(text))

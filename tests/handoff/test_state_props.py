"""Property tests for STATE.md: values and decisions read back as written; hand text survives."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from decp.core.mdoc import FIELD_RE, is_conflict_marker
from decp.handoff.state import STATE_KEYS, parse_state

P = Path("STATE.md")
BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SPECIAL = ["## Decisions", "- DECISION-001 (x): y", "- goal: z", "  ", "\t", "Why:", "(", ")", "#"]
TEXT = st.lists(
    st.one_of(
        st.sampled_from(BREAKS + SPECIAL),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=25,
).map("".join)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _prose(text: str) -> bool:
    """A hand line that is not a field, a heading, a continuation or a conflict marker."""
    return not (
        "\n" in text
        or text.endswith("\r")
        or text[:1] in (" ", "\t", "-", "#")
        or not text.strip(" \t\r")
        or FIELD_RE.fullmatch(text)
        or is_conflict_marker(text)
        or "next-id:" in text
    )


PROSE = st.lists(
    st.one_of(
        st.sampled_from(["My intro.", "form\x0cfeed\u2028kept", "* star bullet", "> quote"]),
        TEXT.filter(_prose),
    ),
    min_size=1,
    max_size=4,
)
NOTES = st.lists(
    st.sampled_from(
        ["- owner: me", "    indented block", "\ttab line", "", "- bullet", "x\u2029y", "## not"]
    ),
    min_size=1,
    max_size=5,
)


@SETTINGS
@given(
    PROSE,
    NOTES,
    st.dictionaries(st.sampled_from(STATE_KEYS), TEXT, min_size=1),
    st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3),
    st.booleans(),
)
def test_values_and_decisions_round_trip_and_hand_text_survives(
    prose: list[str],
    notes: list[str],
    values: dict[str, str],
    decisions: list[tuple[str, str]],
    crlf: bool,
) -> None:
    nl = "\r\n" if crlf else "\n"
    notes = [x for x in notes if x != "## not"]
    hand_top = nl.join(prose) + nl
    hand_notes = nl.join(notes) + nl
    text = (
        f"# State{nl}{hand_top}{nl}- goal: hand goal{nl}- task:{nl}{nl}"
        f"## Notes{nl}{hand_notes}{nl}## Decisions{nl}<!-- next-id: DECISION-004 · mine -->{nl}"
    )
    doc = parse_state(text, P)
    assert doc.render() == text
    for key, value in values.items():
        doc.set(key, value)
    added = []
    for what, why in decisions:
        assume(" ".join(what.split()) and " ".join(why.split()) and "Why:" not in what)
        added.append(doc.add_decision(what, why, date="2026-11-26"))
    written = doc.render()
    assert hand_top in written and hand_notes in written
    if crlf:
        assert written.count("\n") == written.count("\r\n")
    again = parse_state(written, P)
    assert again.render() == written
    assert again.fields == doc.fields
    assert [d.to_dict() for d in again.decisions] == [d.to_dict() for d in added]
    assert [d.id for d in added] == [f"DECISION-{n:03d}" for n in range(4, 4 + len(added))]
    assert "<!-- next-id: DECISION-" in written and "· mine -->" in written
    # moving the decisions out keeps the mark and every hand line
    again.remove_decisions([d.id for d in added])
    final = again.render()
    assert hand_top in final and hand_notes in final
    third = parse_state(final, P)
    assert third.decisions == [] and third.next_decision_number() == 4 + len(added)
    assert third.fields == doc.fields


@SETTINGS
@given(st.sampled_from(STATE_KEYS), TEXT)
def test_a_value_never_adds_a_field_or_a_line_of_its_own(key: str, value: str) -> None:
    doc = parse_state("# State\n- goal:\n\n## Decisions\n", P)
    doc.set(key, value)
    written = doc.render()
    again = parse_state(written, P)
    assert again.fields == doc.fields
    assert again.fields[key] == "\n".join(
        " ".join(x.split())
        for x in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if x.split()
    )
    assert again.decisions == []

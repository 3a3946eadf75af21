"""Property tests for CONTEXT.md: rows read back as recorded; notes outside the tables survive."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decp.context.ledger import LedgerEntry, context_path, read_ledger, record, remove, skeleton
from decp.core.config import load_config
from decp.core.mdoc import is_conflict_marker

BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
WHEN = "2026-11-26T03:00:00Z"
WHY = st.lists(
    st.one_of(
        st.sampled_from([*BREAKS, "\n", "\r\n", "|", "\\|", "`", " ", "\t"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=20,
).map("".join)
TARGET = st.lists(
    st.one_of(
        st.sampled_from([*BREAKS, "/", ".", "*", "|", "ü", "数"]),
        st.characters(min_codepoint=0x30, max_codepoint=0x7A),
    ),
    min_size=1,
    max_size=15,
).map("".join)
NOTES = st.lists(
    st.sampled_from(["my note", "- a bullet", "    indented", "x\u2028y\x0cz", "", "> q"]),
    min_size=1,
    max_size=4,
)
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(
    st.lists(st.tuples(TARGET, WHY, st.booleans(), st.none() | st.integers(0, 10**7)), max_size=4),
    NOTES,
    st.booleans(),
)
def test_rows_round_trip_and_notes_survive(
    project: Path,
    rows: list[tuple[str, str, bool, int | None]],
    notes: list[str],
    crlf: bool,
) -> None:
    config = load_config(project)
    path = context_path(config)
    nl = "\r\n" if crlf else "\n"
    hand = nl.join(x for x in notes if not is_conflict_marker(x)) + nl
    text = skeleton(config.docs_url).replace("\n", nl) + nl + "## My notes" + nl + hand
    path.write_bytes(text.encode("utf-8"))
    expected: dict[str, tuple[LedgerEntry, bool]] = {}
    for target, why, excluded, tokens in rows:
        target = target.strip()
        if not target or target.strip(" \t\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e") != target:
            continue
        entry = LedgerEntry(target, "path", tokens, why, WHEN)
        record(config, entry, excluded=excluded)
        stored = LedgerEntry(target, "path", tokens, " ".join(why.split()), WHEN)
        expected[target] = (stored, excluded)
    written = path.read_bytes().decode("utf-8")
    assert hand in written
    if crlf:
        assert written.count("\n") == written.count("\r\n")
    ledger = read_ledger(config)
    assert {e.target: (e, False) for e in ledger.loaded} | {
        e.target: (e, True) for e in ledger.excluded
    } == expected
    for target in list(expected)[:1]:
        assert remove(config, target)
        assert hand in path.read_bytes().decode("utf-8")
        assert read_ledger(config).find(target) is None

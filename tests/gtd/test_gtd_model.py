"""The loop ↔ task mapping: notes footer, gtd field, three-way merges, sync-state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decp.core.errors import DataError
from decp.gtd.model import (
    DONE,
    OPEN,
    Fields,
    GtdFieldError,
    conflict_block,
    format_gtd,
    has_conflict_markers,
    merge_export,
    merge_import,
    parse_gtd,
    parse_notes,
    render_notes,
    split_task_title,
    task_title,
    with_ref,
)
from decp.gtd.state import SyncState, new_entry, save_entries, state_path


def f(
    title: str = "T", body: str | None = "B", tags: tuple[str, ...] = (), state: str = OPEN
) -> Fields:
    return Fields(title, body, tags, state)


def test_title_prefix_round_trips_and_tolerates_missing_prefix() -> None:
    assert split_task_title(task_title("LOOP-003", "Decide X")) == ("LOOP-003", "Decide X")
    assert split_task_title("  [LOOP-1234]   Decide X ") == ("LOOP-1234", "Decide X")
    assert split_task_title("Decide X [LOOP-003]") == (None, "Decide X [LOOP-003]")


def test_notes_footer_is_stripped_exactly_even_with_user_text_after_it() -> None:
    body = "Should stg_orders dedupe?\n\n\nTwo blank lines above stay."
    notes = render_notes(
        body,
        context="building\nfct_orders",
        source="models/a.sql:3",
        loop_id="LOOP-003",
        repo="shop",
    )
    assert "Loop: LOOP-003 in shop .project/LOOPS.md (decp)" in notes
    assert "Context: building fct_orders" in notes  # one line, whatever the loop had
    parsed = parse_notes(notes)
    assert (parsed.body, parsed.loop_id, parsed.source) == (body, "LOOP-003", "models/a.sql:3")
    edited = parse_notes(notes.replace("\n", "\r\n") + "\n\nAnswer: yes, on order_id.")
    assert edited.body == body + "\n\nAnswer: yes, on order_id."
    assert edited.loop_id == "LOOP-003"


def test_notes_without_footer_are_all_body() -> None:
    text = "Context: this is the user's own line\nnot a footer"
    assert parse_notes(text).body == text
    assert parse_notes("see LOOP-042 for details").loop_id == "LOOP-042"
    assert (
        parse_notes(render_notes("", context="", source="", loop_id="LOOP-001", repo="r")).body
        == ""
    )


def test_gtd_field_keeps_other_backends_and_refuses_garbage() -> None:
    text = "ticktick:task=6f2a;project=inbox1014798915;h=1a2b3c todotxt:h=9f"
    refs = parse_gtd(text)
    assert refs["ticktick"] == {"task": "6f2a", "project": "inbox1014798915", "h": "1a2b3c"}
    assert format_gtd(refs) == text
    assert (
        with_ref(text, "todotxt", {"h": "00"})
        == "ticktick:task=6f2a;project=inbox1014798915;h=1a2b3c todotxt:h=00"
    )
    assert with_ref(text, "ticktick", None) == "todotxt:h=9f"
    assert with_ref("", "todotxt", {"key": "ab", "h": "cd"}) == "todotxt:key=ab;h=cd"
    for bad in ("ticktick", "ticktick:task", "ticktick:task=a b", "TickTick:x=1"):
        with pytest.raises(GtdFieldError):
            parse_gtd(bad)


def base_of(local: Fields, remote: Fields) -> dict:
    return {
        "title": [local.title, remote.title],
        "body": [local.body, remote.body],
        "state": [local.state, remote.state],
        "tags": sorted(remote.tags),
    }


def test_import_takes_remote_edits_when_local_is_unchanged() -> None:
    synced = f("Decide cache", "TTL?", ("review",))
    base = base_of(synced, synced)
    remote = f("Decide cache policy", "TTL? 1h is enough.", ("review", "ops"), DONE)
    merge = merge_import(synced, remote, synced, base)
    assert merge.conflicts == []
    assert sorted(merge.changed_local) == ["body", "state", "tags", "title"]
    assert merge.local == Fields(
        "Decide cache policy", "TTL? 1h is enough.", ("review", "ops"), DONE
    )
    # Importing the same thing again changes nothing.
    again = merge_import(merge.local, remote, merge.local, merge.base)
    assert again.changed_local == [] and again.conflicts == []


def test_import_keeps_local_edits_when_remote_is_unchanged() -> None:
    synced = f("Decide cache", "TTL?")
    local = f("Decide cache (narrowed)", "TTL? Only for fct_orders.")
    merge = merge_import(local, synced, synced, base_of(synced, synced))
    assert merge.changed_local == [] and merge.conflicts == []
    assert merge.local == local


def test_import_conflict_when_both_sides_changed_the_same_text() -> None:
    synced = f("Decide cache", "TTL?")
    local = f("Decide cache", "TTL? Local thought.")
    remote = f("Decide cache", "TTL? Remote thought.")
    merge = merge_import(local, remote, local, base_of(synced, synced))
    assert merge.conflicts == ["body"]
    assert merge.local.body == "TTL? Local thought."  # never overwritten
    block = conflict_block("body", local.body or "", remote.body or "", "TickTick")
    assert has_conflict_markers(block)
    assert "TTL? Local thought." in block and "TTL? Remote thought." in block


def test_without_a_snapshot_any_difference_is_a_conflict_not_an_overwrite() -> None:
    local = f("A", "local text")
    remote = f("A", "remote text")
    merge = merge_import(local, remote, local, None)
    assert merge.conflicts == ["body"]
    export = merge_export(local, remote, local, None)
    assert export.conflicts == ["body"] and export.remote.body == "remote text"


def test_tags_merge_as_sets_and_never_conflict() -> None:
    synced = f(tags=("a", "b", "c"))
    base = base_of(synced, synced)
    local = f(tags=("a", "b", "c", "local"))  # added locally
    remote = f(tags=("a", "c", "remote"))  # removed b, added remote
    pulled = merge_import(local, remote, local, base)
    assert pulled.local.tags == ("a", "c", "local", "remote")
    assert pulled.conflicts == []
    # The local addition is still pending for the next export, the removal is not undone.
    pushed = merge_export(pulled.local, remote, pulled.local, pulled.base)
    assert set(pushed.remote.tags) == {"a", "c", "remote", "local"}


def test_export_pushes_local_changes_and_leaves_remote_only_changes_for_import() -> None:
    synced = f("T", "B")
    base = base_of(synced, synced)
    local = f("T (new)", "B")
    remote = f("T", "B, edited in TickTick")
    merge = merge_export(local, remote, local, base)
    assert merge.changed_remote == ["title"]
    assert merge.remote.title == "T (new)" and merge.remote.body == "B, edited in TickTick"
    pulled = merge_import(local, merge.remote, local, merge.base)
    assert pulled.changed_local == ["body"] and pulled.local.body == "B, edited in TickTick"


def test_echo_hides_formatting_only_differences() -> None:
    """todo.txt cannot hold a `key:value` inside a title: the echo makes that no change."""
    local = f("Check source:orders freshness", None)
    echo = f("Check freshness", None)
    merge = merge_export(local, None, echo, None)
    again = merge_import(local, merge.remote, echo, merge.base)
    assert again.changed_local == [] and again.conflicts == []


def test_state_file_keeps_referenced_and_new_entries_only(tmp_path: Path) -> None:
    path = state_path(tmp_path / ".project", "ticktick")
    first, entry1 = new_entry({"task": "t1"}, {"title": ["a", "a"]})
    save_entries(path, {"LOOP-001": (first, entry1)}, {})
    second, entry2 = new_entry({"task": "t1"}, {"title": ["b", "b"]})
    save_entries(path, {"LOOP-001": (second, entry2)}, {"LOOP-001": first})
    state = SyncState(path)
    assert state.entry("LOOP-001", first) is not None  # LOOPS.md may still point here
    assert state.entry("LOOP-001", second)["base"] == {"title": ["b", "b"]}
    third, entry3 = new_entry({"task": "t1"}, {"title": ["c", "c"]})
    save_entries(path, {"LOOP-001": (third, entry3)}, {"LOOP-001": second})
    assert SyncState(path).entry("LOOP-001", first) is None


def test_broken_state_file_is_a_data_error_naming_the_fix(tmp_path: Path) -> None:
    path = state_path(tmp_path / ".project", "todotxt")
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "loops": ', encoding="utf-8")
    with pytest.raises(DataError) as info:
        SyncState(path)
    assert info.value.path == path and "delete" in (info.value.fix or "")
    path.write_text(json.dumps({"version": 99, "loops": {}}), encoding="utf-8")
    with pytest.raises(DataError):
        SyncState(path)


def test_without_a_snapshot_completion_still_closes_an_open_loop() -> None:
    local = f("A", "question")
    merge = merge_import(local, f("A", "question", state=DONE), local, None)
    assert merge.changed_local == ["state"] and merge.conflicts == []
    closed = f("A", "question", state=DONE)
    reopened = merge_import(closed, f("A", "question", state=OPEN), closed, None)
    assert reopened.conflicts == ["state"]  # a reopen without history is not guessed


# --- property: the notes footer (with the Rejected: line) round-trips ----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from decp.handoff.loops import normalize_text  # noqa: E402

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(_LINE_BREAKS), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    body=_text,
    context=_text,
    source=_text,
    rejected=st.none() | _text,
    repo=_text,
    number=st.integers(min_value=1, max_value=99999),
)
def test_notes_round_trip_for_any_text(
    body: str, context: str, source: str, rejected: str | None, repo: str, number: int
) -> None:
    from decp.gtd.ticktick_sync import task_fields

    loop_id = f"LOOP-{number:03d}"
    notes = render_notes(
        body, context=context, source=source, loop_id=loop_id, repo=repo, rejected=rejected
    )
    parsed = parse_notes(notes)
    assert parsed.body == normalize_text(body)
    assert parsed.loop_id == loop_id
    assert parsed.context == " ".join(context.split())
    assert parsed.source == " ".join(source.split())
    expected = None if rejected is None else (" ".join(rejected.split()) or "won't do")
    assert parsed.rejected == expected
    task = {"title": f"[{loop_id}] t", "status": 2, "content": notes}
    assert task_fields(task)[1].state == ("abandoned" if rejected is not None else "done")

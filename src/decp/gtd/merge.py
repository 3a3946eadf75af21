"""The merge machinery every backend shares: candidates, snapshots, three-way import.

Order of work, chosen so a crash or a failed call never loses or duplicates:
1. talk to the backend outside any lock (HTTP can be slow);
2. under the LOOPS.md lock, merge against the freshly read file;
3. write the sync-state snapshots, then LOOPS.md (so every gtd hash finds
   its snapshot even if we die between the two writes).
Each successful loop is recorded; failed loops keep their old mapping, and a
rerun finds tasks it created by the `[LOOP-NNN]` in their title, so it never
creates them twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from decp.core.errors import DataError, UsageError
from decp.gtd.model import (
    ABANDONED,
    CONFLICT_TAG,
    DONE,
    OPEN,
    Fields,
    GtdFieldError,
    Merge,
    has_conflict_markers,
    local_fields,
    merge_import,
    parse_gtd,
    resolve_conflicts_into_body,
    state_of_status,
    with_ref,
)
from decp.gtd.report import LOCAL, LoopResult, SyncReport
from decp.gtd.state import SyncState, new_entry, save_entries, state_path

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.handoff.loops import Loop, LoopBook

DEFAULT_STATUSES = ("open", "clarifying")
PENDING_NOTE = "resolve the marked conflict in LOOPS.md first, then drop the conflict tag"


@dataclass(frozen=True)
class SyncOptions:
    backend: str
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    path: Path | None = None  # the file for ticktick-csv / todotxt
    dry_run: bool = False


@dataclass
class RemoteItem:
    """One task, row or line from the backend, read back in loop terms."""

    key: str  # identity in the backend: task id, or a fingerprint for captured rows
    loop_id: str | None
    fields: Fields
    captured: bool  # tagged decp with no loop id: the user captured a new loop there
    done_on: str = ""  # YYYY-MM-DD when completed
    where: str = ""  # for reports: "task 6f2…", "line 12"
    ids: dict[str, str] = field(default_factory=dict)  # what the gtd ref stores


class Adapter(Protocol):
    name: str  # backend name in the gtd field and sync-state file
    label: str  # for people: "TickTick", "todo.txt"

    def echo(self, loop: Loop) -> Fields:
        """What the backend would show for this loop right after an export."""
        ...


def ref_of(loop: Loop, backend: str) -> dict[str, str] | None:
    """The loop's mapping for one backend, or None; DataError if the field was mangled."""
    if not loop.gtd:
        return None
    try:
        return parse_gtd(loop.gtd).get(backend)
    except GtdFieldError as exc:
        raise DataError(
            f"{loop.id}: gtd field {loop.gtd!r}: {exc}.",
            path=".project/LOOPS.md",
            fix=f"clear the `- gtd:` line of {loop.id}; the next export maps it again without duplicating.",
        ) from None


def base_of(state: SyncState, loop: Loop, ref: dict[str, str] | None) -> dict[str, Any] | None:
    entry = state.entry(loop.id, (ref or {}).get("h"))
    return entry.get("base") if entry else None


def export_candidates(
    book: LoopBook, backend: str, statuses: tuple[str, ...], state: SyncState
) -> list[Loop]:
    """Loops in the chosen statuses, plus mapped loops closed or rejected since the last sync.

    A loop that was already finished at its last sync is settled: looking its
    task up again on every export would cost one request per loop, forever.
    """
    chosen = []
    for loop in book.loops:
        if loop.status in statuses:
            chosen.append(loop)
            continue
        ref = ref_of(loop, backend)
        if loop.active or ref is None:
            continue
        before = (base_of(state, loop, ref) or {}).get("state")
        if before is None or before[0] != state_of_status(loop.status):
            chosen.append(loop)
    return chosen


def synced_fields(loop: Loop) -> Fields:
    """The loop's synced fields; the conflict tag is decp's bookkeeping, never synced."""
    fields = local_fields(loop)
    return Fields(
        fields.title, fields.body, tuple(t for t in fields.tags if t != CONFLICT_TAG), fields.state
    )


def clean_tags(tags: tuple[str, ...]) -> list[str]:
    """Tags from a backend, made safe for LOOPS.md (commas separate tags there)."""
    from decp.handoff.loops import normalize_tags

    return normalize_tags([t.replace(",", "-") for t in tags])


@contextmanager
def loop_book(config: Config, dry_run: bool) -> Iterator[LoopBook]:
    """The locked, written-on-exit book; in a dry run a read-only copy that is never written."""
    from decp.handoff.loops import edit_loops, read_loops

    if dry_run:
        yield read_loops(config)
        return
    with edit_loops(config) as book:
        yield book


class Recorder:
    """Collects new snapshots and gtd refs, then writes them state-file first."""

    def __init__(self, config: Config, backend: str) -> None:
        self.backend = backend
        self.path = state_path(config.project_dir, backend)
        self.state = SyncState(self.path)
        self.written: dict[str, tuple[str, dict[str, Any]]] = {}
        self.refs: dict[str, dict[str, str]] = {}

    def record(self, loop_id: str, ids: dict[str, str], base: dict[str, Any]) -> dict[str, str]:
        digest, entry = new_entry(ids, base)
        self.written[loop_id] = (digest, entry)
        self.refs[loop_id] = {**ids, "h": digest}
        return self.refs[loop_id]

    def apply(self, book: LoopBook, results: dict[str, LoopResult] | None = None) -> None:
        """Save snapshots, then put the refs into the loops (LOOPS.md is written on exit)."""
        referenced = {}
        for loop in book.loops:
            try:
                referenced[loop.id] = (ref_of(loop, self.backend) or {}).get("h", "")
            except DataError:
                referenced[loop.id] = ""
        save_entries(self.path, self.written, referenced)
        self.set_refs(book, results)

    def set_refs(self, book: LoopBook, results: dict[str, LoopResult] | None = None) -> None:
        for loop_id, values in self.refs.items():
            try:
                loop = book.get(loop_id)
                new_gtd = with_ref(loop.gtd, self.backend, values)
            except (UsageError, GtdFieldError):
                continue  # deleted or hand-edited meanwhile: leave it alone
            if results is not None and loop_id in results:
                results[loop_id].change(LOCAL, "gtd", loop.gtd, new_gtd)
            loop.gtd = new_gtd


# --- import -----------------------------------------------------------------


def import_items(
    config: Config,
    adapter: Adapter,
    items: list[RemoteItem],
    report: SyncReport,
    *,
    key_of: Callable[[dict[str, str]], str | None],
    dry_run: bool,
) -> None:
    """Merge backend items into LOOPS.md: update mapped loops, adopt by id, add captured ones."""
    recorder = Recorder(config, adapter.name)
    with loop_book(config, dry_run) as book:
        results: dict[str, LoopResult] = {}
        refs = {loop.id: ref_of(loop, adapter.name) for loop in book.loops}
        by_key = {key_of(ref): book.get(lid) for lid, ref in refs.items() if ref and key_of(ref)}
        item_keys = {item.key for item in items}
        claimed: set[str] = set()
        ignored = 0
        for item in items:
            loop = by_key.get(item.key)
            if loop is None and item.loop_id:
                loop = _loop_for_id(book, item, refs, key_of, item_keys, report)
                if loop is None:
                    continue
            if loop is None:
                if item.captured:
                    result = _capture(book, item, adapter, recorder)
                    results[result.loop] = result
                else:
                    ignored += 1
                continue
            if loop.id in claimed:
                report.notes.append(
                    f"{loop.id} appears twice in {adapter.label} ({item.where}); used the first."
                )
                continue
            claimed.add(loop.id)
            result = _import_one(loop, item, refs.get(loop.id), adapter, recorder)
            results[loop.id] = result
        if ignored:
            report.notes.append(
                f"{ignored} item(s) without a loop id or the decp tag were left alone."
            )
        if dry_run:
            recorder.set_refs(book, results)
        else:
            recorder.apply(book, results)
        report.results.extend(results.values())


def _loop_for_id(
    book: LoopBook,
    item: RemoteItem,
    refs: dict[str, dict[str, str] | None],
    key_of: Callable[[dict[str, str]], str | None],
    item_keys: set[str],
    report: SyncReport,
) -> Loop | None:
    try:
        loop = book.get(item.loop_id or "")
    except UsageError:
        report.notes.append(f"{item.loop_id} ({item.where}) is not in LOOPS.md; left alone.")
        return None
    ref = refs.get(loop.id)
    mapped_key = key_of(ref) if ref else None
    if mapped_key and mapped_key != item.key and mapped_key in item_keys:
        report.notes.append(
            f"{item.where} also claims {loop.id}, which is mapped to another task; left alone."
        )
        return None
    return loop


def _capture(book: LoopBook, item: RemoteItem, adapter: Adapter, recorder: Recorder) -> LoopResult:
    """A task the user captured in the backend and tagged decp becomes an open loop."""
    loop = book.new_loop(
        item.fields.title or "(untitled)",
        status="open",
        body=item.fields.body or "",
        source=f"{adapter.label} ({item.where})",
        tags=clean_tags(item.fields.tags),
    )
    local = synced_fields(loop)
    base: dict[str, Any] = {
        "title": [local.title, item.fields.title],
        "state": [OPEN, OPEN],
        "tags": sorted(item.fields.tags),
    }
    if item.fields.body is not None:
        base["body"] = [local.body, item.fields.body]
    recorder.record(loop.id, item.ids, base)
    result = LoopResult(loop.id, "new-loop", note=f"captured in {adapter.label} ({item.where})")
    result.change(LOCAL, "loop", None, loop.title)
    return result


def _import_one(
    loop: Loop, item: RemoteItem, ref: dict[str, str] | None, adapter: Adapter, recorder: Recorder
) -> LoopResult:
    base = base_of(recorder.state, loop, ref)
    local = synced_fields(loop)
    remote = item.fields
    pending = has_conflict_markers(loop.body)
    if pending:
        # An unresolved conflict block holds the only copy of someone's text:
        # leave the texts alone (the remote edit stays pending) until it is resolved.
        if base is None or "title" not in base:
            return LoopResult(loop.id, "skipped", note=f"{item.where}: {PENDING_NOTE}")
        old_body = base["body"][1] if "body" in base else remote.body
        remote = replace(remote, title=base["title"][1], body=old_body)
    merge = merge_import(local, remote, adapter.echo(loop), base)
    before = loop.to_dict()
    result = LoopResult(loop.id, "unchanged", note=item.where)
    if pending:
        result.note = f"{item.where}; texts untouched: {PENDING_NOTE}"
    try:
        _apply_import(loop, merge, item, adapter, base)
    except UsageError as exc:
        for key, value in before.items():
            setattr(loop, key, value)
        return LoopResult(loop.id, "skipped", note=item.where, error=exc.one_line())
    for name in ("title", "status", "tags", "body", "outcome"):
        result.change(LOCAL, name, before[name], loop.to_dict()[name])
    if merge.conflicts:
        result.action = "conflict"
        result.conflicts = list(merge.conflicts)
        texts = [name for name in merge.conflicts if name in ("title", "body")]
        result.note = (
            f"{' and '.join(texts)} changed on both sides: both texts kept, marked, in the body; "
            f"loop tagged {CONFLICT_TAG!r}"
            if texts
            else "status changed on both sides: LOOPS.md's kept"
        )
    elif result.changes:
        result.action = "updated"
    old_ids = {k: v for k, v in (ref or {}).items() if k != "h"}
    ids = {**old_ids, **item.ids}
    if merge.base != base or old_ids != ids or not ref:
        recorder.record(loop.id, ids, merge.base)
    return result


def _apply_import(
    loop: Loop, merge: Merge, item: RemoteItem, adapter: Adapter, base: dict[str, Any] | None
) -> None:
    from decp.handoff.loops import transition

    remote = item.fields
    finishing = "state" in merge.changed_local and merge.local.state in (DONE, ABANDONED)
    outcome = ""
    if finishing:
        before_body = (base or {}).get("body")
        notes_changed = remote.body is not None and (
            before_body is None or remote.body != before_body[1]
        )
        if notes_changed and remote.body:
            outcome = remote.body  # the user wrote the answer into the notes
        elif merge.local.state == DONE:
            outcome = f"done in {adapter.label}" + (f" on {item.done_on}" if item.done_on else "")
        else:
            outcome = f"abandoned (won't do) in {adapter.label}"
        # The notes became the outcome: the question in the body stays as it was.
        for bucket in (merge.changed_local, merge.conflicts):
            if "body" in bucket:
                bucket.remove("body")
        if remote.body is not None:
            merge.base["body"] = [loop.body, remote.body]
    if "title" in merge.changed_local and merge.local.title.strip():
        loop.title = merge.local.title
    if "body" in merge.changed_local:
        loop.body = merge.local.body or ""
    if merge.conflicts and set(merge.conflicts) & {"title", "body"}:
        loop.body = resolve_conflicts_into_body(merge, adapter.label)
        if "body" in merge.base and remote.body is not None:
            merge.base["body"] = [loop.body, remote.body]
    tags = clean_tags(merge.local.tags)
    if CONFLICT_TAG not in tags and (
        CONFLICT_TAG in loop.tags or set(merge.conflicts) & {"title", "body"}
    ):
        tags.append(CONFLICT_TAG)
    if tags != loop.tags:
        loop.tags = tags
    if "state" in merge.changed_local:
        target = merge.local.state
        if target == DONE:
            if loop.status == "proposed":
                transition(loop, "open")
            transition(loop, "closed", outcome=outcome)
        elif target == ABANDONED:
            transition(loop, "rejected", outcome=outcome)
        elif loop.status in ("closed", "rejected"):
            transition(loop, "open")

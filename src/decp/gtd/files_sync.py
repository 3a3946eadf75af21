"""Loops ↔ the two file backends: TickTick's backup CSV and todo.txt.

Both are plain files the user owns, so the rule is stricter than for the API:
decp never overwrites a line or a file it did not write. A todo.txt keeps the
user's own lines byte for byte; a CSV export refuses to replace a file that
holds tasks decp did not write (that is a backup to import, not to clobber).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core.clock import now_iso
from decp.core.errors import DataError
from decp.core.fsio import atomic_write, locked, read_text
from decp.gtd import ticktick_csv as tcsv
from decp.gtd import todotxt
from decp.gtd.merge import (
    Recorder,
    RemoteItem,
    SyncOptions,
    base_of,
    export_candidates,
    import_items,
    loop_book,
    ref_of,
    synced_fields,
)
from decp.gtd.model import (
    DECP_TAG,
    DONE,
    LOOP_ID_RE,
    OPEN,
    Fields,
    fingerprint,
    has_conflict_markers,
    merge_export,
    render_notes,
    task_title,
)
from decp.gtd.report import REMOTE, LoopResult, SyncReport
from decp.gtd.ticktick_sync import list_name, task_fields

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.handoff.loops import Loop

CSV_NAME, TODO_NAME = "ticktick-csv", "todotxt"
CSV_STATUS = {OPEN: 0, DONE: 2, "abandoned": -1}
CONFLICT_SKIP = "resolve the marked conflict in its body first (then drop the conflict tag)"


def file_path(config: Config, options: SyncOptions, key: str) -> Path:
    """The file to sync: `--out`/FILE as typed (the user's choice, anywhere), else
    the `[gtd]` key, which must stay inside the repo (decp.toml is untrusted)."""
    if options.path is not None:
        path = options.path.expanduser()
        return path if path.is_absolute() else Path.cwd() / path
    return config.gtd_file(key)


def _commit(
    config: Config, recorder: Recorder, results: dict[str, LoopResult], dry_run: bool
) -> None:
    from decp.handoff.loops import read_loops

    if dry_run:
        recorder.set_refs(read_loops(config), results)
    elif recorder.refs:
        with loop_book(config, dry_run=False) as book:
            recorder.apply(book, results)


def _utc_stamp(iso: str) -> str:
    """`2026-01-02T09:00:00Z` → TickTick's `2026-01-02T09:00:00+0000`."""
    return iso[:-1] + "+0000" if iso.endswith("Z") else iso


def _day(iso: str) -> str:
    day = iso[:10]
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        return now_iso()[:10]
    return day


# --- TickTick backup CSV ----------------------------------------------------


class CsvAdapter:
    name = CSV_NAME
    label = "TickTick backup"

    def __init__(self, repo: str, list_name: str) -> None:
        self.repo, self.list_name = repo, list_name

    def row(self, loop: Loop, fields: Fields) -> tcsv.CsvOut:
        return tcsv.CsvOut(
            list_name=self.list_name,
            title=task_title(loop.id, fields.title),
            content=render_notes(
                fields.body or "",
                context=loop.context,
                source=loop.source,
                loop_id=loop.id,
                repo=self.repo,
            ),
            tags=(*fields.tags, DECP_TAG),
            created=_utc_stamp(loop.created),
        )

    def echo(self, loop: Loop) -> Fields:
        row = self.row(loop, synced_fields(loop))
        status = CSV_STATUS.get(synced_fields(loop).state, 0)
        return task_fields(
            {"title": row.title, "content": row.content, "tags": list(row.tags), "status": status}
        )[1]


def export_csv(config: Config, options: SyncOptions) -> SyncReport:
    from decp.handoff.loops import ACTIVE_STATUSES, read_loops

    path = file_path(config, options, "ticktick_csv_file")
    report = SyncReport("export", CSV_NAME, str(path), options.dry_run)
    adapter = CsvAdapter(config.name, list_name(config))
    recorder = Recorder(config, CSV_NAME)
    book = read_loops(config)
    rows: list[tcsv.CsvOut] = []
    results: dict[str, LoopResult] = {}
    for loop in book.loops:
        if loop.status not in options.statuses or loop.status not in ACTIVE_STATUSES:
            continue
        if has_conflict_markers(loop.body):
            results[loop.id] = LoopResult(loop.id, "skipped", note=CONFLICT_SKIP)
            continue
        merge = merge_export(synced_fields(loop), None, adapter.echo(loop), None)
        row = adapter.row(loop, merge.remote)
        rows.append(row)
        result = LoopResult(loop.id, "exported")
        result.change(REMOTE, "title", None, row.title)
        results[loop.id] = result
        old = ref_of(loop, CSV_NAME) or {}
        recorder.record(loop.id, {k: v for k, v in old.items() if k == "key"}, merge.base)
    text = tcsv.render_backup(rows)
    if not options.dry_run:
        with locked(path):
            _refuse_foreign_backup(path)
            atomic_write(path, text)
    report.notes.append(
        f"{len(rows)} task(s) in the backup; import it in TickTick under Settings → Backup → Import backup."
    )
    _commit(config, recorder, results, options.dry_run)
    report.results.extend(results.values())
    return report


def _refuse_foreign_backup(path: Path) -> None:
    """Never replace a real TickTick backup the user dropped here: it holds their tasks."""
    if not path.exists():
        return
    try:
        tasks = tcsv.read_backup(path)
    except DataError:
        tasks = None
    foreign = (
        None if tasks is None else next((t for t in tasks if not LOOP_ID_RE.search(t.title)), None)
    )
    if tasks is None or foreign is not None:
        line = foreign.line if foreign else 1
        raise DataError(
            "this file holds tasks decp did not write; refusing to overwrite it.",
            path=path,
            line=line,
            fix="import it first (`decp gtd import --from ticktick-csv FILE`), then move it away or pass --out.",
        )


def import_csv(config: Config, options: SyncOptions) -> SyncReport:
    path = file_path(config, options, "ticktick_csv_file")
    report = SyncReport("import", CSV_NAME, str(path), options.dry_run)
    name = list_name(config)
    adapter = CsvAdapter(config.name, name)
    chosen: dict[str, tcsv.CsvTask] = {}
    items: list[RemoteItem] = []
    for row in tcsv.read_backup(path):
        task = {
            "title": row.title,
            "content": row.content,
            "tags": list(row.tags),
            "status": CSV_STATUS[row.state],
        }
        loop_id, fields = task_fields(task)
        if loop_id is None:
            found = LOOP_ID_RE.search(row.title) or LOOP_ID_RE.search(row.content)
            loop_id = found.group(0) if found else None
        if loop_id is not None:
            earlier = chosen.get(loop_id)
            if earlier is not None:
                report.notes.append(
                    f"{loop_id} is in lines {earlier.line} and {row.line}; used the newer one."
                )
                if earlier.created > row.created:
                    continue
                items = [i for i in items if i.loop_id != loop_id]
            chosen[loop_id] = row
        captured = (
            loop_id is None and row.list_name == name and DECP_TAG in row.tags and row.state == OPEN
        )
        key = (
            fingerprint(row.list_name, row.created or row.title) if captured else f"line-{row.line}"
        )
        items.append(
            RemoteItem(
                key=key,
                loop_id=loop_id,
                fields=fields,
                captured=captured,
                done_on=row.completed[:10],
                where=f"line {row.line}",
                ids={"key": key} if captured else {},
            )
        )
    import_items(
        config, adapter, items, report, key_of=lambda ref: ref.get("key"), dry_run=options.dry_run
    )
    return report


# --- todo.txt ---------------------------------------------------------------


def todo_fields(item: todotxt.TodoItem) -> Fields:
    from decp.handoff.loops import normalize_title

    tags = tuple(t for t in item.contexts if t.lower() != DECP_TAG)
    return Fields(normalize_title(item.text), None, tags, DONE if item.done else OPEN)


class TodoAdapter:
    name = TODO_NAME
    label = "todo.txt"

    def __init__(self, project: str, path: Path) -> None:
        self.project, self.path = project, path

    def new_item(self, loop: Loop, fields: Fields) -> todotxt.TodoItem:
        return todotxt.build_item(
            title=fields.title,
            tags=fields.tags,
            project=self.project,
            loop_id=loop.id,
            source=loop.source,
            created=_day(loop.created) if loop.created else "",
            done=fields.state != OPEN,
            completion=_day(loop.updated),
        )

    def echo(self, loop: Loop) -> Fields:
        line = todotxt.render(self.new_item(loop, synced_fields(loop)))
        parsed = todotxt.parse_line(line, 1, self.path)
        assert parsed is not None
        return todo_fields(parsed)


def _read_todo(path: Path) -> tuple[list[str], list[todotxt.TodoItem | None], dict[str, int]]:
    """Raw lines (with endings), parsed items, and loop id → line index (duplicates refused)."""
    text = read_text(path) if path.exists() else ""
    raw = text.splitlines(keepends=True)
    items = [
        todotxt.parse_line(line.rstrip("\r\n"), n, path) for n, line in enumerate(raw, start=1)
    ]
    by_id: dict[str, int] = {}
    for index, item in enumerate(items):
        if item is None or item.loop_id is None:
            continue
        if item.loop_id in by_id:
            raise DataError(
                f"id:{item.loop_id} is on line {by_id[item.loop_id] + 1} too.",
                path=path,
                line=index + 1,
                fix="keep one line per loop; delete or renumber the copy.",
            )
        by_id[item.loop_id] = index
    return raw, items, by_id


def export_todo(config: Config, options: SyncOptions) -> SyncReport:
    from decp.handoff.loops import read_loops

    path = file_path(config, options, "todotxt_file")
    report = SyncReport("export", TODO_NAME, str(path), options.dry_run)
    adapter = TodoAdapter(config.name, path)
    recorder = Recorder(config, TODO_NAME)
    book = read_loops(config)
    results: dict[str, LoopResult] = {}
    if options.dry_run:
        _export_todo_lines(path, book, options, adapter, recorder, results)
    else:
        with locked(path):
            _export_todo_lines(path, book, options, adapter, recorder, results)
    _commit(config, recorder, results, options.dry_run)
    report.results.extend(results.values())
    return report


def _export_todo_lines(
    path: Path,
    book: Any,
    options: SyncOptions,
    adapter: TodoAdapter,
    recorder: Recorder,
    results: dict[str, LoopResult],
) -> None:
    from decp.handoff.loops import ACTIVE_STATUSES

    raw, items, by_id = _read_todo(path)
    nl = "\r\n" if raw and raw[0].endswith("\r\n") else "\n"
    lines = list(raw)
    appended: list[str] = []
    for loop in export_candidates(book, TODO_NAME, options.statuses, recorder.state):
        if has_conflict_markers(loop.body):
            results[loop.id] = LoopResult(loop.id, "skipped", note=CONFLICT_SKIP)
            continue
        ref = ref_of(loop, TODO_NAME)
        ids = {k: v for k, v in (ref or {}).items() if k == "key"}
        index = by_id.get(loop.id)
        if index is None and ids:
            index = _captured_line(raw, items, ids["key"], loop.title)
        local, echo = synced_fields(loop), adapter.echo(loop)
        if index is None:
            if loop.status not in ACTIVE_STATUSES:
                results[loop.id] = LoopResult(loop.id, "skipped", note="no line to close")
                continue
            merge = merge_export(local, None, echo, None)
            line = todotxt.render(adapter.new_item(loop, merge.remote))
            appended.append(line)
            result = LoopResult(loop.id, "created")
            result.change(REMOTE, "line", None, line)
        else:
            item = items[index]
            assert item is not None
            merge = merge_export(local, todo_fields(item), echo, base_of(recorder.state, loop, ref))
            tags = (
                (*merge.remote.tags, DECP_TAG) if DECP_TAG in item.contexts else merge.remote.tags
            )
            changed = todotxt.with_changes(
                item,
                title=merge.remote.title if "title" in merge.changed_remote else None,
                tags=tags if "tags" in merge.changed_remote else None,
                done=merge.remote.state != OPEN if "state" in merge.changed_remote else None,
                completion=_day(loop.updated),
                loop_id=loop.id,
            )
            old_line = raw[index].rstrip("\r\n")
            new_line = todotxt.render(changed) if changed != item else old_line
            result = LoopResult(loop.id, "unchanged", note=f"line {index + 1}")
            if new_line != old_line:
                ending = raw[index][len(old_line) :] or nl
                lines[index] = new_line + ending
                result.action = "updated"
                result.change(REMOTE, "line", old_line, new_line)
            if merge.conflicts:
                result.action = "conflict"
                result.conflicts = list(merge.conflicts)
                result.note = f"{', '.join(merge.conflicts)} changed on both sides: left as is; run `decp gtd import` to keep both"
        results[loop.id] = result
        recorder.record(loop.id, ids, merge.base)
    if appended:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += nl
        lines.extend(line + nl for line in appended)
    new_text = "".join(lines)
    if not options.dry_run and new_text != "".join(raw):
        atomic_write(path, new_text)


def _captured_line(
    raw: list[str], items: list[todotxt.TodoItem | None], key: str, title: str
) -> int | None:
    """Find the line a loop was captured from, by its fingerprint or, if edited since, its title."""
    for index, item in enumerate(items):
        if item is not None and item.captured and fingerprint(raw[index].strip()) == key:
            return index
    for index, item in enumerate(items):
        if item is not None and item.captured and " ".join(item.text.split()) == title:
            return index
    return None


def import_todo(config: Config, options: SyncOptions) -> SyncReport:
    path = file_path(config, options, "todotxt_file")
    report = SyncReport("import", TODO_NAME, str(path), options.dry_run)
    adapter = TodoAdapter(config.name, path)
    if not path.exists():
        read_text(path)  # the standard "file not found" error, with the path
    raw, items, _ = _read_todo(path)
    remote: list[RemoteItem] = []
    for index, item in enumerate(items):
        if item is None:
            continue
        captured = item.captured and not item.done
        key = fingerprint(raw[index].strip()) if captured else f"line-{index + 1}"
        remote.append(
            RemoteItem(
                key=key,
                loop_id=item.loop_id,
                fields=todo_fields(item),
                captured=captured,
                done_on=item.completion,
                where=f"line {index + 1}",
                ids={"key": key} if captured else {},
            )
        )
    import_items(
        config, adapter, remote, report, key_of=lambda ref: ref.get("key"), dry_run=options.dry_run
    )
    return report

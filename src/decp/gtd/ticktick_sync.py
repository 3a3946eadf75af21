"""Loops ↔ TickTick tasks over the Open API.

A task holds `[LOOP-003] <title>`, notes made of the loop body plus a footer
pointing back to the repo, and the loop's tags plus `decp`. Updates post the
whole task object back (read, merge, post), so fields decp does not own
(dates, reminders, priority, checklist items) survive every export.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from decp.core.errors import DecpError
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
    ABANDONED,
    DECP_TAG,
    DONE,
    NO_REASON,
    OPEN,
    Fields,
    has_conflict_markers,
    merge_export,
    normalize_text,
    parse_notes,
    render_notes,
    split_task_title,
    task_title,
)
from decp.gtd.report import REMOTE, LoopResult, SyncReport
from decp.gtd.ticktick import (
    API_HOSTS,
    BASE_URL_ENV,
    DEFAULT_API_URL,
    INBOX,
    STATUS_ABANDONED,
    STATUS_COMPLETED,
    STATUS_OPEN,
    TickTickAuthError,
    TickTickClient,
    TickTickError,
    TickTickNotFound,
    check_url,
    parse_date,
    trusted_url,
)

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.handoff.loops import Loop

NAME = "ticktick"
LABEL = "TickTick"
DEFAULT_LIST = "decp"
STATES = {STATUS_OPEN: OPEN, 1: DONE, STATUS_COMPLETED: DONE, STATUS_ABANDONED: ABANDONED}
# The Open API v1 cannot set "won't do" (-1; only the private v2 API can), so a
# rejected loop goes out completed with a `Rejected: WHY` footer line. Reading
# back, -1 (set in the app, or in a CSV backup) and completed-with-that-line
# both mean rejected. See docs/how-to/gtd-ticktick.md.
STATUS_CODES = {OPEN: STATUS_OPEN, DONE: STATUS_COMPLETED, ABANDONED: STATUS_COMPLETED}


def api_url(config: Config) -> str:
    """Where the token goes: $DECP_TICKTICK_BASE_URL as given (the user's own choice),
    else decp.toml's URL only if it is https on an official host (the repo is untrusted)."""
    override = os.environ.get(BASE_URL_ENV, "").strip()
    if override:
        return check_url(override, f"${BASE_URL_ENV}")
    configured = str(config.gtd.get("ticktick_api_url") or DEFAULT_API_URL)
    return trusted_url(configured, "gtd.ticktick_api_url", API_HOSTS, config.config_path)


def list_name(config: Config) -> str:
    return str(config.gtd.get("ticktick_list") or DEFAULT_LIST).strip() or DEFAULT_LIST


def open_client(config: Config, dry_run: bool) -> TickTickClient:
    from decp.gtd.auth import require_token

    return TickTickClient(api_url(config), require_token().secret, read_only=dry_run)


# --- the task shape ---------------------------------------------------------


def task_fields(task: dict[str, Any]) -> tuple[str | None, Fields]:
    """A task read back in loop terms, and the loop id it names (title prefix or footer)."""
    from decp.handoff.loops import normalize_title

    loop_id, title = split_task_title(str(task.get("title") or ""))
    notes = parse_notes(str(task.get("content") or ""))
    raw_tags = task.get("tags")
    if not isinstance(raw_tags, list):
        raw_tags = []
    tags = tuple(str(t) for t in raw_tags if str(t).lower() != DECP_TAG)
    try:
        state = STATES.get(int(task.get("status") or 0), OPEN)
    except (TypeError, ValueError, OverflowError):
        state = OPEN
    if state == DONE and notes.rejected is not None:
        state = ABANDONED
    return loop_id or notes.loop_id, Fields(normalize_title(title), notes.body, tags, state)


def render_task(
    loop: Loop, fields: Fields, repo: str, task: dict[str, Any] | None
) -> dict[str, Any]:
    """The full task object with decp's fields set and everything else kept."""
    out = dict(task or {})
    out["title"] = task_title(loop.id, fields.title)
    out["content"] = render_notes(
        fields.body or "",
        context=loop.context,
        source=loop.source,
        loop_id=loop.id,
        repo=repo,
        rejected=(loop.outcome or NO_REASON) if fields.state == ABANDONED else None,
    )
    tags = list(fields.tags)
    old = [str(t) for t in (task or {}).get("tags") or []]
    decp = next((t for t in old if t.lower() == DECP_TAG), DECP_TAG)
    out["tags"] = [*tags, decp]
    return out


class TickTickAdapter:
    name = NAME
    label = LABEL

    def __init__(self, repo: str) -> None:
        self.repo = repo

    def echo(self, loop: Loop) -> Fields:
        fields = synced_fields(loop)
        task = render_task(loop, fields, self.repo, None)
        task["status"] = STATUS_CODES[fields.state]
        return task_fields(task)[1]


def _differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a.get("title") != b.get("title")
        or normalize_text(str(a.get("content") or ""))
        != normalize_text(str(b.get("content") or ""))
        or {str(t).lower() for t in a.get("tags") or []}
        != {str(t).lower() for t in b.get("tags") or []}
    )


def find_project(client: TickTickClient, name: str) -> dict[str, Any] | None:
    if name.lower() == INBOX:
        return {"id": INBOX, "name": "Inbox"}
    projects = [p for p in client.list_projects() if isinstance(p, dict)]
    for match in (
        lambda p: p.get("name") == name and not p.get("closed"),
        lambda p: str(p.get("name", "")).lower() == name.lower() and not p.get("closed"),
        lambda p: str(p.get("name", "")).lower() == name.lower(),
    ):
        found = [p for p in projects if match(p)]
        if found:
            return found[0]
    return None


# --- export -----------------------------------------------------------------


def export_ticktick(config: Config, options: SyncOptions) -> SyncReport:
    from decp.handoff.loops import read_loops

    name = list_name(config)
    report = SyncReport("export", NAME, f"list {name!r}", options.dry_run)
    adapter = TickTickAdapter(config.name)
    recorder = Recorder(config, NAME)
    book = read_loops(config)
    candidates = export_candidates(book, NAME, options.statuses, recorder.state)
    results: dict[str, LoopResult] = {}
    if not candidates:
        report.notes.append(f"no loops with status {', '.join(options.statuses)} to export")
        return report
    with open_client(config, options.dry_run) as client:
        project = find_project(client, name)
        if project is None:
            if options.dry_run:
                report.notes.append(f"would create the list {name!r}")
            else:
                project = client.create_project(name)
                report.notes.append(f"created the list {name!r}")
        project_id = str(project["id"]) if project else ""
        open_tasks = (client.project_data(project_id).get("tasks") or []) if project else []
        by_id = {str(t.get("id")): t for t in open_tasks}
        by_loop: dict[str, dict[str, Any]] = {}
        for task in open_tasks:
            loop_id = task_fields(task)[0]
            if loop_id and loop_id not in by_loop:
                by_loop[loop_id] = task
        mapped_tasks = {(ref_of(loop, NAME) or {}).get("task") for loop in book.loops}
        for position, loop in enumerate(candidates):
            try:
                result = _export_one(
                    loop,
                    client,
                    project_id,
                    by_id,
                    by_loop,
                    mapped_tasks,
                    adapter,
                    recorder,
                    options,
                )
            except TickTickAuthError as exc:
                results[loop.id] = LoopResult(loop.id, "failed", error=exc.one_line())
                for rest in candidates[position + 1 :]:
                    results[rest.id] = LoopResult(
                        rest.id, "failed", error="not tried: the token was refused."
                    )
                break
            except TickTickError as exc:
                result = LoopResult(loop.id, "failed", error=exc.one_line())
            results[loop.id] = result
    if not options.dry_run and recorder.refs:
        with loop_book(config, dry_run=False) as fresh:
            recorder.apply(fresh, results)
    else:
        recorder.set_refs(book, results)
    report.results.extend(results.values())
    return report


def _export_one(
    loop: Loop,
    client: TickTickClient,
    project_id: str,
    by_id: dict[str, dict[str, Any]],
    by_loop: dict[str, dict[str, Any]],
    mapped_tasks: set[str | None],
    adapter: TickTickAdapter,
    recorder: Recorder,
    options: SyncOptions,
) -> LoopResult:
    from decp.handoff.loops import ACTIVE_STATUSES

    ref = ref_of(loop, NAME)
    if has_conflict_markers(loop.body):
        return LoopResult(
            loop.id,
            "skipped",
            note="resolve the marked conflict in its body first (then drop the conflict tag)",
        )
    task: dict[str, Any] | None = None
    note = ""
    if ref and ref.get("task"):
        task = by_id.get(ref["task"])
        if task is None:
            try:
                task = client.get_task(ref.get("project") or project_id, ref["task"])
            except TickTickNotFound:
                note = "its task is gone from TickTick"
    base = base_of(recorder.state, loop, ref) if task is not None else None
    adopted = False
    if task is None:
        candidate = by_loop.get(loop.id)
        if candidate is not None and str(candidate.get("id")) not in mapped_tasks:
            task, adopted = candidate, True
            note = "found its task from an earlier run; no duplicate created"
    local = synced_fields(loop)
    echo = adapter.echo(loop)
    if task is None:
        if loop.status not in ACTIVE_STATUSES:
            return LoopResult(loop.id, "skipped", note=note or "no task to close")
        merge = merge_export(local, None, echo, None)
        new_task = render_task(loop, merge.remote, adapter.repo, {"projectId": project_id or INBOX})
        result = LoopResult(loop.id, "created", note=("recreated: " + note) if note else "")
        for key in ("title", "content", "tags"):
            result.change(REMOTE, key, None, new_task[key])
        if options.dry_run:
            return result
        created = client.create_task(new_task)
        ids = {"task": str(created["id"]), "project": str(created.get("projectId") or project_id)}
        recorder.record(loop.id, ids, merge.base)
        return result
    _, remote = task_fields(task)
    merge = merge_export(local, remote, echo, base)
    desired = render_task(loop, merge.remote, adapter.repo, task)
    result = LoopResult(loop.id, "adopted" if adopted else "unchanged", note=note)
    for key in ("title", "content", "tags"):
        if _differs({key: task.get(key)}, {key: desired.get(key)}):
            result.change(REMOTE, key, task.get(key), desired.get(key))
    push_state = merge.remote.state != remote.state
    finish = push_state and merge.remote.state in (DONE, ABANDONED)
    if push_state:
        result.change(REMOTE, "state", remote.state, merge.remote.state)
        if merge.remote.state == OPEN:
            desired["status"] = STATUS_OPEN
    if merge.conflicts:
        result.conflicts = list(merge.conflicts)
        result.note = f"{', '.join(merge.conflicts)} changed on both sides: left as is; run `decp gtd import` to keep both"
    if result.changes and result.action == "unchanged":
        result.action = "conflict" if merge.conflicts else "updated"
    elif merge.conflicts and result.action == "unchanged":
        result.action = "conflict"
    ids = {"task": str(task["id"]), "project": str(task.get("projectId") or project_id)}
    if options.dry_run:
        return result
    if _differs(task, desired) or (push_state and merge.remote.state == OPEN):
        client.update_task(desired)
    if finish and _status(task) != STATUS_COMPLETED:
        # Rejected too: v1 has no "won't do", so it is completed with its `Rejected:` line.
        client.complete_task(ids["project"], ids["task"])
    if merge.base != base or adopted or {k: v for k, v in (ref or {}).items() if k != "h"} != ids:
        recorder.record(loop.id, ids, merge.base)
    return result


def _status(task: dict[str, Any]) -> int | None:
    try:
        return int(task.get("status") or 0)
    except (TypeError, ValueError, OverflowError):
        return None


# --- import -----------------------------------------------------------------


def _item(task: dict[str, Any]) -> RemoteItem:
    loop_id, fields = task_fields(task)
    done = parse_date(task.get("completedTime"))
    tags = {str(t).lower() for t in task.get("tags") or []}
    task_id = str(task.get("id"))
    return RemoteItem(
        key=task_id,
        loop_id=loop_id,
        fields=fields,
        captured=loop_id is None and DECP_TAG in tags and fields.state == OPEN,
        done_on=done.date().isoformat() if done else "",
        where=f"task {task_id}",
        ids={"task": task_id, "project": str(task.get("projectId") or "")},
    )


def import_ticktick(config: Config, options: SyncOptions) -> SyncReport:
    from decp.handoff.loops import read_loops

    name = list_name(config)
    report = SyncReport("import", NAME, f"list {name!r}", options.dry_run)
    adapter = TickTickAdapter(config.name)
    book = read_loops(config)
    state = Recorder(config, NAME).state
    with open_client(config, options.dry_run) as client:
        project = find_project(client, name)
        if project is None:
            raise DecpError(
                f"TickTick has no list named {name!r}.",
                fix="run `decp gtd export --to ticktick` first, or set [gtd] ticktick_list to an existing list.",
            )
        project_id = str(project["id"])
        tasks = {str(t.get("id")): t for t in client.project_data(project_id).get("tasks") or []}
        missing: dict[str, tuple[Loop, dict[str, str]]] = {}
        for loop in book.loops:
            ref = ref_of(loop, NAME)
            if ref and ref.get("task") and ref["task"] not in tasks and loop.active:
                missing[ref["task"]] = (loop, ref)
        if missing:
            since = _since([state.entry(lp.id, rf.get("h")) for lp, rf in missing.values()])
            for task in client.completed_tasks([project_id], since):
                if str(task.get("id")) in missing:
                    tasks[str(task["id"])] = task
            for task_id, (loop, ref) in missing.items():
                if task_id in tasks:
                    continue
                try:
                    tasks[task_id] = client.get_task(ref.get("project") or project_id, task_id)
                except TickTickNotFound:
                    report.notes.append(
                        f"{loop.id}: its task {task_id} is gone from TickTick (deleted or moved); loop left as is."
                    )
    items = [_item(task) for task in tasks.values()]
    import_items(
        config, adapter, items, report, key_of=lambda ref: ref.get("task"), dry_run=options.dry_run
    )
    return report


def _since(entries: list[dict[str, Any] | None]) -> datetime:
    """Look for completions from a day before the oldest last sync (90 days without one)."""
    stamps = [parse_date(str(e.get("at", "")).replace("Z", "+0000")) for e in entries if e]
    known = [s for s in stamps if s is not None]
    if not known or len(known) < len(entries):
        return datetime.now(UTC) - timedelta(days=90)
    return min(known) - timedelta(days=1)

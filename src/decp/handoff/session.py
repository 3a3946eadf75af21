"""Sessions: a start snapshot, and at the end a handoff summary a fresh agent can act on.

Why: the next session (or a colleague) should start from a page that says what
was done, what was decided and why, which loops moved, what context was used
and the exact next steps, instead of from chat history. `session start` records
a snapshot (loops, state, git HEAD) so `session end` can diff against it.

Files: `.project/sessions/<YYYY-MM-DD>-<n>.md` (commit them) and the runtime
snapshot `.project/sessions/.current.json` (gitignore it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core import gitinfo
from decp.core.clock import STAMP_FORMAT, now_iso, parse_time
from decp.core.errors import DataError
from decp.core.fsio import MAX_TEXT_BYTES, atomic_write, locked, read_text
from decp.core.mdoc import LineDoc, one_line
from decp.handoff.loops import DONE_STATUSES, Loop, read_loops
from decp.handoff.state import (
    Decision,
    commit_state,
    parse_decision_line,
    prepare_state,
    state_path,
)

if TYPE_CHECKING:
    from decp.core.config import Config

SESSIONS_DIR = "sessions"
CURRENT_NAME = ".current.json"
DOCS_PAGE = "patterns/session-handoff/"
_NAME_RE = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})-(?P<n>\d+)\.md")
_META_RE = re.compile(r"<!--[ \t]*decp:session[ \t]+(?P<pairs>.*?)[ \t]*-->")
_SECTION_RE = re.compile(r"##[ \t]+(?P<name>.*?)[ \t]*")
_ITEM_RE = re.compile(r"(?:[-*]|\d+[.)])[ \t]+(?P<text>.*)")
GIT_ID_KEYS = ("start_head", "head", "tree")  # summary values decp passes to git
LOOP_KINDS = ("Closed", "Opened", "Still open", "Awaiting approval")
_LOOP_ENTRY_RE = re.compile(
    r"(?P<kind>Closed|Opened|Still open|Awaiting approval):[ \t]*"
    r"(?P<id>LOOP-\d+) \((?P<status>[a-z]+)\) (?P<title>.*?)(?: → (?P<outcome>.*))?"
)
_COMMENT_RE = re.compile(r"<!--[ \t]*(?P<text>.*?)[ \t]*-->")
GOAL_PLACEHOLDER = "(not set: `decp state set goal …`)"
NEXT_PLACEHOLDER = "(none recorded: ask the user)"
# what render() writes for an empty list; read back as "nothing"
PLACEHOLDERS = frozenset(
    {"(nothing recorded)", "(not recorded)", "(none)", "(no loops)", "(no ledger entries)"}
    | {NEXT_PLACEHOLDER}
)
_LABEL_RE = re.compile(r"\*\*(?P<label>Goal|Task):\*\*[ \t]*(?P<text>.*?)[ \t]*")


MAX_PROTOCOL_FILE_BYTES = MAX_TEXT_BYTES  # every protocol file is read under this cap
MAX_SUMMARY_BYTES = 4 * 2**20


def sessions_dir(config: Config) -> Path:
    return config.project_dir / SESSIONS_DIR


def current_path(config: Config) -> Path:
    return sessions_dir(config) / CURRENT_NAME


# ---------------------------------------------------------------- start


@dataclass
class Snapshot:
    """What the session started from, so its end can say what moved."""

    started: str
    head: str | None
    branch: str | None
    loops: dict[str, str]  # id → status
    state: dict[str, str]
    decisions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_snapshot(config: Config) -> Snapshot | None:
    path = current_path(config)
    if not path.exists():
        return None
    try:
        data = json.loads(read_text(path))
        head = data.get("head")
        if head is not None:
            gitinfo.object_id(str(head), key="head", path=path)
        return Snapshot(
            started=str(data["started"]),
            head=head,
            branch=data.get("branch"),
            loops=dict(data.get("loops", {})),
            state=dict(data.get("state", {})),
            decisions=list(data.get("decisions", [])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"unreadable session snapshot ({exc}).",
            path=path,
            fix=f"delete {path.name} and run `decp session start` again.",
        ) from exc


def start_session(config: Config, *, force: bool = False) -> Snapshot:
    """Record the start; refuses when a session is already running (unless forced)."""
    from decp.handoff.state import read_state

    path = current_path(config)
    with locked(path):
        running = read_snapshot(config)
        if running is not None and not force:
            raise DataError(
                f"a session is already running since {running.started}.",
                path=path,
                fix="end it with `decp session end --done … --next …`, "
                "or discard its snapshot with `decp session start --force`.",
            )
        book = read_loops(config)
        state = read_state(config)
        snapshot = Snapshot(
            started=now_iso(),
            head=gitinfo.head(config.root),
            branch=gitinfo.branch(config.root),
            loops={loop.id: loop.status for loop in book.loops},
            state={k: v for k, v in state.fields.items()},
            decisions=[d.id for d in state.decisions],
        )
        atomic_write(path, json.dumps(snapshot.to_dict(), indent=2) + "\n")
    return snapshot


# ---------------------------------------------------------------- summary


@dataclass
class LoopLine:
    id: str
    status: str
    title: str
    outcome: str = ""

    @classmethod
    def of(cls, loop: Loop) -> LoopLine:
        return cls(loop.id, loop.status, loop.title, loop.outcome)

    def text(self) -> str:
        outcome = f" → {one_line(self.outcome)}" if one_line(self.outcome) else ""
        return f"{self.id} ({self.status}) {one_line(self.title)}{outcome}"

    @property
    def number(self) -> int:
        digits = self.id.rpartition("-")[2]
        return int(digits) if digits.isdigit() else 0


OPEN_STATUSES = ("open", "clarifying")  # "still open" = what `decp loop list --status open` shows


@dataclass
class Summary:
    """One session's handoff, as written to (and read back from) its Markdown file."""

    name: str
    path: str
    started: str
    ended: str
    head: str | None
    branch: str | None
    goal: str
    task: str
    done: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    opened: list[LoopLine] = field(default_factory=list)
    closed: list[LoopLine] = field(default_factory=list)
    still_open: list[LoopLine] = field(default_factory=list)
    awaiting: list[LoopLine] = field(default_factory=list)
    context_loaded: list[str] = field(default_factory=list)
    context_excluded: list[str] = field(default_factory=list)
    budget_line: str = ""
    verified: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    baseline: str = ""  # how loop changes were computed
    start_head: str | None = None
    tree: str | None = None  # tracked files at the end (see gitinfo.worktree_snapshot)
    warnings: list[str] = field(default_factory=list)  # for stderr; not written to the file

    def counts_line(self) -> str:
        """The loop counts, equal to what `decp loop list` shows now (open + awaiting = active)."""
        return (
            f"loops: {len(self.opened)} opened, {len(self.closed)} closed, "
            f"{len(self.still_open)} still open, {len(self.awaiting)} awaiting approval."
        )

    def notes(self) -> list[str]:
        """What `decp session end` prints to stderr, one line each: warnings, then the counts."""
        return [
            *(f"warning: {w}" for w in self.warnings),
            f"{len(self.decisions)} decision(s) moved from STATE.md; {self.counts_line()}",
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decisions"] = [d.to_dict() for d in self.decisions]
        return data

    def render(self) -> str:
        meta = (
            f"started={self.started} ended={self.ended} "
            f"start_head={self.start_head or '-'} head={self.head or '-'} tree={self.tree or '-'}"
        )
        if self.branch:
            meta += f" branch={self.branch}"
        lines = [f"# Session {self.name}", f"<!-- decp:session {meta} -->", ""]
        lines.append(f"**Goal:** {one_line(self.goal) or GOAL_PLACEHOLDER}")
        if one_line(self.task):
            lines.append(f"**Task:** {one_line(self.task)}")
        lines += ["", "## Done", *_items(self.done, "(nothing recorded)")]
        lines += ["", "## Decisions", *([d.line() for d in self.decisions] or ["- (none)"])]
        lines += ["", "## Loops"]
        if one_line(self.baseline):
            lines.append(f"<!-- {one_line(self.baseline).replace('-->', '-- >')} -->")
        new_ids = {x.id for x in self.opened}
        loop_lines = (
            [f"- Closed: {x.text()}" for x in self.closed]
            + [f"- Opened: {x.text()}" for x in self.opened]
            + [f"- Still open: {x.text()}" for x in self.still_open if x.id not in new_ids]
            + [f"- Awaiting approval: {x.text()}" for x in self.awaiting if x.id not in new_ids]
        )
        lines += loop_lines or ["- (no loops)"]
        lines += ["", "## Context"]
        lines += [f"- Loaded: {one_line(x)}" for x in self.context_loaded]
        lines += [f"- Excluded: {one_line(x)}" for x in self.context_excluded]
        if not (self.context_loaded or self.context_excluded):
            lines.append("- (no ledger entries)")
        if one_line(self.budget_line):
            lines.append(f"- {one_line(self.budget_line)}")
        lines += ["", "## Verified", *_items(self.verified, "(not recorded)")]
        lines += ["", "## Next steps"]
        lines += [f"{n}. {one_line(step)}" for n, step in enumerate(self.next_steps, 1)] or [
            f"1. {NEXT_PLACEHOLDER}"
        ]
        return "\n".join(lines) + "\n"


def _by_number(lines: Iterable[LoopLine]) -> list[LoopLine]:
    """Loop lines in id order, each id once (the first seen wins)."""
    unique: dict[str, LoopLine] = {}
    for line in lines:
        unique.setdefault(line.id, line)
    return sorted(unique.values(), key=lambda x: x.number)


def _items(values: list[str], empty: str) -> list[str]:
    """One `- item` line each; a user's line break can never start a new line or section."""
    return [f"- {one_line(v)}" for v in values] or [f"- {empty}"]


def _ledger_lines(config: Config) -> tuple[list[str], list[str], str]:
    """Loaded/excluded lines and the budget line from CONTEXT.md (decp.context.ledger)."""
    from decp.context.ledger import budget_status, read_ledger

    ledger = read_ledger(config)

    def fmt(entry: Any) -> str:
        tokens = f", {entry.tokens:,} tokens" if entry.tokens is not None else ""
        why = f": {entry.why}" if entry.why else ""
        return f"`{entry.target}` ({entry.kind}{tokens}){why}"

    return (
        [fmt(e) for e in ledger.loaded],
        [fmt(e) for e in ledger.excluded],
        budget_status(config, ledger).line(),
    )


def session_files(config: Config) -> list[Path]:
    """Summaries oldest first, by date then number (2026-01-02-10 after -9)."""
    folder = sessions_dir(config)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME_RE.fullmatch(path.name)
        if match and path.is_file():
            found.append(((match["date"], int(match["n"])), path))
    return [path for _, path in sorted(found)]


def _next_name(config: Config, date: str) -> str:
    numbers = [
        int(m["n"])
        for path in session_files(config)
        if (m := _NAME_RE.fullmatch(path.name)) and m["date"] == date
    ]
    return f"{date}-{max(numbers, default=0) + 1}"


def _loop_changes(
    loops: list[Loop], snapshot: Snapshot | None, baseline: datetime | None
) -> tuple[list[LoopLine], list[LoopLine]]:
    """Loops opened and closed during the session (by snapshot, else by timestamps)."""
    opened: list[LoopLine] = []
    closed: list[LoopLine] = []
    for loop in loops:
        if snapshot is not None:
            before = snapshot.loops.get(loop.id)
            is_new = before is None
            was_done = before in DONE_STATUSES
        else:
            created, updated = parse_time(loop.created), parse_time(loop.updated)
            is_new = baseline is None or (created is not None and created > baseline)
            was_done = not (baseline is None or (updated is not None and updated > baseline))
        if is_new:
            opened.append(LoopLine.of(loop))
        if loop.status in DONE_STATUSES and not was_done:
            closed.append(LoopLine.of(loop))
    return opened, closed


@dataclass
class _Baseline:
    """What `session end` diffs against: the start snapshot, else the last summary, else the stamp."""

    snapshot: Snapshot | None  # loop statuses to compare with (else timestamps)
    time: datetime | None  # loops created/updated after this moved (without a snapshot)
    started: str
    start_head: str | None
    label: str  # written into the summary as a comment
    warnings: list[str] = field(default_factory=list)


NO_START = "no `decp session start` was run"
START_FIX = "run `decp session start` when the next session begins."


def _baseline(config: Config, snapshot: Snapshot | None, previous: Summary | None) -> _Baseline:
    if snapshot is not None:
        return _Baseline(
            snapshot,
            None,
            snapshot.started,
            snapshot.head,
            f"loop changes since `decp session start` at {snapshot.started}",
        )
    if previous is not None:
        return _Baseline(
            None,
            parse_time(previous.ended),
            previous.ended,
            previous.head,
            f"no session start snapshot: loop changes since {previous.name} ended",
            [f"{NO_START}: loops counted since session {previous.name} ended; {START_FIX}"],
        )
    stamp = gitinfo.stamp_commit(config.root)
    if stamp is not None:
        when = gitinfo.commit_time(config.root, stamp)
        started = when.strftime(STAMP_FORMAT) if when else ""
        short = gitinfo.short(stamp)
        return _Baseline(
            _stamp_snapshot(config, stamp, started),
            when,
            started,
            stamp,
            f"no session start snapshot and no earlier session: loop changes since the stamp "
            f"commit {short}",
            [
                f"{NO_START} and there is no earlier session: loops counted since the stamp "
                f"commit {short} (the first commit with .project/); {START_FIX}"
            ],
        )
    return _Baseline(
        None,
        None,
        "",
        None,
        "no session start snapshot and no earlier session: all loops listed",
        [
            f"{NO_START}, there is no earlier session and git has no stamp commit: "
            f"every loop is listed as opened; {START_FIX}"
        ],
    )


def _stamp_snapshot(config: Config, stamp: str, started: str) -> Snapshot | None:
    """Loop statuses as committed in the stamp commit (None if that LOOPS.md is unreadable)."""
    from decp.handoff.loops import loops_path, parse_loops

    path = loops_path(config)
    text = gitinfo.file_at(config.root, stamp, path.relative_to(config.root).as_posix())
    try:
        book = parse_loops(text, path, config.docs_url) if text is not None else None
    except DataError:
        return None  # fall back to timestamps: the old file is not ours to judge
    loops = {loop.id: loop.status for loop in book.loops} if book else {}
    return Snapshot(started, stamp, None, loops, {}, [])


def end_session(
    config: Config,
    *,
    done: list[str] | None = None,
    next_steps: list[str] | None = None,
    verified: list[str] | None = None,
) -> Summary:
    """Write the session summary, move STATE's decisions into it, clear the snapshot.

    Everything is computed and cap-checked first; then the summary is written,
    then STATE.md, then the snapshot is removed.
    """
    done = [one_line(x) for x in done or [] if one_line(x)]
    next_steps = [one_line(x) for x in next_steps or [] if one_line(x)]
    verified = [one_line(x) for x in verified or [] if one_line(x)]
    snap_path = current_path(config)
    with locked(state_path(config)), locked(snap_path):
        snapshot = read_snapshot(config)
        previous = latest_summary(config)
        base = _baseline(config, snapshot, previous)
        doc = prepare_state(config)
        book = read_loops(config)
        ended = now_iso()
        name = _next_name(config, ended[:10])
        path = sessions_dir(config) / f"{name}.md"
        opened, closed = _loop_changes(book.loops, base.snapshot, base.time)
        closed_ids = {x.id for x in closed}
        opened = [x for x in opened if x.id not in closed_ids]
        loaded, excluded, budget_line = _ledger_lines(config)
        decisions = list(doc.decisions)
        summary = Summary(
            name=name,
            path=str(path.relative_to(config.root)),
            started=base.started,
            ended=ended,
            head=gitinfo.head(config.root),
            branch=gitinfo.branch(config.root),
            goal=doc.fields.get("goal", ""),
            task=doc.fields.get("task", ""),
            done=done or ([doc.fields["last_action"]] if doc.fields.get("last_action") else []),
            decisions=decisions,
            opened=opened,
            closed=closed,
            still_open=_by_number(LoopLine.of(x) for x in book.loops if x.status in OPEN_STATUSES),
            awaiting=_by_number(LoopLine.of(x) for x in book.loops if x.status == "proposed"),
            context_loaded=loaded,
            context_excluded=excluded,
            budget_line=budget_line,
            verified=verified,
            next_steps=next_steps
            or ([doc.fields["next_action"]] if doc.fields.get("next_action") else []),
            baseline=base.label,
            start_head=base.start_head,
            tree=gitinfo.worktree_snapshot(config.root),
            warnings=base.warnings,
        )
        doc.remove_decisions([d.id for d in decisions])
        if done:
            doc.set("last_action", done[-1])
        if next_steps:
            doc.set("next_action", next_steps[0])
        # validate the STATE.md write before anything touches the disk
        from decp.handoff.state import check_cap

        check_cap(config, doc.original_text, doc.render(), doc.path)
        atomic_write(path, summary.render())
        commit_state(config, doc)
        snap_path.unlink(missing_ok=True)
    # The next session starts with an empty context: the summary now holds what
    # this one loaded, so the ledger's "Loaded" rows can go (exclusions stay).
    from decp.context.ledger import read_ledger, unload_many

    unload_many(config, [entry.target for entry in read_ledger(config).loaded])
    return summary


# ---------------------------------------------------------------- reading summaries


def parse_summary(path: Path, root: Path | None = None, *, with_loops: bool = True) -> Summary:
    """Read a summary back (tolerant: hand edits are fine, unknown sections ignored).

    Summaries are committed team files, so they are untrusted: the git ids in the
    meta line must be hex (they reach `git diff`), and a file still holding merge
    conflict markers is refused rather than half read. `with_loops=False` skips the
    loop lines (the resume pack needs only the meta line and the next steps; a
    summary of 10,000 open loops is mostly loop lines).
    """
    shown = path.relative_to(root) if root and path.is_relative_to(root) else path
    doc = LineDoc.parse(read_text(path, max_bytes=MAX_SUMMARY_BYTES), shown)
    meta: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    loops: dict[str, list[LoopLine]] = {kind: [] for kind in LOOP_KINDS}
    goal = task = baseline = ""
    current = ""
    decisions: list[Decision] = []
    for index in range(len(doc.lines)):
        number = index + 1
        line = doc.body(index).rstrip()
        stripped = line.strip()
        found = _META_RE.fullmatch(stripped)
        if found and not meta:
            meta = dict(pair.split("=", 1) for pair in found["pairs"].split() if "=" in pair)
            for key in GIT_ID_KEYS:
                if meta.get(key, "-") != "-":
                    gitinfo.object_id(meta[key], key=key, path=shown, line=number)
            continue
        label = _LABEL_RE.fullmatch(line)
        if label and not current:
            value = "" if label["text"] == GOAL_PLACEHOLDER else label["text"]
            if label["label"] == "Goal":
                goal = value
            else:
                task = value
            continue
        heading = _SECTION_RE.fullmatch(line)
        if heading:
            current = heading["name"].strip().lower()
            sections.setdefault(current, [])
            continue
        if current == "loops" and not baseline and (comment := _COMMENT_RE.fullmatch(stripped)):
            baseline = comment["text"]
            continue
        item = _ITEM_RE.fullmatch(stripped)
        if not (current and item):
            continue
        body = item["text"].strip()
        if current == "decisions" and body.startswith("DECISION-"):
            decisions.append(parse_decision_line(stripped, shown, number))
        elif current == "loops" and not with_loops:
            continue
        elif current == "loops" and (entry := _LOOP_ENTRY_RE.fullmatch(body)):
            loops[entry["kind"]].append(
                LoopLine(entry["id"], entry["status"], entry["title"], entry["outcome"] or "")
            )
        elif body not in PLACEHOLDERS:
            sections[current].append(body)

    context = sections.get("context", [])
    opened, listed = loops["Opened"], loops["Still open"] + loops["Awaiting approval"]
    return Summary(
        name=path.stem,
        path=str(path.relative_to(root)) if root else str(path),
        started=meta.get("started", ""),
        ended=meta.get("ended", ""),
        head=None if meta.get("head") in (None, "-") else meta.get("head"),
        branch=meta.get("branch"),
        goal=goal,
        task=task,
        done=sections.get("done", []),
        decisions=decisions,
        opened=opened,
        closed=loops["Closed"],
        # a loop opened in the session is listed once (under Opened) but counts as
        # open/awaiting; older files listed proposals under "Still open"
        still_open=_by_number(x for x in opened + listed if x.status in OPEN_STATUSES),
        awaiting=_by_number(x for x in opened + listed if x.status == "proposed"),
        context_loaded=[x.removeprefix("Loaded: ") for x in context if x.startswith("Loaded: ")],
        context_excluded=[
            x.removeprefix("Excluded: ") for x in context if x.startswith("Excluded: ")
        ],
        budget_line=next((x for x in context if not x.startswith(("Loaded: ", "Excluded: "))), ""),
        verified=sections.get("verified", []),
        next_steps=sections.get("next steps", []),
        baseline=baseline,
        start_head=None if meta.get("start_head") in (None, "-") else meta.get("start_head"),
        tree=None if meta.get("tree") in (None, "-") else meta.get("tree"),
    )


def latest_summary(config: Config, *, with_loops: bool = True) -> Summary | None:
    files = session_files(config)
    return parse_summary(files[-1], config.root, with_loops=with_loops) if files else None


_DECISION_ID_RE = re.compile(r"^[ \t]*[-*][ \t]+DECISION-(?P<num>\d+)\b", re.MULTILINE)


def decision_numbers_in_summaries(config: Config) -> set[int]:
    """Every DECISION-NNN number the session summaries hold.

    Why: decisions move out of STATE.md at `session end`; if STATE.md loses its
    high-water mark, the next id must still come after these (`state.add_decision`
    can take max() of this and its own mark). A plain scan: no summary is parsed.
    """
    numbers: set[int] = set()
    for path in session_files(config):
        text = read_text(path, max_bytes=MAX_SUMMARY_BYTES)
        numbers.update(int(m["num"]) for m in _DECISION_ID_RE.finditer(text))
    return numbers


def all_summaries(config: Config) -> list[Summary]:
    return [parse_summary(path, config.root) for path in session_files(config)]

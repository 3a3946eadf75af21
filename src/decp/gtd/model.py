"""The loop ↔ task mapping shared by every backend, and the three-way merges.

Why three-way: a task has no reliable modified timestamp, and both the user
(in TickTick, in todo.txt) and the session (in LOOPS.md) edit the same text.
Comparing each side with the snapshot taken at the last sync tells who changed
what; only when both changed the same field is there a conflict, and then both
texts are kept, marked, instead of one silently overwriting the other.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

# LOOPS.md's canonical text form is how synced texts compare (newlines unified,
# outer blank space gone); re-exported for the backend modules.
from decp.handoff.loops import normalize_text

LOOP_ID_RE = re.compile(r"\bLOOP-\d{3,}\b")
TITLE_PREFIX_RE = re.compile(r"^\s*\[(LOOP-\d{3,})\]\s*")
DECP_TAG = "decp"
CONFLICT_TAG = "conflict"

# Task states in backend terms; loop statuses map onto them.
OPEN, DONE, ABANDONED = "open", "done", "abandoned"
OPEN_STATUSES = ("proposed", "open", "clarifying")

# Conflict markers: git's, so editors highlight them and people know them.
MARK_LOCAL = "<<<<<<<"
MARK_SPLIT = "======="
MARK_REMOTE = ">>>>>>>"

FOOTER_KEYS = ("Context", "Source", "Rejected", "Loop")
# TickTick's Open API v1 cannot set "won't do" (status -1): a rejected loop goes
# out as a completed task whose footer says `Rejected: WHY`, and reads back as rejected.
REJECTED_KEY = "Rejected"
NO_REASON = "won't do"


def state_of_status(status: str) -> str:
    """A loop status in task terms: closed is done, rejected is abandoned."""
    if status == "closed":
        return DONE
    if status == "rejected":
        return ABANDONED
    return OPEN


@dataclass(frozen=True)
class Fields:
    """What is synced, in loop terms: the same shape on both sides.

    `body` is None when a backend cannot hold notes (todo.txt); such a field is
    neither pushed nor pulled.
    """

    title: str
    body: str | None
    tags: tuple[str, ...]
    state: str


def local_fields(loop: Any) -> Fields:
    return Fields(
        title=loop.title.strip(),
        body=normalize_text(loop.body),
        tags=tuple(loop.tags),
        state=state_of_status(loop.status),
    )


# --- titles and notes -------------------------------------------------------


def task_title(loop_id: str, title: str) -> str:
    return f"[{loop_id}] {title}"


def split_task_title(raw: str) -> tuple[str | None, str]:
    """`[LOOP-003] Decide X` → ("LOOP-003", "Decide X"); no prefix → (None, raw)."""
    match = TITLE_PREFIX_RE.match(raw)
    if not match:
        return None, raw.strip()
    return match.group(1), raw[match.end() :].strip()


def render_notes(
    body: str,
    *,
    context: str,
    source: str,
    loop_id: str,
    repo: str,
    rejected: str | None = None,
) -> str:
    """Task notes: the loop body, then a footer pointing back to the repo.

    The footer is the last paragraph and every line starts with a known key, so
    `parse_notes` can strip it exactly and hand the rest back as the body.
    """
    footer = []
    if context.strip():
        footer.append(f"Context: {' '.join(context.split())}")
    if source.strip():
        footer.append(f"Source: {' '.join(source.split())}")
    if rejected is not None:
        footer.append(f"{REJECTED_KEY}: {' '.join(rejected.split()) or NO_REASON}")
    footer.append(f"Loop: {loop_id} in {' '.join(repo.split())} .project/LOOPS.md (decp)")
    body = normalize_text(body)
    return f"{body}\n\n" + "\n".join(footer) if body else "\n".join(footer)


@dataclass(frozen=True)
class ParsedNotes:
    body: str
    loop_id: str | None = None
    context: str = ""
    source: str = ""
    rejected: str | None = None  # the footer's `Rejected:` reason, when decp sent it rejected


def _footer_values(paragraph: str) -> dict[str, str] | None:
    pairs = [line.split(": ", 1) for line in paragraph.split("\n")]
    if all(len(p) == 2 and p[0] in FOOTER_KEYS for p in pairs) and any(
        p[0] == "Loop" for p in pairs
    ):
        return {key: value for key, value in pairs}
    return None


def parse_notes(text: str) -> ParsedNotes:
    """Split task notes into the user's body and decp's footer, wherever it ended up.

    The user may write below the footer in TickTick; only the footer paragraph
    is cut out, the rest of the text is kept exactly.
    """
    text = normalize_text(text or "")
    parts = re.split(r"(\n[ \t]*\n)", text)  # paragraphs at even indices
    for index in range(len(parts) - 1, -1, -2):
        values = _footer_values(parts[index])
        if values is None:
            continue
        if index > 0:
            del parts[index - 1 : index + 1]
        else:
            del parts[index : index + 2]
        found = LOOP_ID_RE.search(values.get("Loop", ""))
        return ParsedNotes(
            body="".join(parts).strip(),
            loop_id=found.group(0) if found else None,
            context=values.get("Context", ""),
            source=values.get("Source", ""),
            rejected=values.get(REJECTED_KEY),
        )
    found = LOOP_ID_RE.search(text)
    return ParsedNotes(body=text, loop_id=found.group(0) if found else None)


# --- the loop's gtd field ---------------------------------------------------

_GTD_ENTRY_RE = re.compile(
    r"^([a-z][a-z-]*):([A-Za-z0-9_-]+=[A-Za-z0-9_.-]*(?:;[A-Za-z0-9_-]+=[A-Za-z0-9_.-]*)*)$"
)


class GtdFieldError(ValueError):
    """The loop's gtd field was edited into something decp cannot read."""


def parse_gtd(text: str) -> dict[str, dict[str, str]]:
    """`ticktick:task=6f2;project=5a1;h=1a2b todotxt:h=9f` → {backend: {key: value}}."""
    refs: dict[str, dict[str, str]] = {}
    for entry in text.split():
        match = _GTD_ENTRY_RE.match(entry)
        if not match:
            raise GtdFieldError(f"cannot read gtd entry {entry!r}")
        pairs = (pair.split("=", 1) for pair in match.group(2).split(";"))
        refs[match.group(1)] = {key: value for key, value in pairs}
    return refs


def format_gtd(refs: dict[str, dict[str, str]]) -> str:
    return " ".join(
        f"{backend}:" + ";".join(f"{k}={v}" for k, v in values.items())
        for backend, values in refs.items()
    )


def with_ref(text: str, backend: str, values: dict[str, str] | None) -> str:
    """The gtd field with one backend's entry replaced (or removed when values is None)."""
    refs = parse_gtd(text)
    if values is None:
        refs.pop(backend, None)
    else:
        refs[backend] = values
    return format_gtd(refs)


# --- snapshots and merges ---------------------------------------------------

# base[field] = [local value, remote value] as they were at the last sync;
# base["tags"] = the agreed tag list. JSON-friendly so it can live in a file.
Base = dict[str, Any]


def snapshot_hash(entry: dict[str, Any]) -> str:
    """Short fingerprint of a sync-state entry, kept in the loop's gtd field."""
    canonical = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]


def fingerprint(*parts: str) -> str:
    """Stable key for items that carry no id of ours (a captured todo.txt line)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:10]


SCALARS = ("title", "body", "state")


def _tags_follow(
    target: tuple[str, ...], source: set[str], agreed: list[str] | None
) -> tuple[str, ...]:
    """`target` with the tag additions and removals `source` made since the `agreed` set.

    Tags merge as sets and never conflict; without an agreed set (no snapshot)
    nothing is removed, only added. Used in both directions (import and export).
    """
    removed = set() if agreed is None else set(agreed) - source
    added = source if agreed is None else source - set(agreed)
    kept = [tag for tag in target if tag not in removed]
    return (*kept, *sorted(tag for tag in added if tag not in kept))


@dataclass
class Merge:
    """The outcome of merging one loop with one task."""

    local: Fields
    remote: Fields
    base: Base
    changed_local: list[str] = field(default_factory=list)
    changed_remote: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def merge_import(local: Fields, remote: Fields, echo: Fields, base: Base | None) -> Merge:
    """Pull what changed in the backend since the last sync into the loop's fields.

    `echo` is what the backend would show for the current local fields (the
    render → parse round trip), so formatting alone is never a change.
    Conflicting scalars keep the local value and are listed in `conflicts`;
    the caller keeps both texts visible (see `conflict_block`).
    """
    base = dict(base or {})
    out = Merge(local=local, remote=remote, base={})
    new_local = {name: getattr(local, name) for name in SCALARS}
    for name in SCALARS:
        mine, theirs, echoed = getattr(local, name), getattr(remote, name), getattr(echo, name)
        before = base.get(name)
        if theirs is None:
            if before is not None:
                out.base[name] = before
            continue
        if before is not None and theirs == before[1]:
            out.base[name] = before  # the backend did not touch it
            continue
        if theirs == echoed:
            out.base[name] = [mine, theirs]  # both already agree
            continue
        # Without a snapshot a finished task still finishes an open loop: ticking
        # it off is an explicit act and loses no text (the notes become the outcome).
        finished = before is None and name == "state" and mine == OPEN
        if (before is not None and mine == before[0]) or finished:
            new_local[name] = theirs
            out.changed_local.append(name)
            out.base[name] = [theirs, theirs]
            continue
        out.conflicts.append(name)
        out.base[name] = [mine, theirs]
    # Tags merge as sets: the backend's additions and removals since the last
    # sync apply to the loop's tags; they never conflict. Without a snapshot
    # nothing is removed. Afterwards the backend's tags are the agreed set.
    remote_tags = set(remote.tags)
    tags = _tags_follow(local.tags, remote_tags, base.get("tags"))
    if tags != local.tags:
        out.changed_local.append("tags")
    out.base["tags"] = sorted(remote_tags)
    out.local = replace(local, tags=tags, **{n: new_local[n] for n in SCALARS})
    return out


def merge_export(local: Fields, remote: Fields | None, echo: Fields, base: Base | None) -> Merge:
    """Decide what the task should look like after pushing local changes.

    Fields the backend changed since the last sync (and the loop did not) are
    left as the backend has them, to be pulled by the next import. Fields both
    sides changed are left alone and reported as conflicts.
    """
    if remote is None:  # a new task: everything local goes out
        return Merge(
            local=local,
            remote=echo,
            base=_fresh_base(local, echo),
            changed_remote=[n for n in ("title", "body", "tags") if getattr(echo, n)],
        )
    base = dict(base or {})
    out = Merge(local=local, remote=remote, base={})
    new_remote = {name: getattr(remote, name) for name in SCALARS}
    for name in SCALARS:
        mine, theirs, echoed = getattr(local, name), getattr(remote, name), getattr(echo, name)
        before = base.get(name)
        if theirs is None:
            if before is not None:
                out.base[name] = before
            continue
        if theirs == echoed:
            out.base[name] = [mine, theirs]
        elif before is not None and mine == before[0]:
            out.base[name] = before  # only the backend changed it: import will pull it
        elif before is not None and theirs == before[1]:
            new_remote[name] = echoed
            out.changed_remote.append(name)
            out.base[name] = [mine, echoed]
        else:
            out.conflicts.append(name)
            if before is not None:
                out.base[name] = before
    # The loop's tag additions and removals since the last sync apply to the
    # task; afterwards the loop's tags are the agreed set, so tag edits made
    # only in the backend stay pending for the next import.
    local_tags = set(local.tags)
    tags = _tags_follow(remote.tags, local_tags, base.get("tags"))
    if tags != remote.tags:
        out.changed_remote.append("tags")
    out.base["tags"] = sorted(local_tags)
    out.remote = replace(remote, tags=tags, **{n: new_remote[n] for n in SCALARS})
    return out


def _fresh_base(local: Fields, echo: Fields) -> Base:
    base: Base = {name: [getattr(local, name), getattr(echo, name)] for name in SCALARS}
    if echo.body is None:
        del base["body"]
    base["tags"] = sorted(set(echo.tags))
    return base


def conflict_block(what: str, mine: str, theirs: str, backend: str) -> str:
    """Both versions of a text, marked the way git marks a merge conflict."""
    return (
        f"{MARK_LOCAL} {what} in LOOPS.md\n{mine}\n{MARK_SPLIT}\n{theirs}\n"
        f"{MARK_REMOTE} {what} in {backend}"
    )


def has_conflict_markers(text: str) -> bool:
    return any(line.startswith(MARK_LOCAL + " ") for line in text.splitlines())


def resolve_conflicts_into_body(merge: Merge, backend: str) -> str:
    """The loop body after an import with conflicts: local text kept, theirs beside it."""
    body = merge.local.body or ""
    blocks = []
    if "body" in merge.conflicts:
        blocks.append(conflict_block("body", body, merge.remote.body or "", backend))
        body = ""
    if "title" in merge.conflicts:
        blocks.append(conflict_block("title", merge.local.title, merge.remote.title, backend))
    return "\n\n".join(part for part in (body, *blocks) if part)

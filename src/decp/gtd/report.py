"""What a sync did (or, in a dry run, would do), loop by loop and side by side.

Why loop by loop: a sync talks to a remote service that can fail halfway. The
user must see which loops went through, which failed and why, and that a rerun
picks up exactly the failed ones.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

LOCAL, REMOTE = "local", "remote"


@dataclass
class Change:
    side: str  # "local" (LOOPS.md) or "remote" (TickTick, the CSV, todo.txt)
    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "field": self.field, "before": self.before, "after": self.after}


@dataclass
class LoopResult:
    loop: str
    action: str  # created, updated, unchanged, adopted, new-loop, conflict, skipped, failed
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    note: str = ""
    error: str = ""

    def change(self, side: str, name: str, before: Any, after: Any) -> None:
        if before != after:
            self.changes.append(Change(side, name, before, after))

    def to_dict(self) -> dict[str, Any]:
        return {
            "loop": self.loop,
            "action": self.action,
            "changes": [c.to_dict() for c in self.changes],
            "conflicts": self.conflicts,
            "note": self.note,
            "error": self.error,
        }


@dataclass
class SyncReport:
    direction: str  # export | import
    backend: str
    target: str  # list name or file path
    dry_run: bool
    results: list[LoopResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[LoopResult]:
        return [r for r in self.results if r.action == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for result in self.results:
            out[result.action] = out.get(result.action, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "backend": self.backend,
            "target": self.target,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
            "notes": self.notes,
        }

    def render(self) -> str:
        """Plain text for a terminal: one line per loop, then each change it makes."""
        arrow = "→" if self.direction == "export" else "←"
        verb = "would change" if self.dry_run else "changed"
        lines = [
            f"gtd {self.direction} {arrow} {self.backend} ({self.target})"
            + (" [dry run: nothing written]" if self.dry_run else "")
        ]
        for result in self.results:
            detail = result.error or result.note
            lines.append(f"  {result.loop:<9} {result.action:<10} {detail}".rstrip())
            for change in result.changes:
                lines.extend(_render_change(change, verb))
        for note in self.notes:
            lines.append(f"  note: {note}")
        counts = ", ".join(f"{n} {action}" for action, n in sorted(self.counts().items()))
        lines.append(counts or "nothing to do")
        return "\n".join(lines)


def _render_change(change: Change, verb: str) -> list[str]:
    where = "LOOPS.md" if change.side == LOCAL else "remote"
    head = f"      {where} {change.field}:"
    before, after = change.before, change.after
    if isinstance(before, list | tuple) or isinstance(after, list | tuple):
        return [f"{head} {_show(before)} → {_show(after)}"]
    if isinstance(after, str) and ("\n" in after or "\n" in (before or "")):
        diff = difflib.unified_diff(
            (before or "").splitlines(), after.splitlines(), lineterm="", n=1
        )
        body = [f"        {line}" for line in list(diff)[2:]]
        return [f"{head} ({verb})", *body]
    return [f"{head} {_show(before)} → {_show(after)}"]


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value)

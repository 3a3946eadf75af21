"""Duplicate LOOP and DECISION ids after a team merge: find them, renumber the later one.

Why: two branches that each add a loop both take the next `LOOP-NNN`. With
`.project/LOOPS.md merge=union` (stamped in `.gitattributes`) git keeps both
blocks instead of conflicting, so after the merge one id names two loops. The
same happens to decisions that two branches moved into their session summaries.
Every loop command refuses a LOOPS.md with a duplicate id; `decp doctor` reports
them with `find_duplicates` and `decp doctor --fix` calls `renumber_duplicates`.

What counts as "later": for loops, the block further down LOOPS.md (a union
merge puts the merged-in branch's blocks after ours). For decisions: file
order, sessions by name and then STATE.md, line order within a file.

Which references move with the renumbered one: a reference is rewritten only
when its line also names the renumbered entry (the loop's title, the
decision's text), or when the link is explicit (a decision line `(date,
LOOP-NNN)` whose decision the renumbered loop's outcome names). A bare id on a
line that names neither is left alone: it could mean either entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.fsio import atomic_write, locked, read_text
from decp.core.mdoc import check_no_conflicts, format_id, id_pattern, line_body, split_lines

if TYPE_CHECKING:
    from decp.core.config import Config

__all__ = ["Duplicate", "Occurrence", "find_duplicates", "renumber_duplicates"]

_LOOP_HEADING_RE = re.compile(r"###[ \t]+LOOP-(?P<num>\d+)[ \t]+\([^)]*\)[ \t]*(?P<text>.*?)[ \t]*")
_DECISION_LINE_RE = re.compile(
    r"-[ \t]+DECISION-(?P<num>\d+)[ \t]+\((?P<meta>[^)]*)\):?[ \t]*(?P<text>.*?)"
    r"(?:\.?[ \t]+Why:.*)?[ \t]*"
)
_OUTCOME_RE = re.compile(r"-[ \t]*outcome[ \t]*:(?P<value>.*)", re.IGNORECASE)
_ID_OWNER_FIELDS = (".md", ".txt", ".csv")


@dataclass(frozen=True)
class Occurrence:
    """Where one id is defined: a loop heading or a decision line."""

    id: str
    path: Path
    line: int  # 1-based
    text: str  # the loop's title or the decision's text
    outcome: str = ""  # loops: the outcome field (names the decision that closed it)


@dataclass(frozen=True)
class Duplicate:
    """One id defined more than once; `occurrences[0]` keeps it, the others are renumbered."""

    kind: str  # "loop" | "decision"
    id: str
    occurrences: tuple[Occurrence, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "at": [f"{o.path}:{o.line}" for o in self.occurrences],
        }


def _text(path: Path) -> str:
    text = read_text(path)
    check_no_conflicts(text, path)
    return text


def _loop_occurrences(path: Path) -> list[Occurrence]:
    if not path.is_file():
        return []
    found: list[Occurrence] = []
    current: Occurrence | None = None
    for number, line in enumerate(split_lines(_text(path)), start=1):
        body = line_body(line)
        match = _LOOP_HEADING_RE.fullmatch(body)
        if match:
            current = Occurrence(format_id("LOOP", int(match["num"])), path, number, match["text"])
            found.append(current)
            continue
        if body.startswith("#"):
            current = None
        outcome = _OUTCOME_RE.fullmatch(body)
        if outcome and current is not None and found and found[-1] is current:
            found[-1] = current = Occurrence(
                current.id, path, current.line, current.text, outcome["value"].strip()
            )
    return found


def _decision_files(config: Config) -> list[Path]:
    sessions = config.project_dir / "sessions"
    files = sorted(p for p in sessions.glob("*.md") if p.is_file()) if sessions.is_dir() else []
    state = config.project_dir / "STATE.md"
    return [*files, state] if state.is_file() else files


def _decision_occurrences(config: Config) -> list[Occurrence]:
    found: list[Occurrence] = []
    for path in _decision_files(config):
        for number, line in enumerate(split_lines(_text(path)), start=1):
            match = _DECISION_LINE_RE.fullmatch(line_body(line))
            if match:
                num = int(match["num"])
                found.append(Occurrence(format_id("DECISION", num), path, number, match["text"]))
    return found


def _duplicates(kind: str, occurrences: list[Occurrence]) -> list[Duplicate]:
    by_id: dict[str, list[Occurrence]] = {}
    for occ in occurrences:
        by_id.setdefault(occ.id, []).append(occ)
    return [Duplicate(kind, i, tuple(occs)) for i, occs in by_id.items() if len(occs) > 1]


def find_duplicates(config: Config) -> list[Duplicate]:
    """Every loop id defined twice in LOOPS.md and every decision id defined twice
    across the session summaries and STATE.md (loops first, then decisions)."""
    loops = _loop_occurrences(config.project_dir / "LOOPS.md")
    return _duplicates("loop", loops) + _duplicates("decision", _decision_occurrences(config))


def _whole(old: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(old)}(?![\w-])")


def _reference_files(config: Config) -> list[Path]:
    """Files whose lines may name a loop or decision: STATE.md, LOOPS.md, sessions, gtd."""
    project = config.project_dir
    files = [project / "STATE.md", project / "LOOPS.md"]
    for folder in (project / "sessions", project / "gtd"):
        if folder.is_dir():
            files += sorted(
                p for p in folder.iterdir() if p.is_file() and p.suffix in _ID_OWNER_FIELDS
            )
    return [p for p in files if p.is_file()]


@dataclass
class _Rewrite:
    old: str
    new: str
    kind: str
    keep: Occurrence  # the first occurrence, which keeps the id
    moved: Occurrence  # the one renumbered


def renumber_duplicates(config: Config) -> dict[str, str]:
    """Give every later duplicate the next free id and move its references; return old → new.

    A third occurrence of the same id is keyed `OLD@path:line`, so no key repeats.
    Nothing is written when there is nothing to fix. Files are written one by one
    under LOOPS.md's and STATE.md's locks (the edit is idempotent: rerun on failure).
    """
    project = config.project_dir
    with locked(project / "LOOPS.md"), locked(project / "STATE.md"):
        duplicates = find_duplicates(config)
        if not duplicates:
            return {}
        rewrites = _plan(config, duplicates)
        texts = {path: _text(path) for path in _reference_files(config)}
        new_texts = {path: _apply(path, text, rewrites) for path, text in texts.items()}
        loops_path = project / "LOOPS.md"
        if loops_path in new_texts:
            new_texts[loops_path] = _fix_loop_mark(loops_path, new_texts[loops_path], config)
        state_path = project / "STATE.md"
        if state_path in new_texts:
            new_texts[state_path] = _fix_decision_mark(state_path, new_texts[state_path], rewrites)
        for path, text in new_texts.items():
            if text != texts[path]:
                atomic_write(path, text)
    mapping: dict[str, str] = {}
    for rw in rewrites:
        key = rw.old if rw.old not in mapping else f"{rw.old}@{rw.moved.path.name}:{rw.moved.line}"
        mapping[key] = rw.new
    return mapping


def _plan(config: Config, duplicates: list[Duplicate]) -> list[_Rewrite]:
    loops = _loop_occurrences(config.project_dir / "LOOPS.md")
    decisions = _decision_occurrences(config)
    from decp.handoff.state import session_decision_numbers

    next_loop = max((int(o.id[5:]) for o in loops), default=0) + 1
    next_loop = max(next_loop, _mark_number(config.project_dir / "LOOPS.md", "LOOP"))
    used_decisions = {int(o.id[9:]) for o in decisions} | session_decision_numbers(config)
    next_decision = max(used_decisions, default=0) + 1
    next_decision = max(next_decision, _mark_number(config.project_dir / "STATE.md", "DECISION"))
    rewrites: list[_Rewrite] = []
    for dup in duplicates:
        for moved in dup.occurrences[1:]:
            if dup.kind == "loop":
                new = format_id("LOOP", next_loop)
                next_loop += 1
            else:
                new = format_id("DECISION", next_decision)
                next_decision += 1
            rewrites.append(_Rewrite(dup.id, new, dup.kind, dup.occurrences[0], moved))
    return rewrites


def _mark_number(path: Path, prefix: str) -> int:
    from decp.core.mdoc import mark_pattern

    if not path.is_file():
        return 1
    pattern = mark_pattern(prefix)
    marks = [
        int(m["num"])
        for line in split_lines(read_text(path))
        if (m := pattern.fullmatch(line_body(line)))
    ]
    return max(marks, default=1)


def _names(line: str, text: str) -> bool:
    return bool(text.strip()) and text.strip() in line


def _apply(path: Path, text: str, rewrites: list[_Rewrite]) -> str:
    lines = split_lines(text)
    for index, line in enumerate(lines):
        number = index + 1
        for rw in rewrites:
            pattern = _whole(rw.old)
            if not pattern.search(line):
                continue
            is_definition = rw.moved.path == path and rw.moved.line == number
            is_kept = rw.keep.path == path and rw.keep.line == number
            if is_kept:
                continue
            keep_text, moved_text = rw.keep.text.strip(), rw.moved.text.strip()
            names_moved = (
                _names(line, moved_text)
                and keep_text != moved_text
                # a line naming both is ambiguous, unless one title contains the other
                and not (_names(line, keep_text) and keep_text not in moved_text)
            )
            linked = rw.kind == "loop" and _decision_closed_loop(line, rw.moved)
            if is_definition or names_moved or linked:
                line = pattern.sub(rw.new, line)
        lines[index] = line
    return "".join(lines)


def _decision_closed_loop(line: str, loop: Occurrence) -> bool:
    """A decision line whose id the loop's outcome names (`DECISION-004: …`)."""
    match = _DECISION_LINE_RE.fullmatch(line_body(line))
    if not match or not loop.outcome or not _names(loop.outcome, match["text"]):
        return False  # the text must match too: two decisions may share the id
    return any(
        int(m["num"]) == int(match["num"]) for m in id_pattern("DECISION").finditer(loop.outcome)
    )


def _fix_loop_mark(path: Path, text: str, config: Config) -> str:
    """Re-render LOOPS.md through LoopBook so its one mark sits above every id."""
    from decp.handoff.loops import LoopBook

    book = LoopBook(path, text, docs_url=config.docs_url)
    return book.render()


def _fix_decision_mark(path: Path, text: str, rewrites: list[_Rewrite]) -> str:
    from decp.handoff.state import StateDoc

    highest = max((int(rw.new[9:]) for rw in rewrites if rw.kind == "decision"), default=0)
    doc = StateDoc(path, text)
    target = max(doc.next_decision_number(), highest + 1)
    if doc.decisions_heading is not None and doc.mark_number != target:
        doc._write_mark(target)  # the mark names the next id again, above every new one
    return doc.render()

"""STATE.md: the one small page a fresh session reads first (goal, task, next action, decisions).

Why a hard token cap: STATE.md goes into every resume pack. A page that grows
without limit turns the cheap resume back into the 15-minute rebuild it was
meant to replace, so a write past `budget.state_cap` fails and says what to
move out. Decisions carry their why, because a decision without one gets
re-litigated next session; `decp session end` moves them into the session
summary, which keeps them for good.

Edits are line-level: lines decp does not own are never rewritten.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from decp.core.errors import DataError, UsageError
from decp.core.fsio import atomic_write, locked, read_text
from decp.core.mdoc import (
    FIELD_RE,
    LineDoc,
    id_pattern,
    is_blank,
    line_body,
    mark_pattern,
    next_number,
    one_line,
    render_mark,
)

if TYPE_CHECKING:
    from decp.core.config import Config

T = TypeVar("T")

FILE_NAME = "STATE.md"
STATE_KEYS = ("goal", "task", "last_action", "next_action", "blockers")
KEY_ALIASES = {
    "phase": "task",
    "last": "last_action",
    "next": "next_action",
    "blocker": "blockers",
}
DECISIONS_HEADING = "## Decisions"
DOCS_PAGE = "patterns/decisions/"

_FIELD_RE = FIELD_RE
_SECTION_RE = re.compile(r"##[ \t]+(?P<name>.*?)[ \t]*")
_DECISION_RE = re.compile(
    r"-[ \t]+DECISION-(?P<num>\d+)[ \t]+\((?P<meta>[^)]*)\):?[ \t]*(?P<what>.*?)"
    r"(?:[ \t]+Why:[ \t]*(?P<why>.*?))?[ \t]*"
)
_DECISION_CANDIDATE_RE = re.compile(r"-[ \t]*DECISION-", re.IGNORECASE)
_MARK_RE = mark_pattern("DECISION")
_DECISION_ID_RE = id_pattern("DECISION")
_LOOP_REF_RE = re.compile(r"LOOP-\d+")


def canonical_key(key: str) -> str:
    """`next`, `next-action`, `Next_Action` → `next_action`; UsageError for unknown keys."""
    norm = key.strip().lower().replace("-", "_").replace(" ", "_")
    norm = KEY_ALIASES.get(norm, norm)
    if norm not in STATE_KEYS:
        raise UsageError(
            f"unknown state key {key!r}.",
            fix=f"use one of: {', '.join(STATE_KEYS)} (aliases: {', '.join(KEY_ALIASES)}).",
        )
    return norm


def format_decision_id(number: int) -> str:
    return f"DECISION-{number:03d}"


@dataclass
class Decision:
    """One recorded decision: what was decided, why, and the loop it closed (if any)."""

    id: str
    date: str
    what: str
    why: str
    loop: str = ""

    @property
    def number(self) -> int:
        return int(self.id.split("-", 1)[1])

    def line(self) -> str:
        meta = f"{self.date}, {self.loop}" if self.loop else self.date
        why = ""
        if self.why:
            stop = "" if self.what.endswith((".", "!", "?")) else "."
            why = f"{stop} Why: {self.why}"
        return f"- {self.id} ({meta}): {self.what}{why}"

    def to_dict(self) -> dict[str, Any]:
        """Every dataclass field (the one serialisation, as for Loop)."""
        return dataclasses.asdict(self)


def parse_decision_line(text: str, path: Path, line: int) -> Decision:
    """Parse `- DECISION-003 (2026-11-26, LOOP-007): WHAT Why: WHY`."""
    match = _DECISION_RE.fullmatch(text.rstrip("\r\n"))
    if not match:
        raise DataError(
            f"malformed decision line {text.strip()!r}.",
            path=path,
            line=line,
            fix="write it as `- DECISION-003 (2026-11-26): what was decided Why: the reason`.",
        )
    meta = [part.strip() for part in match["meta"].split(",")]
    loop = next((part for part in meta if _LOOP_REF_RE.fullmatch(part)), "")
    date = next((part for part in meta if part and part != loop), "")
    what = match["what"].strip()
    if match["why"] is not None:
        what = _drop_period(what)
    return Decision(
        id=format_decision_id(int(match["num"])),
        date=date,
        what=what,
        why=(match["why"] or "").strip(),
        loop=loop,
    )


def _drop_period(text: str) -> str:
    """`Use X.` → `Use X` (the line format adds the period before `Why:`)."""
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def default_text(docs_url: str, cap: int) -> str:
    """The stamped STATE.md (template/.project/STATE.md.jinja renders the same text)."""
    link = f"{docs_url.rstrip('/')}/{DOCS_PAGE}"
    return (
        "# State\n"
        f"<!-- Why: the first page a fresh session reads; capped at {cap} tokens so resuming stays cheap. Decisions form a decision log (ADR-style: what, and why).\n"
        "How: `decp state set KEY VALUE`, `decp decision add WHAT --why WHY`; "
        f"`decp session end` moves decisions to the session summary. {link} -->\n"
        "\n"
        "- goal:\n"
        "- task:\n"
        "- last_action:\n"
        "- next_action:\n"
        "- blockers:\n"
        "\n"
        f"{DECISIONS_HEADING}\n"
        "<!-- next-id: DECISION-001 -->\n"
    )


class StateDoc:
    """A parsed STATE.md; every edit changes only the lines it owns.

    Built on `decp.core.mdoc`: lines split on \\n only, the newline style kept,
    conflict markers refused, the decision high-water mark taken as the max.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.original_text = text
        doc = LineDoc.parse(text, path)
        self.lines = doc.lines
        self.nl = doc.nl
        self._index()

    # -- parsing
    def _index(self) -> None:
        self.fields: dict[str, str] = {}
        self.field_span: dict[str, tuple[int, int]] = {}
        self.decisions: list[Decision] = []
        self.decision_span: dict[str, tuple[int, int]] = {}
        self.decisions_heading: int | None = None
        self.mark_line: int | None = None
        self.top_end = len(self.lines)  # first `## ` heading
        section = "top"
        current: str | None = None
        seen_decisions: dict[int, int] = {}
        marks: list[int] = []
        for i, raw in enumerate(self.lines):
            text = line_body(raw)
            heading = _SECTION_RE.fullmatch(text)
            if heading:
                current = None
                if section == "top":
                    self.top_end = i
                name = heading["name"].lower()
                section = "decisions" if name == "decisions" else "other"
                if section == "decisions" and self.decisions_heading is None:
                    self.decisions_heading = i
                continue
            if (
                section == "top"
                and current is not None
                and text[:1] in (" ", "\t")
                and not is_blank(text)
            ):
                start, _ = self.field_span[current]
                self.field_span[current] = (start, i + 1)
                self.fields[current] += "\n" + text.strip(" \t")
                continue
            current = None
            if section == "top":
                match = _FIELD_RE.fullmatch(text)
                if not match:
                    continue
                key = match["key"]
                try:
                    key = canonical_key(key)
                except UsageError as exc:
                    raise DataError(
                        f"unknown field {match['key']!r}.",
                        path=self.path,
                        line=i + 1,
                        fix=f"use one of: {', '.join(STATE_KEYS)}; notes go under a `## Notes` heading.",
                    ) from exc
                if key in self.fields:
                    raise DataError(
                        f"field {key!r} appears twice (first at line {self.field_span[key][0] + 1}).",
                        path=self.path,
                        line=i + 1,
                        fix="keep one line per field.",
                    )
                value = match["value"] if match["value"] is not None else match["rest"]
                self.fields[key] = value.strip(" \t")
                self.field_span[key] = (i, i + 1)
                current = key
            elif section == "decisions":
                mark = _MARK_RE.fullmatch(text)
                if mark:
                    marks.append(int(mark["num"]))
                    if self.mark_line is None:
                        self.mark_line = i
                    continue
                if text.startswith("-"):
                    if not _DECISION_CANDIDATE_RE.match(text):
                        raise DataError(
                            f"bad line in the Decisions section: {text.strip()!r}.",
                            path=self.path,
                            line=i + 1,
                            fix="decision lines look like `- DECISION-003 (2026-11-26): what Why: why`; "
                            "put other notes under their own `## ` heading.",
                        )
                    decision = parse_decision_line(text, self.path, i + 1)
                    if decision.number in seen_decisions:
                        raise DataError(
                            f"duplicate id {decision.id} (first at line {seen_decisions[decision.number]}).",
                            path=self.path,
                            line=i + 1,
                            fix="run `decp doctor --fix` (it renumbers the later one), "
                            "or give one of them the next free DECISION id.",
                        )
                    seen_decisions[decision.number] = i + 1
                    self.decisions.append(decision)
                    self.decision_span[decision.id] = (i, i + 1)
        # Several marks (a union merge): the highest wins, so no id is handed out twice.
        self.mark_number = max(marks, default=1)
        for key in STATE_KEYS:
            self.fields.setdefault(key, "")

    # -- queries
    def next_decision_number(self, floor: int = 1) -> int:
        """Above every decision here, at least the mark and at least `floor`."""
        return max(floor, next_number((d.number for d in self.decisions), [self.mark_number]))

    def to_dict(self) -> dict[str, Any]:
        return {
            **{key: self.fields.get(key, "") for key in STATE_KEYS},
            "decisions": [d.to_dict() for d in self.decisions],
        }

    def render(self) -> str:
        return "".join(self.lines)

    # -- edits
    def set(self, key: str, value: str) -> str:
        """Set one field (multi-line values continue on indented lines). Returns the key.

        Each line is flattened with `one_line`, so a U+2028 or a form feed in the
        value can never start a line of its own.
        """
        key = canonical_key(key)
        parts = [one_line(x) for x in value.replace("\r", "\n").split("\n")]
        parts = [x for x in parts if x]
        first, more = (parts[0], parts[1:]) if parts else ("", [])
        new = [f"- {key}: {first}{self.nl}" if first else f"- {key}:{self.nl}"]
        new += [f"  {line}{self.nl}" for line in more]
        if key in self.field_span:
            start, end = self.field_span[key]
            if end == len(self.lines) and not self.lines[-1].endswith("\n"):
                new[-1] = new[-1][: -len(self.nl)]  # keep a missing final newline missing
            self.lines[start:end] = new
        else:
            at = self._field_insert_at()
            self.lines[at:at] = new
        self._index()
        return key

    def _field_insert_at(self) -> int:
        spans = [end for _, end in self.field_span.values()]
        if spans:
            at = max(spans)
        else:
            at = self.top_end
            while at > 0 and is_blank(line_body(self.lines[at - 1])):
                at -= 1
        if at and not self.lines[at - 1].endswith("\n"):
            self.lines[at - 1] += self.nl
        return at

    def add_decision(
        self, what: str, why: str, *, loop: str = "", date: str = "", floor: int = 1
    ) -> Decision:
        """Append DECISION-NNN (number at least `floor`) and move the mark past it."""
        what, why = _drop_period(one_line(what)), one_line(why)
        if not what:
            raise UsageError("the decision is empty.", fix='decp decision add "WHAT" --why "WHY"')
        if not why:
            raise UsageError(
                "a decision needs its why.",
                fix='add --why "the reason" (a decision without one gets re-litigated).',
            )
        if re.search(r"\bWhy:", what):
            raise UsageError("the decision text contains `Why:`.", fix="put the reason in --why.")
        number = self.next_decision_number(floor)
        decision = Decision(format_decision_id(number), one_line(date), what, why, loop)
        line = decision.line() + self.nl
        if self.decisions_heading is None:
            if self.lines and not self.lines[-1].endswith("\n"):
                self.lines[-1] += self.nl
            if self.lines and not is_blank(line_body(self.lines[-1])):
                self.lines.append(self.nl)
            self.lines.append(DECISIONS_HEADING + self.nl)
            self._index()
        if self.decision_span:
            at = max(end for _, end in self.decision_span.values())
        elif self.mark_line is not None:
            at = self.mark_line + 1
        else:
            at = (self.decisions_heading or 0) + 1
        if at > 0 and not self.lines[at - 1].endswith("\n"):
            self.lines[at - 1] += self.nl
        self.lines.insert(at, line)
        self._index()
        self._write_mark(number + 1)
        return decision

    def _write_mark(self, number: int) -> None:
        if self.mark_line is not None:
            old = self.lines[self.mark_line]
            mark = _MARK_RE.fullmatch(line_body(old))
            tail = mark["tail"] if mark else " "
            ending = old[len(line_body(old)) :] or self.nl
            self.lines[self.mark_line] = render_mark("DECISION", number, tail) + ending
        else:
            assert self.decisions_heading is not None
            self.lines.insert(self.decisions_heading + 1, render_mark("DECISION", number) + self.nl)
        self._index()

    def remove_decisions(self, ids: list[str]) -> list[Decision]:
        """Drop decisions (they moved to a session summary); the mark keeps ids unique."""
        removed = [d for d in self.decisions if d.id in ids]
        if not removed:
            return []
        keep_next = self.next_decision_number()
        for decision in sorted(removed, key=lambda d: -self.decision_span[d.id][0]):
            start, end = self.decision_span[decision.id]
            del self.lines[start:end]
        self._index()
        if self.decisions_heading is not None:
            self._write_mark(keep_next)
        return removed


# ---------------------------------------------------------------- files


def state_path(config: Config) -> Path:
    return config.project_dir / FILE_NAME


def parse_state(text: str, path: Path) -> StateDoc:
    return StateDoc(path, text)


def read_state(config: Config) -> StateDoc:
    """Parse STATE.md; a missing file reads as the stamped default."""
    path = state_path(config)
    if not path.exists():
        return StateDoc(path, "")
    return parse_state(read_text(path), path)


def _fresh(config: Config, doc: StateDoc) -> StateDoc:
    if doc.original_text:
        return doc
    fresh = StateDoc(doc.path, default_text(config.docs_url, config.budget.state_cap))
    fresh.original_text = ""
    return fresh


def check_cap(config: Config, old_text: str, new_text: str, path: Path) -> int:
    """Refuse a write that leaves STATE.md over its cap and bigger than before."""
    from decp.core.tokens import get_counter

    counter = get_counter(config.budget.encoding)
    new_tokens = counter.count(new_text)
    cap = config.budget.state_cap
    if new_tokens > cap and new_tokens > counter.count(old_text):
        raise DataError(
            f"this write would make STATE.md {new_tokens} tokens, over its cap of {cap} "
            f"({counter.label}); nothing was written.",
            path=path,
            fix="run `decp session end` (it moves the decisions into the session summary, "
            "which keeps them), or shorten a field with `decp state set KEY VALUE`; "
            "the cap is budget.state_cap in .project/decp.toml.",
        )
    return new_tokens


def prepare_state(config: Config) -> StateDoc:
    """Read STATE.md for editing (call under the lock); a missing file starts from the default."""
    return _fresh(config, read_state(config))


def commit_state(config: Config, doc: StateDoc) -> bool:
    """Cap-check and write if changed (call under the lock). True when written."""
    text = doc.render()
    if text == doc.original_text:
        return False
    check_cap(config, doc.original_text, text, doc.path)
    atomic_write(doc.path, text)
    return True


def _read_raw(path: Path) -> str | None:
    """The file's exact text, or None when it does not exist."""
    return read_text(path) if path.exists() else None


_EDIT_ATTEMPTS = 200


def _edit_state(config: Config, edit: Callable[[StateDoc], T]) -> T:
    """Read, edit and cap-check STATE.md unlocked; lock only to compare and write.

    Counting tokens takes milliseconds per call, and 100 concurrent `state set`
    calls used to queue behind it for the lock (46 timed out). Now each writer
    prepares its text without the lock, then, under the lock, writes only if the
    file is still what it read; otherwise it starts over from the new text.
    """
    path = state_path(config)
    for _ in range(_EDIT_ATTEMPTS):
        raw = _read_raw(path)
        doc = _fresh(config, StateDoc(path, raw or ""))
        result = edit(doc)
        text = doc.render()
        if text == doc.original_text:
            return result
        check_cap(config, doc.original_text, text, path)
        with locked(path):
            if _read_raw(path) == raw:
                atomic_write(path, text)
                return result
    raise DataError(
        f"STATE.md changed under this write {_EDIT_ATTEMPTS} times in a row; nothing was written.",
        path=path,
        fix="retry when the other writers are done.",
    )


@contextmanager
def edit_state(config: Config) -> Iterator[StateDoc]:
    """Locked read-modify-write of STATE.md with the token cap enforced before writing.

    Prefer `set_field` / `add_decision`, which count tokens outside the lock.
    """
    path = state_path(config)
    with locked(path):
        doc = prepare_state(config)
        yield doc
        commit_state(config, doc)


def set_field(config: Config, key: str, value: str) -> StateDoc:
    """Set one STATE.md field; the lock is held only for the write itself."""

    def edit(doc: StateDoc) -> StateDoc:
        doc.set(key, value)
        return doc

    return _edit_state(config, edit)


def session_decision_numbers(config: Config) -> set[int]:
    """DECISION numbers mentioned in `.project/sessions/*.md`.

    STATE.md's high-water mark is one line a hand edit or a bad merge can lose;
    the summaries keep every decision ever moved out, so new ids start above them.
    """
    found: set[int] = set()
    folder = config.project_dir / "sessions"
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.md")):
        if not path.is_file():
            continue
        try:
            text = read_text(path)
        except DataError:
            continue  # a broken summary is reported by the commands that read it
        found.update(int(m["num"]) for m in _DECISION_ID_RE.finditer(text))
    return found


def _decision_floor(config: Config) -> int:
    return max(session_decision_numbers(config), default=0) + 1


def add_decision(config: Config, what: str, why: str, loop_id: str | None = None) -> Decision:
    """Record a decision; with `loop_id`, close that loop with it, both files or neither."""
    from decp.core.clock import now_iso

    date = now_iso()[:10]
    floor = _decision_floor(config)
    if not loop_id:
        return _edit_state(config, lambda doc: doc.add_decision(what, why, date=date, floor=floor))
    return _add_decision_closing_loop(config, what, why, loop_id, date, floor)


def _add_decision_closing_loop(
    config: Config, what: str, why: str, loop_id: str, date: str, floor: int
) -> Decision:
    """Both texts are built and cap-checked unlocked; both are written under the locks,
    STATE.md first; if LOOPS.md then fails, STATE.md is put back as it was."""
    from decp.handoff.loops import loops_path, parse_loops, transition

    spath, lpath = state_path(config), loops_path(config)
    for _ in range(_EDIT_ATTEMPTS):
        raw_state, raw_loops = _read_raw(spath), _read_raw(lpath)
        book = parse_loops(raw_loops or "", lpath, config.docs_url)
        loop = book.get(loop_id)
        doc = _fresh(config, StateDoc(spath, raw_state or ""))
        decision = doc.add_decision(what, why, loop=loop.id, date=date, floor=floor)
        transition(loop, "closed", outcome=f"{decision.id}: {decision.what}")
        loops_text = book.render()
        state_text = doc.render()
        check_cap(config, doc.original_text, state_text, spath)
        # Lock order everywhere: LOOPS.md before STATE.md.
        with locked(lpath), locked(spath):
            if _read_raw(spath) != raw_state or _read_raw(lpath) != raw_loops:
                continue
            write_both_or_neither([(spath, state_text, raw_state), (lpath, loops_text, raw_loops)])
            return decision
    raise DataError(
        f"STATE.md or LOOPS.md changed under this write {_EDIT_ATTEMPTS} times; nothing was written.",
        path=spath,
        fix="retry when the other writers are done.",
    )


def write_both_or_neither(writes: list[tuple[Path, str, str | None]]) -> None:
    """Write each (path, new text, old text or None); on a failure, undo the earlier ones.

    Call under the files' locks. The failure itself is re-raised.
    """
    done: list[tuple[Path, str | None]] = []
    try:
        for path, text, old in writes:
            atomic_write(path, text)
            done.append((path, old))
    except BaseException:
        for path, old in reversed(done):
            if old is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, old)
        raise

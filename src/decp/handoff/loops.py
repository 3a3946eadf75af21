"""LOOPS.md: open questions, hypotheses and deferred decisions, kept out of chat history.

Why a Markdown file and not a database: a chat-only agent can print a block the
user pastes in, `grep` finds a loop by id or status, and git diffs show who
changed what. The parser is lossless: text outside loop fields (and every loop
nobody touched) is written back byte for byte, so hand edits are never lost.

A loop block (the full format is in docs/reference/loops-format.md):

    ### LOOP-007 (open) Decide the late-data policy for fct_orders
    - source: models/marts/fct_orders.sql:12
    - tags: incremental, late-data
    - context: refactoring fct_orders to incremental
    - created: 2026-11-26T03:00:00Z
    - updated: 2026-11-26T03:00:00Z

    Orders arrive up to 3 days late; is a max(updated_at) filter safe?
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core.clock import now_iso
from decp.core.errors import DataError, UsageError
from decp.core.fsio import atomic_write, locked, read_text
from decp.core.mdoc import (
    FIELD_RE,
    check_no_conflicts,
    is_blank,
    is_conflict_marker,
    line_body,
    mark_pattern,
    newline_of,
    one_line,
    render_mark,
    split_lines,
)
from decp.core.mdoc import next_number as _next_number

if TYPE_CHECKING:
    from decp.core.config import Config

FILE_NAME = "LOOPS.md"
STATUSES = ("proposed", "open", "clarifying", "closed", "rejected")
ACTIVE_STATUSES = ("proposed", "open", "clarifying")
DONE_STATUSES = ("closed", "rejected")

# Allowed moves: the agent proposes, the user approves (proposed -> open).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "proposed": ("open", "rejected"),
    "open": ("clarifying", "closed", "rejected"),
    "clarifying": ("open", "closed", "rejected"),
    "closed": ("open",),
    "rejected": ("open",),
}

# Field lines in the order decp writes them; hand-written order is kept.
FIELD_ORDER = ("source", "tags", "context", "outcome", "gtd", "created", "updated")
# One-line fields are flattened (every line break becomes a space).
_SINGLE_LINE_FIELDS = ("source", "gtd", "created", "updated")
# Field values that may span lines; they never hold a blank line, because a
# blank line is what ends the fields and starts the body.
_MULTI_LINE_FIELDS = ("context", "outcome")

DOCS_PAGE = "patterns/loop-capture/"

_HEADING_RE = re.compile(r"#{1,3}(?:[ \t]|$)")
_LOOP_CANDIDATE_RE = re.compile(r"#+[ \t]*LOOP-\d")
_LOOP_HEADING_RE = re.compile(
    r"###[ \t]+LOOP-(?P<num>\d+)[ \t]+\((?P<status>[^)]*)\)[ \t]*(?P<title>.*?)[ \t]*"
)
_FIELD_RE = FIELD_RE
_MARK_RE = mark_pattern("LOOP")
_ID_RE = re.compile(r"(?:LOOP-?)?0*(?P<num>\d+)", re.IGNORECASE)


def normalize_text(value: str) -> str:
    """The canonical form of a text field: LF newlines, no surrounding whitespace.

    Stored values are always normalized, so render → parse returns them exactly.
    Compare against `normalize_text(x)` when syncing text from elsewhere.
    """
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def normalize_title(value: str) -> str:
    """Titles live on the heading line: one line, single spaces (every line break too)."""
    return one_line(value)


def normalize_field_text(value: str) -> str:
    """A multi-line field value: `normalize_text` without blank lines.

    A blank line ends a loop's fields, so a value that kept one would push its
    second half into the body on the next read.
    """
    lines = normalize_text(value).split("\n")
    return "\n".join(line for line in lines if not is_blank(line))


def normalize_tags(tags: list[str]) -> list[str]:
    """Strip, drop a leading '#', drop empties and duplicates; commas are the separator."""
    seen: list[str] = []
    for raw in tags:
        tag = one_line(str(raw))
        while tag.startswith("#"):  # until stable: "### #" is no tag at all
            tag = tag.lstrip("#").strip()
        if "," in tag:
            raise UsageError(
                f"tag {raw!r} contains a comma; commas separate tags in LOOPS.md.",
                fix="split it into two tags or use a dash.",
            )
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def format_id(number: int) -> str:
    return f"LOOP-{number:03d}"


def parse_id(text: str) -> int:
    """Accept "7", "LOOP-7", "LOOP-007", "loop-007"; UsageError otherwise."""
    match = _ID_RE.fullmatch(text.strip())
    if not match:
        raise UsageError(
            f"{text!r} is not a loop id.",
            fix="use LOOP-007 (or just 7); `decp loop list` shows ids.",
        )
    return int(match["num"])


def _id_number(loop_id: str) -> int:
    return int(loop_id.split("-", 1)[1])


@dataclass
class Loop:
    """One loop. Text fields are normalized on assignment (see `normalize_text`)."""

    id: str
    status: str
    title: str
    body: str = ""
    context: str = ""
    source: str = ""
    tags: list[str] = field(default_factory=list)
    created: str = ""
    updated: str = ""
    outcome: str = ""
    gtd: str = ""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "title" or name in _SINGLE_LINE_FIELDS:
            value = normalize_title(value)
        elif name in _MULTI_LINE_FIELDS:
            value = normalize_field_text(value)
        elif name == "body":
            value = normalize_text(value)
        elif name == "tags":
            value = list(value)
        object.__setattr__(self, name, value)

    @property
    def number(self) -> int:
        return _id_number(self.id)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Every dataclass field (the one serialisation: JSON, change detection)."""
        return dataclasses.asdict(self)

    def field_value(self, key: str) -> str:
        if key == "tags":
            return ", ".join(normalize_tags(self.tags))
        return getattr(self, key)


def _same(a: Loop, b: Loop) -> bool:
    return a.to_dict() == b.to_dict()


# Every Loop field is either on the heading, the body, or a `- key:` line; a new
# field that is none of these would never be written, so refuse it at import.
_HEADING_AND_BODY = ("id", "status", "title", "body")
if {f.name for f in dataclasses.fields(Loop)} != {*_HEADING_AND_BODY, *FIELD_ORDER}:
    raise RuntimeError("Loop fields and FIELD_ORDER disagree: a field would go unwritten.")


# ---------------------------------------------------------------- rendering


def _special_body_line(line: str) -> bool:
    """Would this line end a loop block (a heading) or read as a merge conflict marker?"""
    core = line.lstrip("\\")
    return bool(
        _HEADING_RE.match(core) or _LOOP_CANDIDATE_RE.match(core) or is_conflict_marker(core)
    )


def _escape_body_line(line: str) -> str:
    return "\\" + line if _special_body_line(line) else line


def _unescape_body_line(line: str) -> str:
    if line.startswith("\\") and _special_body_line(line):
        return line[1:]
    return line


def render_heading(loop: Loop) -> str:
    return f"### {loop.id} ({loop.status}) {loop.title}"


def render_field(key: str, value: str, nl: str = "\n") -> str:
    """`- key: first line` plus two-space-indented continuation lines."""
    first, *more = value.split("\n")
    head = f"- {key}: {first}" if first else f"- {key}:"
    lines = [head] + [f"  {line}" if line else "" for line in more]
    return nl.join(lines) + nl


def render_block(loop: Loop, nl: str = "\n") -> str:
    """The canonical block for one loop, ending in a newline (no trailing blank line)."""
    parts = [render_heading(loop) + nl]
    for key in FIELD_ORDER:
        value = loop.field_value(key)
        if value:
            parts.append(render_field(key, value, nl))
    if loop.body:
        parts.append(nl + nl.join(_escape_body_line(x) for x in loop.body.split("\n")) + nl)
    return "".join(parts)


def default_header(docs_url: str) -> str:
    """The stamped LOOPS.md header (template/.project/LOOPS.md.jinja renders the same text)."""
    link = f"{docs_url.rstrip('/')}/{DOCS_PAGE}"
    return (
        "# Loops\n"
        "<!-- Why: questions that come up mid-task live here, not in chat history: an issue log, so they are tracked, not dropped.\n"
        "How: the agent proposes (`decp loop propose`), you approve or reject. Ids are never reused.\n"
        f"Format, greps and paste-by-hand blocks: {link} -->\n"
    )


# ---------------------------------------------------------------- parsing


@dataclass
class _Block:
    """A loop as it was read, so unchanged parts can be written back verbatim."""

    loop: Loop
    original: Loop | None = None  # None: a new loop, rendered from scratch
    heading_raw: str = ""
    lead_raw: str = ""  # blank lines between the heading and the fields
    fields_raw: list[tuple[str, str]] = field(default_factory=list)
    rest_raw: str = ""  # blank separator + body lines
    trailer_raw: str = ""  # trailing blank lines before the next heading
    line: int = 0

    def changed(self) -> bool:
        return self.original is None or not _same(self.loop, self.original)

    def render(self, nl: str) -> str:
        if self.original is None:
            return render_block(self.loop, nl) + self.trailer_raw
        if not self.changed():
            return (
                self.heading_raw
                + self.lead_raw
                + "".join(r for _, r in self.fields_raw)
                + self.rest_raw
                + self.trailer_raw
            )
        loop, old = self.loop, self.original
        if (loop.id, loop.status, loop.title) == (old.id, old.status, old.title):
            heading = self.heading_raw
        else:
            heading = render_heading(loop) + nl
        entries: list[tuple[str, str]] = []
        for key, raw in self.fields_raw:
            value = loop.field_value(key)
            if value == old.field_value(key):
                entries.append((key, raw))
            elif value:
                entries.append((key, render_field(key, value, nl)))
        had = {key for key, _ in self.fields_raw}
        for position, key in enumerate(FIELD_ORDER):
            value = loop.field_value(key)
            if not value or key in had:
                continue
            keys = [k for k, _ in entries]
            later = [k for k in FIELD_ORDER[position + 1 :] if k in keys]
            at = keys.index(later[0]) if later else len(entries)
            entries.insert(at, (key, render_field(key, value, nl)))
        fields = [raw if raw.endswith("\n") else raw + nl for _, raw in entries]
        if loop.body == old.body:
            rest = self.rest_raw
            if fields and rest and not is_blank(line_body(split_lines(rest)[0])):
                # A hand-written body right under the heading (a bullet, an indented
                # block) would read as fields once fields sit above it: separate it.
                rest = nl + rest
        elif loop.body:
            rest = nl + nl.join(_escape_body_line(x) for x in loop.body.split("\n")) + nl
        else:
            rest = ""
        if not heading.endswith("\n"):
            heading += nl
        return heading + self.lead_raw + "".join(fields) + rest + self.trailer_raw


def _strip_nl(line: str) -> str:
    return line_body(line)


def _bad(path: Path, line: int, message: str, fix: str) -> DataError:
    return DataError(message, path=path, line=line, fix=fix)


def _parse_block(lines: list[str], start: int, path: Path) -> _Block:
    """Parse one loop block; `lines` runs from its heading to before the next heading."""
    end = len(lines)
    while end > 1 and is_blank(_strip_nl(lines[end - 1])):
        end -= 1
    trailer = "".join(lines[end:])
    heading_text = _strip_nl(lines[0])
    match = _LOOP_HEADING_RE.fullmatch(heading_text)
    if not match:
        raise _bad(
            path,
            start,
            f"malformed loop heading {heading_text!r}.",
            "write it as `### LOOP-007 (open) Title` (level-3 heading, id, status in parentheses, title).",
        )
    status = match["status"].strip().lower()
    if status not in STATUSES:
        raise _bad(
            path,
            start,
            f"unknown status {match['status']!r} in {heading_text!r}.",
            f"use one of: {', '.join(STATUSES)}.",
        )
    title = match["title"]
    if not title.strip():
        raise _bad(path, start, "loop heading has no title.", "add a short title after `(status)`.")
    number = int(match["num"])
    values: dict[str, list[str]] = {}
    fields_raw: list[tuple[str, list[str]]] = []
    i = 1
    while i < end and is_blank(_strip_nl(lines[i])):  # blank lines before the fields
        i += 1
    lead_blank = "".join(lines[1:i])
    current: str | None = None
    while i < end:
        text = _strip_nl(lines[i])
        if is_blank(text):
            break  # a blank line always ends the fields: the body follows
        if text[:1] in (" ", "\t"):
            if current is None or current in _SINGLE_LINE_FIELDS:
                break  # an indented body (or code block), never part of a one-line field
            values[current].append(_strip_continuation(text))
            fields_raw[-1][1].append(lines[i])
            i += 1
            continue
        if text.startswith("-"):
            fmatch = _FIELD_RE.fullmatch(text)
            if not fmatch:
                if current is None:
                    break  # a bullet list body right under the heading
                raise _bad(
                    path,
                    start + i,
                    f"bad field line {text!r} in {format_id(number)}.",
                    "field lines look like `- key: value`; put a blank line before the body.",
                )
            key = fmatch["key"].lower()
            if key not in FIELD_ORDER:
                raise _bad(
                    path,
                    start + i,
                    f"unknown field {fmatch['key']!r} in {format_id(number)}.",
                    f"use one of: {', '.join(FIELD_ORDER)} (the body goes after a blank line).",
                )
            if key in values:
                raise _bad(
                    path,
                    start + i,
                    f"field {key!r} appears twice in {format_id(number)}.",
                    "keep one line per field; continue long values on lines indented by two spaces.",
                )
            first = fmatch["value"] if fmatch["value"] is not None else fmatch["rest"]
            values[key] = [first]
            fields_raw.append((key, [lines[i]]))
            current = key
            i += 1
            continue
        break  # prose: the body starts without a blank separator
    rest_lines = [_strip_nl(x) for x in lines[i:end]]
    body = "\n".join(_unescape_body_line(x) for x in rest_lines)
    loop = Loop(id=format_id(number), status=status, title=title)
    for key, parts in values.items():
        value = "\n".join(parts)
        if key == "tags":
            loop.tags = [t for t in (p.strip() for p in value.replace("\n", ",").split(",")) if t]
        else:
            setattr(loop, key, value)
    loop.body = body
    return _Block(
        loop=loop,
        original=copy.deepcopy(loop),
        heading_raw=lines[0],
        lead_raw=lead_blank,
        fields_raw=[(key, "".join(raw)) for key, raw in fields_raw],
        rest_raw="".join(lines[i:end]),
        trailer_raw=trailer,
        line=start,
    )


def _strip_continuation(text: str) -> str:
    if text.startswith("\t"):
        return text[1:]
    return text[2:] if text.startswith("  ") else text.lstrip(" ")


@dataclass
class _Mark:
    chunk: int  # index into segments
    line_text: str  # the exact raw line (with newline)
    number: int


class LoopBook:
    """A parsed LOOPS.md. Mutate `loops` (or use `new_loop`), then `render()`."""

    def __init__(self, path: Path, text: str = "", *, docs_url: str = "") -> None:
        self.path = path
        self.original_text = text
        self.docs_url = docs_url
        self._segments: list[str | _Block] = []
        self._mark: _Mark | None = None
        self._extra_marks: set[int] = set()  # more mark lines (after a union merge)
        self.nl = newline_of(text)
        self.next_number = 1
        self._parse(text)
        self.loops: list[Loop] = [s.loop for s in self._segments if isinstance(s, _Block)]
        self._initial_next = self.next_number

    # -- parsing
    def _parse(self, text: str) -> None:
        check_no_conflicts(text, self.path)
        lines = split_lines(text)
        marks: list[int] = []
        chunk: list[str] = []
        block: list[str] | None = None
        block_start = 0
        seen: dict[int, int] = {}

        def flush_block() -> None:
            nonlocal block
            if block is None:
                return
            parsed = _parse_block(block, block_start, self.path)
            number = parsed.loop.number
            if number in seen:
                raise _bad(
                    self.path,
                    block_start,
                    f"duplicate id {parsed.loop.id} (first at line {seen[number]}); "
                    "two branches each took it (a merge).",
                    "run `decp doctor --fix`: it renumbers the later one and its references.",
                )
            seen[number] = block_start
            self._segments.append(parsed)
            block = None

        for index, line in enumerate(lines, start=1):
            text_line = _strip_nl(line)
            is_candidate = bool(_LOOP_CANDIDATE_RE.match(text_line))
            if is_candidate or _HEADING_RE.match(text_line):
                flush_block()
                if is_candidate:
                    if chunk:
                        self._segments.append("".join(chunk))
                        chunk = []
                    block = [line]
                    block_start = index
                    continue
            if block is not None:
                block.append(line)
                continue
            mark = _MARK_RE.fullmatch(text_line)
            if mark:
                if chunk:
                    self._segments.append("".join(chunk))
                    chunk = []
                self._segments.append(line)
                marks.append(int(mark["num"]))
                if self._mark is None:
                    self._mark = _Mark(len(self._segments) - 1, line, marks[-1])
                else:
                    self._extra_marks.add(len(self._segments) - 1)
                continue
            chunk.append(line)
        flush_block()
        if chunk:
            self._segments.append("".join(chunk))
        # After a `merge=union` both branches' marks are present: the highest wins.
        self.next_number = _next_number(seen, marks)

    # -- queries
    def get(self, loop_id: str) -> Loop:
        number = parse_id(loop_id)
        for loop in self.loops:
            if loop.number == number:
                return loop
        raise UsageError(
            f"no loop {format_id(number)} in {self.path.name}.",
            fix="`decp loop list --status all` shows every id.",
        )

    def select(self, statuses: tuple[str, ...] | None = None, tag: str | None = None) -> list[Loop]:
        chosen = [loop for loop in self.loops if statuses is None or loop.status in statuses]
        if tag:
            want = tag.lstrip("#").lower()
            chosen = [loop for loop in chosen if want in (t.lower() for t in loop.tags)]
        return chosen

    def allocate_number(self) -> int:
        highest = max((loop.number for loop in self.loops), default=0)
        return max(self.next_number, highest + 1)

    def peek_next_id(self) -> str:
        return format_id(self.allocate_number())

    # -- changes
    def new_loop(
        self,
        title: str,
        *,
        status: str = "proposed",
        body: str = "",
        context: str = "",
        source: str = "",
        tags: list[str] | None = None,
    ) -> Loop:
        """Append a loop with the next id from the high-water mark."""
        if status not in STATUSES:
            raise UsageError(
                f"unknown status {status!r}.", fix=f"use one of: {', '.join(STATUSES)}."
            )
        if not normalize_title(title):
            raise UsageError("a loop needs a title.", fix='e.g. decp loop propose "Is X safe?"')
        number = self.allocate_number()
        stamp = now_iso()
        loop = Loop(
            id=format_id(number),
            status=status,
            title=title,
            body=body,
            context=context,
            source=source,
            tags=normalize_tags(tags or []),
            created=stamp,
            updated=stamp,
        )
        self.loops.append(loop)
        self.next_number = number + 1
        return loop

    def changed_loops(self) -> list[Loop]:
        """Loops that are new or differ from what was read."""
        by_obj = {id(s.loop): s for s in self._segments if isinstance(s, _Block)}
        return [loop for loop in self.loops if id(loop) not in by_obj or by_obj[id(loop)].changed()]

    def originals(self) -> dict[int, Loop]:
        """The loops as read (object id → copy), for `updated` stamping."""
        return {
            id(s.loop): s.original
            for s in self._segments
            if isinstance(s, _Block) and s.original is not None
        }

    # -- rendering
    def render(self) -> str:
        """The file text; byte-identical to the input when nothing changed."""
        ids = [loop.id for loop in self.loops]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise UsageError(f"two loops share the id {dup}.", fix="allocate ids with `new_loop`.")
        for loop in self.loops:  # refuse to write what could not be read back
            normalize_tags(loop.tags)
            if loop.status not in STATUSES:
                raise UsageError(
                    f"{loop.id} has unknown status {loop.status!r}.",
                    fix=f"use one of: {', '.join(STATUSES)} (via `transition`).",
                )
            if not loop.title:
                raise UsageError(f"{loop.id} has an empty title.", fix="give it a short title.")
        present = {id(loop) for loop in self.loops}
        known = {id(s.loop) for s in self._segments if isinstance(s, _Block)}
        new = [loop for loop in self.loops if id(loop) not in known]
        dirty = bool(new) or any(
            isinstance(s, _Block) and (id(s.loop) not in present or s.changed())
            for s in self._segments
        )
        next_number = self.next_number
        if dirty:
            next_number = max(next_number, self.allocate_number())
        nl = self.nl
        out: list[str] = []
        last_block = max(
            (i for i, s in enumerate(self._segments) if isinstance(s, _Block)), default=None
        )
        for index, seg in enumerate(self._segments):
            if isinstance(seg, _Block):
                if id(seg.loop) in present:
                    out.append(seg.render(nl))
            elif self._mark is not None and index == self._mark.chunk:
                if next_number != self._mark.number or (dirty and self._extra_marks):
                    ending = seg[len(_strip_nl(seg)) :] or nl
                    out.append(render_mark("LOOP", next_number) + ending)
                else:
                    out.append(seg)
            elif index in self._extra_marks and (dirty or next_number != self._mark_number()):
                pass  # one mark is enough once the file is written again
            else:
                out.append(seg)
            if index == last_block and new:
                out.append(self._render_new(new, "".join(out), nl))
                following = "".join(x for x in self._segments[index + 1 :] if isinstance(x, str))
                if following and not is_blank(line_body(split_lines(following)[0])):
                    out.append(nl)  # keep a blank line before the next section
        if last_block is None and new:
            if not out and self.original_text == "":
                out.append(default_header(self.docs_url or "https://decp.dev").replace("\n", nl))
            out.append(self._render_new(new, "".join(out), nl))
        text = "".join(out)
        if self._mark is None and (dirty or next_number != self._initial_next):
            text = self._insert_mark(text, next_number, nl)
        return text

    def _mark_number(self) -> int:
        return self._mark.number if self._mark else 0

    def _render_new(self, new: list[Loop], before: str, nl: str) -> str:
        lead = ""
        if before and not before.endswith("\n"):
            lead = nl + nl
        elif before and not before.endswith(("\n\n", "\r\n\r\n")):
            lead = nl
        return lead + nl.join(render_block(loop, nl) for loop in new)

    def _insert_mark(self, text: str, number: int, nl: str) -> str:
        """Put the high-water mark before the first loop (or at the end of the header)."""
        mark = render_mark("LOOP", number) + nl
        lines = split_lines(text)
        for index, line in enumerate(lines):
            if _LOOP_CANDIDATE_RE.match(line):
                prefix = "".join(lines[:index])
                if prefix and not prefix.endswith("\n"):
                    prefix += nl
                return prefix + mark + nl + "".join(lines[index:])
        if text and not text.endswith("\n"):
            text += nl
        return text + mark


# ---------------------------------------------------------------- lifecycle


def transition(loop: Loop, new_status: str, *, outcome: str | None = None) -> None:
    """Move a loop along its lifecycle, or raise UsageError (exit 2) saying what is allowed."""
    if new_status not in STATUSES:
        raise UsageError(
            f"unknown status {new_status!r}.", fix=f"use one of: {', '.join(STATUSES)}."
        )
    allowed = TRANSITIONS[loop.status]
    if new_status not in allowed:
        if new_status == loop.status:
            message = f"{loop.id} is already {loop.status}."
        else:
            message = f"{loop.id} is {loop.status}; it cannot become {new_status}."
        hint = {
            "proposed": "approve it first (`decp loop approve {id}`) or reject it.",
            "closed": "reopen it first (`decp loop reopen {id}`).",
            "rejected": "reopen it first (`decp loop reopen {id}`) if it matters after all.",
        }.get(loop.status, "allowed next: " + ", ".join(allowed) + ".")
        raise UsageError(message, fix=hint.format(id=loop.id))
    loop.status = new_status
    if outcome is not None:
        loop.outcome = outcome
    loop.updated = now_iso()


# ---------------------------------------------------------------- queries


def status_filter(values: list[str] | None) -> tuple[str, ...] | None:
    """`--status` values (repeatable, comma-separated) → statuses; None means all.

    Nothing given means the active ones; `active` and `all` are shorthands.
    """
    wanted: list[str] = []
    for value in values or ["active"]:
        for part in value.split(","):
            part = part.strip().lower()
            if part == "all":
                return None
            if part == "active":
                wanted.extend(ACTIVE_STATUSES)
            elif part in STATUSES:
                wanted.append(part)
            elif part:
                raise UsageError(
                    f"unknown status {part!r}.",
                    fix=f"use one of: {', '.join(STATUSES)}, active, all.",
                )
    return tuple(dict.fromkeys(wanted))


_SOURCE_RE = re.compile(r"(?P<file>.+?):(?P<line>\d+)(?::\d+)?")


def check_source(source: str, root: Path, cwd: Path | None = None) -> str | None:
    """A one-line warning when `--source FILE:LINE` names no file or a line past its end.

    The loop is recorded anyway: the source is a pointer, and a file may be about
    to be created. A dbt model name (no `:LINE`, no `/`, no extension) is not checked.
    """
    source = source.strip()
    match = _SOURCE_RE.fullmatch(source)
    name = match["file"] if match else source
    if not source or (match is None and "/" not in name and not Path(name).suffix):
        return None
    candidates = [Path(name)] if Path(name).is_absolute() else [root / name]
    if cwd is not None and not Path(name).is_absolute():
        candidates.append(cwd / name)
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        return f"--source {source}: no such file (from {root}); the loop is recorded anyway."
    if not path.resolve().is_relative_to(root.resolve()):
        return f"--source {source}: the file is outside the repo; the loop is recorded anyway."
    if not path.is_file():
        return f"--source {source}: not a regular file; the loop is recorded anyway."
    if match is None:
        return None
    wanted = int(match["line"])
    if wanted == 0:
        return f"--source {source}: lines count from 1; the loop is recorded anyway."
    count = 0
    if wanted > 0:
        with path.open("rb") as handle:
            for count, _ in enumerate(handle, start=1):
                if count >= wanted:
                    return None
    return (
        f"--source {source}: {name} has {count} line(s), so there is no line {wanted}; "
        "the loop is recorded anyway."
    )


# ---------------------------------------------------------------- files


def loops_path(config: Config) -> Path:
    return config.project_dir / FILE_NAME


def parse_loops(text: str, path: Path, docs_url: str = "") -> LoopBook:
    return LoopBook(path, text, docs_url=docs_url)


def read_loops(config: Config) -> LoopBook:
    """Parse LOOPS.md; a missing file is an empty book (created on first write)."""
    path = loops_path(config)
    if not path.exists():
        return LoopBook(path, "", docs_url=config.docs_url)
    return parse_loops(read_text(path), path, config.docs_url)


def _stamp_updated(book: LoopBook) -> None:
    originals = book.originals()
    stamp = None
    for loop in book.changed_loops():
        old = originals.get(id(loop))
        if old is not None and loop.updated == old.updated:
            stamp = stamp or now_iso()
            loop.updated = stamp


@contextmanager
def edit_loops(config: Config) -> Iterator[LoopBook]:
    """Locked read-modify-write; writes only on a clean exit and only if something changed."""
    path = loops_path(config)
    with locked(path):
        book = read_loops(config)
        yield book
        _stamp_updated(book)
        text = book.render()
        if text != book.original_text:
            atomic_write(path, text)


# ---------------------------------------------------------------- review

REVIEW_PROMPT = "[a]pprove, [e]dit, [r]eject, [s]kip, [q]uit? "


def review_loops(
    config: Config, ask: Callable[[str], str], say: Callable[[str], None]
) -> dict[str, list[str]]:
    """Walk the proposed loops with the user; each answer is written at once.

    The lock is taken per answer, not while waiting for the user, so an agent
    can keep proposing while the user reviews.
    """
    summary: dict[str, list[str]] = {"approved": [], "rejected": [], "edited": [], "skipped": []}
    pending = [loop.id for loop in read_loops(config).select(("proposed",))]
    if not pending:
        say("No proposed loops to review.")
        return summary
    say(f"{len(pending)} proposed loop(s).")
    try:
        for loop_id in pending:
            if not _review_one(config, loop_id, ask, say, summary):
                break
    except EOFError:
        say("")
    return {key: ids for key, ids in summary.items() if ids}


def _review_one(
    config: Config,
    loop_id: str,
    ask: Callable[[str], str],
    say: Callable[[str], None],
    summary: dict[str, list[str]],
) -> bool:
    """Review one loop; False means the user quit."""
    while True:
        loop = read_loops(config).get(loop_id)
        if loop.status != "proposed":
            return True  # someone else decided meanwhile
        say("")
        say(render_block(loop).rstrip("\n"))
        answer = ask(REVIEW_PROMPT).strip().lower()[:1]
        if answer == "a":
            with edit_loops(config) as book:
                transition(book.get(loop_id), "open")
            summary["approved"].append(loop_id)
            return True
        if answer == "r":
            why = ask("Why not (optional)? ").strip()
            with edit_loops(config) as book:
                transition(book.get(loop_id), "rejected", outcome=why or None)
            summary["rejected"].append(loop_id)
            return True
        if answer == "e":
            title = ask(f"Title [{loop.title}]: ").strip()
            body = ask("Body (one line, empty keeps it): ").strip()
            if title or body:
                with edit_loops(config) as book:
                    target = book.get(loop_id)
                    target.title = title or target.title
                    target.body = body or target.body
                summary["edited"].append(loop_id)
            continue
        if answer == "s" or answer == "":
            summary["skipped"].append(loop_id)
            return True
        if answer == "q":
            return False
        say("Answer a, e, r, s or q.")

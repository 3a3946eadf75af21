"""One lossless way to read and edit the Markdown files decp shares with people.

Why one primitive: LOOPS.md, STATE.md, CONTEXT.md and the session summaries are
edited by hand *and* by decp. Each used to split lines, detect CRLF, find the
next id and guard against merge conflicts in its own way, and each got a
different corner wrong. Everything here follows three rules:

- Lines are split on ``\\n`` only (a ``\\r\\n`` ending is kept with its line).
  ``str.splitlines()`` also breaks on U+2028, U+2029, NEL, form feed and
  ``\\x1c``-``\\x1e``; a user's text holding one of those must stay *one* line,
  or a single argument could forge a new heading or entry.
- A line keeps its exact original text (ending included), so a file decp did
  not change is written back byte for byte, and an edit replaces only the
  lines it owns.
- A file still holding git conflict markers is refused with the line number:
  decp never edits half a merge.

The API (small on purpose):

- ``split_lines(text)`` / ``line_body(line)`` / ``newline_of(text)`` / ``is_blank(body)``
- ``check_no_conflicts(text, path)`` raises DataError("… resolve the merge first");
  ``conflict_line(text)`` (first marker line or None), ``is_conflict_marker(body)``
  (writers escape user lines that would read as one)
- ``one_line(text)``: any run of whitespace or line breaks becomes one space
  (for fields that live on one line: titles, state values, task titles)
- ``FIELD_RE``: a ``- key: value`` line (``key``, then ``value`` or ``rest``)
- ``format_id(prefix, n)``, ``id_pattern(prefix)``, ``mark_pattern(prefix)``,
  ``render_mark(prefix, n)``, ``next_number(used, marks)``: the ``PREFIX-NNN``
  ids and the ``<!-- next-id: PREFIX-NNN -->`` high-water mark
- ``LineDoc``: path + original lines + newline style, with ``body(i)``,
  ``render()``, ``marks(prefix)`` and ``end_last_line()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from decp.core.errors import DataError

# git writes `<<<<<<< ours`, `||||||| base` (diff3), `=======` and `>>>>>>> theirs`.
# `=======` alone is also a setext heading underline; only exactly seven count.
CONFLICT_RE = re.compile(r"(?:<{7}|>{7}|\|{7})(?:[ \t].*)?|={7}[ \t]*")

# `- key: value` (or `- key:` with nothing after the colon).
FIELD_RE = re.compile(
    r"-[ \t]*(?P<key>[A-Za-z_][A-Za-z_-]*)[ \t]*:(?:[ \t](?P<value>.*)|(?P<rest>.*))"
)

_BLANK_CHARS = " \t\r"


def split_lines(text: str) -> list[str]:
    """The lines of `text`, each with its ending; split on ``\\n`` and nothing else.

    ``"".join(split_lines(t)) == t`` for every string. The last line has no
    ending when the text does not end in a newline.
    """
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def line_body(line: str) -> str:
    """A line without its ``\\n`` or ``\\r\\n`` ending (other characters are kept)."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def newline_of(text: str) -> str:
    """The file's newline style, judged by its first line: ``"\\r\\n"`` or ``"\\n"``."""
    first, sep, _ = text.partition("\n")
    return "\r\n" if sep and first.endswith("\r") else "\n"


def is_blank(body: str) -> bool:
    """Only spaces and tabs (a form feed or U+2028 is content, not a blank line)."""
    return not body.strip(_BLANK_CHARS)


def conflict_line(text: str) -> int | None:
    """The 1-based number of the first git conflict-marker line, or None.

    A merge (or `copier update`) leaves `<<<<<<< ours` / `=======` / `>>>>>>> theirs`
    blocks: a file holding them has two versions of the truth and must not be read
    as one. Only `\\n` splits lines, as git itself does.
    """
    if not any(mark in text for mark in ("<<<<<<<", "=======", ">>>>>>>", "|||||||")):
        return None  # the common case, without splitting the text
    for number, line in enumerate(split_lines(text), start=1):
        if CONFLICT_RE.fullmatch(line_body(line)):
            return number
    return None


def check_no_conflicts(text: str, path: Path) -> None:
    """Refuse a file that still holds `<<<<<<<` / `=======` / `>>>>>>>` lines."""
    number = conflict_line(text)
    if number is not None:
        raise DataError(
            "git conflict marker; the file is in the middle of a merge.",
            path=path,
            line=number,
            fix="resolve the merge first (keep both sides' entries, delete the "
            "<<<<<<< ======= >>>>>>> lines), then run `decp doctor`; a heading "
            "underline of exactly seven `=` reads as a marker, so make it longer.",
        )


def is_conflict_marker(body: str) -> bool:
    """Would this line (without ending) read as a conflict marker? Writers escape it."""
    return bool(CONFLICT_RE.fullmatch(body))


def one_line(text: str) -> str:
    """Collapse every whitespace run, every kind of line break included, to one space."""
    return " ".join(text.split())


def format_id(prefix: str, number: int) -> str:
    """`format_id("LOOP", 7)` → ``LOOP-007``."""
    return f"{prefix}-{number:03d}"


def id_pattern(prefix: str) -> re.Pattern[str]:
    """Whole-word ids of one kind (``LOOP-007``); group ``num`` is the number."""
    return re.compile(rf"(?<![\w-]){re.escape(prefix)}-(?P<num>\d+)(?![\w-])")


def mark_pattern(prefix: str) -> re.Pattern[str]:
    """The high-water mark line ``<!-- next-id: PREFIX-NNN -->`` (fullmatch on a line body).

    Group ``num`` is the number, ``tail`` any text kept after it.
    """
    return re.compile(
        rf"<!--[ \t]*next-id:[ \t]*{re.escape(prefix)}-(?P<num>\d+)(?P<tail>.*?)-->[ \t]*"
    )


def render_mark(prefix: str, number: int, tail: str = " ") -> str:
    """The mark line's text (no ending)."""
    return f"<!-- next-id: {format_id(prefix, number)}{tail}-->"


def next_number(used: Iterable[int], marks: Iterable[int] = ()) -> int:
    """The next free number: above every id in use and at least every mark.

    Several marks happen after a `merge=union` of two branches; the highest wins,
    so an id handed out on either branch is never handed out again.
    """
    return max(max(marks, default=1), max(used, default=0) + 1)


@dataclass
class LineDoc:
    """A text file as its exact lines; edits replace whole lines and keep the rest.

    `lines` hold their endings, so ``render()`` of an untouched doc is the input.
    """

    path: Path
    lines: list[str]
    nl: str

    @classmethod
    def parse(cls, text: str, path: Path) -> LineDoc:
        """Split `text` losslessly; DataError if it holds conflict markers."""
        check_no_conflicts(text, path)
        return cls(path, split_lines(text), newline_of(text))

    def body(self, index: int) -> str:
        """Line `index` (0-based) without its ending."""
        return line_body(self.lines[index])

    def render(self) -> str:
        return "".join(self.lines)

    def marks(self, prefix: str) -> list[tuple[int, int]]:
        """Every high-water mark line as (0-based index, number), in file order."""
        pattern = mark_pattern(prefix)
        found = []
        for index, line in enumerate(self.lines):
            match = pattern.fullmatch(line_body(line))
            if match:
                found.append((index, int(match["num"])))
        return found

    def end_last_line(self) -> None:
        """Give the last line an ending, so a line can be appended after it."""
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += self.nl

    def line(self, body: str) -> str:
        """`body` with this file's newline."""
        return body + self.nl

"""todo.txt lines, parsed and rendered in the standard format.

Why todo.txt: it is plain text, every editor and many apps read it, and it
needs no account. The file belongs to the user as much as to decp: lines
without an `id:LOOP-NNN` are theirs and are never rewritten, and decp's own
lines are edited in place, keeping the priority, dates and extra tags the
user added.

    x 2026-01-05 2026-01-02 Decide cache policy +shop @review id:LOOP-003
    (A) 2026-01-02 Check freshness +shop @dbt id:LOOP-004 src:models/orders.sql:12
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from decp.core.errors import DataError

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PRIORITY_RE = re.compile(r"^\(([A-Z])\)$")
KV_RE = re.compile(r"^([^\s:]+):([^\s:][^\s]*)$")
LOOP_VALUE_RE = re.compile(r"^LOOP-\d{3,}$")
CAPTURE_MARKERS = ("@decp", "+decp")


def encode_value(text: str) -> str:
    """Spaces cannot appear in todo.txt tokens: percent-encode them (and `%` itself)."""
    return text.replace("%", "%25").replace(" ", "%20").replace("\t", "%09").replace("\n", "%0A")


def decode_value(text: str) -> str:
    return text.replace("%0A", "\n").replace("%09", "\t").replace("%20", " ").replace("%25", "%")


@dataclass
class TodoItem:
    """One task line. `words` keeps the description tokens in their original order."""

    line: int
    done: bool = False
    completion: str = ""
    priority: str = ""
    creation: str = ""
    words: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The description without +projects, @contexts and key:value pairs."""
        return " ".join(w for w in self.words if not _is_special(w))

    @property
    def contexts(self) -> tuple[str, ...]:
        return tuple(decode_value(w[1:]) for w in self.words if _is_tag(w, "@"))

    @property
    def projects(self) -> tuple[str, ...]:
        return tuple(w[1:] for w in self.words if _is_tag(w, "+"))

    def value(self, key: str) -> str | None:
        for word in self.words:
            match = KV_RE.match(word)
            if match and match.group(1) == key:
                return decode_value(match.group(2))
        return None

    @property
    def loop_id(self) -> str | None:
        value = self.value("id")
        return value if value and LOOP_VALUE_RE.match(value) else None

    @property
    def captured(self) -> bool:
        """A user's line asking to become a loop: tagged @decp or +decp, no loop id yet."""
        return self.loop_id is None and any(w in CAPTURE_MARKERS for w in self.words)


def _is_tag(word: str, sigil: str) -> bool:
    return len(word) > 1 and word.startswith(sigil)


def _is_special(word: str) -> bool:
    return _is_tag(word, "+") or _is_tag(word, "@") or bool(KV_RE.match(word))


def _check_date(token: str, what: str, path: Path, line: int) -> str:
    try:
        date.fromisoformat(token)
    except ValueError:
        raise DataError(
            f"{what} {token!r} is not a real date.",
            path=path,
            line=line,
            fix="write dates as YYYY-MM-DD (e.g. 2026-01-05).",
        ) from None
    return token


def parse_line(text: str, line: int, path: Path) -> TodoItem | None:
    """Parse one line; None for a blank one. DataError names the line for a bad date or id."""
    tokens = text.split()
    if not tokens:
        return None
    item = TodoItem(line=line)
    if tokens[0] == "x":
        item.done = True
        tokens = tokens[1:]
        if tokens and DATE_RE.match(tokens[0]):
            item.completion = _check_date(tokens.pop(0), "completion date", path, line)
            if tokens and DATE_RE.match(tokens[0]):
                item.creation = _check_date(tokens.pop(0), "creation date", path, line)
        if tokens and PRIORITY_RE.match(tokens[0]):
            item.priority = tokens.pop(0)[1]
    else:
        if PRIORITY_RE.match(tokens[0]):
            item.priority = tokens.pop(0)[1]
        if tokens and DATE_RE.match(tokens[0]):
            item.creation = _check_date(tokens.pop(0), "creation date", path, line)
    item.words = tokens
    value = item.value("id")
    if value and value.upper().startswith("LOOP-") and not LOOP_VALUE_RE.match(value):
        raise DataError(
            f"id:{value} is not a loop id.",
            path=path,
            line=line,
            fix="loop ids look like id:LOOP-003; fix or remove the id: pair.",
        )
    return item


def render(item: TodoItem) -> str:
    """A line in the standard field order. Done items keep their priority as `pri:X`."""
    head: list[str] = []
    words = list(item.words)
    if item.done:
        head.append("x")
        if item.completion:
            head.append(item.completion)
            if item.creation:
                head.append(item.creation)
        if item.priority and not any(w.startswith("pri:") for w in words):
            words.append(f"pri:{item.priority}")
    else:
        pri = next((w for w in words if w.startswith("pri:") and len(w) == 5), None)
        priority = item.priority or (pri[4] if pri else "")
        if pri:
            words.remove(pri)
        if priority:
            head.append(f"({priority})")
        if item.creation:
            head.append(item.creation)
    return " ".join([*head, *words])


def build_item(
    *,
    title: str,
    tags: tuple[str, ...],
    project: str,
    loop_id: str,
    source: str,
    created: str,
    done: bool,
    completion: str,
) -> TodoItem:
    """A new line for a loop: title, +project, @tags, id:, src:."""
    words = title.split()
    if project:
        words.append(f"+{encode_value(project.replace(' ', '-'))}")
    words += [f"@{encode_value(tag)}" for tag in tags]
    words.append(f"id:{loop_id}")
    if source.strip():
        words.append(f"src:{encode_value(source.strip())}")
    return TodoItem(
        line=0, done=done, completion=completion if done else "", creation=created, words=words
    )


def with_changes(
    item: TodoItem, *, title: str | None = None, tags: tuple[str, ...] | None = None,
    done: bool | None = None, completion: str = "", loop_id: str | None = None,
) -> TodoItem:  # fmt: skip
    """The same line with decp's fields changed and everything else the user wrote kept."""
    words = list(item.words)
    if title is not None and title != item.text:
        words = _splice(words, title)
    if tags is not None and tuple(tags) != item.contexts:
        kept = [w for w in words if not _is_tag(w, "@")]
        at = next((i for i, w in enumerate(kept) if KV_RE.match(w)), len(kept))
        words = [*kept[:at], *(f"@{encode_value(t)}" for t in tags), *kept[at:]]
    if loop_id is not None and item.loop_id != loop_id:
        words = [w for w in words if not w.startswith("id:")] + [f"id:{loop_id}"]
    changed = replace(item, words=words)
    if done is not None and done != item.done:
        changed.done = done
        changed.completion = completion if done else ""
    return changed


def _splice(words: list[str], title: str) -> list[str]:
    """Replace the plain words, keeping special tokens where the user put them."""
    first_plain = next((i for i, w in enumerate(words) if not _is_special(w)), 0)
    special = [w for w in words if _is_special(w)]
    before = sum(1 for w in words[:first_plain] if _is_special(w))
    return [*special[:before], *title.split(), *special[before:]]

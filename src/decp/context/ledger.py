"""The context ledger (`.project/CONTEXT.md`) and the budget status read from it.

Why a ledger: a copilot's context is invisible state. Writing down what was
loaded (with its measured token cost) and what was left out (with the reason)
makes the context a decision the user can review, resume and hand off, instead
of a guess that evaporates with the chat.

The file is plain Markdown with two tables, `## Loaded` and `## Excluded`.
Edits are surgical: only the touched row changes, so hand-written notes and
hand-edited rows elsewhere in the file survive byte for byte.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.clock import now_iso  # noqa: F401  (re-exported: the ledger's timestamps)
from decp.core.errors import DataError, UsageError
from decp.core.mdoc import LineDoc, line_body, one_line

if TYPE_CHECKING:
    from decp.core.config import Config

CONTEXT_NAME = "CONTEXT.md"
LOADED = "Loaded"
EXCLUDED = "Excluded"
COLUMNS = ("Target", "Kind", "Tokens", "Why", "When")
HEADER_ROW = "| " + " | ".join(COLUMNS) + " |"
SEPARATOR_ROW = "|---|---|--:|---|---|"
NO_TOKENS = "-"
# The ledger is "warm" once it holds this share of the task budget: time to
# summarise or unload before adding more.
WARN_SHARE_OF_TASK = 0.8

_WHEN_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_SECTION_RE = re.compile(r"^##\s+(loaded|excluded)\s*$", re.IGNORECASE)
_HEADING_RE = re.compile(r"^#{1,2}\s")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_NONE_TOKENS = {"", "-", "–", "—", "n/a", "none"}
_FORMAT_FIX = (
    "each row is `| target | kind | tokens | why | when |` "
    "(tokens an integer or -, when like 2026-01-31T09:00:00Z); fix or delete the row."
)


@dataclass
class LedgerEntry:
    """One context decision: something loaded (with its cost) or excluded (with its reason)."""

    target: str  # path, glob, or "dbt:<selection>" pack
    kind: str  # "path" | "glob" | "dbt-pack" | "secret" | ...
    tokens: int | None  # measured tokens; None for exclusions that were never counted
    why: str
    when: str  # ISO-8601 UTC seconds, e.g. "2026-11-26T03:00:00Z"


@dataclass
class Ledger:
    loaded: list[LedgerEntry] = field(default_factory=list)
    excluded: list[LedgerEntry] = field(default_factory=list)

    @property
    def loaded_tokens(self) -> int:
        return sum(e.tokens or 0 for e in self.loaded)

    def find(self, target: str) -> tuple[str, LedgerEntry] | None:
        """Which section holds `target`, if any."""
        for section, entries in ((LOADED, self.loaded), (EXCLUDED, self.excluded)):
            for entry in entries:
                if entry.target == target:
                    return section, entry
        return None


def context_path(config: Config) -> Path:
    return config.project_dir / CONTEXT_NAME


def skeleton(docs_url: str) -> str:
    """A fresh, empty CONTEXT.md; mirrors template/.project/CONTEXT.md.jinja."""
    link = f"{docs_url.rstrip('/')}/patterns/context-decisions/"
    return (
        "# Context ledger\n"
        "\n"
        "What this task loaded into the copilot's context (measured in tokens), what it left out, and why: declared inputs, like sources in dbt.\n"
        f"`decp context load|exclude|unload` edit the tables; notes outside them are yours. Why: {link}\n"
        "\n"
        f"## {LOADED}\n"
        "\n"
        f"{HEADER_ROW}\n"
        f"{SEPARATOR_ROW}\n"
        "\n"
        f"## {EXCLUDED}\n"
        "\n"
        f"{HEADER_ROW}\n"
        f"{SEPARATOR_ROW}\n"
    )


# --- parsing -----------------------------------------------------------------


@dataclass
class _Table:
    """Where one section's table sits in the file (0-based line indexes)."""

    heading: int
    header: int | None = None  # header row index, None when the section has no table
    rows: list[int] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)

    @property
    def end(self) -> int:
        """Index after the table's last line (header+separator+rows)."""
        if self.header is None:
            return self.heading + 1
        return (self.rows[-1] if self.rows else self.header + 1) + 1


@dataclass
class _Doc:
    lines: list[str]  # with their line endings
    tables: dict[str, _Table]
    newline: str

    def ledger(self) -> Ledger:
        return Ledger(
            loaded=list(self.tables[LOADED].entries) if LOADED in self.tables else [],
            excluded=list(self.tables[EXCLUDED].entries) if EXCLUDED in self.tables else [],
        )


def _split_cells(line: str) -> list[str]:
    # Strip spaces and tabs only: a U+2028 or form feed in a cell is content.
    body = line_body(line).strip(" \t")
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip(" \t").replace("\\|", "|") for cell in _CELL_SPLIT_RE.split(body)]


def _unwrap_code(cell: str) -> str:
    match = re.fullmatch(r"(`+)(.*)\1", cell)
    if not match:
        return cell
    inner = match.group(2)
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]
    return inner


def _parse_tokens(cell: str, path: Path, lineno: int) -> int | None:
    if cell.strip().lower() in _NONE_TOKENS:
        return None
    digits = cell.replace(",", "").replace("_", "").replace(" ", "")
    if not re.fullmatch(r"[0-9]+", digits):  # "²".isdigit() is True, int("²") fails
        raise DataError(
            f"Tokens cell {cell!r} is not a whole number.",
            path=path,
            line=lineno,
            fix="write the token count as digits (e.g. 1,234) or - when not counted.",
        )
    return int(digits)


def _parse_row(line: str, path: Path, lineno: int) -> LedgerEntry:
    cells = _split_cells(line)
    if len(cells) != len(COLUMNS):
        raise DataError(
            f"ledger row has {len(cells)} cells, expected {len(COLUMNS)} ({', '.join(COLUMNS)}).",
            path=path,
            line=lineno,
            fix=_FORMAT_FIX,
        )
    target, kind, tokens, why, when = cells
    target = _unwrap_code(target)
    if not target:
        raise DataError("ledger row has an empty Target.", path=path, line=lineno, fix=_FORMAT_FIX)
    if not _KIND_RE.match(kind):
        raise DataError(
            f"Kind {kind!r} is not a lowercase word like path, glob or dbt-pack.",
            path=path,
            line=lineno,
            fix=_FORMAT_FIX,
        )
    if not _WHEN_RE.match(when):
        raise DataError(
            f"When {when!r} is not an ISO-8601 UTC time.",
            path=path,
            line=lineno,
            fix="write it like 2026-01-31T09:00:00Z.",
        )
    return LedgerEntry(target, kind, _parse_tokens(tokens, path, lineno), why, when)


def _is_separator(line: str) -> bool:
    cells = _split_cells(line)
    return len(cells) == len(COLUMNS) and all(re.fullmatch(r":?-+:?", c) for c in cells)


def _parse_section(lines: list[str], start: int, path: Path) -> _Table:
    """Read the one table under the heading at `start`; prose around it is left alone."""
    table = _Table(heading=start)
    i = start + 1
    while i < len(lines) and not _HEADING_RE.match(lines[i]):
        stripped = lines[i].strip()
        if not stripped.startswith("|"):
            i += 1
            continue
        if table.header is not None:
            raise DataError(
                "a second table in a ledger section; decp would not know which rows count.",
                path=path,
                line=i + 1,
                fix="merge its rows into the first table of the section, or move it under another heading.",
            )
        header = [c.lower() for c in _split_cells(lines[i])]
        if header != [c.lower() for c in COLUMNS]:
            raise DataError(
                "ledger table header must be " + HEADER_ROW + ".",
                path=path,
                line=i + 1,
                fix=f"restore the header row `{HEADER_ROW}`.",
            )
        if i + 1 >= len(lines) or not _is_separator(lines[i + 1]):
            raise DataError(
                "ledger table header is not followed by its separator row.",
                path=path,
                line=i + 2,
                fix=f"put `{SEPARATOR_ROW}` right under the header.",
            )
        table.header = i
        i += 2
        while i < len(lines) and lines[i].strip().startswith("|"):
            table.rows.append(i)
            table.entries.append(_parse_row(lines[i], path, i + 1))
            i += 1
    return table


def _parse(text: str, path: Path) -> _Doc:
    """Split losslessly (on \\n only, see decp.core.mdoc); refuse conflict markers."""
    base = LineDoc.parse(text, path)
    lines, newline = base.lines, base.nl
    tables: dict[str, _Table] = {}
    for index, line in enumerate(lines):
        match = _SECTION_RE.match(line_body(line))
        if not match:
            continue
        name = LOADED if match.group(1).lower() == "loaded" else EXCLUDED
        if name in tables:
            raise DataError(
                f"a second `## {name}` section.",
                path=path,
                line=index + 1,
                fix=f"merge the two `## {name}` sections into one.",
            )
        tables[name] = _parse_section(lines, index, path)
    seen: dict[str, int] = {}
    for table in tables.values():
        for row, entry in zip(table.rows, table.entries, strict=True):
            if entry.target in seen:
                raise DataError(
                    f"target {entry.target!r} appears twice in the ledger (also line {seen[entry.target]}).",
                    path=path,
                    line=row + 1,
                    fix="delete one of the two rows (a target is either loaded or excluded, once).",
                )
            seen[entry.target] = row + 1
    return _Doc(lines, tables, newline)


def parse_ledger(text: str, path: Path) -> Ledger:
    """Parse CONTEXT.md text; malformed rows raise DataError with line and fix."""
    return _parse(text, path).ledger()


def read_ledger(config: Config) -> Ledger:
    """The ledger of this repo; a missing CONTEXT.md is an empty ledger."""
    from decp.core.fsio import read_text

    path = context_path(config)
    if not path.exists():
        return Ledger()
    return parse_ledger(read_text(path), path)


# --- writing -----------------------------------------------------------------


def _code(text: str) -> str:
    """Wrap in a code span that survives backticks inside (globs render literally)."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def format_row(entry: LedgerEntry) -> str:
    tokens = f"{entry.tokens:,}" if entry.tokens is not None else NO_TOKENS
    cells = [_code(entry.target), entry.kind, tokens, entry.why, entry.when]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def validate_entry(entry: LedgerEntry) -> None:
    """Refuse entries that would not parse back, before anything is written."""
    for name in ("target", "kind", "why", "when"):
        value = getattr(entry, name)
        if "\n" in value or "\r" in value:
            raise UsageError(
                f"{name} must be one line.", fix=f"remove line breaks from the {name}."
            )
    if not entry.target.strip():
        raise UsageError("empty target.", fix="give a path, a glob or a dbt selection.")
    if not _KIND_RE.match(entry.kind):
        raise UsageError(f"kind {entry.kind!r} must be a lowercase word like path or dbt-pack.")
    if not _WHEN_RE.match(entry.when):
        raise UsageError(f"when {entry.when!r} must look like 2026-01-31T09:00:00Z.")
    if entry.tokens is not None and entry.tokens < 0:
        raise UsageError("tokens must be zero or more.")


def _drop_row(doc: _Doc, target: str, path: Path) -> tuple[_Doc, bool]:
    for table in doc.tables.values():
        for row, entry in zip(table.rows, table.entries, strict=True):
            if entry.target == target:
                lines = doc.lines[:row] + doc.lines[row + 1 :]
                return _parse("".join(lines), path), True
    return doc, False


def _ensure_table(doc: _Doc, section: str, path: Path) -> _Doc:
    """Add the section and/or its table when a hand edit removed them."""
    nl = doc.newline
    lines = list(doc.lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += nl
    table = doc.tables.get(section)
    if table is None:
        if lines and lines[-1].strip():
            lines.append(nl)
        lines.extend([f"## {section}{nl}", nl, f"{HEADER_ROW}{nl}", f"{SEPARATOR_ROW}{nl}"])
    elif table.header is None:
        at = table.heading + 1
        block = [nl, f"{HEADER_ROW}{nl}", f"{SEPARATOR_ROW}{nl}"]
        if at < len(lines) and lines[at].strip():
            block.append(nl)
        lines[at:at] = block
    else:
        return doc
    return _parse("".join(lines), path)


def _upsert(doc: _Doc, entry: LedgerEntry, section: str, path: Path) -> _Doc:
    row_text = format_row(entry) + doc.newline
    table = doc.tables.get(section)
    if table is not None:
        for row, existing in zip(table.rows, table.entries, strict=True):
            if existing.target == entry.target:
                lines = list(doc.lines)
                lines[row] = row_text
                return _parse("".join(lines), path)
    doc, _ = _drop_row(doc, entry.target, path)  # it may sit in the other section: move it
    doc = _ensure_table(doc, section, path)
    table = doc.tables[section]
    lines = list(doc.lines)
    lines.insert(table.end, row_text)
    return _parse("".join(lines), path)


def normalize_entry(entry: LedgerEntry) -> LedgerEntry:
    """The why lives in one table cell: every line break and whitespace run becomes a space."""
    return dataclasses.replace(entry, why=one_line(entry.why))


def _apply(config: Config, decisions: list[tuple[LedgerEntry, bool]]) -> None:
    from decp.core.fsio import atomic_write, locked, read_text

    decisions = [(normalize_entry(entry), excluded) for entry, excluded in decisions]
    for entry, _ in decisions:
        validate_entry(entry)
    path = context_path(config)
    with locked(path):
        text = read_text(path) if path.exists() else skeleton(config.docs_url)
        doc = _parse(text, path)
        for entry, excluded in decisions:
            doc = _upsert(doc, entry, EXCLUDED if excluded else LOADED, path)
        new_text = "".join(doc.lines)
        if new_text != text or not path.exists():
            atomic_write(path, new_text)


def record(config: Config, entry: LedgerEntry, *, excluded: bool) -> None:
    """Add or replace the row for `entry.target` (moving it between sections if needed)."""
    _apply(config, [(entry, excluded)])


def record_many(config: Config, decisions: list[tuple[LedgerEntry, bool]]) -> None:
    """Record several (entry, excluded) decisions in one locked, atomic write."""
    if decisions:
        _apply(config, decisions)


def remove(config: Config, target: str) -> bool:
    """Delete the row for `target`; False (and no write) when it is not in the ledger."""
    from decp.core.fsio import atomic_write, locked, read_text

    path = context_path(config)
    if not path.exists():
        return False
    with locked(path):
        doc, dropped = _drop_row(_parse(read_text(path), path), target, path)
        if dropped:
            atomic_write(path, "".join(doc.lines))
    return dropped


def unload_many(config: Config, targets: list[str]) -> list[str]:
    """Drop these loaded rows in one locked write (session end: the summary keeps them).

    Exclusions stay: they are standing decisions ("never load profiles.yml"),
    while what was loaded belongs to the session that loaded it.
    """
    from decp.core.fsio import atomic_write, locked, read_text

    path = context_path(config)
    if not targets or not path.exists():
        return []
    dropped_targets: list[str] = []
    with locked(path):
        text = read_text(path)
        doc = _parse(text, path)
        loaded = {entry.target for entry in parse_ledger(text, path).loaded}
        for target in targets:
            if target in loaded:
                doc, dropped = _drop_row(doc, target, path)
                if dropped:
                    dropped_targets.append(target)
        if dropped_targets:
            atomic_write(path, "".join(doc.lines))
    return dropped_targets


# --- budget status -----------------------------------------------------------


@dataclass
class BudgetStatus:
    """Loaded tokens against the task budget and the window's three thresholds."""

    loaded_tokens: int
    task_budget: int
    window: int
    thresholds: dict[str, int]  # {"session_start": .., "working": .., "handoff": ..} tokens
    level: str  # "ok" | "warn" | "over"
    encoding: str  # counter.label
    warnings: list[str] = field(default_factory=list)

    @property
    def task_percent(self) -> float:
        return 100.0 * self.loaded_tokens / self.task_budget if self.task_budget else 0.0

    def line(self) -> str:
        """One short line for the resume pack and the session summary."""
        return (
            f"Context: {self.loaded_tokens:,}/{self.task_budget:,} task tokens "
            f"({self.task_percent:.0f}%) · {self.encoding} · {self.level}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "loaded_tokens": self.loaded_tokens,
            "task_budget": self.task_budget,
            "task_percent": round(self.task_percent, 1),
            "window": self.window,
            "thresholds": dict(self.thresholds),
            "level": self.level,
            "encoding": self.encoding,
            "warnings": list(self.warnings),
        }


def status_for(ledger: Ledger, config: Config, encoding: str) -> BudgetStatus:
    """Judge a ledger against the config's budgets (pure: no I/O)."""
    budget = config.budget
    thresholds = {
        "session_start": budget.tokens_at(budget.session_start),
        "working": budget.tokens_at(budget.working),
        "handoff": budget.tokens_at(budget.handoff),
    }
    loaded = ledger.loaded_tokens
    warnings: list[str] = []
    level = "ok"
    if loaded > budget.task_budget:
        level = "over"
        warnings.append(
            f"loaded {loaded:,} tokens, over the task budget of {budget.task_budget:,}: "
            "unload something (`decp context unload TARGET`) or summarise it."
        )
    elif loaded >= WARN_SHARE_OF_TASK * budget.task_budget:
        level = "warn"
        warnings.append(
            f"loaded {loaded:,} tokens, {100 * loaded / budget.task_budget:.0f}% of the task budget: "
            "load narrower packs from here."
        )
    for name, label, judged in (
        ("handoff", "hand off now: end the session with a summary", "over"),
        ("working", "stop loading and work with what is loaded", "warn"),
        ("session_start", "more than a session should spend before real work", "warn"),
    ):
        if loaded >= thresholds[name]:
            warnings.append(
                f"ledger alone holds {loaded:,} tokens, past the {name} threshold "
                f"({thresholds[name]:,} = {getattr(budget, name):.0%} of {budget.context_window:,}): {label}."
            )
            if judged == "over" or level == "ok":
                level = judged
            break
    return BudgetStatus(
        loaded_tokens=loaded,
        task_budget=budget.task_budget,
        window=budget.context_window,
        thresholds=thresholds,
        level=level,
        encoding=encoding,
        warnings=warnings,
    )


def budget_status(config: Config, ledger: Ledger | None = None) -> BudgetStatus:
    """Budget status of this repo's ledger, naming the encoding counts are made in.

    Pass `ledger` when the caller has already read it, so CONTEXT.md is parsed once.
    """
    from decp.context.tokencount import LazyCounter

    if ledger is None:
        ledger = read_ledger(config)
    # Naming the encoding must not cost the 0.5 s tokenizer load: resume stays fast.
    return status_for(ledger, config, LazyCounter(config.budget.encoding).label)

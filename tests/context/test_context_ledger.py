"""The CONTEXT.md ledger: round trips, surgical edits, malformed files, budget status."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from decp.context.ledger import (
    Ledger,
    LedgerEntry,
    budget_status,
    context_path,
    parse_ledger,
    read_ledger,
    record,
    record_many,
    remove,
    skeleton,
    status_for,
)
from decp.core.config import load_config
from decp.core.errors import DataError, UsageError

TEMPLATE = Path(__file__).resolve().parents[2] / "template" / ".project" / "CONTEXT.md.jinja"
WHEN = "2026-11-26T03:00:00Z"


def entry(target: str, tokens: int | None = 10, why: str = "because", kind: str = "path"):
    return LedgerEntry(target, kind, tokens, why, WHEN)


def test_template_renders_to_the_skeleton_and_parses_empty() -> None:
    rendered = jinja2.Template(TEMPLATE.read_text(encoding="utf-8"), keep_trailing_newline=True)
    text = rendered.render(docs_url="https://d.example/docs")
    assert text == skeleton("https://d.example/docs")
    assert "https://d.example/docs/patterns/context-decisions/" in text
    assert parse_ledger(text, TEMPLATE) == Ledger()
    assert len(text.splitlines()) <= 16  # tiny: the stamped file is read by agents


def test_missing_file_is_an_empty_ledger(project: Path) -> None:
    config = load_config(project)
    assert read_ledger(config) == Ledger()
    assert remove(config, "anything") is False
    assert not context_path(config).exists()


def test_record_read_round_trip_with_pipes_and_backticks(project: Path) -> None:
    config = load_config(project)
    tricky = [
        entry("models/a.sql", 1234, "focal | main model"),
        entry("models/**/*.sql", 99, "glob of `all` models", kind="glob"),
        entry("we`ird|name.sql", 0, "edge"),
        entry("dbt:+fct_orders+ (L1)", 812, "lineage", kind="dbt-pack"),
    ]
    for e in tricky:
        record(config, e, excluded=False)
    record(config, entry(".env", None, "secret: env"), excluded=True)
    ledger = read_ledger(config)
    assert ledger.loaded == tricky
    assert ledger.excluded == [entry(".env", None, "secret: env")]
    assert ledger.loaded_tokens == 1234 + 99 + 0 + 812
    assert "| 1,234 |" in context_path(config).read_text(encoding="utf-8")


def test_upsert_replaces_in_place_and_moves_between_sections(project: Path) -> None:
    config = load_config(project)
    record_many(config, [(entry("a.sql", 1), False), (entry("b.sql", 2), False)])
    record(config, entry("a.sql", 5, "bigger now"), excluded=False)
    assert [e.target for e in read_ledger(config).loaded] == ["a.sql", "b.sql"]
    assert read_ledger(config).loaded[0].tokens == 5
    record(config, entry("a.sql", None, "not needed after all"), excluded=True)
    ledger = read_ledger(config)
    assert [e.target for e in ledger.loaded] == ["b.sql"]
    assert [e.target for e in ledger.excluded] == ["a.sql"]
    assert remove(config, "a.sql") is True
    assert read_ledger(config).excluded == []


HAND_EDITED = """\
# Context ledger

My own notes up here: we only care about the orders mart.

## Loaded

Prose right under the heading survives.

| Target | Kind | Tokens | Why | When |
|---|---|--:|---|---|
| hand/row.sql | path | 1,000 | typed by hand | 2026-01-01T00:00:00Z |

A note between the tables.

## Excluded

| target | kind | tokens | why | when |
| :-- | --- | --: | --- | --- |
| `seeds/big.csv` | path | – | 40k tokens of data | 2026-01-01T00:00:00Z |

## Afterword

Trailing hand notes.
"""


def test_hand_edits_outside_the_rows_survive_byte_for_byte(project: Path) -> None:
    config = load_config(project)
    path = context_path(config)
    path.write_text(HAND_EDITED, encoding="utf-8")
    ledger = read_ledger(config)
    assert ledger.loaded == [
        LedgerEntry("hand/row.sql", "path", 1000, "typed by hand", "2026-01-01T00:00:00Z")
    ]
    assert ledger.excluded[0].tokens is None
    record(config, entry("new.sql", 7), excluded=False)
    after = path.read_text(encoding="utf-8")
    new_row = "| `new.sql` | path | 7 | because | 2026-11-26T03:00:00Z |\n"
    assert after == HAND_EDITED.replace(
        "2026-01-01T00:00:00Z |\n\nA note", "2026-01-01T00:00:00Z |\n" + new_row + "\nA note"
    )
    assert remove(config, "new.sql")
    assert path.read_text(encoding="utf-8") == HAND_EDITED


def test_crlf_files_keep_their_line_endings(project: Path) -> None:
    config = load_config(project)
    path = context_path(config)
    path.write_bytes(skeleton("https://x.example").replace("\n", "\r\n").encode())
    record(config, entry("a.sql"), excluded=False)
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert read_ledger(config).loaded == [entry("a.sql")]


def test_record_restores_a_deleted_section(project: Path) -> None:
    config = load_config(project)
    path = context_path(config)
    path.write_text("# Context ledger\n\nOnly notes, no tables.", encoding="utf-8")
    record(config, entry("x.sql"), excluded=True)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Context ledger\n\nOnly notes, no tables.\n")
    assert read_ledger(config).excluded == [entry("x.sql")]


ROW = "| a.sql | path | 10 | ok | 2026-01-01T00:00:00Z |"


@pytest.mark.parametrize(
    ("bad_row", "needle"),
    [
        ("| a.sql | path | ten | ok | 2026-01-01T00:00:00Z |", "not a whole number"),
        ("| a.sql | path | 10 | ok |", "expected 5"),
        ("| a.sql | path | 10 | ok | yesterday |", "ISO-8601"),
        ("|  | path | 10 | ok | 2026-01-01T00:00:00Z |", "empty Target"),
        ("| a.sql | Big Kind | 10 | ok | 2026-01-01T00:00:00Z |", "Kind"),
        (ROW, "twice"),  # duplicate of the row above it
    ],
)
def test_malformed_rows_name_the_line_and_leave_the_file_alone(
    project: Path, bad_row: str, needle: str
) -> None:
    config = load_config(project)
    path = context_path(config)
    text = skeleton("https://x.example").replace(
        "|---|---|--:|---|---|\n", "|---|---|--:|---|---|\n" + ROW + "\n" + bad_row + "\n", 1
    )
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    bad_line = len(lines) - lines[::-1].index(bad_row)  # the last occurrence
    before = path.read_bytes()
    with pytest.raises(DataError) as info:
        read_ledger(config)
    assert info.value.line == bad_line
    assert needle in info.value.message
    assert info.value.fix
    with pytest.raises(DataError):
        record(config, entry("other.sql"), excluded=False)
    with pytest.raises(DataError):
        remove(config, "a.sql")
    assert path.read_bytes() == before


def test_structural_errors(project: Path) -> None:
    config = load_config(project)
    path = context_path(config)
    base = skeleton("https://x.example")
    path.write_text(base.replace("| Target | Kind |", "| Path | Kind |", 1), encoding="utf-8")
    with pytest.raises(DataError, match="header"):
        read_ledger(config)
    path.write_text(base + "\n## Loaded\n", encoding="utf-8")
    with pytest.raises(DataError, match="second `## Loaded`"):
        read_ledger(config)
    second_table = base.replace(
        "## Excluded",
        "| Target | Kind | Tokens | Why | When |\n|---|---|--:|---|---|\n\n## Excluded",
    )
    second_table = second_table.replace(
        "|---|---|--:|---|---|\n| Target", "|---|---|--:|---|---|\n\nnote\n\n| Target", 1
    )
    path.write_text(second_table, encoding="utf-8")
    with pytest.raises(DataError, match="second table"):
        read_ledger(config)


def test_non_utf8_ledger_is_a_data_error_with_line(project: Path) -> None:
    config = load_config(project)
    path = context_path(config)
    path.write_bytes(b"# Context ledger\n\nnote \xe9t\xe9\n")
    with pytest.raises(DataError) as info:
        read_ledger(config)
    assert info.value.line == 3


def test_entries_that_would_not_parse_back_are_refused_before_writing(project: Path) -> None:
    config = load_config(project)
    with pytest.raises(UsageError):
        record(config, entry("a\nb.sql"), excluded=False)
    with pytest.raises(UsageError):
        record(config, LedgerEntry("a.sql", "path", 1, "x", "today"), excluded=False)
    with pytest.raises(UsageError):
        record(config, entry("  "), excluded=False)
    assert not context_path(config).exists()


def _config_with(project: Path, window: int, task: int):
    path = project / ".project" / "decp.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("context_window = 200000", f"context_window = {window}")
    path.write_text(text.replace("task_budget = 4000", f"task_budget = {task}"), encoding="utf-8")
    return load_config(project)


@pytest.mark.parametrize(
    ("loaded", "level"),
    [(0, "ok"), (3199, "ok"), (3200, "warn"), (4001, "over")],
)
def test_budget_levels_against_the_task_budget(project: Path, loaded: int, level: str) -> None:
    config = load_config(project)
    status = status_for(Ledger(loaded=[entry("a", loaded)]), config, "enc")
    assert status.level == level
    assert status.task_budget == config.budget.task_budget
    assert bool(status.warnings) == (level != "ok")


def test_thresholds_come_from_the_config_window(project: Path) -> None:
    config = _config_with(project, window=10000, task=50000)
    assert budget_status(config).thresholds == {
        "session_start": 2000,
        "working": 4000,
        "handoff": 5000,
    }
    warn = status_for(Ledger(loaded=[entry("a", 2500)]), config, "enc")
    assert warn.level == "warn" and "session_start" in warn.warnings[0]
    over = status_for(Ledger(loaded=[entry("a", 5000)]), config, "enc")
    assert over.level == "over" and "handoff" in over.warnings[0]


def test_budget_line_is_short_and_names_the_encoding(project: Path) -> None:
    config = load_config(project)
    record(config, entry("a.sql", 3120), excluded=False)
    status = budget_status(config)
    line = status.line()
    assert line.startswith("Context: 3,120/4,000 task tokens (78%)")
    assert status.encoding in line and line.endswith("ok")
    assert "\n" not in line and len(line) < 100


def test_why_line_breaks_of_every_kind_become_one_space(project: Path) -> None:
    config = load_config(project)
    why = "two\nlines\u2028and\x1cmore\r\nend"
    record(config, entry("a.sql", why=why), excluded=False)
    text = context_path(config).read_text(encoding="utf-8")
    assert f"| `a.sql` | path | 10 | two lines and more end | {WHEN} |\n" in text
    assert read_ledger(config).loaded[0].why == "two lines and more end"


def test_conflicted_ledger_is_refused_with_its_line(project: Path) -> None:
    config = load_config(project)
    path = context_path(config)
    path.write_text("# Context ledger\n<<<<<<< HEAD\n=======\n>>>>>>> b\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_ledger(config)
    assert info.value.line == 2 and "resolve the merge first" in str(info.value)


@pytest.mark.parametrize("cell", ["²", "1²", "١٢", "½", "1e3", "-5"])
def test_a_tokens_cell_that_is_not_ascii_digits_is_a_data_error(cell: str) -> None:
    text = skeleton("https://d.example").replace(
        "|---|---|--:|---|---|\n",
        f"|---|---|--:|---|---|\n| `a.sql` | path | {cell} | w | {WHEN} |\n",
        1,
    )
    with pytest.raises(DataError, match="is not a whole number") as info:
        parse_ledger(text, Path("CONTEXT.md"))
    assert info.value.line == 10


def test_tokens_cells_with_separators_parse() -> None:
    text = skeleton("https://d.example").replace(
        "|---|---|--:|---|---|\n",
        f"|---|---|--:|---|---|\n| `a.sql` | path | 1,234_5 | w | {WHEN} |\n",
        1,
    )
    assert parse_ledger(text, Path("CONTEXT.md")).loaded[0].tokens == 12345

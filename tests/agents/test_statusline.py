"""`decp statusline`: recorded Claude Code statusline inputs at each threshold, golden lines out.

The project's fractions are the defaults (working 0.4, handoff 0.5). The %
comes from the harness (`used_percentage`, else the last request's
`current_usage` over `context_window_size`), never from the cumulative
`total_input_tokens`, which is the bug GSD users filed against their meter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_helpers import decp_command

from decp.agents.statusline import parse_usage, render_statusline, zone
from decp.context.ledger import LedgerEntry, record
from decp.core.config import load_config
from decp.handoff.loops import edit_loops


def sample(
    root: Path, *, used: float | None = None, current: dict | None = None, window: int = 200_000
) -> dict:
    """The statusline JSON as Claude Code sends it (fields decp does not read included)."""
    ctx: dict = {
        "total_input_tokens": 1_234_567,  # cumulative over the session: larger than the window
        "total_output_tokens": 45_210,
        "context_window_size": window,
        "current_usage": current,
    }
    if used is not None:
        ctx["used_percentage"] = used
        ctx["remaining_percentage"] = 100 - used
    return {
        "hook_event_name": "Status",
        "session_id": "00893aaf-19fa-41d2-8238-13269b9b3ca0",
        "transcript_path": "/home/u/.claude/projects/x/00893aaf.jsonl",
        "cwd": str(root),
        "model": {"id": "claude-opus-4-6", "display_name": "Opus"},
        "workspace": {"current_dir": str(root / "models"), "project_dir": str(root)},
        "version": "2.1.90",
        "output_style": {"name": "default"},
        "cost": {"total_cost_usd": 0.42, "total_duration_ms": 120000},
        "context_window": ctx,
        "exceeds_200k_tokens": False,
    }


@pytest.fixture
def repo(project: Path) -> Path:
    config = load_config(project)
    with edit_loops(config) as book:
        book.new_loop("Open one", status="open")
        book.new_loop("Open two", status="clarifying")
        book.new_loop("Awaiting", status="proposed")
        book.new_loop("Done", status="open")
    with edit_loops(config) as book:
        book.get("LOOP-004").status = "closed"
        book.get("LOOP-004").outcome = "done"
    record(
        config,
        LedgerEntry("dbt:+fct_orders (L1)", "dbt-pack", 2400, "lineage", "2026-11-30T09:00:00Z"),
        excluded=False,
    )
    return project


TAIL = " · 2 open loops (1 proposed) · task 2,400/4,000 (60%)"


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (0, "decp · ctx 0% of 200k · ok"),
        (19.6, "decp · ctx 19% of 200k · ok"),
        (39.9, "decp · ctx 39% of 200k · ok"),  # floored: never shows a threshold not reached
        (40, "decp · ctx 40% of 200k · load no more"),
        (49.99, "decp · ctx 49% of 200k · load no more"),
        (50, "decp · ctx 50% of 200k · hand off"),
        (97, "decp · ctx 97% of 200k · hand off"),
    ],
)
def test_each_threshold(repo: Path, used: float, expected: str) -> None:
    assert render_statusline(json.dumps(sample(repo, used=used))) == expected + TAIL


def test_current_usage_when_no_percentage_and_never_the_cumulative_total(repo: Path) -> None:
    current = {
        "input_tokens": 12,
        "output_tokens": 900,
        "cache_creation_input_tokens": 1_988,
        "cache_read_input_tokens": 78_000,
    }
    line = render_statusline(json.dumps(sample(repo, current=current)))
    assert line == "decp · ctx 40% of 200k · load no more" + TAIL  # 80,000 / 200,000


def test_the_harness_window_wins_over_decp_toml(repo: Path) -> None:
    current = {
        "input_tokens": 0,
        "cache_read_input_tokens": 450_000,
        "cache_creation_input_tokens": 0,
    }
    line = render_statusline(json.dumps(sample(repo, current=current, window=1_000_000)))
    assert line == "decp · ctx 45% of 1M · load no more" + TAIL  # 200k in decp.toml would say 225%


def test_before_the_first_reply_there_is_no_percentage(repo: Path) -> None:
    assert render_statusline(json.dumps(sample(repo))) == "decp · ctx –" + TAIL


@pytest.mark.parametrize("raw", ["", "nope", "[]", '{"context_window": "x"}'])
def test_garbage_still_prints_a_line(repo: Path, raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    assert render_statusline(raw) == "decp · ctx –" + TAIL


def test_outside_a_decp_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DECP_ROOT", raising=False)
    line = render_statusline(json.dumps(sample(tmp_path, used=12)))
    assert line == "decp · ctx 12% of 200k · not a decp repo"


def test_a_broken_loops_file_does_not_blank_the_line(repo: Path) -> None:
    (repo / ".project" / "LOOPS.md").write_text("### LOOP-1 nope\n")
    assert render_statusline(json.dumps(sample(repo, used=10))) == (
        "decp · ctx 10% of 200k · ok · loops ? · task 2,400/4,000 (60%)"
    )


@pytest.mark.parametrize("argv", [["statusline"], None], ids=["decp statusline", "python -m"])
def test_as_a_process(repo: Path, argv: list[str] | None) -> None:
    command = [*decp_command(), *argv] if argv else [sys.executable, "-m", "decp.agents.statusline"]
    proc = subprocess.run(
        command,
        input=json.dumps(sample(repo, used=45)),
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "decp · ctx 45% of 200k · load no more" + TAIL + "\n"


def test_zone_edges() -> None:
    assert [zone(p, 0.4, 0.5) for p in (39.999, 40.0, 49.999, 50.0)] == [
        "ok",
        "load no more",
        "load no more",
        "hand off",
    ]


@given(
    st.integers(0, 2_000_000),
    st.integers(0, 2_000_000),
    st.integers(0, 2_000_000),
    st.integers(1, 2_000_000),
)
def test_percent_from_current_usage_is_exact(
    fresh: int, created: int, read: int, window: int
) -> None:
    data = {
        "context_window": {
            "context_window_size": window,
            "total_input_tokens": 10**9,
            "current_usage": {
                "input_tokens": fresh,
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": read,
                "output_tokens": 5,
            },
        }
    }
    usage = parse_usage(data)
    assert usage.tokens == fresh + created + read
    assert usage.percent == pytest.approx(100 * (fresh + created + read) / window)
    assert usage.window == window


def test_decp_statusline_skips_the_cli_imports(repo: Path) -> None:
    """It runs after every turn: the `decp` entry point serves it without typer or rich."""
    probe = (
        "import sys; sys.argv = ['decp', 'statusline']; from decp.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('typer', 'rich', 'decp.cli') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps(sample(repo, used=45)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    line, imported = proc.stdout.splitlines()
    assert line == "decp · ctx 45% of 200k · load no more" + TAIL
    assert imported == "[]"

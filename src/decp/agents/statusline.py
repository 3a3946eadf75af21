"""`decp statusline`: one line of context pressure for Claude Code's status bar.

Why: past the handoff fraction of the window answers degrade, and an agent
(or its user) only notices when it is too late. Claude Code runs a command on
every refresh with the session JSON on stdin; this prints, e.g.:

    decp · ctx 43% of 200k · load no more · 3 open loops (1 proposed) · task 2,400/4,000 (60%)

Correct math: the % is the harness's own `context_window.used_percentage`
when present, else the last request's input tokens (fresh + cache creation +
cache read, `context_window.current_usage`) over `context_window_size`. The
cumulative `total_input_tokens` grow past the window over a session and are
never used. The zone comes from decp.toml's fractions: below `working` is ok,
from `working` "load no more", from `handoff` "hand off".

Speed: it runs often, so no tokenizer and no git; it never fails (a broken
input or repo still prints a line).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZONES = ("ok", "load no more", "hand off")


@dataclass(frozen=True)
class Usage:
    """The window's fill as the harness reports it (None when it has not said yet)."""

    percent: float | None
    tokens: int | None
    window: int | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


def parse_usage(data: dict[str, Any]) -> Usage:
    """Read `context_window` from Claude Code's statusline JSON."""
    ctx = data.get("context_window")
    if not isinstance(ctx, dict):
        return Usage(None, None, None)
    window_value = _number(ctx.get("context_window_size"))
    window = int(window_value) if window_value else None
    tokens: int | None = None
    current = ctx.get("current_usage")
    if isinstance(current, dict):
        from decp.agents.hooks import context_tokens

        tokens = context_tokens(current)
    percent = _number(ctx.get("used_percentage"))
    if percent is None and tokens is not None and window:
        percent = 100.0 * tokens / window
    if tokens is None and percent is not None and window:
        tokens = round(percent * window / 100)
    return Usage(percent, tokens, window)


def zone(percent: float, working: float, handoff: float) -> str:
    """ok below `working`, "load no more" from it, "hand off" from `handoff` (fractions)."""
    if percent >= 100 * handoff:
        return ZONES[2]
    if percent >= 100 * working:
        return ZONES[1]
    return ZONES[0]


def _short(tokens: int) -> str:
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:g}M"
    if tokens >= 1000:
        return f"{tokens // 1000}k"
    return str(tokens)


def render_statusline(raw: str) -> str:
    """The one line; every part that cannot be read is left out, never an error."""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    parts = ["decp"]
    config = _config(data)
    usage = parse_usage(data)
    if usage.percent is not None:
        window = f" of {_short(usage.window)}" if usage.window else ""
        # floored, so the shown % never reads as a threshold the zone has not reached
        parts.append(f"ctx {math.floor(usage.percent)}%{window}")
        if config is not None:
            parts.append(zone(usage.percent, config.budget.working, config.budget.handoff))
    else:
        parts.append("ctx –")
    if config is None:
        parts.append("not a decp repo")
        return " · ".join(parts)
    parts += _loops_and_budget(config)
    return " · ".join(parts)


def _config(data: dict[str, Any]) -> Any:
    from decp.core.config import find_root, load_config

    workspace = data.get("workspace")
    candidates = []
    if isinstance(workspace, dict):
        candidates += [workspace.get("project_dir"), workspace.get("current_dir")]
    candidates.append(data.get("cwd"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            try:
                return load_config(find_root(Path(candidate)))
            except Exception:
                continue
    try:
        return load_config()
    except Exception:
        return None


def _loops_and_budget(config: Any) -> list[str]:
    parts: list[str] = []
    try:
        from decp.handoff.loops import read_loops

        loops = read_loops(config).loops
        active = sum(1 for x in loops if x.status in ("open", "clarifying"))
        proposed = sum(1 for x in loops if x.status == "proposed")
        text = f"{active} open loop{'s' if active != 1 else ''}"
        parts.append(text + (f" ({proposed} proposed)" if proposed else ""))
    except Exception:
        parts.append("loops ?")
    try:
        from decp.context.ledger import read_ledger

        loaded = read_ledger(config).loaded_tokens
        cap = config.budget.task_budget
        share = f" ({100 * loaded / cap:.0f}%)" if cap else ""
        parts.append(f"task {loaded:,}/{cap:,}{share}")
    except Exception:
        parts.append("task ?")
    return parts


def main() -> int:
    """`python -m decp.agents.statusline`: the same line without the CLI's start-up cost."""
    raw = "" if sys.stdin.isatty() else sys.stdin.read()
    sys.stdout.write(render_statusline(raw) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

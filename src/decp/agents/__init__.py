"""Agents: wiring decp into each coding agent, and checking that wiring.

`agentfiles` owns the marked decp block inside agent instruction files
(AGENTS.md, CLAUDE.md, Cursor rules, ...); `doctor` checks that a stamped repo
is complete and valid and that every agent reaches the protocol, and repairs
only what it owns; `wiring` merges MCP registrations and hook settings into
each agent's config; `hooks` and `statusline` are what those settings run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decp.core.lazy import exports

if TYPE_CHECKING:
    from decp.agents.agentfiles import files_for, upsert_block
    from decp.agents.doctor import run_doctor

__all__ = [
    "files_for",
    "run_doctor",
    "upsert_block",
]

__getattr__ = exports(
    __name__,
    {
        "files_for": "agentfiles",
        "run_doctor": "doctor",
        "upsert_block": "agentfiles",
    },
)

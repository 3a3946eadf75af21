"""Export and import entry points: pick the backend, then hand over to its module.

`merge` holds what every backend shares; `files_sync` and `ticktick_sync` hold
what each backend writes. This module sits above all three, so none of them
imports it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decp.core.errors import UsageError
from decp.gtd import BACKENDS, files_sync, ticktick_sync
from decp.gtd.merge import DEFAULT_STATUSES, SyncOptions
from decp.gtd.report import SyncReport

if TYPE_CHECKING:
    from decp.core.config import Config

__all__ = [
    "DEFAULT_STATUSES",
    "SyncOptions",
    "export_loops",
    "import_loops",
    "parse_statuses",
    "resolve_backend",
]


def resolve_backend(config: Config, requested: str | None) -> str:
    backend = requested or str(config.gtd.get("backend", "none"))  # parse_config fills it
    if backend not in BACKENDS:
        hint = "pass --to/--from ticktick|ticktick-csv|todotxt"
        if requested is None:
            raise UsageError(
                f"no GTD backend configured (gtd.backend = {backend!r}).",
                fix=f'set `backend = "todotxt"` (or ticktick, ticktick-csv) under [gtd] in .project/decp.toml, or {hint}.',
            )
        raise UsageError(f"unknown GTD backend {backend!r}.", fix=f"{hint}.")
    return backend


def parse_statuses(text: str) -> tuple[str, ...]:
    from decp.handoff.loops import STATUSES

    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in chosen if s not in STATUSES]
    if bad or not chosen:
        raise UsageError(
            f"unknown status {', '.join(bad) or '(empty)'} in --status.",
            fix=f"use a comma list of: {', '.join(STATUSES)} (default open,clarifying).",
        )
    return chosen


def export_loops(config: Config, options: SyncOptions) -> SyncReport:
    """Send loops out to the backend; see the backend modules for what each writes."""
    run = {
        "ticktick": ticktick_sync.export_ticktick,
        "ticktick-csv": files_sync.export_csv,
        "todotxt": files_sync.export_todo,
    }[options.backend]
    return run(config, options)


def import_loops(config: Config, options: SyncOptions) -> SyncReport:
    """Bring clarified loops back from the backend into LOOPS.md."""
    run = {
        "ticktick": ticktick_sync.import_ticktick,
        "ticktick-csv": files_sync.import_csv,
        "todotxt": files_sync.import_todo,
    }[options.backend]
    return run(config, options)

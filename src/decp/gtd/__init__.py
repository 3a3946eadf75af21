"""GTD round trip: open loops go out to TickTick or todo.txt and come back clarified.

Session memory is ephemeral; a GTD system is where the user thinks between
sessions. This package maps loops to tasks and back without ever losing text
either side wrote: every sync is a three-way merge against the last-synced
snapshot, and when both sides changed, both texts are kept and marked.

Modules:
- `model`: the loop ↔ task field mapping, the `gtd` field format, three-way merges.
- `state`: the per-backend sync-state file (last-synced snapshots).
- `ticktick`: the TickTick Open API client (httpx, retries, token scrubbing).
- `auth`: where the token comes from, and the OAuth authorization-code flow.
- `ticktick_csv`: TickTick's backup CSV, read leniently and written importably.
- `todotxt`: todo.txt lines, parsed and rendered in the standard format.
- `merge`: what every backend shares (candidates, snapshots, three-way import).
- `files_sync`, `ticktick_sync`: what each backend writes and reads.
- `sync`: the entry points, picking the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decp.core.lazy import exports

if TYPE_CHECKING:
    from decp.gtd.sync import SyncOptions, export_loops, import_loops

BACKENDS = ("ticktick", "ticktick-csv", "todotxt")

__all__ = ["BACKENDS", "SyncOptions", "export_loops", "import_loops"]

__getattr__ = exports(
    __name__,
    {"SyncOptions": "sync", "export_loops": "sync", "import_loops": "sync"},
)

"""The sync-state file: what each loop and its task looked like at the last sync.

Why a file beside LOOPS.md: the three-way merge needs the full last-synced
texts, which are too long for the loop's one-line `gtd` field. The field keeps
a short hash of the entry; an entry whose hash no loop references is stale.

Crash safety: entries are keyed by hash and the previous one is kept until the
next save, so a crash between writing this file and writing LOOPS.md leaves a
state where every `gtd` hash still finds its entry. A missing or deleted file
only costs certainty: loops without a snapshot treat every difference as a
conflict (both texts kept), never as permission to overwrite.

The file holds copies of loop texts and TickTick task ids for one person's
account; it is machine-local state, so it belongs in .gitignore.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from decp.core.clock import now_iso
from decp.core.errors import DataError
from decp.core.fsio import atomic_write, locked, read_text
from decp.gtd.model import snapshot_hash

STATE_VERSION = 1
STATE_DIR = "gtd"


def state_path(project_dir: Path, backend: str) -> Path:
    return project_dir / STATE_DIR / f".sync-{backend}.json"


def _load(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    if not path.exists():
        return {}
    text = read_text(path)
    fix = f"delete {path.name}; the next sync then keeps both texts wherever they differ."
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"sync state is not JSON ({exc.msg}).", path=path, line=exc.lineno, fix=fix
        ) from exc
    loops = data.get("loops") if isinstance(data, dict) else None
    if data.get("version") != STATE_VERSION or not isinstance(loops, dict):
        raise DataError(
            f"sync state has an unknown layout (version {data.get('version')!r}).",
            path=path,
            fix=fix,
        )
    return loops


class SyncState:
    """Read-only view of the snapshots, looked up by loop id and gtd-field hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loops = _load(path)

    def entry(self, loop_id: str, digest: str | None) -> dict[str, Any] | None:
        if not digest:
            return None
        found = self.loops.get(loop_id, {}).get(digest)
        return found if isinstance(found, dict) else None


def new_entry(ids: dict[str, str], base: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A snapshot entry and the hash the loop's gtd field will carry."""
    entry: dict[str, Any] = {"ids": ids, "base": base}
    digest = snapshot_hash(entry)
    entry["at"] = now_iso()
    return digest, entry


def save_entries(
    path: Path, written: dict[str, tuple[str, dict[str, Any]]], referenced: dict[str, str]
) -> None:
    """Add `written` {loop: (hash, entry)}; keep only hashes still referenced or just written."""
    if not written:
        return
    with locked(path):
        loops = _load(path)
        for loop_id, (digest, entry) in written.items():
            loops.setdefault(loop_id, {})[digest] = entry
        for loop_id, entries in loops.items():
            keep = {referenced.get(loop_id), written.get(loop_id, (None,))[0]}
            for digest in [d for d in entries if d not in keep]:
                del entries[digest]
        loops = {loop_id: entries for loop_id, entries in loops.items() if entries}
        text = json.dumps(
            {"version": STATE_VERSION, "loops": loops}, indent=1, sort_keys=True, ensure_ascii=False
        )
        atomic_write(path, text + "\n")

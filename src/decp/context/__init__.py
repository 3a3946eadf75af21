"""Context: what the agent has loaded, what it costs, and the smallest useful set of files.

The ledger (`ledger`, `.project/CONTEXT.md`) records every file or pack loaded
with its token count and tells the budget status; `scope` grows a generic file
pack in levels for a task; `tokencount` counts files and trees, cached by
content hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decp.core.lazy import exports

if TYPE_CHECKING:
    from decp.context.ledger import LedgerEntry, budget_status, read_ledger, record, record_many
    from decp.context.scope import build_scope
    from decp.context.tokencount import count_files, count_targets

__all__ = [
    "LedgerEntry",
    "budget_status",
    "build_scope",
    "count_files",
    "count_targets",
    "read_ledger",
    "record",
    "record_many",
]

__getattr__ = exports(
    __name__,
    {
        "LedgerEntry": "ledger",
        "budget_status": "ledger",
        "build_scope": "scope",
        "count_files": "tokencount",
        "count_targets": "tokencount",
        "read_ledger": "ledger",
        "record": "ledger",
        "record_many": "ledger",
    },
)

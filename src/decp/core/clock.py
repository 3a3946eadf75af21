"""One clock for every protocol file: loops, the context ledger, sessions, state and GTD.

Why one module: timestamps from different files are compared (a loop updated
after a session ended, a ledger row from this session), so they must share one
format and one notion of "now". Setting $DECP_NOW fixes that "now" everywhere,
which makes demos and tests reproducible.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

NOW_ENV = "DECP_NOW"  # fixed clock for reproducible demos and tests
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, whole seconds, trailing Z


def now_iso() -> str:
    """UTC now at seconds precision (or $DECP_NOW when set)."""
    fixed = os.environ.get(NOW_ENV)
    if fixed:
        return fixed
    return datetime.now(UTC).strftime(STAMP_FORMAT)


def parse_time(stamp: str) -> datetime | None:
    """A stamp written by `now_iso` as an aware UTC datetime; None when it is not one."""
    try:
        return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None

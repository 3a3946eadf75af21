"""Shared bits of the CLI layer: consoles, JSON output, config loading.

Commands stay thin: parse flags, call the plain Python API, print. Anything a
script may capture goes to stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class _LazyConsole:
    """A rich Console built on first use, so commands that never print rich text skip its import.

    Markup and emoji codes are off for every console: messages carry user text
    (loop titles, ids, paths), and `:warning:` or `[b]` must print as typed.
    Styling, where wanted, goes through rich objects, not markup strings.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


_LITERAL = {"highlight": False, "soft_wrap": True, "markup": False, "emoji": False}
out = _LazyConsole(**_LITERAL)
err = _LazyConsole(stderr=True, **_LITERAL)


def emit_json(data: Any) -> None:
    """Print machine-readable output: stable key order, UTF-8, one document."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_plain(text: str) -> None:
    """Print text verbatim (no rich markup parsing: loop titles may contain [brackets])."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")

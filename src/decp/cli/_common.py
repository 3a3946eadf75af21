"""Shared bits of the CLI layer: consoles, JSON output, config loading.

Commands stay thin: parse flags, call the plain Python API, print. Anything a
script may capture goes to stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Print machine-readable output: stable key order, UTF-8, one document."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_plain(text: str) -> None:
    """Print text verbatim (no rich markup parsing: loop titles may contain [brackets])."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")

"""The `decp` command: one fast path, then the typer CLI.

Claude Code runs the statusline command after every turn, so `decp statusline`
must not pay for typer, rich and every command module (~40 ms of imports on a
~100 ms budget). It is served straight from `decp.agents.statusline`; every
other command goes to `decp.cli`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["statusline"]:
        from decp.agents.statusline import main as statusline

        raise SystemExit(statusline())
    from decp.cli import main as cli_main

    cli_main()

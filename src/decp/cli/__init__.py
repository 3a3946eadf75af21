"""The `decp` command line: a thin typer layer over the plain Python API.

Each capability registers its own commands from a sibling module, so modules
stay small and imports stay lazy (a `decp dbt scope` must not pay for httpx).
"""

from __future__ import annotations

import sys

import typer

from decp.cli._common import err
from decp.core.errors import DecpError

app = typer.Typer(
    name="decp",
    help="Data Engineering Copilot Patterns: loops, handoffs and budget-fitting context for AI pair work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from decp import __version__

        sys.stdout.write(f"decp {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """decp keeps copilot sessions continuous (loops, state, handoffs) and small (token budgets)."""


def _register_all() -> None:
    from decp.cli import context, dbt, doctor, gtd, handoff, task

    for module in (doctor, handoff, context, task, gtd, dbt):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning DecpError into one line and its exit code."""
    try:
        app(args=argv, prog_name="decp")
    except DecpError as exc:
        err.print(f"decp: error: {exc.one_line()}", markup=False)
        sys.exit(exc.exit_code)

"""The `decp` command line: a thin typer layer over the plain Python API.

Each capability registers its own commands from a sibling module, so modules
stay small and imports stay lazy (a `decp dbt scope` must not pay for httpx).
"""

from __future__ import annotations

import os
import sys

import typer

from decp.core.errors import EXIT_INTERNAL, DecpError

DEBUG_ENV = "DECP_DEBUG"

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
    from decp.cli import agent, context, dbt, doctor, gtd, handoff, task

    for module in (doctor, handoff, context, task, gtd, dbt, agent):
        module.register(app)


_register_all()


def _say(line: str) -> None:
    """One line on stderr, byte for byte: no rich markup or emoji codes touch user text."""
    text = " ".join(line.splitlines()) or line
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def internal_error_line(exc: BaseException) -> str:
    """The one line printed for a bug: type and message, never a traceback."""
    detail = " ".join(str(exc).split())
    if len(detail) > 300:
        detail = detail[:297] + "..."
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return (
        f"decp: internal error: {what} (please report it; "
        f"rerun with {DEBUG_ENV}=1 for the traceback)"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: DecpError → its one line and exit code; anything else → one line, exit 70.

    A traceback is noise to a user and can leak file contents; it is shown
    only with DECP_DEBUG=1, for whoever fixes the bug.
    """
    try:
        app(args=argv, prog_name="decp")
    except DecpError as exc:
        _say(f"decp: error: {exc.one_line()}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _say("decp: interrupted; files are written whole or not at all.")
        sys.exit(130)
    except RecursionError:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        _say(
            "decp: error: input nested too deeply to read (a JSON or Markdown structure "
            "thousands of levels deep). Fix: check the file for corruption or regenerate it."
        )
        sys.exit(1)
    except MemoryError:
        _say("decp: error: out of memory reading the input. Fix: check for a huge or endless file.")
        sys.exit(1)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        _say(internal_error_line(exc))
        sys.exit(EXIT_INTERNAL)

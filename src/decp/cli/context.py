"""`decp tokens` and `decp context load|exclude|unload|budget|scope`.

Thin layer: parse flags, call decp.context.api, print. Data to stdout,
diagnostics to stderr. Every check and every ledger decision lives in the API.
"""

from __future__ import annotations

from pathlib import Path

import typer

from decp.cli._common import emit_json, print_plain

context_app = typer.Typer(
    help="The context ledger (.project/CONTEXT.md): what is loaded, what is excluded and why, "
    "budget status, and budget-fitting scopes of files.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _stderr(lines: list[str], prefix: str = "decp: warning: ") -> None:
    """Diagnostics verbatim (no markup or emoji codes touch paths or user text)."""
    import sys

    for line in lines:
        sys.stderr.write(f"{prefix}{line}\n")


def register(app: typer.Typer) -> None:
    app.command("tokens")(tokens)
    context_app.command("load")(load)
    context_app.command("exclude")(exclude)
    context_app.command("unload")(unload)
    context_app.command("budget")(budget)
    context_app.command("scope")(scope)
    app.add_typer(context_app, name="context")


def tokens(
    paths: list[str] = typer.Argument(..., help="Files, directories or quoted globs."),
    encoding: str | None = typer.Option(
        None, "--encoding", help="tiktoken encoding (default: the config's, else o200k_base)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    tree: bool = typer.Option(False, "--tree", help="Tree view with per-directory sums."),
    min_tokens: int = typer.Option(
        0, "--min-tokens", min=0, help="Hide files (and tree nodes) under N tokens."
    ),
    sort: str = typer.Option("path", "--sort", help="List order: path or tokens."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Count everything afresh."),
    include_ignored: bool = typer.Option(
        False, "--include-ignored", help="Also walk files git ignores."
    ),
) -> None:
    """Count tokens per file with a total; cached by content hash; names the encoding."""
    from decp.context.api import count_tokens

    result = count_tokens(
        paths,
        cwd=Path.cwd(),
        encoding=encoding,
        use_cache=not no_cache,
        include_ignored=include_ignored,
        sort=sort,
        min_tokens=min_tokens,
        tree=tree,
    )
    _stderr(result.report.warnings)
    if json_out:
        emit_json(result.to_dict())
    else:
        print_plain("\n".join(result.lines()))
    if result.failed:
        raise typer.Exit(1)


def load(
    target: str = typer.Argument(..., help="A path, a directory or a quoted glob."),
    why: str = typer.Option("", "--why", help="Why the task needs it."),
    tokens_given: int | None = typer.Option(
        None,
        "--tokens",
        min=0,
        help="Record a count measured elsewhere (e.g. a pasted doc); skips measuring.",
    ),
) -> None:
    """Record TARGET as loaded, with its measured tokens."""
    from decp.context.api import load as load_target

    result = load_target(target, why=why, cwd=Path.cwd(), tokens=tokens_given)
    _stderr(result.left_out(), prefix="decp: ")
    print_plain("\n".join(result.lines()))
    _stderr(result.all_warnings())


def exclude(
    target: str = typer.Argument(..., help="A path, glob or pack left out of context."),
    why: str = typer.Option(..., "--why", help="Why it stays out (required)."),
) -> None:
    """Record TARGET as deliberately left out, with the reason."""
    from decp.context.api import exclude as exclude_target

    entry = exclude_target(target, why=why, cwd=Path.cwd())
    print_plain(f"Excluded {entry.target}: {entry.why}")


def unload(target: str = typer.Argument(..., help="The ledger target to remove.")) -> None:
    """Remove TARGET's row from the ledger (loaded or excluded)."""
    from decp.context.api import unload as unload_target

    name, status = unload_target(target, cwd=Path.cwd())
    print_plain(f"Unloaded {name}.\n{status.line()}")


def budget(
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """What is loaded (tokens each), what is excluded (why), and the totals against budgets."""
    from decp.context.api import budget_view

    view = budget_view()
    if json_out:
        emit_json(view.to_dict())
        return
    print_plain("\n".join(view.lines()))
    _stderr(view.status.warnings)


def scope(
    paths: list[str] = typer.Argument(..., help="The focal files (or directories, globs)."),
    budget_tokens: int | None = typer.Option(
        None, "--budget", help="Token cap for the pack (default: the config's task budget)."
    ),
    level: str = typer.Option(
        "auto", "--level", help="0 focal, 1 +siblings, 2 +references, 3 +tests, or auto."
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Write the pack and its exclusions to the ledger."
    ),
    encoding: str | None = typer.Option(None, "--encoding", help="tiktoken encoding."),
) -> None:
    """Build a budget-fitting pack of files: the richest level that fits, every level costed."""
    from decp.context.api import scope as build

    result = build(
        paths,
        cwd=Path.cwd(),
        budget=budget_tokens,
        level=level,
        record=record,
        encoding=encoding,
    )
    _stderr(result.warnings)
    if json_out:
        emit_json(result.to_dict())
    else:
        print_plain(result.scope.pack)
    _stderr(result.left_out, prefix="decp: ")

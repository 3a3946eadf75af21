"""`decp dbt columns MODEL.COLUMN`: column-level lineage that fits a token budget.

Thin layer: resolve config (optional when --manifest and --budget are given),
call `decp.dbt.columns.columns`, print the answer to stdout and its cost line
to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def columns_command(
    target: str = typer.Argument(
        ...,
        metavar="MODEL.COLUMN",
        help="e.g. fct_orders.net_revenue_usd (a source: src.table.col)",
    ),
    downstream: bool = typer.Option(
        False, "--downstream", help="Only the columns that derive from it."
    ),
    upstream: bool = typer.Option(False, "--upstream", help="Only the columns that feed it."),
    manifest: str = typer.Option(
        None, "--manifest", help="manifest.json or .json.gz (default: the config's dbt manifest)."
    ),
    budget: int = typer.Option(
        None, "--budget", help="Token budget (default: the config's task_budget)."
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of Markdown."),
    encoding: str = typer.Option(
        None, "--encoding", help="Token encoding (default: the config's, else o200k_base)."
    ),
) -> None:
    """Which columns of which models derive from, or feed, one column (both ways by default)."""
    from decp.core.config import load_config
    from decp.core.errors import NotStampedError, UsageError
    from decp.dbt.columns import columns

    if downstream and upstream:
        raise UsageError(
            "--downstream and --upstream together mean both.", fix="pass neither for both."
        )
    try:
        config = load_config()
    except NotStampedError as exc:
        if manifest is None or budget is None:
            raise NotStampedError(
                exc.message,
                path=exc.path,
                fix="run inside a stamped repo, or pass both --manifest PATH and --budget N.",
            ) from exc
        config = None
    manifest_path = Path(manifest) if manifest else config.manifest_path  # type: ignore[union-attr]
    result = columns(
        target,
        manifest=manifest_path,
        budget=budget if budget is not None else config.budget.task_budget,
        direction="downstream" if downstream else "upstream" if upstream else "both",
        fmt="json" if as_json else "md",
        encoding=encoding,
        config=config,
        manifest_flag=manifest,
    )
    sys.stdout.write(result.text)
    sys.stderr.write(
        f"decp: dbt columns: {result.tokens:,} of {result.budget:,} tokens ({result.encoding}); "
        f"listed {result.listed} of {result.total} entries (100% counted)"
        + ("" if result.listed == result.total else f"; all of them need {result.full_tokens:,}")
        + "\n"
    )


def register(dbt_app: typer.Typer) -> None:
    """Add `columns` to the `decp dbt` group."""
    dbt_app.command("columns")(columns_command)

"""`decp dbt scope`: a dbt lineage pack that fits a token budget.

Thin layer: resolve config (optional when --manifest and --budget are given),
call `decp.dbt.scope`, print the pack to stdout (or --out), its cost line to
stderr, and record it in the context ledger of a stamped repo.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

dbt_app = typer.Typer(
    name="dbt",
    help="dbt helpers: budget-fitting lineage packs from target/manifest.json.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@dbt_app.command("scope")
def scope_command(
    select: str = typer.Option(
        ..., "--select", "-s", help="dbt selector: '+orders+', 'tag:x', 'path:models/marts'..."
    ),
    exclude: str = typer.Option(None, "--exclude", help="dbt selector to take out."),
    manifest: str = typer.Option(
        None, "--manifest", help="manifest.json or .json.gz (default: the config's dbt manifest)."
    ),
    budget: int = typer.Option(
        None, "--budget", help="Token budget (default: the config's task_budget)."
    ),
    level: str = typer.Option(
        "auto", "--level", help="0 map, 1 +columns/tests, 2 +SQL, auto = richest that fits."
    ),
    fmt: str = typer.Option("md", "--format", help="md (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    out: str = typer.Option(None, "--out", help="Write the pack to this file instead of stdout."),
    encoding: str = typer.Option(
        None, "--encoding", help="Token encoding (default: the config's, else o200k_base)."
    ),
    no_ledger: bool = typer.Option(
        False, "--no-ledger", help="Do not record the pack in .project/CONTEXT.md."
    ),
) -> None:
    """Select nodes with dbt syntax and print a lineage pack that fits the budget."""
    from decp.core.config import load_config
    from decp.core.errors import NotStampedError
    from decp.dbt import record_pack, scope

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
    result = scope(
        select,
        manifest=manifest_path,
        budget=budget if budget is not None else config.budget.task_budget,  # type: ignore[union-attr]
        exclude=exclude,
        level=level,
        fmt="json" if as_json else fmt,
        encoding=encoding,
        config=config,
        manifest_flag=manifest,
    )
    pack = result.pack
    if out:
        from decp.core.fsio import atomic_write

        atomic_write(Path(out), result.text)
    else:
        sys.stdout.write(result.text)
    costs = ", ".join(f"L{lv} {n:,}" for lv, n in sorted(pack.level_costs.items()))
    sys.stderr.write(
        f"decp: dbt pack L{pack.level}: {pack.tokens:,} of {pack.budget:,} tokens ({pack.encoding}); "
        f"{len(pack.named)} named + {pack.collapsed_count} in {len(pack.groups)} groups = "
        f"{len(pack.analysis.lineage)} nodes (100%); whole selection per level ≈ {costs}"
        + (f"; written to {out}" if out else "")
        + "\n"
    )
    if config is not None and not no_ledger:
        record_pack(config, result)
        sys.stderr.write(f"decp: recorded {result.target} in .project/CONTEXT.md\n")


def register(app: typer.Typer) -> None:
    app.add_typer(dbt_app, name="dbt")

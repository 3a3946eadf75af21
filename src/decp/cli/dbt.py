"""`decp dbt scope` and `decp dbt impact`: dbt lineage packs that fit a token budget.

Thin layer: resolve config (optional when --manifest and --budget are given),
call `decp.dbt.scope` / `decp.dbt.impact.impact`, print the pack to stdout (or
--out, which never overwrites input or decp's data), its cost line and any
stale-manifest warning to stderr, and record one ledger row per pack.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from decp.core.config import Config

dbt_app = typer.Typer(
    name="dbt",
    help="dbt helpers: budget-fitting lineage packs from target/manifest.json.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_MANIFEST_HELP = "manifest.json or .json.gz (default: the config's dbt manifest)."
_STATE_HELP = "Folder with another run's manifest.json: state: compares with it, as dbt does."
_SINCE_HELP = "Git revision: state:modified = nodes whose files changed since it (YAML too)."
_PROJECT_HELP = "dbt project folder (default: [dbt] project_dir, or the folder above target/)."


def _config(manifest: str | None, budget: int | None) -> Config | None:
    from decp.core.config import load_config
    from decp.core.errors import NotStampedError

    try:
        return load_config()
    except NotStampedError as exc:
        if manifest is None or budget is None:
            raise NotStampedError(
                exc.message,
                path=exc.path,
                fix="run inside a stamped repo, or pass both --manifest PATH and --budget N.",
            ) from exc
        return None


def _inputs(
    manifest: str | None, budget: int | None, state: str | None, out: str | None, force: bool
) -> tuple[Config | None, Path, Path | None]:
    """The config, the manifest to read, and the checked --out (refused before any work)."""
    config = _config(manifest, budget)
    manifest_path = Path(manifest) if manifest else config.manifest_path  # type: ignore[union-attr]
    if not out:
        return config, manifest_path, None
    from decp.dbt import guard_out_path

    inputs = [manifest_path, *([Path(state)] if state else [])]
    return (
        config,
        manifest_path,
        guard_out_path(Path(out), force=force, protected=inputs, config=config),
    )


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    from decp.core.fsio import atomic_write

    atomic_write(out, text)


def _warn(warnings: list[str]) -> None:
    for line in warnings:
        sys.stderr.write(f"decp: warning: {line}\n")


@dbt_app.command("scope")
def scope_command(
    select: str = typer.Option(
        ..., "--select", "-s", help="dbt selector: '+orders+', 'tag:x', 'state:modified+'..."
    ),
    exclude: str = typer.Option(None, "--exclude", help="dbt selector to take out."),
    manifest: str = typer.Option(None, "--manifest", help=_MANIFEST_HELP),
    budget: int = typer.Option(
        None, "--budget", help="Token budget (default: the config's task_budget)."
    ),
    level: str = typer.Option(
        "auto", "--level", help="0 map, 1 +columns/tests, 2 +SQL, auto = richest that fits."
    ),
    fmt: str = typer.Option("md", "--format", help="md (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    out: str = typer.Option(None, "--out", help="Write the pack to this file instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Let --out overwrite an existing file."),
    encoding: str = typer.Option(
        None, "--encoding", help="Token encoding (default: the config's, else o200k_base)."
    ),
    state: str = typer.Option(None, "--state", help=_STATE_HELP),
    changed_since: str = typer.Option(None, "--changed-since", help=_SINCE_HELP),
    project_dir: str = typer.Option(None, "--project-dir", help=_PROJECT_HELP),
    record_it: bool = typer.Option(
        True, "--record/--no-record", help="Record the pack (one row) in .project/CONTEXT.md."
    ),
) -> None:
    """Select nodes with dbt syntax and print a lineage pack that fits the budget."""
    from decp.dbt import record_pack, scope

    config, manifest_path, out_path = _inputs(manifest, budget, state, out, force)
    result = scope(
        select,
        manifest=manifest_path,
        budget=budget if budget is not None else config.budget.task_budget,
        exclude=exclude,
        level=level,
        fmt="json" if as_json else fmt,
        encoding=encoding,
        config=config,
        manifest_flag=manifest,
        state=Path(state) if state else None,
        changed_since=changed_since,
        project_dir=Path(project_dir) if project_dir else None,
    )
    pack = result.pack
    _write(result.text, out_path)
    costs = ", ".join(f"L{lv} {n:,}" for lv, n in sorted(pack.level_costs.items()))
    sys.stderr.write(
        f"decp: dbt pack L{pack.level}: {pack.tokens:,} of {pack.budget:,} tokens ({pack.encoding}); "
        f"{len(pack.named)} named + {pack.collapsed_count} in {len(pack.groups)} groups = "
        f"{len(pack.analysis.lineage)} nodes (100%); whole selection per level ≈ {costs}"
        + (f"; written to {out}" if out else "")
        + "\n"
    )
    _warn(result.warnings)
    if config is not None and record_it:
        record_pack(config, result)
        sys.stderr.write(f"decp: recorded {result.target} in .project/CONTEXT.md\n")


@dbt_app.command("impact")
def impact_command(
    select: str = typer.Option(
        "state:modified+", "--select", "-s", help="What to follow (default: state:modified+)."
    ),
    exclude: str = typer.Option(None, "--exclude", help="dbt selector to take out."),
    manifest: str = typer.Option(None, "--manifest", help=_MANIFEST_HELP),
    budget: int = typer.Option(
        None, "--budget", help="Token budget (default: the config's task_budget)."
    ),
    level: str = typer.Option("auto", "--level", help="0, 1, 2 or auto (richest that fits)."),
    fmt: str = typer.Option("md", "--format", help="md (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    out: str = typer.Option(None, "--out", help="Write the pack to this file instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Let --out overwrite an existing file."),
    encoding: str = typer.Option(None, "--encoding", help="Token encoding."),
    state: str = typer.Option(None, "--state", help=_STATE_HELP),
    changed_since: str = typer.Option(None, "--changed-since", help=_SINCE_HELP),
    project_dir: str = typer.Option(None, "--project-dir", help=_PROJECT_HELP),
    record_it: bool = typer.Option(
        True, "--record/--no-record", help="Record the pack (one row) in .project/CONTEXT.md."
    ),
) -> None:
    """What changed, everything downstream and the exposures at the end, within the budget."""
    from decp.dbt import record_pack
    from decp.dbt.impact import impact

    config, manifest_path, out_path = _inputs(manifest, budget, state, out, force)
    result = impact(
        select=select,
        manifest=manifest_path,
        budget=budget if budget is not None else config.budget.task_budget,
        exclude=exclude,
        level=level,
        fmt="json" if as_json else fmt,
        encoding=encoding,
        config=config,
        manifest_flag=manifest,
        state=Path(state) if state else None,
        changed_since=changed_since,
        project_dir=Path(project_dir) if project_dir else None,
    )
    _write(result.text, out_path)
    sys.stderr.write(
        f"decp: dbt impact: {result.tokens:,} of {result.budget:,} tokens ({result.encoding}); "
        f"{len(result.changed)} changed, {len(result.downstream)} downstream, "
        f"{len(result.exposures)} exposures; compared {result.compared}"
        + (f"; written to {out}" if out else "")
        + "\n"
    )
    _warn(result.warnings)
    if config is not None and record_it and result.scope is not None:
        record_pack(config, result.scope, target=result.target)
        sys.stderr.write(f"decp: recorded {result.target} in .project/CONTEXT.md\n")


def register(app: typer.Typer) -> None:
    from decp.cli import dbt_columns

    dbt_columns.register(dbt_app)
    app.add_typer(dbt_app, name="dbt")

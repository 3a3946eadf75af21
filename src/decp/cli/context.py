"""`decp tokens` and `decp context load|exclude|unload|budget|scope`.

Thin layer: resolve the repo and the encoding, call decp.context.tokencount /
decp.context.ledger / decp.context.scope, print. Data to stdout, diagnostics to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from decp.cli._common import emit_json, err, print_plain

if TYPE_CHECKING:
    from decp.context.ledger import LedgerEntry
    from decp.context.tokencount import CountReport
    from decp.core.config import Config

context_app = typer.Typer(
    help="The context ledger (.project/CONTEXT.md): what is loaded, what is excluded and why, "
    "budget status, and budget-fitting scopes of files.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _config_or_none() -> Config | None:
    """The stamped project's config, or None outside one (a broken config still fails loudly)."""
    from decp.core.config import load_config
    from decp.core.errors import NotStampedError

    try:
        return load_config()
    except NotStampedError:
        return None


def _encoding(option: str | None, config: Config | None) -> str:
    from decp.core.config import defaults
    from decp.core.errors import UsageError

    name = option or (config.budget.encoding if config else defaults()["encoding"])
    if option is not None:
        import tiktoken

        known = tiktoken.list_encoding_names()
        if name not in known:
            raise UsageError(
                f"unknown --encoding {name!r}.", fix=f"use one of: {', '.join(sorted(known))}."
            )
    return name


def _warn(lines: list[str]) -> None:
    for line in lines:
        err.print(f"decp: warning: {line}", markup=False)


def _root_relative(path: Path, config: Config) -> str:
    from decp.context.tokencount import display_path

    return display_path(path, config.root)


def _tokens_table(report: CountReport, min_tokens: int, sort: str) -> list[str]:
    rows = [f for f in report.counted if (f.tokens or 0) >= min_tokens]
    rows.sort(key=lambda f: (-(f.tokens or 0), f.path) if sort == "tokens" else f.path)
    width = max([len(f"{report.total:,}"), 6])
    lines = [f"{'tokens':>{width}}  file"]
    lines += [f"{f.tokens:>{width},}  {f.path}" for f in rows]
    hidden = len(report.counted) - len(rows)
    if hidden:
        below = sum(f.tokens or 0 for f in report.counted if (f.tokens or 0) < min_tokens)
        lines.append(f"{below:>{width},}  ({hidden} files under {min_tokens:,} tokens)")
    lines += _tokens_footer(report, width)
    return lines


def _tokens_footer(report: CountReport, width: int) -> list[str]:
    lines = [f"{report.total:>{width},}  total: {len(report.counted)} files · {report.encoding}"]
    extras = []
    if report.skipped:
        kinds: dict[str, int] = {}
        for f in report.skipped:
            kind = (f.skipped or "?").split(":")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        extras.append("skipped " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    if report.ignored:
        extras.append(f"{report.ignored} git-ignored not walked")
    if report.cache_path:
        extras.append(f"cache {report.cache_hits} hit / {report.cache_misses} counted")
    else:
        extras.append("no cache")
    lines.append(" " * width + "  " + " · ".join(extras))
    return lines


def register(app: typer.Typer) -> None:
    @app.command("tokens")
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
        from decp.context.tokencount import (
            build_tree,
            cache_dir_for,
            count_targets,
            render_tree,
            tree_to_dict,
        )
        from decp.core.errors import UsageError

        if sort not in ("path", "tokens"):
            raise UsageError(f"--sort {sort!r} is not path or tokens.", fix="use --sort tokens.")
        config = _config_or_none()
        name = _encoding(encoding, config)
        cache = None if no_cache else cache_dir_for(config.project_dir if config else None)
        report = count_targets(
            paths,
            base=Path.cwd(),
            encoding=name,
            cache_dir=cache,
            respect_gitignore=not include_ignored,
        )
        _warn(report.warnings)
        if json_out:
            data = report.to_dict()
            if min_tokens:
                data["files"] = [
                    f
                    for f in data["files"]
                    if (f.get("tokens") or 0) >= min_tokens  # type: ignore[union-attr]
                ]
                data["min_tokens"] = min_tokens
            if tree:
                data["tree"] = tree_to_dict(build_tree(report), min_tokens)
            emit_json(data)
        elif tree:
            lines = render_tree(build_tree(report), min_tokens)
            lines += _tokens_footer(report, 0)[1:]
            lines.insert(0, f"{report.encoding}")
            print_plain("\n".join(lines))
        else:
            print_plain("\n".join(_tokens_table(report, min_tokens, sort)))
        if any(f.skipped and f.skipped.startswith("unreadable") for f in report.files):
            raise typer.Exit(1)

    @context_app.command("load")
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
        from decp.context.ledger import LedgerEntry, budget_status, record_many
        from decp.core.clock import now_iso
        from decp.core.config import load_config

        config = load_config()
        when = now_iso()
        if tokens_given is not None:
            entry = LedgerEntry(target, "note", tokens_given, why, when)
            record_many(config, [(entry, False)])
            label = "given"
            exclusions: list[tuple[LedgerEntry, bool]] = []
        else:
            entry, exclusions, label = _measure(config, target, why, when)
            record_many(config, [*exclusions, (entry, False)])
        for ex, _ in exclusions:
            err.print(f"decp: left out {ex.target}: {ex.kind}: {ex.why}", markup=False)
        status = budget_status(config)
        print_plain(f"Loaded {entry.target}: {entry.tokens:,} tokens ({label}).\n{status.line()}")
        _warn(status.warnings)

    @context_app.command("exclude")
    def exclude(
        target: str = typer.Argument(..., help="A path, glob or pack left out of context."),
        why: str = typer.Option(..., "--why", help="Why it stays out (required)."),
    ) -> None:
        """Record TARGET as deliberately left out, with the reason."""
        from decp.context.ledger import LedgerEntry, record
        from decp.context.tokencount import has_glob
        from decp.core.clock import now_iso
        from decp.core.config import load_config
        from decp.core.errors import UsageError

        if not why.strip():
            raise UsageError("--why is empty.", fix='say why it stays out: --why "…".')
        config = load_config()
        path = Path.cwd() / target
        shown = _root_relative(path, config) if path.exists() or has_glob(target) else target
        kind = "glob" if has_glob(target) and not path.exists() else "path"
        record(config, LedgerEntry(shown, kind, None, why, now_iso()), excluded=True)
        print_plain(f"Excluded {shown}: {why}")

    @context_app.command("unload")
    def unload(target: str = typer.Argument(..., help="The ledger target to remove.")) -> None:
        """Remove TARGET's row from the ledger (loaded or excluded)."""
        from decp.context.ledger import budget_status, remove
        from decp.core.config import load_config
        from decp.core.errors import UsageError

        config = load_config()
        candidates = [target]
        path = Path.cwd() / target
        if path.exists() or Path.cwd() != config.root:
            candidates.append(_root_relative(path, config))
        for name in dict.fromkeys(candidates):
            if remove(config, name):
                print_plain(f"Unloaded {name}.\n{budget_status(config).line()}")
                return
        raise UsageError(
            f"{target!r} is not in the ledger.",
            fix="see the targets with `decp context budget`; copy one exactly.",
        )

    @context_app.command("budget")
    def budget(
        json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """What is loaded (tokens each), what is excluded (why), and the totals against budgets."""
        from decp.context.ledger import read_ledger, status_for
        from decp.context.tokencount import LazyCounter
        from decp.core.config import load_config

        config = load_config()
        ledger = read_ledger(config)
        status = status_for(ledger, config, LazyCounter(config.budget.encoding).label)
        if json_out:
            emit_json(
                {
                    "loaded": [vars(e) for e in ledger.loaded],
                    "excluded": [vars(e) for e in ledger.excluded],
                    **status.to_dict(),
                }
            )
            return
        lines = [f"Loaded ({len(ledger.loaded)}):"]
        lines += [f"  {e.tokens or 0:>8,}  {e.target}  ({e.kind}) {e.why}" for e in ledger.loaded]
        lines += [f"Excluded ({len(ledger.excluded)}):"]
        lines += [f"  {e.target}  ({e.kind}) {e.why}" for e in ledger.excluded]
        b = config.budget
        lines += [
            status.line(),
            f"Window {b.context_window:,}: session start {status.thresholds['session_start']:,}"
            f" ({b.session_start:.0%}) · working {status.thresholds['working']:,} ({b.working:.0%})"
            f" · handoff {status.thresholds['handoff']:,} ({b.handoff:.0%});"
            f" the ledger holds {100 * status.loaded_tokens / b.context_window:.1f}%.",
        ]
        print_plain("\n".join(lines))
        _warn(status.warnings)

    @context_app.command("scope")
    def scope(
        paths: list[str] = typer.Argument(..., help="The focal files (or directories, globs)."),
        budget_tokens: int | None = typer.Option(
            None, "--budget", help="Token cap for the pack (default: the config's task budget)."
        ),
        level: str = typer.Option(
            "auto", "--level", help="0 focal, 1 +siblings, 2 +references, 3 +tests, or auto."
        ),
        json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
        record_it: bool = typer.Option(
            True, "--record/--no-record", help="Write the pack and its exclusions to the ledger."
        ),
        encoding: str | None = typer.Option(None, "--encoding", help="tiktoken encoding."),
    ) -> None:
        """Build a budget-fitting pack of files: the richest level that fits, every level costed."""
        from decp.context.ledger import record_many
        from decp.context.scope import MAX_LEVEL, build_scope, ledger_decisions
        from decp.context.tokencount import cache_dir_for
        from decp.core.clock import now_iso
        from decp.core.config import defaults
        from decp.core.errors import UsageError
        from decp.core.gitinfo import git_toplevel

        if level == "auto":
            chosen: int | None = None
        elif level.isdigit() and 0 <= int(level) <= MAX_LEVEL:
            chosen = int(level)
        else:
            raise UsageError(
                f"--level {level!r} is not 0..{MAX_LEVEL} or auto.", fix="e.g. --level 1."
            )
        config = _config_or_none()
        name = _encoding(encoding, config)
        budget_n = budget_tokens or (
            config.budget.task_budget if config else defaults()["task_budget"]
        )
        if budget_tokens is not None and budget_tokens <= 0:
            raise UsageError(
                f"--budget {budget_tokens} must be positive.", fix="e.g. --budget 4000."
            )
        cwd = Path.cwd()
        root = config.root if config else (git_toplevel(cwd) or cwd)
        result = build_scope(
            paths,
            base=cwd,
            root=root,
            budget=budget_n,
            encoding=name,
            cache_dir=cache_dir_for(config.project_dir if config else None),
            level=chosen,
        )
        notes = list(result.warnings)
        if record_it and config is not None:
            record_many(config, ledger_decisions(result, now_iso()))
        elif record_it:
            notes.append("not recorded: no stamped .project/ here (the ledger lives there).")
        _warn(notes)
        if json_out:
            data = result.to_dict()
            data["recorded"] = bool(record_it and config is not None)
            emit_json(data)
        else:
            print_plain(result.pack)
        for path, ex in sorted(result.excluded.items()):
            err.print(f"decp: left out {path}: {ex.why}", markup=False)

    app.add_typer(context_app, name="context")


def _measure(
    config: Config, target: str, why: str, when: str
) -> tuple[LedgerEntry, list[tuple[LedgerEntry, bool]], str]:
    """Count what TARGET names (secrets and binaries left out, each as its own exclusion)."""
    from decp.context.ledger import LedgerEntry
    from decp.context.tokencount import cache_dir_for, count_files, expand_targets, has_glob
    from decp.core.errors import UsageError
    from decp.core.secrets import exclusion_for

    cwd = Path.cwd()
    path = cwd / target
    files, _ = expand_targets([target], cwd)
    exclusions: list[tuple[LedgerEntry, bool]] = []
    keep: list[Path] = []
    for f in files:
        ex = exclusion_for(f)
        if ex is None:
            keep.append(f)
        else:
            exclusions.append(
                (LedgerEntry(_root_relative(f, config), ex.kind, None, ex.reason, when), True)
            )
    if path.is_file() and not keep:
        ex = exclusion_for(path)
        raise UsageError(
            f"{target} is never loaded: {ex.why if ex else 'unreadable'}.",
            fix=f'record the decision instead: decp context exclude {target} --why "…".',
        )
    report, _ = count_files(
        keep,
        base=config.root,
        encoding=config.budget.encoding,
        cache_dir=cache_dir_for(config.project_dir),
    )
    _warn(report.warnings)
    if path.exists():
        shown, kind = _root_relative(path, config), "path"
    else:
        rel = _root_relative(cwd, config)
        shown = target if rel in (".", "") else f"{rel}/{target}"
        kind = "glob" if has_glob(target) else "path"
    entry = LedgerEntry(shown, kind, report.total, why, when)
    label = (
        f"{len(report.counted)} file{'s' if len(report.counted) != 1 else ''}, {report.encoding}"
    )
    return entry, exclusions, label

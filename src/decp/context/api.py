"""The context commands as plain functions: what `decp tokens` and `decp context …` do.

Why: the CLI, the MCP server and agent hooks are all surfaces over the same
operations. Each function here resolves the repo, the encoding and the budget,
does the work (counting, scoping, recording in the ledger) and returns plain
data with the lines a surface may print; a surface only parses its flags,
calls one function and prints. Every check (level, budget, sort, encoding,
targets outside the repo) happens here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.errors import NotStampedError, UsageError

if TYPE_CHECKING:
    from decp.context.ledger import BudgetStatus, LedgerEntry
    from decp.context.scope import Scope
    from decp.context.tokencount import CountReport
    from decp.core.config import Config

SORTS = ("path", "tokens")


# --- where we are -------------------------------------------------------------------


def config_or_none() -> Config | None:
    """The stamped project's config, or None outside one (a broken config still fails loudly)."""
    from decp.core.config import load_config

    try:
        return load_config()
    except NotStampedError:
        return None


def repo_root(config: Config | None, cwd: Path) -> Path:
    """What "inside the repo" means: the stamped root, else the git work tree, else cwd."""
    from decp.core.gitinfo import git_toplevel

    if config is not None:
        return config.root
    return git_toplevel(cwd) or cwd


def resolve_encoding(option: str | None, config: Config | None) -> str:
    """The tokenizer: the flag's (checked against tiktoken's names), else the config's."""
    from decp.core.config import defaults

    if option is None:
        return config.budget.encoding if config else str(defaults()["encoding"])
    import tiktoken

    known = tiktoken.list_encoding_names()
    if option not in known:
        raise UsageError(
            f"unknown --encoding {option!r}.", fix=f"use one of: {', '.join(sorted(known))}."
        )
    return option


def _shown(path: Path, config: Config) -> str:
    from decp.context.tokencount import display_path

    return display_path(path, config.root)


# --- decp tokens ----------------------------------------------------------------------


@dataclass
class TokensResult:
    report: CountReport
    min_tokens: int
    sort: str
    tree: bool

    @property
    def failed(self) -> bool:
        """Exit 1: a named file could not be read."""
        return any(f.skipped and f.skipped.startswith("unreadable") for f in self.report.files)

    def to_dict(self) -> dict[str, object]:
        from decp.context.tokencount import build_tree, tree_to_dict

        data = self.report.to_dict()
        if self.min_tokens:
            data["files"] = [
                f.to_dict() for f in self.report.files if (f.tokens or 0) >= self.min_tokens
            ]
            data["min_tokens"] = self.min_tokens
        if self.tree:
            data["tree"] = tree_to_dict(build_tree(self.report), self.min_tokens)
        return data

    def lines(self) -> list[str]:
        from decp.context.tokencount import build_tree, render_tree

        if self.tree:
            lines = [self.report.encoding, *render_tree(build_tree(self.report), self.min_tokens)]
            return lines + _tokens_footer(self.report, 0)[1:]
        return _tokens_table(self.report, self.min_tokens, self.sort)


def count_tokens(
    paths: list[str],
    *,
    cwd: Path,
    encoding: str | None = None,
    use_cache: bool = True,
    include_ignored: bool = False,
    sort: str = "path",
    min_tokens: int = 0,
    tree: bool = False,
) -> TokensResult:
    """`decp tokens`: count files, directories and globs inside the repo, cached by content."""
    from decp.context.tokencount import cache_dir_for, count_targets

    if sort not in SORTS:
        raise UsageError(f"--sort {sort!r} is not path or tokens.", fix="use --sort tokens.")
    if min_tokens < 0:
        raise UsageError(f"--min-tokens {min_tokens} is negative.", fix="use 0 or more.")
    config = config_or_none()
    name = resolve_encoding(encoding, config)
    cache = cache_dir_for(config.project_dir if config else None) if use_cache else None
    report = count_targets(
        paths,
        base=cwd,
        encoding=name,
        cache_dir=cache,
        respect_gitignore=not include_ignored,
        root=repo_root(config, cwd),
    )
    return TokensResult(report, min_tokens, sort, tree)


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
    return lines + _tokens_footer(report, width)


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


# --- decp context load | exclude | unload | budget -------------------------------------


@dataclass
class LoadResult:
    entry: LedgerEntry
    exclusions: list[LedgerEntry]  # files left out, and credentials found in loaded files
    label: str  # "3 files, o200k_base" or "given"
    status: BudgetStatus
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"Loaded {self.entry.target}: {self.entry.tokens or 0:,} tokens ({self.label}).",
            self.status.line(),
        ]

    def left_out(self) -> list[str]:
        """For stderr, before the result: what was left out or flagged, and why."""
        return [f"left out {e.target}: {e.kind}: {e.why}" for e in self.exclusions]

    def all_warnings(self) -> list[str]:
        """For stderr, after the result: unreadable files, then the budget warnings."""
        return self.warnings + list(self.status.warnings)


def load(target: str, *, why: str, cwd: Path, tokens: int | None = None) -> LoadResult:
    """Record TARGET as loaded with its measured tokens (or a count given by the user)."""
    from decp.context.ledger import LedgerEntry, budget_status, record_many
    from decp.core.clock import now_iso
    from decp.core.config import load_config

    config = load_config()
    when = now_iso()
    if tokens is not None:
        if tokens < 0:
            raise UsageError(f"--tokens {tokens} is negative.", fix="use 0 or more.")
        entry = LedgerEntry(target, "note", tokens, why, when)
        record_many(config, [(entry, False)])
        return LoadResult(entry, [], "given", budget_status(config))
    entry, exclusions, label, warnings = _measure(config, target, why, when, cwd)
    record_many(config, [*((e, True) for e in exclusions), (entry, False)])
    return LoadResult(entry, exclusions, label, budget_status(config), warnings)


def _measure(
    config: Config, target: str, why: str, when: str, cwd: Path
) -> tuple[LedgerEntry, list[LedgerEntry], str, list[str]]:
    """Count what TARGET names inside the repo: secrets, binaries and files outside the repo
    are left out (each its own exclusion); credentials inside counted files are flagged."""
    from decp.context.ledger import LedgerEntry
    from decp.context.scope import redaction_target
    from decp.context.tokencount import cache_dir_for, count_files, expand_targets, has_glob
    from decp.core.secrets import exclusion_for

    root = config.root
    path = cwd / target
    files, _ = expand_targets([target], cwd, root=root)
    exclusions: list[LedgerEntry] = []
    keep: list[Path] = []
    for f in files:
        ex = exclusion_for(f, root=root)
        if ex is None:
            keep.append(f)
        else:
            exclusions.append(LedgerEntry(_shown(f, config), ex.kind, None, ex.reason, when))
    if path.is_file() and not keep:
        ex = exclusion_for(path, root=root)
        raise UsageError(
            f"{target} is never loaded: {ex.why if ex else 'unreadable'}.",
            fix=f'record the decision instead: decp context exclude {target} --why "…".',
        )
    report, _ = count_files(
        keep,
        base=root,
        encoding=config.budget.encoding,
        cache_dir=cache_dir_for(config.project_dir),
        root=root,
        secrets="flag",
    )
    for counted in report.files:
        exclusions += [
            LedgerEntry(
                redaction_target(counted.path, kind),
                kind,
                None,
                "credential in a loaded file: rotate it, or keep the file out of context",
                when,
            )
            for kind in counted.secrets
        ]
    if path.exists():
        shown, kind = _shown(path, config), "path"
    else:
        rel = _shown(cwd, config)
        shown = target if rel in (".", "") else f"{rel}/{target}"
        kind = "glob" if has_glob(target) else "path"
    entry = LedgerEntry(shown, kind, report.total, why, when)
    n = len(report.counted)
    label = f"{n} file{'s' if n != 1 else ''}, {report.encoding}"
    return entry, exclusions, label, report.warnings


def exclude(target: str, *, why: str, cwd: Path) -> LedgerEntry:
    """Record TARGET as deliberately left out, with the reason."""
    from decp.context.ledger import LedgerEntry, record
    from decp.context.tokencount import has_glob
    from decp.core.clock import now_iso
    from decp.core.config import load_config

    if not why.strip():
        raise UsageError("--why is empty.", fix='say why it stays out: --why "…".')
    config = load_config()
    path = cwd / target
    shown = _shown(path, config) if path.exists() or has_glob(target) else target
    kind = "glob" if has_glob(target) and not path.exists() else "path"
    entry = LedgerEntry(shown, kind, None, why, now_iso())
    record(config, entry, excluded=True)
    return entry


def unload(target: str, *, cwd: Path) -> tuple[str, BudgetStatus]:
    """Remove TARGET's row from the ledger (as typed, or relative to the root)."""
    from decp.context.ledger import budget_status, remove
    from decp.core.config import load_config

    config = load_config()
    candidates = [target]
    path = cwd / target
    if path.exists() or cwd != config.root:
        candidates.append(_shown(path, config))
    for name in dict.fromkeys(candidates):
        if remove(config, name):
            return name, budget_status(config)
    raise UsageError(
        f"{target!r} is not in the ledger.",
        fix="see the targets with `decp context budget`; copy one exactly.",
    )


@dataclass
class BudgetView:
    loaded: list[LedgerEntry]
    excluded: list[LedgerEntry]
    status: BudgetStatus
    config: Config

    def to_dict(self) -> dict[str, object]:
        return {
            "loaded": [vars(e) for e in self.loaded],
            "excluded": [vars(e) for e in self.excluded],
            **self.status.to_dict(),
        }

    def lines(self) -> list[str]:
        lines = [f"Loaded ({len(self.loaded)}):"]
        lines += [f"  {e.tokens or 0:>8,}  {e.target}  ({e.kind}) {e.why}" for e in self.loaded]
        lines += [f"Excluded ({len(self.excluded)}):"]
        lines += [f"  {e.target}  ({e.kind}) {e.why}" for e in self.excluded]
        b, status = self.config.budget, self.status
        lines += [
            status.line(),
            f"Window {b.context_window:,}: session start {status.thresholds['session_start']:,}"
            f" ({b.session_start:.0%}) · working {status.thresholds['working']:,} ({b.working:.0%})"
            f" · handoff {status.thresholds['handoff']:,} ({b.handoff:.0%});"
            f" the ledger holds {100 * status.loaded_tokens / b.context_window:.1f}%.",
        ]
        return lines


def budget_view() -> BudgetView:
    """What is loaded, what is excluded, and the totals against the budgets."""
    from decp.context.ledger import read_ledger, status_for
    from decp.context.tokencount import LazyCounter
    from decp.core.config import load_config

    config = load_config()
    ledger = read_ledger(config)
    status = status_for(ledger, config, LazyCounter(config.budget.encoding).label)
    return BudgetView(ledger.loaded, ledger.excluded, status, config)


# --- decp context scope ---------------------------------------------------------------


@dataclass
class ScopeResult:
    scope: Scope
    recorded: bool
    warnings: list[str]  # for stderr, before the pack
    left_out: list[str]  # for stderr, after the pack: exclusions and redactions

    def to_dict(self) -> dict[str, object]:
        data = self.scope.to_dict()
        data["recorded"] = self.recorded
        return data


def scope(
    paths: list[str],
    *,
    cwd: Path,
    budget: int | None = None,
    level: int | str | None = "auto",
    record: bool = True,
    encoding: str | None = None,
) -> ScopeResult:
    """Build a budget-fitting pack of files and (by default) write it and its exclusions to
    the ledger. Level and budget are checked once, by `build_scope`."""
    from decp.context.ledger import record_many
    from decp.context.scope import build_scope, ledger_decisions
    from decp.context.tokencount import cache_dir_for
    from decp.core.clock import now_iso
    from decp.core.config import defaults

    config = config_or_none()
    name = resolve_encoding(encoding, config)
    if budget is None:
        budget = config.budget.task_budget if config else int(defaults()["task_budget"])
    result = build_scope(
        paths,
        base=cwd,
        root=repo_root(config, cwd),
        budget=budget,
        encoding=name,
        cache_dir=cache_dir_for(config.project_dir if config else None),
        level=level,
    )
    notes = list(result.warnings)
    recorded = False
    if record and config is not None:
        record_many(config, ledger_decisions(result, now_iso()))
        recorded = True
    elif record:
        notes.append("not recorded: no stamped .project/ here (the ledger lives there).")
    left_out = [f"left out {path}: {ex.why}" for path, ex in sorted(result.excluded.items())]
    left_out += [
        f"redacted in {path}: {', '.join(kinds)}" for path, kinds in sorted(result.redacted.items())
    ]
    return ScopeResult(result, recorded, notes, left_out)


__all__ = [
    "BudgetView",
    "LoadResult",
    "ScopeResult",
    "TokensResult",
    "budget_view",
    "config_or_none",
    "count_tokens",
    "exclude",
    "load",
    "repo_root",
    "resolve_encoding",
    "scope",
    "unload",
]

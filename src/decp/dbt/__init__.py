"""Budget-fitting dbt lineage packs: `decp dbt scope`.

A copilot on a 200+ model dbt repo needs the lineage around the models it is
changing, not a 5M-token manifest. `scope()` selects nodes with dbt's own
selector syntax, then fits a pack into a token budget by naming the closest
nodes and counting the rest in named, expandable groups.

This module stays import-light: the manifest reader, the tokenizer and the
renderers load only when a scope actually runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.errors import DecpError, UsageError

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.dbt.content import Pack
    from decp.dbt.graph import Graph

LEVEL_CHOICES = ("0", "1", "2", "auto")
FORMATS = ("md", "json")
MIN_BUDGET = 100

__all__ = ["ScopeResult", "load", "record_pack", "render_example", "scope"]


@dataclass
class ScopeResult:
    pack: Pack
    cache_hit: bool

    @property
    def text(self) -> str:
        return self.pack.text

    @property
    def target(self) -> str:
        """The ledger target: `dbt:<select> (L<level>)`, with the exclusion when there is one."""
        sel = self.pack.select + (f" --exclude {self.pack.exclude}" if self.pack.exclude else "")
        return f"dbt:{sel} (L{self.pack.level})"


def load(
    manifest: Path, config: Config | None = None, *, use_cache: bool = True
) -> tuple[Graph, bool]:
    """The slim graph for `manifest` (cached under the project or user cache dir)."""
    from decp.dbt.cache import cache_dir, load_graph

    return load_graph(manifest, cache_dir(config) if use_cache else None)


def scope(
    select: str,
    *,
    manifest: Path,
    budget: int,
    exclude: str | None = None,
    level: str = "auto",
    fmt: str = "md",
    encoding: str | None = None,
    config: Config | None = None,
    manifest_flag: str | None = None,
    use_cache: bool = True,
) -> ScopeResult:
    """Select, analyse and fit one pack. Raises DecpError for every user-caused problem."""
    if level not in LEVEL_CHOICES:
        raise UsageError(f"--level {level!r} is not one of {', '.join(LEVEL_CHOICES)}.")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if budget < MIN_BUDGET:
        raise UsageError(
            f"--budget {budget} is below {MIN_BUDGET} tokens.", fix="use 1000-5000 for a task."
        )
    from decp.dbt.select import parse_spec

    parse_spec(select)  # syntax errors before paying for the manifest
    if exclude:
        parse_spec(exclude)
    graph, hit = load(manifest, config, use_cache=use_cache)

    from decp.dbt.analysis import analyse
    from decp.dbt.commands import Commands
    from decp.dbt.pack import build_pack
    from decp.dbt.select import select as run_select

    selection = run_select(graph, select, exclude)
    if not selection.lineage(graph):
        _empty(graph, selection, select, manifest)
    from decp.core.config import defaults
    from decp.core.tokens import get_counter

    counter = get_counter(
        encoding or (config.budget.encoding if config else defaults()["encoding"])
    )
    commands = Commands(select=select, exclude=exclude, manifest=manifest_flag, budget=budget)
    pack = build_pack(
        analyse(graph, selection),
        select=select,
        exclude=exclude,
        manifest=str(manifest),
        budget=budget,
        level=level,
        fmt=fmt,
        counter=counter,
        commands=commands,
    )
    return ScopeResult(pack, hit)


def _empty(graph: Graph, selection: object, select: str, manifest: Path) -> None:
    from decp.dbt.select import close_names

    tests = len(getattr(selection, "uids", ()))
    what = f"only {tests} tests" if tests else "no nodes"
    hint = close_names(graph, select)
    fix = f"did you mean {', '.join(hint)}?" if hint else "check the names with `dbt ls`."
    raise DecpError(
        f"--select {select!r} matched {what} among {len(graph.nodes)} manifest nodes: "
        "nothing to map.",
        path=manifest,
        fix=fix,
    )


def record_pack(config: Config, result: ScopeResult) -> None:
    """Write the pack (loaded) and its collapsed groups (excluded, with why) to CONTEXT.md."""
    from decp.context.ledger import LedgerEntry, now_iso, record_many

    pack = result.pack
    when = now_iso()
    a = pack.analysis
    why = (
        f"{len(pack.named)} named + {pack.collapsed_count} in {len(pack.groups)} groups "
        f"= {len(a.lineage)} nodes, budget {pack.budget:,} ({pack.encoding})"
    )
    decisions = [(LedgerEntry(result.target, "dbt-pack", pack.tokens, why, when), False)]
    for group in pack.groups:
        target = "dbt:" + pack.commands.group_target(group.terms, group.excludes)
        reason = (
            f"collapsed in {result.target}: {len(group.members)} nodes of {group.label} "
            f"did not fit {pack.budget:,} tokens"
        )
        decisions.append((LedgerEntry(target, "dbt-group", None, reason, when), True))
    record_many(config, decisions)


def render_example(manifest_path: str | Path, select: str, budget: int, level: str = "auto") -> str:
    """A pack as Markdown for docs pages (built at docs build time, so it never drifts)."""
    result = scope(
        select, manifest=Path(manifest_path), budget=budget, level=level, use_cache=False
    )
    return result.text

"""`decp dbt impact`: the blast radius of a change, fitted to a token budget.

A refactor's first question is "what breaks if I change this": what changed,
everything downstream of it, and the exposures (dashboards, apps) at the end.
`impact()` answers it with the scope machinery on the selection
`state:modified+` (compared with the working tree, `--state DIR` or
`--changed-since REF`), framed by a short header (what changed, files the
manifest does not know yet) and a footer (the exposures reached). Header and
footer are counted inside the budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.errors import UsageError
from decp.dbt.commands import Commands, quote

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.core.tokens import TokenCounter
    from decp.dbt import ScopeResult
    from decp.dbt.graph import Graph
    from decp.dbt.select import Selection

DEFAULT_SELECT = "state:modified+"
SCHEMA = "decp-dbt-impact/1"
LIST_LIMIT = 12  # changed nodes / new files / exposures listed by name before "+N more"
FIT_ROUNDS = 3


@dataclass(frozen=True)
class FlaggedCommands(Commands):
    """Expand commands that repeat the comparison flags (--state DIR, --changed-since REF)."""

    flags: tuple[str, ...] = ()

    def scope(
        self,
        select: str,
        *,
        budget: int | None = None,
        level: int | None = None,
        exclude: str | None = None,
    ) -> str:
        base = super().scope(select, budget=budget, level=level, exclude=exclude)
        pairs = zip(self.flags[::2], self.flags[1::2], strict=True)
        return base + "".join(f" {flag} {quote(value)}" for flag, value in pairs)


@dataclass
class ImpactResult:
    """The impact pack and what it is made of."""

    text: str
    tokens: int
    budget: int
    encoding: str
    select: str
    compared: str
    changed: list[str]  # node ids that changed (the pack's focal nodes)
    downstream: list[str]  # the other lineage nodes of the selection, exposures apart
    exposures: list[str]  # exposure ids reached
    new_files: list[str]  # node files the manifest does not know yet
    scope: ScopeResult | None = None  # None when nothing changed
    warnings: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        """The ledger target: one row per impact selection."""
        return f"dbt-impact:{self.select}"


def impact(
    *,
    manifest: Path,
    budget: int,
    select: str = DEFAULT_SELECT,
    exclude: str | None = None,
    level: str = "auto",
    fmt: str = "md",
    encoding: str | None = None,
    config: Config | None = None,
    manifest_flag: str | None = None,
    state: Path | None = None,
    changed_since: str | None = None,
    project_dir: Path | None = None,
    use_cache: bool = True,
    graph: Graph | None = None,
) -> ImpactResult:
    """What changed and everything downstream, in at most `budget` tokens."""
    import decp.dbt as dbt
    from decp.core.config import defaults
    from decp.core.tokens import get_counter
    from decp.dbt.select import parse_spec
    from decp.dbt.select import select as run_select

    dbt.check_options(level, fmt, budget)
    parse_spec(select)
    if exclude:
        parse_spec(exclude)
    if graph is None:
        graph, _ = dbt.load(manifest, config, use_cache=use_cache)
    tree, warning = dbt.freshness(graph, manifest, config, project_dir)
    compare = dbt.comparison(
        graph,
        manifest=manifest,
        config=config,
        state=state,
        changed_since=changed_since,
        project_dir=project_dir,
        tree=tree,
    )
    assert compare.state is not None  # need=True always builds one
    selection = run_select(graph, select, exclude, state=compare.state)
    changed = sorted(compare.state.matches(graph, "modified") & selection.uids)
    lineage = selection.lineage(graph)
    new_files = _new_files(compare)
    counter = get_counter(
        encoding or (config.budget.encoding if config else defaults()["encoding"])
    )
    if warning and compare.tree is not None:
        # comparing with the working tree, the stale manifest is the signal, not a fault
        edited = len(compare.tree.stale_files)
        warning = (
            f"the impact is computed against the manifest as it was before "
            f"{edited} edited file{'' if edited == 1 else 's'}; after `dbt parse`, use "
            "--changed-since REF or --state DIR to keep seeing these changes."
        )
    warnings = [warning] if warning else []
    exposures = [u for u in lineage if graph.nodes[u].kind == "exposure"]
    base = ImpactResult(
        text="",
        tokens=0,
        budget=budget,
        encoding=counter.label,
        select=select,
        compared=compare.label,
        changed=[u for u in changed if graph.nodes[u].kind != "test"],
        downstream=[u for u in lineage if u not in set(changed) and u not in set(exposures)],
        exposures=exposures,
        new_files=new_files,
        warnings=warnings,
    )
    if not lineage:
        base.text = _render_empty(base, fmt)
        base.tokens = counter.count(base.text)
        if base.tokens > budget:
            raise UsageError(
                f"the impact summary needs {base.tokens:,} tokens, your budget is {budget:,}.",
                fix=f"pass --budget {base.tokens} or more.",
            )
        return base
    return _fit(
        base,
        graph,
        selection,
        counter,
        manifest,
        config,
        manifest_flag,
        exclude,
        level,
        fmt,
        compare.flags,
    )


def _new_files(compare: object) -> list[str]:
    tree = getattr(compare, "tree", None)
    if tree is not None:
        return list(tree.new_files)
    state = getattr(compare, "state", None)
    changed = getattr(state, "changed", None)
    return list(changed.unmatched) if changed is not None else []


def _fit(
    base: ImpactResult,
    graph: Graph,
    selection: Selection,
    counter: TokenCounter,
    manifest: Path,
    config: Config | None,
    manifest_flag: str | None,
    exclude: str | None,
    level: str,
    fmt: str,
    flags: tuple[str, ...],
) -> ImpactResult:
    """Reserve the header and footer, fit the pack in the rest, re-fit if the sum is over."""
    import decp.dbt as dbt

    frame_tokens = counter.count(_header(base, graph) + _footer(base, graph))
    pack_budget = base.budget - frame_tokens - 8
    for _ in range(FIT_ROUNDS):
        if pack_budget < dbt.MIN_BUDGET:
            need = base.budget - pack_budget + dbt.MIN_BUDGET
            raise UsageError(
                f"the impact pack needs at least {need:,} tokens, your budget is {base.budget:,}.",
                fix=f"pass --budget {need} or more.",
            )
        pack = dbt.build(
            graph,
            selection,
            select=base.select,
            exclude=exclude,
            manifest=manifest,
            budget=pack_budget,
            level=level,
            fmt=fmt,
            encoding=None,
            config=config,
            manifest_flag=manifest_flag,
            flags=flags,
            counter=counter,
        )
        text = _assemble(base, graph, pack.text, fmt)
        tokens = counter.count(text)
        if tokens <= base.budget:
            base.text, base.tokens = text, tokens
            base.scope = dbt.ScopeResult(pack, True, list(base.warnings))
            return base
        pack_budget -= tokens - base.budget + 8
    raise UsageError(  # pragma: no cover - each round shrinks the pack by the overflow
        f"the impact pack does not fit {base.budget:,} tokens.", fix="pass a larger --budget."
    )


def _listed(items: list[str], limit: int = LIST_LIMIT) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _label(graph: Graph, uid: str) -> str:
    node = graph.nodes[uid]
    if node.kind == "source":
        return f"{node.source_name}.{node.name}"
    return node.name if node.kind == "model" else f"{node.name} ({node.kind})"


def _header(result: ImpactResult, graph: Graph) -> str:
    changed = [f"`{_label(graph, u)}` ({graph.nodes[u].path})" for u in result.changed]
    lines = [
        f"# dbt impact: {len(result.changed)} changed, {len(result.downstream)} downstream, "
        f"{len(result.exposures)} exposures",
        "",
        f"Compared: {result.compared}. Selection: `{result.select}`.",
        "",
        f"- Changed: {_listed(changed) or 'none'}",
    ]
    if result.new_files:
        lines.append(f"- Not in the manifest yet (run `dbt parse`): {_listed(result.new_files)}")
    return "\n".join(lines) + "\n\n"


def _footer(result: ImpactResult, graph: Graph) -> str:
    if not result.exposures:
        return "\n## Exposures reached\n\nNone: no exposure depends on the changed nodes.\n"
    lines = ["", "## Exposures reached", ""]
    for uid in result.exposures[:LIST_LIMIT]:
        node = graph.nodes[uid]
        via = [graph.nodes[p].name for p in node.parents if p in graph.nodes]
        kind = node.materialized or "exposure"
        lines.append(f"- `{node.name}` ({kind}) <- {', '.join(f'`{v}`' for v in via)}")
    if len(result.exposures) > LIST_LIMIT:
        lines.append(f"- +{len(result.exposures) - LIST_LIMIT} more")
    return "\n".join(lines) + "\n"


def _summary(result: ImpactResult, graph: Graph) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "select": result.select,
        "compared": result.compared,
        "changed": [
            {"unique_id": u, "name": graph.nodes[u].name, "path": graph.nodes[u].path}
            for u in result.changed
        ],
        "new_files": result.new_files,
        "exposures": [
            {"unique_id": u, "name": graph.nodes[u].name, "type": graph.nodes[u].materialized}
            for u in result.exposures
        ],
    }


def _assemble(result: ImpactResult, graph: Graph, pack_text: str, fmt: str) -> str:
    if fmt == "json":
        data = _summary(result, graph)
        data["pack"] = json.loads(pack_text)
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    return _header(result, graph) + pack_text.rstrip("\n") + "\n" + _footer(result, graph)


def _render_empty(result: ImpactResult, fmt: str) -> str:
    if fmt == "json":
        data: dict[str, object] = {
            "schema": SCHEMA,
            "select": result.select,
            "compared": result.compared,
            "changed": [],
            "new_files": result.new_files,
            "exposures": [],
            "pack": None,
        }
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    lines = [
        "# dbt impact: nothing changed",
        "",
        f"Compared: {result.compared}. Selection: `{result.select}` matched no model, "
        "seed or snapshot.",
    ]
    if result.new_files:
        lines += [
            "",
            f"- Not in the manifest yet (run `dbt parse`, then re-run): {_listed(result.new_files)}",
        ]
    return "\n".join(lines) + "\n"

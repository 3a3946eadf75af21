"""Budget-fitting dbt lineage packs: `decp dbt scope` and `decp dbt impact`.

A copilot on a 200+ model dbt repo needs the lineage around the models it is
changing, not a 5M-token manifest. `scope()` selects nodes with dbt's own
selector syntax, then fits a pack into a token budget by naming the closest
nodes and counting the rest in named, expandable groups. `state:` selectors
(changed models) are answered by `decp.dbt.changes`, and every pack built from
a repo's own manifest says when that manifest is older than the files.

This module stays import-light: the manifest reader, the tokenizer and the
renderers load only when a scope actually runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.errors import DecpError, UsageError

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.core.tokens import TokenCounter
    from decp.dbt.changes import TreeChanges
    from decp.dbt.content import Pack
    from decp.dbt.graph import Graph
    from decp.dbt.pack import PieceCounter
    from decp.dbt.select import Selection, StateComparison

LEVEL_CHOICES = ("0", "1", "2", "auto")
FORMATS = ("md", "json")
MIN_BUDGET = 100
PACK_KIND = "dbt-pack"

__all__ = [
    "ScopeResult",
    "guard_out_path",
    "load",
    "record_pack",
    "render_example",
    "scope",
]


@dataclass
class ScopeResult:
    pack: Pack
    cache_hit: bool
    warnings: list[str] = field(default_factory=list)  # e.g. the stale-manifest note

    @property
    def text(self) -> str:
        return self.pack.text

    @property
    def target(self) -> str:
        """The ledger target: `dbt:<select>`, with the exclusion when there is one.

        The level is not part of it, so re-scoping the same selection replaces its row.
        """
        sel = self.pack.select + (f" --exclude {self.pack.exclude}" if self.pack.exclude else "")
        return f"dbt:{sel}"


def load(
    manifest: Path, config: Config | None = None, *, use_cache: bool = True
) -> tuple[Graph, bool]:
    """The slim graph for `manifest` (cached under the project or user cache dir).

    In a stamped repo, a missing manifest is reported with the `[dbt]` settings
    used and the dbt projects actually found.
    """
    from decp.dbt.cache import cache_dir, load_graph

    if config is not None and not manifest.exists():
        from decp.dbt.project import manifest_missing

        raise manifest_missing(config, manifest)
    return load_graph(manifest, cache_dir(config) if use_cache else None)


def project_dir_for(manifest: Path, config: Config | None) -> Path | None:
    """The dbt project folder the manifest's paths are relative to, when it can be told:
    `[dbt] project_dir` in a stamped repo, else the folder above `target/` holding
    dbt_project.yml."""
    if config is not None:
        return config.root / config.dbt_project_dir
    parent = manifest.resolve().parent
    if parent.name == "target" and (parent.parent / "dbt_project.yml").is_file():
        return parent.parent
    return None


def uses_state(*texts: str | None) -> bool:
    """Does any selection use dbt's `state:` method?"""
    from decp.dbt.select import parse_spec

    return any(
        crit.method == "state"
        for text in texts
        if text and text.strip()
        for union in parse_spec(text)
        for crit in union
    )


@dataclass
class Comparison:
    """What `state:` compares with, and how a pack says so."""

    state: StateComparison | None
    label: str  # e.g. "the working tree against the manifest's checksums"
    flags: tuple[str, ...] = ()  # repeated in expand commands: ("--state", "DIR")
    tree: TreeChanges | None = None


def comparison(
    graph: Graph,
    *,
    manifest: Path,
    config: Config | None,
    state: Path | None = None,
    changed_since: str | None = None,
    project_dir: Path | None = None,
    tree: TreeChanges | None = None,
    need: bool = True,
) -> Comparison:
    """Build the `state:` comparison the flags ask for (working tree when none)."""
    from decp.dbt import changes

    if state is not None and changed_since is not None:
        raise UsageError(
            "--state and --changed-since are two answers to one question: pass one.",
            fix="--state DIR compares manifests; --changed-since REF compares git revisions.",
        )
    if not need:
        return Comparison(None, "")
    cache = _cache(config)
    if state is not None:
        other = changes.state_manifest_path(state)
        current = changes.manifest_digests(manifest, cache)
        previous = changes.manifest_digests(other, cache)
        return Comparison(
            changes.ManifestState(current, previous),
            f"the manifest at {other}",
            ("--state", str(state)),
        )
    folder = project_dir or project_dir_for(manifest, config)
    if folder is None:
        raise UsageError(
            "`state:` without --state compares the project's files with the manifest, "
            "but decp cannot tell where the dbt project is.",
            fix="run inside a stamped repo, pass --project-dir DIR, or pass --state DIR.",
        )
    if changed_since is not None:
        root = config.root if config is not None else folder
        found = changes.changed_since(graph, changed_since, root, folder)
        return Comparison(
            changes.ChangedSinceState(found),
            f"git diff {changed_since} ({found.commit[:12]}) and the working tree",
            ("--changed-since", changed_since),
        )
    if tree is None:
        tree = changes.tree_changes(graph, folder, manifest, cache)
    return Comparison(
        changes.WorkingTreeState(tree),
        "the working tree against the manifest's checksums",
        ("--project-dir", str(project_dir)) if project_dir else (),
        tree,
    )


def _cache(config: Config | None) -> Path | None:
    from decp.dbt.cache import cache_dir

    return cache_dir(config)


def freshness(
    graph: Graph, manifest: Path, config: Config | None, project_dir: Path | None
) -> tuple[TreeChanges | None, str | None]:
    """Compare the project's files with the manifest; the warning line when stale."""
    from decp.dbt import changes

    folder = project_dir or project_dir_for(manifest, config)
    if folder is None or not folder.is_dir():
        return None, None
    tree = changes.tree_changes(graph, folder, manifest, _cache(config))
    label = str(manifest)
    if config is not None:
        with contextlib.suppress(ValueError):
            label = manifest.relative_to(config.root).as_posix()
    return tree, changes.freshness_warning(tree, label)


def check_options(level: str, fmt: str, budget: int) -> None:
    if level not in LEVEL_CHOICES:
        raise UsageError(f"--level {level!r} is not one of {', '.join(LEVEL_CHOICES)}.")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if budget < MIN_BUDGET:
        raise UsageError(
            f"--budget {budget} is below {MIN_BUDGET} tokens.", fix="use 1000-5000 for a task."
        )


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
    graph: Graph | None = None,
    state: Path | None = None,
    changed_since: str | None = None,
    project_dir: Path | None = None,
    check_freshness: bool = True,
) -> ScopeResult:
    """Select, analyse and fit one pack. Raises DecpError for every user-caused problem."""
    check_options(level, fmt, budget)
    from decp.dbt.select import parse_spec

    parse_spec(select)  # syntax errors before paying for the manifest
    if exclude:
        parse_spec(exclude)
    hit = True
    if graph is None:
        graph, hit = load(manifest, config, use_cache=use_cache)
    tree, warning = (None, None)
    if check_freshness:
        tree, warning = freshness(graph, manifest, config, project_dir)
    compare = comparison(
        graph,
        manifest=manifest,
        config=config,
        state=state,
        changed_since=changed_since,
        project_dir=project_dir,
        tree=tree,
        need=uses_state(select, exclude) or state is not None or changed_since is not None,
    )
    from decp.dbt.select import select as run_select

    selection = run_select(graph, select, exclude, state=compare.state)
    if not selection.lineage(graph):
        _empty(graph, selection, select, manifest, compare.label)
    pack = build(
        graph,
        selection,
        select=select,
        exclude=exclude,
        manifest=manifest,
        budget=budget,
        level=level,
        fmt=fmt,
        encoding=encoding,
        config=config,
        manifest_flag=manifest_flag,
        flags=compare.flags,
    )
    return ScopeResult(pack, hit, [warning] if warning else [])


def build(
    graph: Graph,
    selection: Selection,
    *,
    select: str,
    exclude: str | None,
    manifest: Path,
    budget: int,
    level: str,
    fmt: str,
    encoding: str | None,
    config: Config | None,
    manifest_flag: str | None,
    flags: tuple[str, ...] = (),
    counter: TokenCounter | PieceCounter | None = None,
) -> Pack:
    """Fit an already evaluated selection into a pack (shared by scope and impact)."""
    from decp.core.config import defaults
    from decp.dbt.analysis import analyse
    from decp.dbt.commands import Commands
    from decp.dbt.pack import build_pack, lazy_counter, map_share_from

    if counter is None:  # exact counts from cached pieces; the tokenizer loads only on a miss
        counter = lazy_counter(
            encoding or (config.budget.encoding if config else defaults()["encoding"])
        )
    commands = Commands(select=select, exclude=exclude, manifest=manifest_flag, budget=budget)
    if flags:
        from decp.dbt.impact import FlaggedCommands

        commands = FlaggedCommands(select, exclude, manifest_flag, budget, flags)
    from decp.dbt.catalog import catalog_beside

    return build_pack(
        analyse(graph, selection),
        select=select,
        exclude=exclude,
        manifest=_shown_path(manifest, config),
        catalog=catalog_beside(manifest),
        budget=budget,
        level=level,
        fmt=fmt,
        counter=counter,
        commands=commands,
        map_share=map_share_from(config),
        task_budget=config.budget.task_budget if config else None,
    )


def _shown_path(manifest: Path, config: Config | None) -> str:
    """The manifest as a pack names it: repo-relative when inside the repo, so packs are the
    same on every machine and no home directory enters the agent's context."""
    if config is not None:
        try:
            return manifest.resolve().relative_to(config.root.resolve()).as_posix()
        except ValueError:
            pass
    return str(manifest)


def _empty(graph: Graph, selection: object, select: str, manifest: Path, compared: str) -> None:
    from decp.dbt.select import close_names

    tests = len(getattr(selection, "uids", ()))
    what = f"only {tests} tests" if tests else "no nodes"
    if compared and uses_state(select):
        fix = f"nothing changed compared with {compared}; check the comparison, or run `dbt parse`."
    else:
        hint = close_names(graph, select)
        fix = f"did you mean {', '.join(hint)}?" if hint else "check the names with `dbt ls`."
    raise DecpError(
        f"--select {select!r} matched {what} among {len(graph.nodes)} manifest nodes: "
        "nothing to map.",
        path=manifest,
        fix=fix,
    )


def ledger_entry(result: ScopeResult, when: str, target: str | None = None) -> object:
    """One row per pack: its selection, level, tokens and group count."""
    from decp.context.ledger import LedgerEntry

    pack = result.pack
    why = (
        f"L{pack.level}: {len(pack.named)} named + {pack.collapsed_count} in "
        f"{len(pack.groups)} groups = {len(pack.analysis.lineage)} nodes, "
        f"budget {pack.budget:,} ({pack.encoding})"
    )
    return LedgerEntry(target or result.target, PACK_KIND, pack.tokens, why, when)


def record_pack(config: Config, result: ScopeResult, target: str | None = None) -> None:
    """Record the pack as ONE loaded row of CONTEXT.md, replacing an earlier pack of the
    same selection (at any level). Collapsed groups are not rows: the pack lists them."""
    from decp.context.ledger import LedgerEntry, now_iso, read_ledger, record_many, remove

    when = now_iso()
    entry = ledger_entry(result, when, target)
    name = target or result.target
    decisions: list[tuple[LedgerEntry, bool]] = [(entry, False)]  # type: ignore[list-item]
    if result.pack.redactions:  # values replaced before packing: one exclusion row per pack
        kinds = ", ".join(result.pack.redactions)
        why = f"values redacted before packing: {kinds}"
        decisions.insert(0, (LedgerEntry(f"{name}#redacted", "secret", None, why, when), True))
    record_many(config, decisions)
    legacy = {f"{name} (L{lv})" for lv in ("0", "1", "2")}  # rows of decp before this change
    if not result.pack.redactions:
        legacy.add(f"{name}#redacted")  # an earlier pack's redactions no longer apply
    ledger = read_ledger(config)
    for row in [*ledger.loaded, *ledger.excluded]:
        if row.target in legacy:
            remove(config, row.target)


def guard_out_path(
    out: Path,
    *,
    force: bool,
    protected: list[Path],
    config: Config | None = None,
) -> Path:
    """Refuse an --out that would destroy the manifest or decp's own data (core.fsio's rule)."""
    from decp.core.fsio import check_out_path

    check_out_path(
        out, force=force, protected=protected, project_dir=config.project_dir if config else None
    )
    return out


def render_example(manifest_path: str | Path, select: str, budget: int, level: str = "auto") -> str:
    """A pack as Markdown for docs pages (built at docs build time, so it never drifts)."""
    result = scope(
        select,
        manifest=Path(manifest_path),
        budget=budget,
        level=level,
        use_cache=False,
        check_freshness=False,
    )
    return result.text

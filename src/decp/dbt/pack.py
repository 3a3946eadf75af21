"""Fit a lineage pack into a token budget by summarising, never by cutting.

Every node of the selection is either named (a line in the lineage map) or
counted in a collapsed group that names its folder and the command that
expands it, so accounting is always 100%. Within the budget, the plan names
as many nodes as fit, in priority order (focal, distance-1, then by distance
and fan-in/fan-out); at levels 1 and 2 it first spends on details (columns,
tests, SQL) for the focal nodes and, up to half the budget, their neighbours.

Fitting renders the real output and counts it with the real tokenizer, so the
number a pack reports is the number it costs; binary searches keep that to a
few dozen renders even for 3,000-node selections.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from decp.dbt.analysis import Analysis
from decp.dbt.commands import Commands, intersect
from decp.dbt.groups import Group, link_groups, make_groups
from decp.dbt.select import fqn_matches
from decp.errors import UsageError

if TYPE_CHECKING:
    from decp.tokens import TokenCounter

LEVELS = (0, 1, 2)
DETAIL_SHARE = 0.5  # neighbours' details may use at most this share of the budget
TOKENS_PER_GROUP = 350  # budget per group when choosing how finely to group
MAX_GROUPS = 16
TOKENS_PER_LINE = 25  # a typical named line, to size a correction step
GROW_STEPS = 6


@dataclass(frozen=True)
class Plan:
    level: int
    named: int  # how many nodes of the priority order get a line
    details: int  # how many core nodes (a prefix of the core) get level details
    cap: int  # target group count
    mermaid: bool = False


@dataclass
class Pack:
    analysis: Analysis
    select: str
    exclude: str | None
    manifest: str
    budget: int
    level: int
    fmt: str
    encoding: str
    commands: Commands
    named: list[str]
    details: list[str]
    groups: list[Group]
    level_costs: dict[int, int]
    omitted: list[str] = field(default_factory=list)
    omitted_command: str = ""
    mermaid: bool = False
    tokens: int = 0
    text: str = ""

    def __post_init__(self) -> None:
        self.focal_set = set(self.analysis.focal)
        self.details_set = set(self.details)
        self.named_set = set(self.named)
        self.owner = {uid: g.gid for g in self.groups for uid in g.members}
        self.tests = {
            uid: [t.uid for t in tests]
            for uid, tests in self.analysis.graph.tests_on(self.details).items()
        }

    @property
    def collapsed_count(self) -> int:
        return sum(len(g.members) for g in self.groups)

    def ref(self, key: str) -> str:
        """A group id stays as is; a node uid becomes its display name."""
        return self.analysis.names.get(key, key)

    def parents_split(self, uid: str) -> tuple[list[str], Counter[str]]:
        named, grouped = [], Counter()
        for parent in self.analysis.parents_in(uid):
            if parent in self.named_set:
                named.append(parent)
            else:
                grouped[self.owner[parent]] += 1
        return named, grouped

    def folder(self, uid: str) -> str:
        node = self.analysis.node(uid)
        if node.kind in ("source", "exposure"):
            return f"{node.kind}s of {node.package}"
        return "/".join(node.fqn[:-1]) or node.package

    def named_by_folder(self) -> list[tuple[str, list[str]]]:
        topo = self.analysis.topo
        folders: dict[str, list[str]] = {}
        for uid in sorted(self.named, key=topo.__getitem__):
            folders.setdefault(self.folder(uid), []).append(uid)
        return list(folders.items())

    def accounting_ok(self) -> bool:
        counted = self.named_set | {u for g in self.groups for u in g.members}
        return counted == set(self.analysis.lineage) and len(
            self.named
        ) + self.collapsed_count == len(self.analysis.lineage)


@dataclass
class Fitter:
    """Plans packs for one selection and budget; memoises every measured plan."""

    analysis: Analysis
    select: str
    exclude: str | None
    manifest: str
    budget: int
    fmt: str
    counter: TokenCounter
    commands: Commands
    level_costs: dict[int, int] = field(default_factory=dict)
    _measured: dict[Plan, int] = field(default_factory=dict)
    _chunk_counts: dict[str, int] = field(default_factory=dict)
    _detail_cost: dict[tuple[int, str], int] = field(default_factory=dict)
    _probes: dict[int, Pack] = field(default_factory=dict)
    _core_commands: dict[int, str] = field(default_factory=dict)

    # --- assembling and measuring ---------------------------------------------------

    def assemble(self, plan: Plan, tokens: int | None = None) -> Pack:
        a = self.analysis
        named = a.order[: plan.named]
        details = a.core[: plan.details] if plan.level else []
        groups = make_groups(a, a.order[plan.named :], plan.cap)
        link_groups(a, set(named), groups)  # cheap enough; groups are mutated, so not memoised
        pack = Pack(
            analysis=a,
            select=self.select,
            exclude=self.exclude,
            manifest=self.manifest,
            budget=self.budget,
            level=plan.level,
            fmt=self.fmt,
            encoding=self.counter.label,
            commands=self.commands,
            named=named,
            details=details,
            groups=groups,
            level_costs=self.level_costs,
            mermaid=plan.mermaid,
            tokens=self.budget if tokens is None else tokens,
        )
        if plan.level:
            pack.omitted = a.core[plan.details :]
            if pack.omitted:
                pack.omitted_command = self.core_command(plan.level)
        return pack

    def measure(self, plan: Plan) -> int:
        """Estimated tokens: the sum of per-line (per-item) counts, each line counted once.

        Splitting at newlines only ever splits where the tokenizer splits too, so the
        sum tracks the exact count within a few tokens; `finish` counts exactly.
        """
        if plan not in self._measured:
            from decp.dbt.render import chunks

            cache, count, total = self._chunk_counts, self.counter.count, 0
            for chunk in chunks(self.assemble(plan)):
                n = cache.get(chunk)
                if n is None:
                    n = cache[chunk] = count(chunk)
                total += n
            self._measured[plan] = total
        return self._measured[plan]

    def exact(self, plan: Plan) -> tuple[Pack, int]:
        """Render and count for real; the pack states its own size, so iterate to a fixed point."""
        from decp.dbt.render import render

        tokens = self.budget
        for _ in range(4):
            pack = self.assemble(plan, tokens)
            pack.text = render(pack)
            counted = self.counter.count(pack.text)
            if counted == tokens:
                return pack, counted
            tokens = counted
        return pack, max(counted, pack.tokens)

    def fits(self, plan: Plan) -> bool:
        return self.measure(plan) <= self.budget

    def detail_cost(self, level: int, uid: str) -> int:
        key = (level, uid)
        if key not in self._detail_cost:
            from decp.dbt.render import detail_markdown

            if level not in self._probes:
                self._probes[level] = self.assemble(Plan(level, len(self.analysis.order), 0, 1))
            probe = self._probes[level]
            probe.tests = {uid: [t.uid for t in self.analysis.graph.tests_on([uid])[uid]]}
            self._detail_cost[key] = self.counter.count("\n".join(detail_markdown(probe, uid)))
        return self._detail_cost[key]

    # --- the plan --------------------------------------------------------------------

    def compute_level_costs(self) -> None:
        """What the whole selection would cost at each level: all named, core details."""
        a = self.analysis
        full = self.measure(Plan(0, len(a.order), 0, 1))
        self.level_costs[0] = full
        for level in (1, 2):
            self.level_costs[level] = full + sum(self.detail_cost(level, u) for u in a.core)
        self._measured.clear()  # costs were measured before level_costs existed

    def smallest_cap(self, level: int) -> int:
        cap = max(1, min(MAX_GROUPS, self.budget // TOKENS_PER_GROUP))
        while cap > 1 and not self.fits(Plan(level, 0, 0, cap)):
            cap = max(1, cap * 2 // 3)
        if not self.fits(Plan(level, 0, 0, cap)):
            need = self.measure(Plan(level, 0, 0, cap))
            raise UsageError(
                f"a budget of {self.budget:,} tokens cannot hold even a fully collapsed pack of "
                f"these {len(self.analysis.lineage)} nodes ({need:,} tokens).",
                fix=f"pass --budget {math.ceil(need / 500) * 500} or narrow --select.",
            )
        return cap

    def plan_level(self, level: int) -> tuple[Plan, bool]:
        """The best plan at `level`, and whether it is complete (core named, focal detailed)."""
        a = self.analysis
        cap = self.smallest_cap(level)
        total = len(a.order)
        if level == 0:
            k = _largest(0, total, lambda k: self.fits(Plan(0, k, 0, cap)))
            return Plan(0, k, 0, cap), True
        core_named = _largest(0, len(a.core), lambda k: self.fits(Plan(level, k, 0, cap)))
        limit = self._detail_limit(level, core_named)
        j = _largest(0, limit, lambda j: self.fits(Plan(level, core_named, j, cap)))
        k = _largest(core_named, total, lambda k: self.fits(Plan(level, k, j, cap)))
        complete = core_named == len(a.core) and j >= len(a.focal)
        return Plan(level, k, j, cap), complete

    def _detail_limit(self, level: int, core_named: int) -> int:
        """Focal nodes always compete for details; neighbours only within DETAIL_SHARE."""
        a = self.analysis
        spent, limit = 0, 0
        focal = set(a.focal)
        for uid in a.core[:core_named]:
            if uid not in focal:
                spent += self.detail_cost(level, uid)
                if spent > DETAIL_SHARE * self.budget:
                    break
            limit += 1
        return limit

    def choose(self, level: str) -> Plan:
        if level != "auto":
            return self.plan_level(int(level))[0]
        fallback = None
        for lv in (2, 1, 0):
            plan, complete = self.plan_level(lv)
            if complete:
                return plan
            fallback = fallback or plan
        return fallback  # pragma: no cover - level 0 is always complete

    def finish(self, plan: Plan) -> Pack:
        """Add the diagram if it fits, then settle on a plan whose exact count fits."""
        with_diagram = Plan(plan.level, plan.named, plan.details, plan.cap, mermaid=True)
        if plan.named and self.fmt == "md" and self.fits(with_diagram):
            plan = with_diagram
        pack, counted = self.exact(plan)
        while counted > self.budget:
            plan = _shrink(plan, counted - self.budget)
            pack, counted = self.exact(plan)
        for _ in range(GROW_STEPS):  # the estimate errs high: name a few more if they fit
            if plan.named >= len(self.analysis.order):
                break
            bigger = Plan(plan.level, plan.named + 1, plan.details, plan.cap, plan.mermaid)
            bigger_pack, bigger_count = self.exact(bigger)
            if bigger_count > self.budget:
                break
            plan, pack, counted = bigger, bigger_pack, bigger_count
        pack.tokens = counted
        return pack

    def core_command(self, level: int) -> str:
        """One command that gives every focal and neighbour node its level-`level` details."""
        if level not in self._core_commands:
            self._core_commands[level] = self._core_command(level)
        return self._core_commands[level]

    def _core_command(self, level: int) -> str:
        a = self.analysis
        budget = self.level_costs.get(level, self.budget) - self.level_costs.get(0, 0)
        budget += 40 * len(a.core) + 400
        budget = math.ceil(budget / 1000) * 1000
        focal_selectors = [node_selector(a, u) for u in a.focal[:3]]
        if len(a.focal) <= 3 and all(s is not None for s in focal_selectors):
            words = [f"1+{s}+1" for s in focal_selectors if s]
            select = " ".join(intersect(self.select, w) for w in words)
        else:
            select = " ".join(s for u in a.core[:12] if (s := node_selector(a, u)))
        return self.commands.scope(select, budget=budget, level=level)


def _shrink(plan: Plan, excess: int) -> Plan:
    """A slightly smaller plan: drop the diagram, then named lines, then details, then groups."""
    if plan.mermaid:
        return Plan(plan.level, plan.named, plan.details, plan.cap)
    if plan.named > plan.details:
        step = min(plan.named - plan.details, max(1, excess // TOKENS_PER_LINE))
        return Plan(plan.level, plan.named - step, plan.details, plan.cap)
    if plan.details:
        return Plan(plan.level, plan.named, plan.details - 1, plan.cap)
    if plan.named:
        return Plan(plan.level, plan.named - 1, 0, plan.cap)
    if plan.cap > 1:
        return Plan(plan.level, 0, 0, plan.cap - 1)
    raise UsageError("the budget is too small for this selection.", fix="raise --budget.")


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """Largest x in [lo, hi] with ok(x), assuming ok is (mostly) monotone and ok(lo)."""
    if hi <= lo:
        return lo
    if ok(hi):
        return hi
    good, bad = lo, hi
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good


def node_selector(a: Analysis, uid: str) -> str | None:
    """A dbt selector that picks exactly this node, as short as possible."""
    node = a.node(uid)
    if node.kind == "source":
        return f"source:{node.package}.{node.source_name}.{node.name}"
    if node.kind == "exposure":
        return f"exposure:{node.package}.{node.name}"
    if "." not in node.name and a.graph.bare_name_matches(node.name) == {uid}:
        return node.name
    value = ".".join(node.fqn)
    hits = [
        n.uid
        for n in a.graph.nodes.values()
        if n.kind not in ("source", "exposure") and fqn_matches(n.fqn, value)
    ]
    return f"fqn:{value}" if hits == [uid] else None


def build_pack(
    analysis: Analysis,
    *,
    select: str,
    exclude: str | None,
    manifest: str,
    budget: int,
    level: str,
    fmt: str,
    counter: TokenCounter,
    commands: Commands,
) -> Pack:
    """The richest pack that fits `budget` (level "0", "1", "2" or "auto")."""
    fitter = Fitter(analysis, select, exclude, manifest, budget, fmt, counter, commands)
    fitter.compute_level_costs()
    return fitter.finish(fitter.choose(level))

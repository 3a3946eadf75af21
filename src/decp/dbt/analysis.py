"""Everything about a selection that does not depend on the budget, computed once.

Which nodes are focal, how far every other node is from them, how connected it
is, how it is displayed, and in which order nodes earn a named line and a
detail section.

Naming order answers impact questions first: focal, then direct parents and
children, then the selection's sources and exposures (the tables it reads and
the dashboards it feeds, up to SOURCE_EXPOSURE_CAP), then the rest by distance
and by fan-in plus fan-out. Detail order: focal, then direct neighbours that
are marts or exposures (or sit in a marts/reporting folder), then the other
neighbours; analyses (one-off queries) come last.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from decp.dbt.graph import TEST, Graph
from decp.dbt.manifest import Node
from decp.dbt.select import Selection

UNREACHED = 1_000_000
SOURCE_EXPOSURE_CAP = 40  # sources and exposures named right after the direct neighbours
ENDPOINT_KINDS = frozenset({"source", "exposure"})
MART_FOLDERS = frozenset({"marts", "mart", "reporting"})
Key = tuple[str, ...]  # a folder (fqn prefix) or source group key


@dataclass
class Analysis:
    graph: Graph
    lineage: list[str]  # non-test nodes of the selection
    focal: list[str]
    distance: dict[str, int]
    degree: dict[str, int]
    order: list[str]  # priority for a named line
    core: list[str]  # focal + distance-1, in priority order
    detail_order: list[str]  # the core in the order it earns details
    names: dict[str, str]  # display names, unique within the selection
    edges: int
    kinds: Counter[str]
    upstream_outside: int  # edges entering the selection from unselected parents
    downstream_outside: int  # edges leaving it to unselected non-test children
    selected_tests: int
    topo: dict[str, int]  # upstream-first position, for display
    members: frozenset[str] = field(default_factory=frozenset)
    parents: dict[str, list[str]] = field(default_factory=dict)  # within the selection
    children: dict[str, list[str]] = field(default_factory=dict)
    key_chains: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    _folder_index: FolderIndex | None = field(default=None, repr=False)

    def folder_index(self) -> FolderIndex:
        """Folders of the selection with members by priority (built once, used per plan)."""
        if self._folder_index is None:
            self._folder_index = FolderIndex(self)
        return self._folder_index

    def node(self, uid: str) -> Node:
        return self.graph.nodes[uid]

    def parents_in(self, uid: str) -> list[str]:
        return self.parents[uid]

    def children_in(self, uid: str) -> list[str]:
        return self.children[uid]


def _depth_limit(node: Node) -> int:
    if node.kind == "source":
        return 2
    return max(1, len(node.fqn) - 1)


def _key(node: Node, depth: int) -> Key:
    if node.kind == "source":
        return ("source", node.package, node.source_name)[: depth + 1]
    folders = node.fqn[:-1] or node.fqn
    return ("fqn", *folders[:depth])


def key_chain(node: Node) -> tuple[Key, ...]:
    """The node's group key at depth 1, 2, ... down to its own folder."""
    return tuple(_key(node, d) for d in range(1, _depth_limit(node) + 1))


def display_name(node: Node) -> str:
    if node.kind == "source" and node.source_name:
        return f"{node.source_name}.{node.name}"
    return node.name


def analyse(graph: Graph, selection: Selection) -> Analysis:
    lineage = selection.lineage(graph)
    members = frozenset(lineage)
    focal = [u for u in lineage if u in selection.roots]
    if not focal:
        # Only tests were matched (e.g. test_name:...): focus on what they test.
        tested = {graph.nodes[u].attached for u in selection.roots}
        focal = [u for u in lineage if u in tested] or list(lineage)
    parents = {u: [p for p in graph.parents_of(u) if p in members] for u in lineage}
    children: dict[str, list[str]] = {u: [] for u in lineage}
    for uid, ps in parents.items():
        for p in ps:
            children[p].append(uid)
    degree = {u: len(parents[u]) + len(children[u]) for u in lineage}
    distance = _distances(focal, parents, children)
    names = _unique_names(graph, lineage)
    order = naming_order(graph, lineage, distance, degree, names)
    core = [u for u in order if distance[u] <= 1]
    up_out = sum(1 for u in lineage for p in graph.parents_of(u) if p not in members)
    down_out = sum(
        1
        for u in lineage
        for c in graph.children_of(u)
        if c not in members and graph.nodes[c].kind != TEST
    )
    return Analysis(
        graph=graph,
        lineage=lineage,
        focal=sorted(focal, key=lambda u: (-degree[u], names[u])),
        distance=distance,
        degree=degree,
        order=order,
        core=core,
        detail_order=detail_order(graph, core, distance),
        names=names,
        edges=sum(len(ps) for ps in parents.values()),
        kinds=Counter(graph.nodes[u].kind for u in lineage),
        upstream_outside=up_out,
        downstream_outside=down_out,
        selected_tests=len(selection.uids) - len(lineage),
        topo=_topological(lineage, parents, children, names),
        members=members,
        parents=parents,
        children=children,
        key_chains={u: key_chain(graph.nodes[u]) for u in lineage},
    )


def naming_order(
    graph: Graph,
    lineage: list[str],
    distance: dict[str, int],
    degree: dict[str, int],
    names: dict[str, str],
) -> list[str]:
    """Focal, direct neighbours, then sources and exposures (capped), then the rest."""
    ranked = sorted(lineage, key=lambda u: (distance[u], -degree[u], names[u]))
    near = [u for u in ranked if distance[u] <= 1]
    far = ranked[len(near) :]
    nodes = graph.nodes
    endpoints = [u for u in far if nodes[u].kind in ENDPOINT_KINDS][:SOURCE_EXPOSURE_CAP]
    if not endpoints:
        return ranked
    chosen = set(endpoints)
    return near + endpoints + [u for u in far if u not in chosen]


def is_mart(node: Node) -> bool:
    """An exposure, or a node in a marts/reporting folder (by fqn or by file path)."""
    if node.kind == "exposure":
        return True
    parts = {p.lower() for p in node.fqn[:-1]}
    parts.update(p.lower() for p in node.path.replace("\\", "/").split("/")[:-1])
    return not parts.isdisjoint(MART_FOLDERS)


def detail_order(graph: Graph, core: list[str], distance: dict[str, int]) -> list[str]:
    """Focal first; then neighbours: marts and exposures, the others, analyses last."""
    nodes = graph.nodes

    def rank(uid: str) -> int:
        node = nodes[uid]
        if distance[uid] == 0:
            return 0
        if node.kind == "analysis":
            return 3
        return 1 if is_mart(node) else 2

    return sorted(core, key=rank)  # stable: priority order within each rank


def _distances(
    focal: list[str], parents: dict[str, list[str]], children: dict[str, list[str]]
) -> dict[str, int]:
    """Hops from the nearest focal node, walking edges both ways (breadth first)."""
    distance = dict.fromkeys(parents, UNREACHED)
    frontier = list(focal)
    for uid in frontier:
        distance[uid] = 0
    hops = 0
    while frontier:
        hops += 1
        nxt = []
        for uid in frontier:
            for other in (*parents[uid], *children[uid]):
                if distance[other] == UNREACHED:
                    distance[other] = hops
                    nxt.append(other)
        frontier = nxt
    return distance


def _unique_names(graph: Graph, lineage: list[str]) -> dict[str, str]:
    """Short names; a name shared by two selected nodes gets its package (then uid) prefix."""
    base = {u: display_name(graph.nodes[u]) for u in lineage}
    clashes = Counter(base.values())
    out = {}
    for uid, name in base.items():
        if clashes[name] > 1:
            node = graph.nodes[uid]
            name = f"{node.package}.{name}" if node.kind != "source" else f"source:{name}"
        out[uid] = name
    again = Counter(out.values())
    return {u: (uid_name if again[uid_name] == 1 else u) for u, uid_name in out.items()}


def _topological(
    lineage: list[str],
    parents: dict[str, list[str]],
    children: dict[str, list[str]],
    names: dict[str, str],
) -> dict[str, int]:
    """Upstream-first positions (Kahn's algorithm, ties by name); cycles go last."""
    import heapq

    waiting = {u: len(parents[u]) for u in lineage}
    ready = [(names[u], u) for u in lineage if waiting[u] == 0]
    heapq.heapify(ready)
    out: dict[str, int] = {}
    while ready:
        _, uid = heapq.heappop(ready)
        out[uid] = len(out)
        for child in children[uid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (names[child], child))
    for uid in sorted(set(lineage) - out.keys(), key=names.__getitem__):
        out[uid] = len(out)
    return out


class FolderIndex:
    """Every folder key of a selection with its members in priority order."""

    def __init__(self, analysis: Analysis) -> None:
        self.rank = {uid: i for i, uid in enumerate(analysis.order)}
        self.members: dict[Key, list[str]] = {}  # all members below the key, by rank
        self.direct: dict[Key, list[str]] = {}  # members whose own folder is the key
        self.children: dict[Key, list[Key]] = {}
        self.depth: dict[Key, int] = {}
        for uid in analysis.order:
            chain = analysis.key_chains[uid]
            for depth, key in enumerate(chain, 1):
                if key not in self.members:
                    self.members[key] = []
                    self.direct[key] = []
                    self.children[key] = []
                    self.depth[key] = depth
                    if depth > 1:
                        self.children[chain[depth - 2]].append(key)
                self.members[key].append(uid)
            self.direct[chain[-1]].append(uid)
        self._ranks = {k: [self.rank[u] for u in v] for k, v in self.members.items()}
        self._direct_ranks = {k: [self.rank[u] for u in v] for k, v in self.direct.items()}
        self.roots = [k for k, d in self.depth.items() if d == 1]

    def size(self, key: Key, k: int) -> int:
        ranks = self._ranks[key]
        return len(ranks) - bisect_left(ranks, k)

    def alive(self, key: Key, k: int) -> list[str]:
        return self.members[key][bisect_left(self._ranks[key], k) :]

    def alive_direct(self, key: Key, k: int) -> list[str]:
        return self.direct[key][bisect_left(self._direct_ranks[key], k) :]

    def live_children(self, key: Key, k: int) -> list[Key]:
        return [c for c in self.children[key] if self.size(c, k)]

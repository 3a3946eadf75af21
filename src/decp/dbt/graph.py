"""The lineage graph a pack is cut from: slim nodes plus both edge directions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from decp.dbt.manifest import NO_DETAILS, Details, Node

TEST = "test"
SCANS_BEFORE_INDEX = 8


@dataclass
class Graph:
    """Nodes by unique_id, parents (on each node) and children; SQL loads on demand."""

    nodes: dict[str, Node]
    children: dict[str, tuple[str, ...]]
    meta: dict[str, str]
    details_loader: Callable[[str], Details] = field(repr=False, default=lambda _: NO_DETAILS)
    _details: dict[str, Details] = field(default_factory=dict, repr=False)
    _by_bare_name: dict[str, set[str]] | None = field(default=None, repr=False)
    selector_cache: dict[str, str | None] = field(default_factory=dict, repr=False)
    _scans: int = field(default=0, repr=False)
    _odd: list[str] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        nodes: dict[str, Node],
        meta: dict[str, str],
        details_loader: Callable[[str], Details],
        children: dict[str, tuple[str, ...]] | None = None,
    ) -> Graph:
        if children is None:
            children = derive_children(nodes)
        return cls(nodes, children, meta, details_loader)

    def details(self, uid: str) -> Details:
        """Description, columns and SQL of one node, read on first use."""
        if uid not in self._details:
            self._details[uid] = self.details_loader(uid)
        return self._details[uid]

    def code(self, uid: str) -> str:
        """Compiled SQL if the manifest has it, else raw SQL; "" for seeds, sources, tests."""
        return self.details(uid).sql

    def bare_name_matches(self, name: str) -> set[str]:
        """Nodes a dotless, wildcard-free `fqn:` value selects.

        dbt matches such a value when it equals the fqn leaf (for a versioned model:
        the name part, or name_version) or the first fqn part, with or without the
        package. Sources are never matched by name. The first few lookups scan
        (a C-speed `name in fqn` filter); after that an index answers in O(1).
        """
        if self._by_bare_name is None:
            self._scans += 1
            if self._scans <= SCANS_BEFORE_INDEX:
                return self._scan(name)
            index: dict[str, set[str]] = {}
            for uid, node in self.nodes.items():
                if node.kind != "source":
                    for key in _bare_keys(node):
                        if key in index:
                            index[key].add(uid)
                        else:
                            index[key] = {uid}
            self._by_bare_name = index
        return self._by_bare_name.get(name, set())

    def _scan(self, name: str) -> set[str]:
        nodes = self.nodes
        if self._odd is None:  # names only found via dotted fqn parts or versions
            self._odd = [
                uid
                for uid, n in nodes.items()
                if n.versioned or "." in n.fqn[0] or (len(n.fqn) > 1 and "." in n.fqn[1])
            ]
        hits = {uid for uid, n in nodes.items() if name in n.fqn}
        hits.update(self._odd)
        return {u for u in hits if nodes[u].kind != "source" and name in _bare_keys(nodes[u])}

    def parents_of(self, uid: str) -> tuple[str, ...]:
        node = self.nodes.get(uid)
        return node.parents if node else ()

    def children_of(self, uid: str) -> tuple[str, ...]:
        return self.children.get(uid, ())

    def tests_on(self, uids: Iterable[str]) -> dict[str, list[Node]]:
        """Tests attached to each of `uids` (a test with two parents lands on its attached node)."""
        wanted = set(uids)
        out: dict[str, list[Node]] = {u: [] for u in wanted}
        for uid in wanted:
            for child in self.children_of(uid):
                test = self.nodes[child]
                if test.kind == TEST and (test.attached or uid) == uid:
                    out[uid].append(test)
        return out


def derive_children(nodes: dict[str, Node]) -> dict[str, tuple[str, ...]]:
    """Invert `parents`: the manifest's child_map, rebuilt from depends_on."""
    acc: dict[str, list[str]] = {}
    for uid, node in nodes.items():
        for parent in node.parents:
            acc.setdefault(parent, []).append(uid)
    return {uid: tuple(kids) for uid, kids in acc.items()}


def _bare_keys(node: Node) -> tuple[str, ...]:
    fqn = node.fqn
    head = fqn[0] if "." not in fqn[0] else fqn[0].split(".", 1)[0]
    if len(fqn) == 1:
        return (head, fqn[0])
    second = fqn[1] if "." not in fqn[1] else fqn[1].split(".", 1)[0]
    if node.versioned:
        return (head, second, fqn[-2], f"{fqn[-2]}_{fqn[-1]}")
    return (head, second, fqn[-1])

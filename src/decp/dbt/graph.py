"""The lineage graph a pack is cut from: slim nodes plus both edge directions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from decp.dbt.manifest import Node

TEST = "test"
SCANS_BEFORE_INDEX = 4


@dataclass
class Graph:
    """Nodes by unique_id, parents (on each node) and children; SQL loads on demand."""

    nodes: dict[str, Node]
    children: dict[str, tuple[str, ...]]
    meta: dict[str, str]
    code_loader: Callable[[], dict[str, str]] = field(repr=False, default=dict)
    _code: dict[str, str] | None = field(default=None, repr=False)
    _by_bare_name: dict[str, set[str]] | None = field(default=None, repr=False)
    _lookups: int = field(default=0, repr=False)

    @classmethod
    def build(
        cls,
        nodes: dict[str, Node],
        meta: dict[str, str],
        code_loader: Callable[[], dict[str, str]],
        children: dict[str, tuple[str, ...]] | None = None,
    ) -> Graph:
        if children is None:
            children = derive_children(nodes)
        return cls(nodes, children, meta, code_loader)

    def code(self, uid: str) -> str:
        """Compiled SQL if the manifest has it, else raw SQL; "" for seeds, sources, tests."""
        if self._code is None:
            self._code = self.code_loader()
        return self._code.get(uid, "")

    def bare_name_matches(self, name: str) -> set[str]:
        """Nodes a dotless, wildcard-free `fqn:` value selects.

        dbt matches such a value when it equals the fqn leaf (for a versioned model:
        the name part, or name_version) or the first fqn part, with or without the
        package. Sources are never matched by name. A few lookups scan the nodes;
        after that an index makes each lookup O(1).
        """
        if self._by_bare_name is None:
            self._lookups += 1
            if self._lookups <= SCANS_BEFORE_INDEX:
                return {
                    uid
                    for uid, node in self.nodes.items()
                    if node.kind != "source" and node.fqn and name in _bare_keys(node)
                }
            index: dict[str, set[str]] = {}
            for uid, node in self.nodes.items():
                if node.kind == "source" or not node.fqn:
                    continue
                for key in _bare_keys(node):
                    index.setdefault(key, set()).add(uid)
            self._by_bare_name = index
        return self._by_bare_name.get(name, set())

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


def _bare_keys(node: Node) -> set[str]:
    fqn = node.fqn
    keys = {fqn[0].split(".")[0]}
    if len(fqn) > 1:
        keys.add(fqn[1].split(".")[0])
    if node.versioned and len(fqn) > 1:
        keys |= {fqn[-2], f"{fqn[-2]}_{fqn[-1]}"}
    else:
        keys.add(fqn[-1])
    return keys

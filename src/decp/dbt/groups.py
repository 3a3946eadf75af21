"""Collapse the nodes a pack does not name into a few named, selectable groups.

A group is a folder of the dbt project (an fqn prefix), a source, or a
package's exposures, so each one maps to a dbt selector (`fqn:pkg.folder.*`,
`source:pkg.src.*`, `exposure:pkg.*`) and can be expanded with one command.
Grouping starts at package level and splits the largest group into its
sub-folders while the group count stays within the cap; a folder that holds
files directly is not split, so every group stays exactly selectable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from decp.dbt.analysis import Analysis
from decp.dbt.manifest import Node

Key = tuple[str, ...]


@dataclass
class Group:
    gid: str
    key: Key
    members: list[str]
    kinds: Counter[str]
    edges_in: Counter[str] = field(default_factory=Counter)  # from group id or node uid
    edges_out: Counter[str] = field(default_factory=Counter)
    internal: int = 0

    @property
    def label(self) -> str:
        kind, *rest = self.key
        if kind == "source":
            return "sources " + ".".join(rest) if len(rest) > 1 else f"sources of {rest[0]}"
        if kind == "exposure":
            return f"exposures of {rest[0]}"
        return "/".join(rest)

    @property
    def selector(self) -> str:
        kind, *rest = self.key
        if kind == "source":
            return f"source:{rest[0]}.{rest[1]}.*" if len(rest) > 1 else f"source:{rest[0]}.*.*"
        if kind == "exposure":
            return f"exposure:{rest[0]}.*"
        return "fqn:" + ".".join(rest) + ".*"


def _depth_limit(node: Node) -> int:
    if node.kind == "source":
        return 2
    if node.kind == "exposure":
        return 1
    return max(1, len(node.fqn) - 1)


def _key(node: Node, depth: int) -> Key:
    if node.kind == "source":
        return ("source", node.package, node.source_name)[: depth + 1]
    if node.kind == "exposure":
        return ("exposure", node.package)
    folders = node.fqn[:-1] or node.fqn
    return ("fqn", *folders[:depth])


def key_chain(node: Node) -> tuple[Key, ...]:
    """The node's group key at depth 1, 2, ... down to its own folder."""
    return tuple(_key(node, d) for d in range(1, _depth_limit(node) + 1))


def make_groups(analysis: Analysis, collapsed: list[str], cap: int) -> list[Group]:
    """Group `collapsed` into at most ~`cap` groups (never fewer than one per package)."""
    nodes = analysis.graph.nodes
    chains = analysis.key_chains
    depth_of: dict[Key, int] = {}
    buckets: dict[Key, list[str]] = {}
    for uid in collapsed:
        key = chains[uid][0]
        buckets.setdefault(key, []).append(uid)
        depth_of[key] = 1
    parts_of: dict[Key, dict[Key, list[str]] | None] = {}
    while True:
        split = _best_split(buckets, depth_of, chains, cap, parts_of)
        if split is None:
            break
        key, parts = split
        del buckets[key]
        for child, uids in parts.items():
            buckets[child] = uids
            depth_of[child] = depth_of[key] + 1
        del depth_of[key]
    groups = [
        Group("", key, uids, Counter(nodes[u].kind for u in uids)) for key, uids in buckets.items()
    ]
    distance = analysis.distance
    groups.sort(key=lambda g: (min(distance[u] for u in g.members), g.label))
    for i, group in enumerate(groups, 1):
        group.gid = f"g{i}"
    return groups


def _best_split(
    buckets: dict[Key, list[str]],
    depth_of: dict[Key, int],
    chains: dict[str, tuple[Key, ...]],
    cap: int,
    parts_of: dict[Key, dict[Key, list[str]] | None],
) -> tuple[Key, dict[Key, list[str]]] | None:
    """The largest group whose split keeps within `cap` (a one-way split is free)."""
    for key in sorted(buckets, key=lambda k: -len(buckets[k])):
        if key not in parts_of:
            parts_of[key] = _partition(buckets[key], depth_of[key], chains)
        parts = parts_of[key]
        if parts is not None and (len(parts) == 1 or len(buckets) - 1 + len(parts) <= cap):
            return key, parts
    return None


def _partition(
    uids: list[str], depth: int, chains: dict[str, tuple[Key, ...]]
) -> dict[Key, list[str]] | None:
    """Members by their next-deeper folder; None when some file sits directly here."""
    parts: dict[Key, list[str]] = {}
    for uid in uids:
        chain = chains[uid]
        if len(chain) <= depth:
            return None
        parts.setdefault(chain[depth], []).append(uid)
    return parts


def link_groups(analysis: Analysis, named: set[str], groups: list[Group]) -> None:
    """Count edges between groups and named nodes (inbound, outbound, internal)."""
    owner = {uid: g for g in groups for uid in g.members}
    for group in groups:
        for uid in group.members:
            for parent in analysis.parents_in(uid):
                src = owner.get(parent)
                if src is group:
                    group.internal += 1
                    continue
                source_id = src.gid if src is not None else parent
                group.edges_in[source_id] += 1
                if src is not None:
                    src.edges_out[group.gid] += 1
            for child in analysis.children_in(uid):
                if child in named:
                    group.edges_out[child] += 1

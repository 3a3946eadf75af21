"""Collapse the nodes a pack does not name into a few named, selectable groups.

A group is a folder of the dbt project (an fqn prefix: models, seeds,
snapshots and exposures alike, as dbt's `fqn:` method matches them all) or a
source, so each one maps to dbt selectors (`fqn:pkg.folder.*`,
`source:pkg.src.*`) and expands with one command.

Grouping starts at package level and splits the largest group into its
sub-folders while the group count stays within the cap. When even the
largest group has too many sub-folders, its biggest sub-folders are split out
and the rest stays one group, selected as the folder minus those sub-folders
(an `--exclude` in its expand command). Files that sit directly in a split
folder form a small by-name group. Either way every group is exactly
selectable, so expanding a group never collapses back into the same group.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from decp.dbt.analysis import Analysis
from decp.dbt.graph import Graph
from decp.dbt.manifest import Node
from decp.dbt.select import node_selector

Key = tuple[str, ...]
MAX_DIRECT = 4  # files directly in a folder that may form a by-name group


@dataclass
class Group:
    gid: str
    key: Key
    members: list[str]
    kinds: Counter[str]
    terms: list[str] = field(default_factory=list)  # union of these selects the group...
    excludes: list[str] = field(default_factory=list)  # ...minus these
    edges_in: Counter[str] = field(default_factory=Counter)  # from group id or node uid
    edges_out: Counter[str] = field(default_factory=Counter)
    internal: int = 0

    @property
    def label(self) -> str:
        kind, *rest = self.key
        if kind == "source":
            return "sources " + ".".join(rest) if len(rest) > 1 else f"sources of {rest[0]}"
        if kind == "direct":
            return "/".join(rest) + " (files directly in it)"
        if kind == "rest":
            return "/".join(rest) + " (the rest)"
        return "/".join(rest)

    @property
    def selector(self) -> str:
        text = " ".join(self.terms)
        return f"{text} minus {' '.join(self.excludes)}" if self.excludes else text


@dataclass
class _Bucket:
    """A group under construction: its key, members, depth and what it must exclude."""

    key: Key
    members: list[str]
    depth: int
    excludes: list[str] = field(default_factory=list)
    parts: dict[Key, list[str]] | None = None
    direct: list[str] = field(default_factory=list)
    partitioned: bool = False


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


def _prefix_term(key: Key) -> str:
    kind, *rest = key
    if kind == "source":
        return f"source:{rest[0]}.{rest[1]}.*" if len(rest) > 1 else f"source:{rest[0]}.*.*"
    return "fqn:" + ".".join(rest) + ".*"


def _terms(key: Key, members: list[str], graph: Graph) -> list[str]:
    if key[0] == "direct":
        names = [node_selector(graph, uid) for uid in members]
        if all(names):
            return [n for n in names if n]
    return [_prefix_term(key if key[0] not in ("direct", "rest") else ("fqn", *key[1:]))]


def make_groups(analysis: Analysis, collapsed: list[str], cap: int) -> list[Group]:
    """Group `collapsed` into at most ~`cap` groups (never fewer than one per package)."""
    chains = analysis.key_chains
    buckets: dict[Key, _Bucket] = {}
    for uid in collapsed:
        key = chains[uid][0]
        if key not in buckets:
            buckets[key] = _Bucket(key, [], 1)
        buckets[key].members.append(uid)
    while _split_once(buckets, chains, cap):
        pass
    nodes = analysis.graph.nodes
    groups = [
        Group(
            "",
            b.key,
            b.members,
            Counter(nodes[u].kind for u in b.members),
            terms=_terms(b.key, b.members, analysis.graph),
            excludes=b.excludes,
        )
        for b in buckets.values()
    ]
    distance = analysis.distance
    groups.sort(key=lambda g: (min(distance[u] for u in g.members), g.label))
    for i, group in enumerate(groups, 1):
        group.gid = f"g{i}"
    return groups


def _partition(bucket: _Bucket, chains: dict[str, tuple[Key, ...]]) -> None:
    """Members by next-deeper folder (`parts`) and files sitting directly here (`direct`)."""
    if bucket.partitioned:
        return
    bucket.partitioned = True
    if bucket.key[0] in ("direct", "rest"):
        return
    parts: dict[Key, list[str]] = {}
    for uid in bucket.members:
        chain = chains[uid]
        if len(chain) <= bucket.depth:
            bucket.direct.append(uid)
        else:
            parts.setdefault(chain[bucket.depth], []).append(uid)
    bucket.parts = parts or None


def _split_once(buckets: dict[Key, _Bucket], chains: dict[str, tuple[Key, ...]], cap: int) -> bool:
    """Split one group: the largest that splits fully within `cap`, else part of the largest."""
    ordered = sorted(buckets.values(), key=lambda b: -len(b.members))
    for bucket in ordered:
        _partition(bucket, chains)
        if bucket.parts is None:
            continue
        direct_ok = not bucket.direct or len(bucket.direct) <= MAX_DIRECT
        new_count = len(bucket.parts) + (1 if bucket.direct else 0)
        if direct_ok and (new_count == 1 or len(buckets) - 1 + new_count <= cap):
            _replace(buckets, bucket, bucket.parts, bucket.direct)
            return True
    room = cap - len(buckets)
    for bucket in ordered:
        if bucket.parts is not None and len(bucket.parts) > 1 and room >= 1:
            _split_partially(buckets, bucket, min(room, len(bucket.parts) - 1))
            return True
    return False


def _replace(
    buckets: dict[Key, _Bucket], bucket: _Bucket, parts: dict[Key, list[str]], direct: list[str]
) -> None:
    del buckets[bucket.key]
    for key, members in parts.items():
        buckets[key] = _Bucket(key, members, bucket.depth + 1)
    if direct:
        key = ("direct", *bucket.key[1:])
        buckets[key] = _Bucket(key, direct, bucket.depth)


def _split_partially(buckets: dict[Key, _Bucket], bucket: _Bucket, count: int) -> None:
    """Split out the `count` biggest sub-folders; the rest stays, minus those sub-folders."""
    assert bucket.parts is not None
    biggest = sorted(bucket.parts, key=lambda k: (-len(bucket.parts[k]), k))[:count]  # type: ignore[index]
    del buckets[bucket.key]
    rest_members = list(bucket.direct)
    for key, members in bucket.parts.items():
        if key in biggest:
            buckets[key] = _Bucket(key, members, bucket.depth + 1)
        else:
            rest_members += members
    rest_key = ("rest", *bucket.key[1:])
    excludes = [*bucket.excludes, *(_prefix_term(k) for k in biggest)]
    buckets[rest_key] = _Bucket(rest_key, rest_members, bucket.depth, excludes)


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

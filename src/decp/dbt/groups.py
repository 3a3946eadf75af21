"""Collapse the nodes a pack does not name into a few named, selectable groups.

A group is a folder of the dbt project (an fqn prefix: models, seeds,
snapshots and exposures alike, as dbt's `fqn:` method matches them all) or a
source, so each one maps to dbt selectors (`fqn:pkg.folder.*`,
`source:pkg.src.*`) and expands with one command.

Grouping starts at package level and splits the largest group into its
sub-folders while the group count stays within the cap. When no group can
split fully, the biggest sub-folders of the largest group are split out and
the rest stays one group, selected as the folder minus those sub-folders (an
`--exclude` in its expand command). Files that sit directly in a split folder
form a small by-name group. Either way every group is exactly selectable, so
expanding a group never collapses back into the same group.

The packer asks for groups many times (one per candidate plan), always for a
suffix of the priority order. `FolderIndex` keeps each folder's members sorted
by priority, so a folder's size for any suffix is one bisect and its members
one slice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from decp.dbt.analysis import Analysis, FolderIndex, Key
from decp.dbt.graph import Graph
from decp.dbt.select import node_selector

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
    return [_prefix_term(key if key[0] in ("fqn", "source") else ("fqn", *key[1:]))]


@dataclass
class _Bucket:
    key: Key  # ("fqn"|"source", ...) a whole folder; ("direct"|"rest", ...) part of one
    size: int
    excludes: list[str] = field(default_factory=list)
    folder: Key | None = None  # for "direct"/"rest": the folder they are part of
    keep: list[Key] = field(default_factory=list)  # for "rest": the sub-folders still in it


def make_groups(analysis: Analysis, named_count: int, cap: int) -> list[Group]:
    """Group the nodes after the first `named_count` of the priority order into ~`cap` groups."""
    index = analysis.folder_index()
    k = named_count
    buckets = {key: _Bucket(key, index.size(key, k)) for key in index.roots if index.size(key, k)}
    children: dict[Key, list[Key]] = {}
    while _split_once(buckets, index, k, cap, children):
        pass
    nodes = analysis.graph.nodes
    groups = []
    for bucket in buckets.values():
        members = _members(bucket, index, k)
        groups.append(
            Group(
                "",
                bucket.key,
                members,
                Counter(nodes[u].kind for u in members),
                terms=_terms(bucket.key, members, analysis.graph),
                excludes=bucket.excludes,
            )
        )
    distance = analysis.distance
    groups.sort(key=lambda g: (distance[g.members[0]], g.label))
    for i, group in enumerate(groups, 1):
        group.gid = f"g{i}"
    return groups


def _members(bucket: _Bucket, index: FolderIndex, k: int) -> list[str]:
    kind = bucket.key[0]
    if kind in ("fqn", "source"):
        return index.alive(bucket.key, k)
    assert bucket.folder is not None
    members = index.alive_direct(bucket.folder, k)
    for child in bucket.keep:
        members = members + index.alive(child, k)
    rank = index.rank
    return sorted(members, key=rank.__getitem__)


def _split_once(
    buckets: dict[Key, _Bucket],
    index: FolderIndex,
    k: int,
    cap: int,
    live: dict[Key, list[Key]],
) -> bool:
    """Split one group: the largest that splits fully within `cap`, else part of the largest."""
    ordered = sorted(buckets.values(), key=lambda b: (-b.size, b.key))
    partial = None
    for bucket in ordered:
        if bucket.key[0] not in ("fqn", "source"):
            continue
        if bucket.key not in live:
            live[bucket.key] = index.live_children(bucket.key, k)
        children = live[bucket.key]
        if not children:
            continue
        direct = len(index.alive_direct(bucket.key, k))
        new_count = len(children) + (1 if direct else 0)
        if direct <= MAX_DIRECT and (new_count == 1 or len(buckets) - 1 + new_count <= cap):
            del buckets[bucket.key]
            for child in children:
                buckets[child] = _Bucket(child, index.size(child, k))
            if direct:
                key = ("direct", *bucket.key[1:])
                buckets[key] = _Bucket(key, direct, folder=bucket.key)
            return True
        if partial is None and (len(children) > 1 or direct):
            partial = (bucket, children, direct)
    room = cap - len(buckets)
    if partial is None or room < 1:
        return False
    bucket, children, direct = partial
    count = min(room, len(children) - (0 if direct else 1))
    if count < 1:
        return False
    biggest = sorted(children, key=lambda c: (-index.size(c, k), c))[:count]
    keep = [c for c in children if c not in biggest]
    del buckets[bucket.key]
    for child in biggest:
        buckets[child] = _Bucket(child, index.size(child, k))
    rest_key = ("rest", *bucket.key[1:])
    rest_size = direct + sum(index.size(c, k) for c in keep)
    excludes = [_prefix_term(c) for c in biggest]
    buckets[rest_key] = _Bucket(rest_key, rest_size, excludes, folder=bucket.key, keep=keep)
    return True


def link_groups(analysis: Analysis, named: set[str], groups: list[Group]) -> None:
    """Count edges between groups and named nodes (inbound, outbound, internal).

    Every edge is seen once, from its child's side: group members' parents, then
    the named nodes' parents (for edges from a group into a named node).
    """
    owner: dict[str, Group] = {}
    for group in groups:
        for uid in group.members:
            owner[uid] = group
    parents = analysis.parents
    for group in groups:
        gid, edges_in, internal = group.gid, group.edges_in, 0
        for uid in group.members:
            for parent in parents[uid]:
                src = owner.get(parent)
                if src is group:
                    internal += 1
                elif src is None:
                    edges_in[parent] = edges_in.get(parent, 0) + 1
                else:
                    edges_in[src.gid] = edges_in.get(src.gid, 0) + 1
                    src.edges_out[gid] = src.edges_out.get(gid, 0) + 1
        group.internal = internal
    for uid in named:
        for parent in parents[uid]:
            src = owner.get(parent)
            if src is not None:
                src.edges_out[uid] = src.edges_out.get(uid, 0) + 1

"""Turn a planned pack into Markdown (default), JSON, and a Mermaid diagram.

Markdown is written for an agent's context: the numbers first (accounting,
cost, levels), then the named lineage grouped by folder so a folder is spelt
once, then details, then the collapsed groups with the command that expands
each. JSON carries the same content for tools.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decp.dbt.content import Pack

SCHEMA = "decp-dbt-pack/1"
_MERMAID_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MERMAID_RESERVED = {
    "end",
    "graph",
    "subgraph",
    "style",
    "class",
    "click",
    "linkstyle",
    "flowchart",
}
_MAX_EDGE_REFS = 3
OMITTED_SHOWN = 4
FOCAL_SHOWN = 5


def one_line(text: str) -> str:
    return " ".join(text.split())


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _refs(counter: dict[str, int], pack: Pack) -> str:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], pack.ref(kv[0]), kv[0]))
    shown = [f"{pack.ref(k)} ×{n}" for k, n in items[:_MAX_EDGE_REFS]]
    if len(items) > _MAX_EDGE_REFS:
        shown.append(f"+{len(items) - _MAX_EDGE_REFS} more")
    return ", ".join(shown)


def _tag(pack: Pack, uid: str) -> str:
    node = pack.analysis.node(uid)
    what = node.materialized if node.kind == "model" and node.materialized else node.kind
    if node.kind == "exposure" and node.materialized:
        what = f"exposure {node.materialized}"
    return f"{what}, focal" if uid in pack.focal_set else what


def _parents_text(pack: Pack, uid: str) -> str:
    named, grouped = pack.parents_split(uid)
    refs = [pack.analysis.names[p] for p in named]
    refs += [f"{gid} ×{n}" if n > 1 else gid for gid, n in grouped.items()]
    return ", ".join(refs)


def _test_text(pack: Pack, test_uid: str, owner: str) -> str:
    test = pack.analysis.node(test_uid)
    if not test.test_name:
        return test.name
    label = f"{test.test_name}({test.column})" if test.column else test.test_name
    others = [p for p in test.parents if p != owner]
    if others:
        other = pack.analysis.names.get(others[0]) or pack.analysis.node(others[0]).name
        label += f" → {other}"
    return label


# --- markdown --------------------------------------------------------------------


def node_line(pack: Pack, uid: str) -> str:
    """One named node in the lineage map."""
    parents = _parents_text(pack, uid)
    arrow = f" <- {parents}" if parents else ""
    return f"- {pack.subpath(uid)}{pack.analysis.names[uid]} ({_tag(pack, uid)}){arrow}"


def markdown(pack: Pack) -> str:
    return "\n".join(markdown_lines(pack)) + "\n"


def markdown_lines(pack: Pack) -> list[str]:
    """The Markdown pack as lines (a fenced block may be one multi-line item)."""
    a = pack.analysis
    lines = [f"# dbt scope `{pack.select}`" + (f" minus `{pack.exclude}`" if pack.exclude else "")]
    lines.append("")
    focal = ", ".join(a.names[u] for u in a.focal[:FOCAL_SHOWN])
    if len(a.focal) > FOCAL_SHOWN:
        focal += f" +{len(a.focal) - FOCAL_SHOWN} more"
    lines.append(
        f"- selection: {len(a.lineage)} nodes ({_kinds(a.kinds)}), {a.edges} edges, "
        f"{a.selected_tests} tests; focal: {focal}"
    )
    lines.append(
        f"- accounting: {len(pack.named)} named + {pack.collapsed_count} collapsed in "
        f"{len(pack.groups)} groups = {len(a.lineage)} of {len(a.lineage)} (100%)"
    )
    costs = ", ".join(f"L{lv} ≈{n:,}" for lv, n in sorted(pack.level_costs.items()))
    lines.append(
        f"- pack: level {pack.level}, {pack.tokens:,} of {pack.budget:,} tokens "
        f"({pack.encoding}); whole selection at each level: {costs}"
    )
    if a.upstream_outside or a.downstream_outside:
        lines.append(
            f"- edges to unselected nodes (not shown): {a.upstream_outside} from parents, "
            f"{a.downstream_outside} to children"
        )
    lines += ["", "## Lineage map", ""]
    if pack.named:
        lines.append("`name (materialization) <- parents`, upstream first; gN = collapsed group.")
        for folder, uids in pack.named_by_folder():
            lines += ["", f"{folder}:"]
            lines += [node_line(pack, uid) for uid in uids]
    else:
        lines.append("No node fits by name at this budget; every node is in a group below.")
    if pack.mermaid and pack.has_edges():
        lines += ["", mermaid(pack)]
    if pack.details:
        lines += ["", f"## Details (level {pack.level})"]
        for uid in pack.details:
            lines += ["", *detail_markdown(pack, uid)]
        if pack.redactions:
            lines += ["", redaction_line(pack.redactions)]
    if pack.groups:
        lines += ["", "## Collapsed groups", ""]
        lines.append(
            "Counted, not named. Each expand command re-scopes the selection to that group."
        )
        for group in pack.groups:
            lines.append("")
            edges = [f"{_kinds(group.kinds)}"]
            if group.edges_in:
                edges.append(f"from {_refs(group.edges_in, pack)}")
            if group.edges_out:
                edges.append(f"to {_refs(group.edges_out, pack)}")
            if group.internal:
                edges.append(f"{group.internal} internal edges")
            lines.append(f"- {group.gid} {group.label}: {len(group.members)} ({'; '.join(edges)})")
            lines.append(f"  expand: `{pack.commands.expand(group.terms, group.excludes)}`")
    if pack.omitted:
        lines += ["", "## Not included", ""]
        need = (
            f" (all of them need ≈{pack.omitted_need:,} tokens, "
            f"your task budget is {pack.task_budget or pack.budget:,})"
            if pack.omitted_need
            else ""
        )
        lines.append(
            f"- level-{pack.level} details for {len(pack.omitted)} of {len(a.core)} focal and "
            f"neighbour nodes ({', '.join(a.names[u] for u in pack.omitted[:OMITTED_SHOWN])}"
            + (", …" if len(pack.omitted) > OMITTED_SHOWN else "")
            + f"): `{pack.omitted_command}`{need}"
        )
    return lines


def redaction_line(kinds: list[str]) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(kinds).items()))
    return f"Redacted before packing: {counts} (secrets in descriptions or SQL)."


def detail_markdown(pack: Pack, uid: str) -> list[str]:
    a = pack.analysis
    node = a.node(uid)
    out = [f"### {a.names[uid]}", ""]
    where = node.path or node.uid
    relation = pack.relation(uid)
    out.append(
        f"{node.kind} `{where}`"
        + (f", relation `{relation}`" if relation else "")
        + (f", tags: {', '.join(node.tags)}" if node.tags else "")
    )
    more = a.graph.details(uid)
    if more.description:
        out.append(one_line(pack.clean(more.description)))
    view = pack.columns(uid)
    if view.columns or view.missing:
        out.append("")
        source = ", catalog.json" if view.from_catalog else ""
        if pack.catalog is not None and not view.in_catalog:
            source = ", YAML; not in catalog.json"
        out.append(f"columns ({len(view.columns)}{source}):")
        for name, dtype, desc in view.columns:
            typed = f" {dtype}" if dtype else ""
            text = f": {one_line(pack.clean(desc))}" if desc else ""
            out.append(f"- {name}{typed}{text}")
        if view.missing:
            out.append("- documented in YAML, not in catalog.json: " + ", ".join(view.missing))
        if view.undocumented:
            out.append("- in catalog.json, not documented: " + ", ".join(view.undocumented))
    tests = pack.tests.get(uid, [])
    if tests:
        out.append("")
        out.append("tests: " + ", ".join(_test_text(pack, t, uid) for t in tests))
    if pack.level >= 2:
        sql = pack.clean(a.graph.code(uid).strip())
        if sql:
            out += ["", "```sql", sql, "```"]
    return out


# --- mermaid ---------------------------------------------------------------------


def mermaid(pack: Pack) -> str:
    a = pack.analysis
    ids: dict[str, str] = {}
    for i, uid in enumerate(pack.named, 1):
        name = a.names[uid]
        ok = _MERMAID_ID.match(name) and name.lower() not in _MERMAID_RESERVED
        ids[uid] = name if ok else f"n{i}"
    lines = ["```mermaid", "graph LR"]
    for uid in pack.named:
        if ids[uid] != a.names[uid]:
            lines.append(f'  {ids[uid]}["{a.names[uid]}"]')
    for group in pack.groups:
        lines.append(f'  {group.gid}[["{group.gid} {group.label} ({len(group.members)})"]]')
    for uid in pack.named:
        named, grouped = pack.parents_split(uid)
        for parent in named:
            lines.append(f"  {ids[parent]} --> {ids[uid]}")
        for gid in grouped:
            lines.append(f"  {gid} --> {ids[uid]}")
    for group in pack.groups:
        for target in group.edges_out:
            if target in ids:
                continue  # already drawn from the named node's side
            lines.append(f"  {group.gid} --> {target}")
    lines.append("```")
    return "\n".join(lines)


# --- json ------------------------------------------------------------------------


def node_item(pack: Pack, uid: str) -> dict[str, Any]:
    """One named node in the JSON pack (details included when it has them)."""
    a = pack.analysis
    node = a.node(uid)
    parents, grouped = pack.parents_split(uid)
    item: dict[str, Any] = {
        "name": a.names[uid],
        "uid": uid,
        "kind": node.kind,
        "materialized": node.materialized,
        "folder": pack.folder(uid),
        "distance": a.distance[uid],
        "parents": [a.names[p] for p in parents] + [f"{g} ×{n}" for g, n in grouped.items()],
    }
    if uid in pack.focal_set:
        item["focal"] = True
    if uid in pack.details_set:
        more = a.graph.details(uid)
        relation = pack.relation(uid)
        if relation:
            item["relation"] = relation
        item["description"] = one_line(pack.clean(more.description))
        view = pack.columns(uid)
        item["columns"] = [[n, t, pack.clean(d)] for n, t, d in view.columns]
        if pack.catalog is not None:
            item["columns_from"] = "catalog" if view.from_catalog else "yaml"
            item["column_drift"] = {
                "documented_not_in_catalog": list(view.missing),
                "in_catalog_not_documented": list(view.undocumented),
            }
        item["tests"] = [_test_text(pack, t, uid) for t in pack.tests.get(uid, [])]
        if pack.level >= 2:
            item["sql"] = pack.clean(a.graph.code(uid).strip())
    return item


def to_data(pack: Pack) -> dict[str, Any]:
    a = pack.analysis
    named = [node_item(pack, uid) for uid in pack.named]
    return {
        "schema": SCHEMA,
        "select": pack.select,
        "exclude": pack.exclude,
        "manifest": {"path": pack.manifest, **a.graph.meta},
        "level": pack.level,
        "budget": pack.budget,
        "tokens": pack.tokens,
        "encoding": pack.encoding,
        "levels": {str(k): v for k, v in sorted(pack.level_costs.items())},
        "selection": {
            "nodes": len(a.lineage),
            "edges": a.edges,
            "kinds": dict(a.kinds),
            "tests": a.selected_tests,
            "focal": [a.names[u] for u in a.focal[:FOCAL_SHOWN]],
            "focal_count": len(a.focal),
            "outside_edges": {"parents": a.upstream_outside, "children": a.downstream_outside},
        },
        "accounting": {
            "total": len(a.lineage),
            "named": len(pack.named),
            "collapsed": pack.collapsed_count,
            "groups": len(pack.groups),
            "percent": 100.0,
        },
        "named": named,
        "groups": [
            {
                "id": g.gid,
                "label": g.label,
                "selector": g.selector,
                "count": len(g.members),
                "kinds": dict(g.kinds),
                "in": dict(sorted((pack.ref(k), v) for k, v in g.edges_in.items())),
                "out": dict(sorted((pack.ref(k), v) for k, v in g.edges_out.items())),
                "internal": g.internal,
                "expand": pack.commands.expand(g.terms, g.excludes),
            }
            for g in pack.groups
        ],
        "omitted": {
            "details": len(pack.omitted),
            "first": [a.names[u] for u in pack.omitted[:OMITTED_SHOWN]],
            "expand": pack.omitted_command if pack.omitted else None,
            "needs": pack.omitted_need or None,
        },
        "catalog": str(pack.catalog.path) if pack.catalog is not None else None,
        "redacted": pack.redactions,
    }


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_chunks(pack: Pack) -> list[str]:
    """Compact JSON split at list items, so fitting can count each item once."""
    data = to_data(pack)
    named, groups = data.pop("named"), data.pop("groups")
    chunks = [_dump(data)[:-1] + ',"named":[']
    chunks += [_dump(item) + "," for item in named]
    chunks.append('],"groups":[')
    chunks += [_dump(item) + "," for item in groups]
    chunks.append("]}")
    if named:
        chunks[len(named)] = chunks[len(named)][:-1]
    if groups:
        chunks[-2] = chunks[-2][:-1]
    return chunks


def to_json(pack: Pack) -> str:
    return "".join(json_chunks(pack)) + "\n"


def chunks(pack: Pack) -> list[str]:
    """The output in pieces whose token counts add up to the whole (Markdown: exactly).

    JSON pieces (one per list item) only add up approximately: punctuation on
    both sides of a cut can merge into one token.
    """
    if pack.fmt == "json":
        return json_chunks(pack)
    return additive_chunks(markdown_lines(pack))


def additive_chunks(lines: list[str]) -> list[str]:
    """Newline-terminated pieces that each start with a non-space character.

    The tokenizers' pre-split (cl100k, o200k) never joins a newline with a
    non-space character that follows it, and BPE never merges across a
    pre-split boundary, so the counts of these pieces add up to the count of
    the whole text, exactly. An empty line, or one that starts with a space,
    would break that (two newlines are one token), so it joins the piece
    before it. tests/dbt/test_dbt_pack.py checks the sum on every fixture.
    """
    out: list[str] = []
    for line in lines:
        if out and (not line or line[0].isspace()):
            out[-1] += line + "\n"
        else:
            out.append(line + "\n")
    return out


def render(pack: Pack) -> str:
    return to_json(pack) if pack.fmt == "json" else markdown(pack)

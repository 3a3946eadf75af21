"""Column-level lineage: `decp dbt columns MODEL.COLUMN`.

A grain refactor asks column questions ("what breaks downstream if I change
`fct_orders.net_revenue_usd`?"), which node lineage cannot answer. We read each
model's SQL with sqlglot (qualify, then walk its scopes) and record, for every
output column, the upstream node columns its value is computed from. Join keys
and filters are not derivations and are not edges.

Each edge says how it was found, so an agent knows how far to trust it:

- `exact`: from `compiled_code` (a manifest written by `dbt compile`);
- `parsed`: from `raw_code` rendered by decp.dbt.sqltext (refs and sources to
  relation names, project macros expanded, other Jinja neutralised);
- `textual`: the SQL could not be parsed; a parent column whose name appears
  in the text is assumed to pass through under the same name.

What cannot be traced is reported as unknown, never guessed: `select *` over a
relation whose columns are not known, output from a macro decp cannot render,
a column from a table outside the manifest.

The whole-manifest column graph is built once per manifest (sqlglot takes
seconds on hundreds of models) and cached beside the node graph, keyed by the
manifest's bytes and the sqlglot version. sqlglot is imported only here, and
only on a cache miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from decp.core.errors import DataError, UsageError

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.core.tokens import TokenCounter

FORMAT = 2
KEEP_ENTRIES = 8
SUFFIX = ".columns"
MIN_BUDGET = 100
DIRECTIONS = ("both", "upstream", "downstream")
FORMATS = ("md", "json")
EXACT, PARSED, TEXTUAL = "exact", "parsed", "textual"
FIDELITY_RANK = {EXACT: 0, PARSED: 1, TEXTUAL: 2}
# dbt adapter_type -> sqlglot dialect (names that differ; the rest are the same word).
_DIALECTS = {
    "sqlserver": "tsql",
    "synapse": "tsql",
    "fabric": "tsql",
    "glue": "spark",
    "athena": "athena",
    "databricks": "databricks",
    "postgres": "postgres",
    "redshift": "redshift",
    "trino": "trino",
}
_LINEAGE_KINDS = frozenset({"model", "snapshot"})
_COLUMN_KINDS = frozenset({"model", "snapshot", "seed", "source"})

__all__ = [
    "ColumnGraph",
    "ColumnNode",
    "ColumnsResult",
    "build_column_graph",
    "columns",
    "load_column_graph",
]


class ColumnNode(NamedTuple):
    """One node's columns and how they were read."""

    uid: str
    label: str  # what a user types: model name, or source_name.table
    kind: str
    fidelity: str  # exact, parsed, textual; "" for seeds and sources; exposures: their type
    columns: tuple[str, ...]
    unknowns: tuple[tuple[str, str, str], ...]  # (column or "*", reason, parent uid or "")
    parents: tuple[str, ...]  # depends_on nodes that have columns


class Edge(NamedTuple):
    parent: str
    parent_column: str
    child: str
    child_column: str
    fidelity: str


@dataclass
class ColumnGraph:
    """Every column edge of a manifest, indexed both ways."""

    meta: dict[str, str]
    nodes: dict[str, ColumnNode]
    edges: list[Edge]
    up: dict[tuple[str, str], list[Edge]] = field(default_factory=dict)
    down: dict[tuple[str, str], list[Edge]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for edge in self.edges:
            self.up.setdefault((edge.child, edge.child_column), []).append(edge)
            self.down.setdefault((edge.parent, edge.parent_column), []).append(edge)
        for node in self.nodes.values():
            for parent in node.parents:
                self.children.setdefault(parent, []).append(node.uid)

    def known_columns(self, uid: str) -> list[str]:
        """Columns listed for the node plus any an edge mentions (undocumented source columns)."""
        cols = dict.fromkeys(self.nodes[uid].columns)
        for node, col in list(self.up) + list(self.down):
            if node == uid:
                cols.setdefault(col)
        return list(cols)


# --- reading the manifest ----------------------------------------------------------


def dialect_for(adapter_type: str) -> str | None:
    """The sqlglot dialect for a dbt adapter_type; None (generic SQL) when sqlglot lacks it."""
    from sqlglot.dialects.dialect import Dialect

    name = _DIALECTS.get(adapter_type.lower(), adapter_type.lower())
    try:
        return name if name and Dialect.get(name) is not None else None
    except Exception:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    from decp.dbt.manifest import read_manifest_text

    text = read_manifest_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"corrupt or truncated JSON: {exc.msg}.",
            path=path,
            line=exc.lineno,
            fix="regenerate it with dbt.",
        ) from exc
    except RecursionError as exc:  # nesting no dbt manifest has; json recurses per level
        raise DataError(
            "JSON nested too deeply to be a dbt manifest.",
            path=path,
            fix="regenerate it with dbt (`dbt parse`).",
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise DataError(
            'no "nodes" object: this JSON is not a dbt manifest.',
            path=path,
            fix="pass target/manifest.json from `dbt parse` or `dbt compile`.",
        )
    return data


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def build_column_graph(data: dict[str, Any], *, force: str | None = None) -> ColumnGraph:
    """Column edges of every model in a manifest dict.

    `force="parsed"` ignores compiled_code and `force="textual"` skips sqlglot: the
    benchmark uses them to measure what each fidelity level reaches on its own.
    """
    meta_raw = _d(data.get("metadata"))
    adapter = _s(meta_raw.get("adapter_type"))
    dialect = dialect_for(adapter) if adapter else None
    meta = {
        "adapter_type": adapter,
        "dialect": dialect or "",
        "project_name": _s(meta_raw.get("project_name")),
    }
    raw_nodes: dict[str, dict[str, Any]] = {}
    for section in ("nodes", "sources"):
        for uid, raw in _d(data.get(section)).items():
            if isinstance(raw, dict) and _s(raw.get("resource_type")) in _COLUMN_KINDS:
                raw_nodes[uid] = raw
    with _quiet_sqlglot():
        builder = _Builder(raw_nodes, data, dialect, force)
    nodes = dict(builder.nodes)
    for uid, raw in _d(data.get("exposures")).items():
        if not isinstance(raw, dict):
            continue
        deps = _d(raw.get("depends_on")).get("nodes")
        parents = tuple(p for p in deps if p in raw_nodes) if isinstance(deps, list) else ()
        name = _s(raw.get("name")) or uid.rsplit(".", 1)[-1]
        kind = _s(raw.get("type")) or "exposure"
        nodes[uid] = ColumnNode(uid, name, "exposure", kind, (), (), parents)
    return ColumnGraph(meta, nodes, builder.edges)


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs warnings for SQL it half-understands; we report those as unknowns instead."""
    import logging

    logger = logging.getLogger("sqlglot")
    saved = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL)
    logger.propagate = False
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


class _Analysis(NamedTuple):
    columns: list[str]
    sources: dict[str, set[tuple[str, str]]]
    unknowns: list[tuple[str, str, str]]


class _Unparseable(Exception):
    """sqlglot could not read or qualify the SQL."""


class _Builder:
    """Walks models parents-first, so a child's `select *` can expand a parent's columns."""

    def __init__(
        self,
        raw_nodes: dict[str, dict[str, Any]],
        data: dict[str, Any],
        dialect: str | None,
        force: str | None,
    ) -> None:
        self.raw = raw_nodes
        self.data = data
        self.dialect = dialect
        self.force = force
        self.nodes: dict[str, ColumnNode] = {}
        self.edges: list[Edge] = []
        self.complete: dict[str, bool] = {}  # whether a node's column list is complete
        self.implied: set[tuple[str, str]] = set()
        self.relations = self._relation_index()
        self._renderer: Any = None
        for uid in self._order():
            self._add(uid)

    # -- setup

    def _order(self) -> list[str]:
        from graphlib import CycleError, TopologicalSorter

        sorter: TopologicalSorter[str] = TopologicalSorter()
        for uid, raw in self.raw.items():
            deps = _d(raw.get("depends_on")).get("nodes")
            parents = [p for p in deps if p in self.raw] if isinstance(deps, list) else []
            sorter.add(uid, *parents)
        try:
            return list(sorter.static_order())
        except CycleError:
            return list(self.raw)

    def _relation_index(self) -> dict[tuple[str, ...], str]:
        """Relation name parts (lowercase) -> uid, for every suffix that is unambiguous."""
        from sqlglot import exp

        index: dict[tuple[str, ...], set[str]] = {}
        for uid, raw in self.raw.items():
            kind = _s(raw.get("resource_type"))
            name = _s(raw.get("name"))
            if kind == "model" and _d(raw.get("config")).get("materialized") == "ephemeral":
                # dbt names the injected CTE after the alias (the identifier), not the name.
                for ident in {name, _s(raw.get("alias")) or name}:
                    index.setdefault((f"__dbt__cte__{ident}".lower(),), set()).add(uid)
                continue
            relation = _s(raw.get("relation_name"))
            parts: tuple[str, ...] = ()
            if relation:
                with contextlib.suppress(Exception):
                    table = exp.to_table(relation, dialect=self.dialect)
                    parts = tuple(p.name.lower() for p in table.parts)
            if not parts:
                ident = _s(raw.get("identifier")) or _s(raw.get("alias")) or name
                parts = tuple(
                    p.lower() for p in (_s(raw.get("database")), _s(raw.get("schema")), ident) if p
                )
            for i in range(len(parts)):
                index.setdefault(parts[i:], set()).add(uid)
        return {key: next(iter(uids)) for key, uids in index.items() if len(uids) == 1}

    def renderer(self) -> Any:
        if self._renderer is None:
            from decp.dbt.sqltext import Renderer

            refs: dict[str, str] = {}
            sources: dict[tuple[str, str], str] = {}
            for raw in self.raw.values():
                kind, name = _s(raw.get("resource_type")), _s(raw.get("name"))
                if kind == "source":
                    sources[(_s(raw.get("source_name")), name)] = _s(raw.get("relation_name"))
                elif _d(raw.get("config")).get("materialized") == "ephemeral":
                    refs[name] = f"__dbt__cte__{_s(raw.get('alias')) or name}"
                else:
                    refs[name] = _s(raw.get("relation_name")) or name
            macros = [
                (_s(m.get("package_name")), _s(m.get("name")), _s(m.get("macro_sql")))
                for m in _d(self.data.get("macros")).values()
                if isinstance(m, dict)
            ]
            root = _s(_d(self.data.get("metadata")).get("project_name"))
            adapter = _s(_d(self.data.get("metadata")).get("adapter_type"))
            self._renderer = Renderer(
                refs=refs, sources=sources, macros=macros, root_package=root, adapter_type=adapter
            )
        return self._renderer

    # -- one node

    def _add(self, uid: str) -> None:
        raw = self.raw[uid]
        kind = _s(raw.get("resource_type"))
        name = _s(raw.get("name"))
        label = f"{_s(raw.get('source_name'))}.{name}" if kind == "source" else name
        documented = tuple(dict.fromkeys(c.lower() for c in _documented(raw)))
        deps = _d(raw.get("depends_on")).get("nodes")
        parents = tuple(p for p in deps if p in self.raw) if isinstance(deps, list) else ()
        if kind not in _LINEAGE_KINDS:
            self.complete[uid] = bool(documented)
            self.nodes[uid] = ColumnNode(uid, label, kind, "", documented, (), parents)
            return
        analysis, fidelity = self._analyse(uid, raw, parents, documented)
        for col, found in analysis.sources.items():
            for parent, parent_col in sorted(found):
                self.edges.append(Edge(parent, parent_col, uid, col, fidelity))
                self._through_star(parent, parent_col)
        star_unknown = any(c == "*" for c, _, _ in analysis.unknowns)
        self.complete[uid] = bool(analysis.columns) and not star_unknown
        self.nodes[uid] = ColumnNode(
            uid, label, kind, fidelity, tuple(analysis.columns), tuple(analysis.unknowns), parents
        )

    def _through_star(self, uid: str, column: str) -> None:
        """A column read from a model that is `select * from <one relation>` (columns unknown).

        Every column such a model has comes from that one relation under the same name,
        so the edge is implied, not guessed. With two starred relations it stays unknown.
        """
        node = self.nodes.get(uid)
        if node is None or node.kind not in _LINEAGE_KINDS or column in node.columns:
            return
        stars = {parent for what, _, parent in node.unknowns if what == "*"}
        if len(stars) != 1 or "" in stars or (uid, column) in self.implied:
            return
        (source,) = stars
        self.implied.add((uid, column))
        self.edges.append(Edge(source, column, uid, column, node.fidelity))
        self._through_star(source, column)

    def _analyse(
        self, uid: str, raw: dict[str, Any], parents: tuple[str, ...], documented: tuple[str, ...]
    ) -> tuple[_Analysis, str]:
        compiled = _s(raw.get("compiled_code"))
        raw_code = _s(raw.get("raw_code"))
        reason = "textual mode forced" if self.force == TEXTUAL else "no SQL in the manifest"
        if self.force != TEXTUAL:
            if compiled and self.force != PARSED:
                try:
                    return self._sqlglot(compiled), EXACT
                except _Unparseable as exc:
                    reason = f"sqlglot could not read the compiled SQL ({exc})"
            elif raw_code:
                from decp.dbt.sqltext import RenderError

                this = _s(raw.get("relation_name")) or _s(raw.get("name"))
                try:
                    sql = self.renderer().render(raw_code, this, _s(raw.get("package_name")))
                    return self._sqlglot(sql), PARSED
                except RenderError as exc:
                    reason = f"its Jinja could not be rendered ({exc})"
                except _Unparseable as exc:
                    reason = f"sqlglot could not read the rendered SQL ({exc})"
        from decp.dbt.sqltext import strip_jinja

        text = compiled if compiled and self.force != PARSED else strip_jinja(raw_code)
        return self._textual(text, parents, documented, reason), TEXTUAL

    def _textual(
        self, text: str, parents: tuple[str, ...], documented: tuple[str, ...], reason: str
    ) -> _Analysis:
        """Name matches only: a parent column whose name appears in the SQL passes through."""
        words = set(re.findall(r"[a-z_][a-z0-9_$]*", text.lower()))
        sources: dict[str, set[tuple[str, str]]] = {}
        for parent in parents:
            node = self.nodes.get(parent)
            if node is None:
                continue
            for col in node.columns:
                if col in words and (not documented or col in documented):
                    sources.setdefault(col, set()).add((parent, col))
        cols = list(documented) or list(sources)
        return _Analysis(cols, sources, [("*", f"textual only: {reason}", "")])

    def _sqlglot(self, sql: str) -> _Analysis:
        import sqlglot
        from sqlglot import exp
        from sqlglot.optimizer.qualify import qualify
        from sqlglot.optimizer.scope import build_scope

        try:
            tree = sqlglot.parse_one(sql, read=self.dialect)
        except Exception as exc:
            raise _Unparseable(_first_line(exc)) from exc
        if not isinstance(tree, exp.Query):
            raise _Unparseable(f"not a query ({type(tree).__name__})")
        for cte in list(tree.find_all(exp.CTE)):
            if cte.alias_or_name.lower().startswith("__dbt__cte__"):
                cte.pop()
        for with_ in list(tree.find_all(exp.With)):
            if not with_.expressions:
                with_.pop()
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        schema: dict[str, dict[str, str]] = {}
        names: dict[str, str] = {}
        for table in list(tree.find_all(exp.Table)):
            parts = tuple(p.name.lower() for p in table.parts)
            if not parts or (len(parts) == 1 and parts[0] in ctes):
                continue
            uid = self.relations.get(parts)
            if uid is None:
                continue
            handle = f"__decp_n{len(names)}"
            names[handle] = uid
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
            table.set("this", exp.to_identifier(handle))
            table.set("db", None)
            table.set("catalog", None)
            if self.complete.get(uid):
                schema[handle] = dict.fromkeys(self.nodes[uid].columns, "text")
        try:
            qualified = qualify(
                tree,
                dialect=self.dialect,
                schema=dict[str, object](schema) or None,
                validate_qualify_columns=False,
                quote_identifiers=False,
                identify=False,
            )
            root = build_scope(qualified)
        except Exception as exc:
            raise _Unparseable(_first_line(exc)) from exc
        if root is None:
            raise _Unparseable("no query scope")
        try:
            outputs, stars = _ScopeWalker(names, self.nodes, schema).outputs(root)
        except RecursionError as exc:
            raise _Unparseable("query nested too deeply") from exc
        unknowns = [("*", why, parent) for why, parent in stars]
        sources: dict[str, set[tuple[str, str]]] = {}
        cols: list[str] = []
        for name, found, missing in outputs:
            if name in sources:
                continue
            cols.append(name)
            sources[name] = set(found)
            unknowns += [(name, why, parent) for why, parent in missing]
        return _Analysis(cols, sources, list(dict.fromkeys(unknowns)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def _documented(raw: dict[str, Any]) -> list[str]:
    out = []
    for key, col in _d(raw.get("columns")).items():
        name = _s(_d(col).get("name")) or str(key)
        if name:
            out.append(name)
    return out


_Output = tuple[str, frozenset[tuple[str, str]], tuple[tuple[str, str], ...]]


class _ScopeWalker:
    """Resolves each scope's output columns to node columns, memoised per scope."""

    def __init__(
        self,
        names: dict[str, str],
        nodes: dict[str, ColumnNode],
        schema: dict[str, dict[str, str]],
    ) -> None:
        self.names = names
        self.nodes = nodes
        self.schema = schema
        self.memo: dict[int, tuple[list[_Output], list[tuple[str, str]]]] = {}

    def _label(self, table: Any) -> tuple[str, str]:
        uid = self.names.get(table.name.lower(), "")
        node = self.nodes.get(uid)
        return (node.label if node else table.sql()), uid

    def outputs(self, scope: Any) -> tuple[list[_Output], list[tuple[str, str]]]:
        """([(column, node columns, unknown reasons)], [star unknowns]) for one scope."""
        key = id(scope)
        if key not in self.memo:
            self.memo[key] = self._outputs(scope)
        return self.memo[key]

    def _outputs(self, scope: Any) -> tuple[list[_Output], list[tuple[str, str]]]:
        from sqlglot import exp

        branch_scopes = getattr(scope, "set_operation_scopes", None) or getattr(
            scope, "union_scopes", None
        )
        if branch_scopes:
            return self._set_operation([self.outputs(s) for s in branch_scopes])
        select = scope.expression
        if not isinstance(select, exp.Select):
            return [], [(f"a {type(select).__name__} decp cannot trace", "")]
        out: list[_Output] = []
        stars: list[tuple[str, str]] = []
        for proj in select.selects:
            if isinstance(proj, exp.Star) or (
                isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)
            ):
                expanded, unknown = self._star(scope, proj)
                out += expanded
                stars += unknown
                continue
            name = proj.alias_or_name.lower()
            found: set[tuple[str, str]] = set()
            missing: list[tuple[str, str]] = []
            for col in proj.find_all(exp.Column):
                if isinstance(col.this, exp.Star):
                    continue
                f, m = self.resolve(scope, col)
                found |= f
                missing += m
            out.append((name, frozenset(found), tuple(dict.fromkeys(missing))))
        return out, stars

    def _set_operation(
        self, branches: list[tuple[list[_Output], list[tuple[str, str]]]]
    ) -> tuple[list[_Output], list[tuple[str, str]]]:
        """UNION and friends: columns by position, named by the first branch."""
        first, _ = branches[0]
        merged: list[_Output] = []
        for i, (name, found, missing) in enumerate(first):
            all_found, all_missing = set(found), list(missing)
            for other, _ in branches[1:]:
                if i < len(other):
                    all_found |= other[i][1]
                    all_missing += other[i][2]
            merged.append((name, frozenset(all_found), tuple(dict.fromkeys(all_missing))))
        return merged, [star for _, stars in branches for star in stars]

    def _star(self, scope: Any, proj: Any) -> tuple[list[_Output], list[tuple[str, str]]]:
        """A `*` qualify left alone: expand the sources whose columns are known, flag the rest."""
        from sqlglot import exp

        table = proj.table if isinstance(proj, exp.Column) else ""
        picked = [table] if table else list(scope.selected_sources or scope.sources)
        outs: list[_Output] = []
        unknown: list[tuple[str, str]] = []
        for alias in picked:
            source = scope.sources.get(alias)
            if isinstance(source, exp.Table):
                label, uid = self._label(source)
                known = self.schema.get(source.name.lower())
                if known is not None:
                    outs += [(c, frozenset({(uid, c)}), ()) for c in known]
                else:
                    unknown.append((f"select * from {label}: its columns are not known", uid))
            elif source is not None:
                inner, stars = self.outputs(source)
                outs += inner
                unknown += stars
            else:
                unknown.append((f"select * from {alias}", ""))
        return outs, unknown

    def resolve(self, scope: Any, col: Any) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
        """Node columns behind one column reference in `scope`."""
        from sqlglot import exp
        from sqlglot.optimizer.scope import Scope

        from decp.dbt.sqltext import UNKNOWN_MARKER

        name = col.name.lower()
        if name == UNKNOWN_MARKER:
            return set(), [("output of a macro decp cannot render", "")]
        alias = col.table
        sources = scope.sources
        if not alias:
            selected = list(scope.selected_sources) or list(sources)
            if len(selected) != 1:
                return set(), [(f"column {name} could not be tied to one table", "")]
            alias = selected[0]
        source = sources.get(alias)
        if source is None:
            source = self._in_subqueries(scope, alias)
        if source is None:
            return set(), [(f"column {alias}.{name} comes from outside this query", "")]
        if isinstance(source, Scope):
            return self._from_scope(source, name)
        if isinstance(source, exp.Table):
            uid = self.names.get(source.name.lower())
            if uid is None:
                if source.name.lower() == UNKNOWN_MARKER:
                    return set(), [("reads a relation from a macro decp cannot render", "")]
                return set(), [(f"reads {source.sql()}, which is not in the manifest", "")]
            return {(uid, name)}, []
        return set(), [(f"column {name} comes from a {type(source).__name__}", "")]

    def _in_subqueries(self, scope: Any, alias: str) -> Any:
        for sub in getattr(scope, "subquery_scopes", ()):
            if alias in sub.sources:
                return sub.sources[alias]
        return None

    def _from_scope(
        self, scope: Any, name: str
    ) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
        from sqlglot import exp

        outputs, stars = self.outputs(scope)
        for out_name, found, missing in outputs:
            if out_name == name:
                return set(found), list(missing)
        if not stars:
            return set(), [(f"column {name} is not an output of a CTE or subquery", "")]
        # `select * from t` with one source: every column it has, it has from t.
        select = scope.expression
        star_sources = list(scope.selected_sources or scope.sources)
        if isinstance(select, exp.Select) and len(star_sources) == 1:
            source = scope.sources.get(star_sources[0])
            col = exp.column(name, table=star_sources[0])
            if source is not None:
                return self.resolve(scope, col)
        return set(), list(stars)


# --- cache ------------------------------------------------------------------------------


def _sqlglot_version() -> str:
    """sqlglot's version without importing it (its import alone costs ~0.3 s)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sqlglot")
    except PackageNotFoundError:
        return "?"


def _key(path: Path) -> str:
    from decp.dbt.cache import fingerprint

    seed = f"{fingerprint(path)}-columns-{FORMAT}-{_sqlglot_version()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def load_column_graph(path: Path, directory: Path | None) -> tuple[ColumnGraph, bool]:
    """The column graph of `path` and whether it came from the cache."""
    key = None
    if directory is not None:
        try:
            key = _key(path)
        except OSError:
            key = None
    if key is not None and directory is not None:
        cached = _read_cache(directory / f"{key}{SUFFIX}")
        if cached is not None:
            return cached, True
    graph = build_column_graph(_read_json(path))
    if key is not None and directory is not None:
        _write_cache(directory, directory / f"{key}{SUFFIX}", graph)
    return graph, False


def _read_cache(file: Path) -> ColumnGraph | None:
    try:
        fmt, meta, rows, edges = marshal.loads(file.read_bytes())
        if fmt != FORMAT:
            return None
        nodes = {row[0]: ColumnNode._make(row) for row in rows}
        return ColumnGraph(meta, nodes, [Edge._make(e) for e in edges])
    except Exception:  # missing, torn or foreign cache: rebuild
        return None


def _write_cache(directory: Path, file: Path, graph: ColumnGraph) -> None:
    rows = [tuple(node) for node in graph.nodes.values()]
    blob = marshal.dumps((FORMAT, graph.meta, rows, [tuple(e) for e in graph.edges]))
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, file)
        entries = sorted(directory.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP_ENTRIES]:
            with contextlib.suppress(OSError):
                old.unlink()
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# --- queries ------------------------------------------------------------------------------


class Hit(NamedTuple):
    """One column reached from the focal column."""

    depth: int
    label: str
    column: str
    fidelity: str  # the weakest edge on the path
    via: str  # label.column of the column it was reached from


class Exposure(NamedTuple):
    """A dashboard or app that reads a node holding a reached column."""

    label: str
    kind: str
    reads: tuple[str, ...]


class Unknown(NamedTuple):
    depth: int
    label: str
    column: str  # "*" for the whole node
    reason: str


@dataclass
class Trace:
    direction: str  # upstream or downstream
    hits: list[Hit]
    unknowns: list[Unknown]
    exposures: list[Exposure] = field(default_factory=list)


def resolve_target(graph: ColumnGraph, target: str, manifest: Path) -> tuple[str, str]:
    """`MODEL.COLUMN` (or `SOURCE.TABLE.COLUMN`) to (uid, column); UsageError with suggestions."""
    import difflib

    if "." not in target.strip(".") or target.count(".") > 2:
        raise UsageError(
            f"{target!r} is not MODEL.COLUMN.",
            fix="name a model and one of its columns, e.g. fct_orders.order_id "
            "(a source: source_name.table.column).",
        )
    node_part, column = target.rsplit(".", 1)
    by_label: dict[str, str] = {}
    for node in graph.nodes.values():
        if node.kind != "exposure":
            by_label.setdefault(node.label.lower(), node.uid)
    uid = by_label.get(node_part.lower())
    if uid is None:
        close = difflib.get_close_matches(node_part.lower(), sorted(by_label), n=3, cutoff=0.6)
        fix = f"did you mean {', '.join(close)}?" if close else "check the name with `dbt ls`."
        raise UsageError(
            f"no model, seed, snapshot or source named {node_part!r} in the manifest.",
            path=manifest,
            fix=fix,
        )
    known = graph.known_columns(uid)
    col = column.lower()
    node = graph.nodes[uid]
    open_ended = not node.columns or any(what == "*" for what, _, _ in node.unknowns)
    if col not in known and not open_ended:
        close = difflib.get_close_matches(col, known, n=3, cutoff=0.6)
        if close:
            fix = f"did you mean {', '.join(f'{node.label}.{c}' for c in close)}?"
        elif known:
            fix = f"its columns: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''}."
        else:
            fix = "its columns are not known (no documented columns and no SQL decp could read)."
        raise UsageError(f"{node.label} has no column {column!r}.", path=manifest, fix=fix)
    return uid, col


def trace(graph: ColumnGraph, uid: str, column: str, direction: str) -> Trace:
    """Every column reachable from (uid, column), nearest first, plus the unknowns met."""
    index = graph.up if direction == "upstream" else graph.down
    start = (uid, column)
    best: dict[tuple[str, str], Hit] = {}
    queue: deque[tuple[tuple[str, str], int, str]] = deque([(start, 0, EXACT)])
    seen_nodes: dict[str, int] = {uid: 0}
    while queue:
        here, depth, fid = queue.popleft()
        here_label = f"{graph.nodes[here[0]].label}.{here[1]}"
        for edge in index.get(here, ()):
            there = (edge.parent, edge.parent_column)
            if direction != "upstream":
                there = (edge.child, edge.child_column)
            if there == start:
                continue
            worst = max(fid, edge.fidelity, key=FIDELITY_RANK.__getitem__)
            old = best.get(there)
            if old is not None and (old.depth, FIDELITY_RANK[old.fidelity]) <= (
                depth + 1,
                FIDELITY_RANK[worst],
            ):
                continue
            node = graph.nodes[there[0]]
            best[there] = Hit(depth + 1, node.label, there[1], worst, here_label)
            seen_nodes.setdefault(there[0], depth + 1)
            queue.append((there, depth + 1, worst))
    unknowns = _unknowns(graph, uid, column, direction, best, seen_nodes)
    hits = sorted(best.values(), key=lambda h: (h.depth, h.label, h.column))
    exposures: list[Exposure] = []
    if direction == "downstream":
        readers: dict[str, list[str]] = {}
        for node_uid in seen_nodes:
            for child in graph.children.get(node_uid, ()):
                if graph.nodes[child].kind == "exposure":
                    readers.setdefault(child, []).append(graph.nodes[node_uid].label)
        exposures = [
            Exposure(graph.nodes[e].label, graph.nodes[e].fidelity, tuple(sorted(reads)))
            for e, reads in sorted(readers.items(), key=lambda kv: graph.nodes[kv[0]].label)
        ]
    return Trace(direction, hits, unknowns, exposures)


def _unknowns(
    graph: ColumnGraph,
    uid: str,
    column: str,
    direction: str,
    best: dict[tuple[str, str], Hit],
    seen_nodes: dict[str, int],
) -> list[Unknown]:
    found: dict[tuple[str, str, str], Unknown] = {}
    if direction == "upstream":
        reached = [(uid, column, 0)] + [(u, c, h.depth) for (u, c), h in best.items()]
        for node_uid, col, depth in reached:
            node = graph.nodes[node_uid]
            for what, why, _ in node.unknowns:
                if what == col or (what == "*" and col not in node.columns):
                    found.setdefault((node.label, what, why), Unknown(depth, node.label, what, why))
    else:
        # A child that reads a reached node but whose columns could not be traced.
        for node_uid, depth in seen_nodes.items():
            for child_uid in graph.children.get(node_uid, ()):
                child = graph.nodes[child_uid]
                for what, why, parent in child.unknowns:  # exposures have none
                    # Unattributed unknowns may hide an edge from this node: listed, never guessed.
                    relevant = parent in (node_uid, "")
                    if relevant:
                        key = (child.label, what, why)
                        found.setdefault(key, Unknown(depth + 1, child.label, what, why))
    return sorted(found.values(), key=lambda u: (u.depth, u.label, u.column))


# --- the command --------------------------------------------------------------------------


@dataclass
class ColumnsResult:
    text: str
    tokens: int
    budget: int
    encoding: str
    traces: list[Trace]
    listed: int
    total: int
    cache_hit: bool
    full_tokens: int


def columns(
    target: str,
    *,
    manifest: Path,
    budget: int,
    direction: str = "both",
    fmt: str = "md",
    encoding: str | None = None,
    config: Config | None = None,
    manifest_flag: str | None = None,
    use_cache: bool = True,
) -> ColumnsResult:
    """Trace one column up and/or downstream and fit the answer into `budget` tokens."""
    if direction not in DIRECTIONS:
        raise UsageError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}.")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if budget < MIN_BUDGET:
        raise UsageError(
            f"--budget {budget} is below {MIN_BUDGET} tokens.", fix="use 500-2000 for a column."
        )
    if "." not in target.strip("."):
        resolve_target(ColumnGraph({}, {}, []), target, manifest)  # the syntax error, early
    from decp.dbt.cache import cache_dir

    graph, hit = load_column_graph(manifest, cache_dir(config) if use_cache else None)
    uid, col = resolve_target(graph, target, manifest)
    directions = ("upstream", "downstream") if direction == "both" else (direction,)
    traces = [trace(graph, uid, col, d) for d in directions]
    from decp.core.config import defaults
    from decp.core.tokens import get_counter

    counter = get_counter(
        encoding or (config.budget.encoding if config else defaults()["encoding"])
    )
    view = _View(graph, f"{graph.nodes[uid].label}.{col}", direction, traces, manifest_flag)
    return view.fit(budget, counter, fmt, hit)


@dataclass
class _View:
    """Renders a trace at any size: the first k entries listed, the rest counted."""

    graph: ColumnGraph
    focal: str
    direction: str
    traces: list[Trace]
    manifest_flag: str | None

    def items(self) -> list[Hit | Unknown | Exposure]:
        """Entries in the order they earn space: nearest first, unknowns after their hop."""
        out: list[tuple[int, int, Hit | Unknown | Exposure]] = []
        for i, tr in enumerate(self.traces):
            out += [(-1, i, e) for e in tr.exposures]  # what an impact question is about
            out += [(h.depth * 2, i, h) for h in tr.hits]
            out += [(u.depth * 2 + 1, i, u) for u in tr.unknowns]
        return [item for _, _, item in sorted(out, key=lambda x: (x[0], x[1]))]

    def command(self, budget: int) -> str:
        flag = "" if self.direction == "both" else f" --{self.direction}"
        man = f" --manifest {self.manifest_flag}" if self.manifest_flag else ""
        return f"decp dbt columns {self.focal}{flag}{man} --budget {budget}"

    def fit(self, budget: int, counter: TokenCounter, fmt: str, hit: bool) -> ColumnsResult:
        items = self.items()
        render = self.markdown if fmt == "md" else self.json

        def text_for(k: int, need: int, brief: bool, at: int = budget) -> str:
            shown = {id(it) for it in items[:k]}
            return render(shown, len(items), need, at, counter, brief)

        # What listing everything costs, with that cost as the budget it names.
        need = counter.count(text_for(len(items), 0, False)) + 8
        need = max(need, counter.count(text_for(len(items), 0, False, need)))
        if need <= budget:
            chosen, k = text_for(len(items), 0, False), len(items)
        else:
            best: tuple[int, str] | None = None
            for brief in (False, True):
                if counter.count(text_for(0, need, brief)) > budget:
                    continue
                lo, hi = 0, len(items)
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if counter.count(text_for(mid, need, brief)) <= budget:
                        lo = mid
                    else:
                        hi = mid - 1
                if best is None or lo > best[0]:
                    best = (lo, text_for(lo, need, brief))
            if best is None:
                smallest = counter.count(text_for(0, need, True))
                raise UsageError(
                    f"--budget {budget} cannot hold even the counts for {self.focal}: "
                    f"needs {smallest} tokens, your budget is {budget}.",
                    fix=f"pass --budget {smallest} or more (all of it: {need}).",
                )
            k, chosen = best
        return ColumnsResult(
            text=chosen,
            tokens=counter.count(chosen),
            budget=budget,
            encoding=counter.label,
            traces=self.traces,
            listed=k,
            total=len(items),
            cache_hit=hit,
            full_tokens=need,
        )

    def _totals(self, tr: Trace) -> str:
        models = len({h.label for h in tr.hits})
        fids = {f: sum(1 for h in tr.hits if h.fidelity == f) for f in FIDELITY_RANK}
        fid = ", ".join(f"{n} {f}" for f, n in fids.items() if n) or "none"
        n = len(tr.exposures)
        exposures = f", {n} exposure{'' if n == 1 else 's'}" if n else ""
        return (
            f"{_plural(len(tr.hits), 'column')} in {_plural(models, 'node')} ({fid}), "
            f"{len(tr.unknowns)} unknown{exposures}"
        )

    def markdown(
        self,
        shown: set[int],
        total: int,
        need: int,
        budget: int,
        counter: TokenCounter,
        brief: bool = False,
    ) -> str:
        meta = self.graph.meta
        lines = [
            f"# dbt columns `{self.focal}` ({self.direction})",
            "",
            f"dialect {meta.get('dialect') or 'generic'} (adapter {meta.get('adapter_type') or '?'})"
            f" · budget {budget:,} tokens ({counter.label})",
            "Each line: hops, node.column, fidelity (exact = compiled SQL, parsed = raw SQL "
            "rendered by decp, textual = name match only), the column it links to.",
        ]
        hidden_total = 0
        for tr in self.traces:
            verb = "feed it" if tr.direction == "upstream" else "derive from it"
            arrow = "->" if tr.direction == "upstream" else "<-"
            lines += ["", f"## {tr.direction.capitalize()}: {self._totals(tr)}; {verb}", ""]
            hidden: dict[str, int] = {}
            for h in tr.hits:
                if id(h) in shown:
                    lines.append(f"- {h.depth} {h.label}.{h.column} {h.fidelity} {arrow} {h.via}")
                else:
                    hidden[h.label] = hidden.get(h.label, 0) + 1
            listed_exposures = [e for e in tr.exposures if id(e) in shown]
            listed_unknowns = [u for u in tr.unknowns if id(u) in shown]
            hidden_other = len(tr.unknowns) - len(listed_unknowns)
            hidden_other += len(tr.exposures) - len(listed_exposures)
            count = sum(hidden.values())
            hidden_total += count + hidden_other
            if count or hidden_other:
                per = "" if brief else ", ".join(f"{k} {v}" for k, v in sorted(hidden.items())[:6])
                more = ", ..." if len(hidden) > 6 and not brief else ""
                lines.append(
                    f"- not listed: {_plural(count, 'column')}"
                    + (f" ({per}{more})" if per else "")
                    + (f" and {hidden_other} unknowns/exposures" if hidden_other else "")
                )
            if listed_exposures:
                lines += ["", "Exposures reading them:"]
                lines += [
                    f"- {e.label} ({e.kind}) reads {', '.join(e.reads)}" for e in listed_exposures
                ]
            if listed_unknowns:
                lines += ["", "Unknown (not traced, never guessed):"]
                lines += [f"- {u.depth} {u.label}.{u.column}: {u.reason}" for u in listed_unknowns]
        lines.append("")
        if hidden_total:
            lines.append(
                f"Listed {total - hidden_total} of {total} entries; {hidden_total} counted, "
                f"not listed. All of them (needs {need:,} tokens): `{self.command(need)}`"
            )
        else:
            lines.append(f"Listed {total} of {total} entries (100%).")
        return "\n".join(lines) + "\n"

    def json(
        self,
        shown: set[int],
        total: int,
        need: int,
        budget: int,
        counter: TokenCounter,
        brief: bool = False,
    ) -> str:
        doc: dict[str, Any] = {
            "column": self.focal,
            "direction": self.direction,
            "dialect": self.graph.meta.get("dialect") or None,
            "budget": budget,
            "encoding": counter.label,
            "fields": {
                "columns": ["hops", "column", "fidelity", "links_to"],
                "unknowns": ["hops", "column", "reason"],
                "exposures": ["name", "type", "reads"],
            },
        }
        hidden_total = 0
        for tr in self.traces:
            hits = [h for h in tr.hits if id(h) in shown]
            unknowns = [u for u in tr.unknowns if id(u) in shown]
            exposures = [e for e in tr.exposures if id(e) in shown]
            hidden = len(tr.hits) - len(hits) + len(tr.unknowns) - len(unknowns)
            hidden += len(tr.exposures) - len(exposures)
            hidden_total += hidden
            doc[tr.direction] = {
                "columns": [[h.depth, f"{h.label}.{h.column}", h.fidelity, h.via] for h in hits],
                "unknowns": [[u.depth, f"{u.label}.{u.column}", u.reason] for u in unknowns],
                "total_columns": len(tr.hits),
                "total_unknowns": len(tr.unknowns),
                "exposures": [[e.label, e.kind, list(e.reads)] for e in exposures],
                "total_exposures": len(tr.exposures),
                "not_listed": hidden,
            }
        doc["listed"] = total - hidden_total
        doc["total"] = total
        doc["see_all"] = self.command(need) if hidden_total else None
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def read_manifest_json(path: Path) -> dict[str, Any]:
    """The whole manifest as a dict (benchmarks and tests build graphs with `force`)."""
    return _read_json(path)


# --- ground truth -------------------------------------------------------------------------


class Score(NamedTuple):
    """Precision and recall of a graph's edges against hand-checked edges."""

    true_positive: int
    predicted: int
    expected: int

    @property
    def precision(self) -> float:
        return self.true_positive / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive / self.expected if self.expected else 1.0


def read_truth(path: Path) -> list[tuple[str, str, str, str]]:
    """Rows (child, child_column, parent, parent_column) of a ground-truth CSV; `#` lines skipped."""
    import csv

    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return [
        (r["child"], r["child_column"], r["parent"], r["parent_column"])
        for r in csv.DictReader(lines)
    ]


def score(graph: ColumnGraph, truth: list[tuple[str, str, str, str]]) -> Score:
    """Edges into the ground truth's child columns: how many are right, how many were found."""
    uid_of = {n.label: n.uid for n in graph.nodes.values() if n.kind != "exposure"}
    expected = {(c, cc, p, pc) for c, cc, p, pc in truth if p}
    predicted: set[tuple[str, str, str, str]] = set()
    for child, col in {(c, cc) for c, cc, _, _ in truth}:
        for edge in graph.up.get((uid_of.get(child, ""), col), ()):
            predicted.add((child, col, graph.nodes[edge.parent].label, edge.parent_column))
    return Score(len(predicted & expected), len(predicted), len(expected))

"""dbt's node selection syntax, evaluated offline against the slim graph.

Semantics follow dbt-core's selector_spec/selector_methods, not a lookalike:

* a bare value is a `path:` selector when it contains a slash, a `file:`
  selector when it ends in .sql/.py/.csv, else an `fqn:` selector;
* `fqn:` matches a node (not a source) whose name equals the value, or
  whose fully qualified name, with or without its package, STARTS WITH the
  dotted value (`core.final` = every node under models/core/final). A name is
  never matched against a middle segment of the fqn, so a folder that happens
  to share a model's name does not add roots;
* wildcards (`*`, `?`, `[...]`) switch that part and the rest to fnmatch;
* graph operators `+m`, `m+`, `N+m`, `m+N`, `@m` walk every edge, tests
  included, exactly like dbt's graph; space is union, comma is intersection,
  and `--exclude` is set difference.

The roots each method matched (before graph operators) are the pack's focal
nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from decp.core.errors import UsageError
from decp.dbt.graph import TEST, Graph
from decp.dbt.manifest import Node

_SPEC = re.compile(
    r"\A(?P<childrens_parents>@)?"
    r"(?:(?P<parents_depth>\d*)(?P<parents>\+))?"
    r"(?:(?P<method>[\w.]+):)?(?P<value>.*?)"
    r"(?:(?P<children>\+)(?P<children_depth>\d*))?\Z"
)
_WILDCARDS = ("*", "?", "[", "]")
# Methods decp evaluates offline, and the node kinds each one searches (as dbt does).
SUPPORTED_METHODS = (
    "fqn",
    "tag",
    "path",
    "file",
    "package",
    "source",
    "exposure",
    "resource_type",
    "test_name",
    "test_type",
    "group",
    "access",
    "config.materialized",
)
# Valid dbt methods decp does not evaluate: most need state or run artifacts.
DBT_ONLY_METHODS = ("state", "result", "source_status", "version", "config", "metric")
DBT_ONLY_METHODS += ("semantic_model", "saved_query", "unit_test", "wildcard")
_NODE_KINDS = ("model", "seed", "snapshot", "analysis", "test", "sql_operation")
RESOURCE_TYPES = (*_NODE_KINDS, "source", "exposure")
_SQL_SUFFIXES = (".sql", ".py", ".csv")


@dataclass(frozen=True)
class Criterion:
    """One selector like `2+tag:nightly+1`."""

    raw: str
    method: str
    value: str
    parents: bool
    parents_depth: int | None
    children: bool
    children_depth: int | None
    childrens_parents: bool


@dataclass(frozen=True)
class Selection:
    """What a --select/--exclude pair picked: all nodes (tests too) and the roots."""

    uids: frozenset[str]
    roots: frozenset[str]

    def lineage(self, graph: Graph) -> list[str]:
        """The non-test nodes, which are what a pack maps."""
        return sorted(u for u in self.uids if graph.nodes[u].kind != TEST)


def parse_criterion(raw: str) -> Criterion:
    """Parse one selector (no spaces or commas), raising UsageError the way dbt would."""
    match = _SPEC.match(raw)
    if match is None or not match.group("value"):
        raise UsageError(
            f"invalid selector {raw!r}: no name or method value.",
            fix="write e.g. `orders`, `+orders+`, `2+orders`, `tag:nightly`, `path:models/staging`.",
        )
    value = match.group("value")
    method = match.group("method")
    if method is None:
        if "/" in value:
            method = "path"
        elif value.lower().endswith(_SQL_SUFFIXES):
            method = "file"
        else:
            method = "fqn"
    _check_method(method, raw)
    if match.group("childrens_parents") and match.group("children"):
        raise UsageError(
            f"invalid selector {raw!r}: dbt does not allow the '@' prefix with a '+' suffix.",
            fix="use `@name` (children and their parents) or `+name+`.",
        )
    if match.group("childrens_parents") and match.group("parents"):
        raise UsageError(
            f"invalid selector {raw!r}: '@' already includes parents.", fix="drop the '+'."
        )
    return Criterion(
        raw=raw,
        method=method,
        value=value,
        parents=bool(match.group("parents")),
        parents_depth=int(match.group("parents_depth")) if match.group("parents_depth") else None,
        children=bool(match.group("children")),
        children_depth=int(match.group("children_depth"))
        if match.group("children_depth")
        else None,
        childrens_parents=bool(match.group("childrens_parents")),
    )


def _check_method(method: str, raw: str) -> None:
    if method in SUPPORTED_METHODS:
        return
    base = method.split(".", 1)[0]
    if base in DBT_ONLY_METHODS:
        raise UsageError(
            f"selector {raw!r}: dbt's `{method}:` method is not supported offline by decp "
            "(it needs state, run results or resources decp does not read).",
            fix=f"select by one of: {', '.join(SUPPORTED_METHODS)}.",
        )
    raise UsageError(
        f"unknown selector method {method!r} in {raw!r}.",
        fix=f"use one of: {', '.join(SUPPORTED_METHODS)} (or a bare model name).",
    )


def parse_spec(text: str) -> list[list[Criterion]]:
    """`a+ b,c` -> [[a+], [b, c]]: a union of intersections, as on dbt's command line."""
    words = text.split()
    if not words:
        raise UsageError("empty selection.", fix="pass --select NAME (e.g. --select '+orders+').")
    out = []
    for word in words:
        parts = [p for p in word.split(",")]
        if any(not p for p in parts):
            raise UsageError(
                f"invalid selector {word!r}: empty part around a comma.",
                fix="write intersections as `a,b` with no spaces.",
            )
        out.append([parse_criterion(p) for p in parts])
    return out


# --- methods ---------------------------------------------------------------------


def fqn_matches(fqn: tuple[str, ...], selector: str, versioned: bool = False) -> bool:
    """dbt's rule: the name equals the fqn leaf, or the dotted selector is a prefix of the
    fqn, tried with and without the package (dbt-core 1.11 `is_selected_node`)."""
    return _fqn_prefix(fqn, selector, versioned) or _fqn_prefix(fqn[1:], selector, versioned)


def _fqn_prefix(fqn: tuple[str, ...], selector: str, versioned: bool) -> bool:
    if not fqn:
        return False
    if versioned and len(fqn) > 1:
        if fqn[-2] == selector:
            return True
        if "_".join(fqn[-2:]) == "_".join(selector.split(".")[-2:]):
            return True
    elif fqn[-1] == selector:
        return True
    flat = [part for segment in fqn for part in segment.split(".")]
    wanted = selector.split(".")
    if len(flat) < len(wanted):
        return False
    for i, part in enumerate(wanted):
        if any(w in part for w in _WILDCARDS):
            if fnmatchcase(".".join(flat[i:]), ".".join(wanted[i:])):
                return True
            if "." not in selector:  # a bare pattern also matches the leaf, at any depth
                leaf = fqn[-2] if versioned and len(fqn) > 1 else fqn[-1]
                return fnmatchcase(leaf, selector)
            return False
        if flat[i] != part:
            return False
    return True


def glob_match(path: str, pattern: str) -> bool:
    """pathlib-style glob, anchored: `*` and `?` stay within one folder, `**` spans folders."""
    regex = _GLOB_CACHE.get(pattern)
    if regex is None:
        parts = [
            "(?:[^/]+/)*" if segment == "**" else _segment_regex(segment) + "/"
            for segment in pattern.split("/")
        ]
        regex = re.compile("".join(parts).removesuffix("/") + r"\Z")
        _GLOB_CACHE[pattern] = regex
    return regex.match(path) is not None


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(segment, i)) > 0:
            body = segment[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    """Index of the `]` closing the character class at `start`, or -1 (then `[` is literal)."""
    j = start + 1
    if segment[j : j + 1] == "!":
        j += 1
    if segment[j : j + 1] == "]":
        j += 1
    return segment.find("]", j)


_GLOB_CACHE: dict[str, re.Pattern[str]] = {}


def _path_matches(node: Node, value: str) -> bool:
    """`path:` as dbt globs it from the project root: the file, its YAML, or a parent dir."""
    pattern = value.strip().rstrip("/").removeprefix("./")
    if not pattern or not node.path:
        return False
    candidates = [node.path, *(str(p) for p in PurePosixPath(node.path).parents if str(p) != ".")]
    if node.patch_path:
        candidates.append(node.patch_path)
    return any(glob_match(c, pattern) for c in candidates)


def _source_matches(node: Node, value: str) -> bool:
    parts = value.split(".")
    if len(parts) > 3:
        raise UsageError(
            f"invalid source selector {value!r}.",
            fix="write source:SOURCE, source:SOURCE.TABLE or source:PACKAGE.SOURCE.TABLE.",
        )
    if len(parts) == 1:
        package, source, table = "*", parts[0], "*"
    elif len(parts) == 2:
        package, (source, table) = "*", parts
    else:
        package, source, table = parts
    return (
        fnmatchcase(node.package, package)
        and fnmatchcase(node.source_name, source)
        and fnmatchcase(node.name, table)
    )


def _exposure_matches(node: Node, value: str) -> bool:
    parts = value.split(".")
    if len(parts) > 2:
        raise UsageError(
            f"invalid exposure selector {value!r}.", fix="write exposure:NAME or exposure:PKG.NAME."
        )
    package, name = ("*", parts[0]) if len(parts) == 1 else parts
    return fnmatchcase(node.package, package) and fnmatchcase(node.name, name)


def _test_type(node: Node, value: str) -> bool:
    if value in ("generic", "schema"):
        return bool(node.test_name)
    if value in ("singular", "data"):
        return not node.test_name
    raise UsageError(
        f"invalid test_type {value!r}.", fix="use test_type:generic or test_type:singular."
    )


def _method_roots(graph: Graph, crit: Criterion) -> set[str]:
    method, value = crit.method, crit.value
    nodes = graph.nodes.values()
    if method == "fqn":
        if "." not in value and not any(w in value for w in _WILDCARDS):
            return set(graph.bare_name_matches(value))
        return {
            n.uid for n in nodes if n.kind != "source" and fqn_matches(n.fqn, value, n.versioned)
        }
    if method == "tag":
        return {n.uid for n in nodes if any(fnmatchcase(t, value) for t in n.tags)}
    if method == "path":
        return {n.uid for n in nodes if _path_matches(n, value)}
    if method == "file":
        return {
            n.uid
            for n in nodes
            if n.path
            and (
                fnmatchcase(PurePosixPath(n.path).name, value)
                or fnmatchcase(PurePosixPath(n.path).stem, value)
            )
        }
    if method == "package":
        return {n.uid for n in nodes if fnmatchcase(n.package, value)}
    if method == "source":
        return {n.uid for n in nodes if n.kind == "source" and _source_matches(n, value)}
    if method == "exposure":
        return {n.uid for n in nodes if n.kind == "exposure" and _exposure_matches(n, value)}
    if method == "resource_type":
        if value not in RESOURCE_TYPES:
            raise UsageError(
                f"invalid resource_type {value!r}.", fix=f"use one of: {', '.join(RESOURCE_TYPES)}."
            )
        return {n.uid for n in nodes if n.kind == value}
    if method == "test_name":
        return {n.uid for n in nodes if n.kind == TEST and fnmatchcase(n.test_name, value)}
    if method == "test_type":
        return {n.uid for n in nodes if n.kind == TEST and _test_type(n, value)}
    if method == "group":
        return {n.uid for n in nodes if n.group and fnmatchcase(n.group, value)}
    if method == "access":
        return {n.uid for n in nodes if n.kind == "model" and n.access == value}
    if method == "config.materialized":
        return {n.uid for n in nodes if n.materialized == value and n.kind != "exposure"}
    raise AssertionError(method)  # pragma: no cover - parse_criterion rejects the rest


# --- graph operators ------------------------------------------------------------------


def _walk(graph: Graph, start: Iterable[str], depth: int | None, up: bool) -> set[str]:
    """Nodes within `depth` edges of `start` (unbounded when None), start excluded."""
    step = graph.parents_of if up else graph.children_of
    seen: set[str] = set(start)
    frontier = list(seen)
    found: set[str] = set()
    hops = 0
    while frontier and (depth is None or hops < depth):
        nxt = []
        for uid in frontier:
            for other in step(uid):
                if other not in seen:
                    seen.add(other)
                    found.add(other)
                    nxt.append(other)
        frontier = nxt
        hops += 1
    return found


def _criterion(graph: Graph, crit: Criterion) -> tuple[set[str], set[str]]:
    roots = _method_roots(graph, crit)
    result = set(roots)
    if crit.childrens_parents:
        down = _walk(graph, roots, None, up=False) | roots
        result |= down | _walk(graph, down, None, up=True)
    if crit.parents:
        result |= _walk(graph, roots, crit.parents_depth, up=True)
    if crit.children:
        result |= _walk(graph, roots, crit.children_depth, up=False)
    return result, roots


def _evaluate(graph: Graph, spec: list[list[Criterion]]) -> tuple[set[str], set[str]]:
    uids: set[str] = set()
    roots: set[str] = set()
    for intersection in spec:
        results = [_criterion(graph, crit) for crit in intersection]
        chosen = set.intersection(*(r for r, _ in results))
        uids |= chosen
        roots |= set().union(*(rt for _, rt in results)) & chosen
    return uids, roots


def select(graph: Graph, select_text: str, exclude_text: str | None = None) -> Selection:
    """Evaluate --select minus --exclude; UsageError for syntax dbt would reject."""
    uids, roots = _evaluate(graph, parse_spec(select_text))
    if exclude_text and exclude_text.strip():
        dropped, _ = _evaluate(graph, parse_spec(exclude_text))
        uids -= dropped
        roots -= dropped
    return Selection(frozenset(uids), frozenset(roots))


def close_names(graph: Graph, text: str, limit: int = 3) -> list[str]:
    """Model names like the ones in `text`, for the 'did you mean' of an empty selection."""
    import difflib

    names = sorted({n.name for n in graph.nodes.values() if n.kind != TEST})
    out: list[str] = []
    for word in _bare_values(text):
        out += difflib.get_close_matches(word, names, n=limit, cutoff=0.6)
    return list(dict.fromkeys(out))[:limit]


def _bare_values(text: str) -> Iterator[str]:
    for word in text.replace(",", " ").split():
        match = _SPEC.match(word)
        if match and match.group("value"):
            yield match.group("value")


def node_selector(graph: Graph, uid: str) -> str | None:
    """A dbt selector that picks exactly this node (and nothing else), as short as possible."""
    cache = graph.selector_cache
    if uid not in cache:
        cache[uid] = _node_selector(graph, uid)
    return cache[uid]


def _node_selector(graph: Graph, uid: str) -> str | None:
    node = graph.nodes[uid]
    if node.kind == "source":
        return f"source:{node.package}.{node.source_name}.{node.name}"
    if "." not in node.name and graph.bare_name_matches(node.name) == {uid}:
        return node.name
    value = ".".join(node.fqn)
    hits = [
        n.uid
        for n in graph.nodes.values()
        if n.kind != "source" and fqn_matches(n.fqn, value, n.versioned)
    ]
    return f"fqn:{value}" if hits == [uid] else None
